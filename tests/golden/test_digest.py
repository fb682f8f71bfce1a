"""The content digests see values, not bytes: the same table written another way digests the same,
float noise below the rounding does not count, and any real change of a value or the schema does."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tests.golden.digest import parquet_digest, snapshot, word2vec_files


def table(values: list[float] | None = None) -> pa.Table:
    return pa.table({
        "doc_id": ["a", "b", "c"],
        "tokens": pa.array([["x", "y"], [], ["z"]], pa.list_(pa.string())),
        "value": pa.array(values or [0.1, 1 / 3, 2.0], pa.float64()),
        "df": pa.array([1, 2, 3], pa.int64()),
    })


def digest_of(tmp_path, data: pa.Table, **write_options) -> str:
    path = tmp_path / f"t{len(list(tmp_path.iterdir()))}.parquet"
    pq.write_table(data, path, **write_options)
    return parquet_digest(path)


def test_the_digest_is_of_values_not_of_the_file_bytes(tmp_path) -> None:
    plain = digest_of(tmp_path, table())
    assert digest_of(tmp_path, table(), compression="gzip", row_group_size=1, use_dictionary=False) == plain
    assert digest_of(tmp_path, table([0.1 + 1e-13, 1 / 3 - 1e-13, 2.0])) == plain


def test_a_changed_value_or_schema_changes_the_digest(tmp_path) -> None:
    plain = digest_of(tmp_path, table())
    assert digest_of(tmp_path, table([0.1, 1 / 3, 2.001])) != plain
    changed = table().set_column(1, "tokens", pa.array([["x"], ["y"], ["z"]], pa.list_(pa.string())))
    assert digest_of(tmp_path, changed) != plain
    assert digest_of(tmp_path, table().cast(table().schema.set(3, pa.field("df", pa.int32())))) != plain
    assert digest_of(tmp_path, table().rename_columns(["doc_id", "tokens", "value", "count"])) != plain


def test_word2vec_binary_must_hold_the_parquet_words_in_order(tmp_path) -> None:
    from gensim.models import KeyedVectors

    words, vectors = ["하다", "있다", "법률"], np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    kv = KeyedVectors(4)
    kv.add_vectors(words, vectors)
    entry = tmp_path / "word2vec" / ("f" * 32)
    entry.mkdir(parents=True)
    (entry / "_manifest.json").write_text('{"code_version": "1"}', encoding="utf-8")
    kv.save_word2vec_format(str(entry / "vectors.bin"), binary=True)

    def write_parquet(order: list[int]) -> None:
        pq.write_table(pa.table({
            "term": [words[i] for i in order], "count": pa.array([9, 5, 2], pa.int64()),
            "vector": pa.array([vectors[i].tolist() for i in order], pa.list_(pa.float32())),
        }), entry / "vectors.parquet")

    write_parquet([0, 1, 2])
    files, sample = word2vec_files(entry)
    assert files["vectors.bin"].startswith("words of vectors.parquet, in order")
    assert sample["하다"] == "0.000000 0.100000 0.200000 0.300000"
    assert snapshot(tmp_path)["word2vec"]["sample"] == sample
    write_parquet([1, 0, 2])
    assert "not those of vectors.parquet in order" in word2vec_files(entry)[0]["vectors.bin"]
