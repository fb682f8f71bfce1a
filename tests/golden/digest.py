"""What a case leaves in the artifact store, as a small JSON-able snapshot, read from the folder alone.

Every `<stage>/<fingerprint>/` folder with a `_manifest.json` is an entry; the snapshot records its
fingerprint, the `code_version` of its manifest and a content digest of each data file. It uses no
koprep API, so it describes the base code's store and a refactored one alike.

Content digests are robust across machines and library versions, where raw bytes are not: a Parquet
file's bytes embed the pyarrow version that wrote it, so its schema (names, types) and values are
hashed column by column instead, floats rounded (9 decimals for float64); a JSON file is hashed as
canonical JSON. word2vec's vectors come from float training that may differ in the last bits across
CPUs, growing over epochs: `vectors.parquet` is hashed without its `vector` column, a sample of the
vectors is recorded to compare with a tolerance, and `vectors.bin` is checked to load with gensim
and to hold the words of `vectors.parquet` in the same order. fastText's `model.bin` is recorded by
what gensim loads from it: its words (as trained), vector size, n-gram lengths and buckets. Their
`diagnostic.json` (losses, cosines: floats of training) is not hashed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

MANIFEST = "_manifest.json"
SHARD_STAGES = ("clean-shard", "tokenize-shard")
"""Stages with one entry per shard: recorded as sorted fingerprints and one combined digest."""
FLOAT_DECIMALS = {64: 9, 32: 5, 16: 2}
SAMPLE_WORDS = 5
SAMPLE_DIMENSIONS = 8
DIGEST_CHARS = 16


def _hex(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()[:DIGEST_CHARS]


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


def type_name(data_type: pa.DataType) -> str:
    """An Arrow type as text, without the names of list elements (`item` or `element`, depending on
    the pyarrow version that read the file)."""
    if pa.types.is_dictionary(data_type):
        return type_name(data_type.value_type)
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        return f"list<{type_name(data_type.value_type)}>"
    if pa.types.is_large_string(data_type):
        return "large_string"
    return str(data_type)


def _value_bytes(array: pa.Array) -> bytes:
    """A column's values as canonical bytes: numbers as little-endian int64/float64 (floats rounded),
    lists as their lengths then their flattened values, anything else as JSON."""
    data_type = array.type
    if pa.types.is_dictionary(data_type):
        return _value_bytes(array.dictionary_decode())
    nulls = f"nulls={array.null_count};".encode()
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        lengths = pc.list_value_length(array).fill_null(-1).to_numpy(zero_copy_only=False).astype("<i8")
        return b"list;" + nulls + lengths.tobytes() + _value_bytes(array.flatten())
    if pa.types.is_floating(data_type):
        values = array.to_numpy(zero_copy_only=False).astype(np.float64)
        values = np.round(values, FLOAT_DECIMALS[data_type.bit_width]) + 0.0  # + 0.0: -0.0 becomes 0.0
        values[np.isnan(values)] = np.nan  # one NaN bit pattern (nulls come out as NaN too)
        return b"float;" + nulls + values.astype("<f8").tobytes()
    if (pa.types.is_integer(data_type) and data_type != pa.uint64() or pa.types.is_boolean(data_type)) \
            and array.null_count == 0:
        return b"int;" + array.to_numpy(zero_copy_only=False).astype("<i8").tobytes()
    return b"json;" + canonical_json(array.to_pylist())


def parquet_digest(path: Path, skip_values: tuple[str, ...] = ()) -> str:
    """The schema (every column's name and type) and the values of each column not in `skip_values`."""
    table = pq.read_table(path)
    digest = hashlib.sha256(canonical_json([[f.name, type_name(f.type)] for f in table.schema]))
    digest.update(f"rows={table.num_rows};".encode())
    for name in table.column_names:
        if name not in skip_values:
            digest.update(name.encode("utf-8") + b"\0" + _value_bytes(table.column(name).combine_chunks()))
    return digest.hexdigest()[:DIGEST_CHARS]


def file_digest(path: Path) -> str:
    if path.suffix == ".parquet":
        return parquet_digest(path)
    if path.suffix == ".json":
        return _hex(canonical_json(json.loads(path.read_text(encoding="utf-8"))))
    return _hex(path.read_bytes())


def word2vec_files(entry: Path, binary: bool = True) -> tuple[dict[str, str], dict[str, Any]]:
    """word2vec's file digests and the vector sample (see the module docstring); without `binary`,
    only vectors.parquet's."""
    from gensim.models import KeyedVectors

    table = pq.read_table(entry / "vectors.parquet")
    terms = table.column("term").to_pylist()
    files = {"vectors.parquet": parquet_digest(entry / "vectors.parquet", skip_values=("vector",))}
    if binary:
        loaded = KeyedVectors.load_word2vec_format(str(entry / "vectors.bin"), binary=True)
        words = list(loaded.index_to_key)
        if words == terms:
            files["vectors.bin"] = "words of vectors.parquet, in order; vector_size " + str(loaded.vector_size)
        else:
            files["vectors.bin"] = f"{len(words)} words, not those of vectors.parquet in order ({_hex(canonical_json(words))})"
    counts = table.column("count").to_numpy()
    top = sorted(np.argsort(-counts, kind="stable")[:SAMPLE_WORDS].tolist())
    vectors = table.column("vector").take(pa.array(top)).to_pylist()
    sample = {terms[i]: " ".join(f"{x:.6f}" for x in vector[:SAMPLE_DIMENSIONS]) for i, vector in zip(top, vectors)}
    return files, sample


def fasttext_files(entry: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """fastText's file digests and the vector sample (see the module docstring)."""
    from gensim.models.fasttext import load_facebook_vectors

    files, sample = word2vec_files(entry, binary=False)
    model = load_facebook_vectors(str(entry / "model.bin"))
    files["model.bin"] = (
        f"{len(model)} words ({_hex(canonical_json(list(model.index_to_key)))}); vector_size {model.vector_size}, "
        f"n-grams {model.min_n}-{model.max_n}, {model.bucket} buckets"
    )
    return files, sample


def entry_record(stage: str, entry: Path) -> dict[str, Any]:
    """One entry: its code version and the digest of each data file (and word2vec's vector sample)."""
    manifest = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
    record: dict[str, Any] = {"fingerprint": entry.name, "code_version": str(manifest.get("code_version"))}
    if stage == "word2vec":
        record["files"], record["sample"] = word2vec_files(entry)
    elif stage == "fasttext":
        record["files"], record["sample"] = fasttext_files(entry)
    else:
        data = sorted(p for p in entry.iterdir() if p.is_file() and p.name != MANIFEST)
        record["files"] = {p.name: file_digest(p) for p in data}
    return record


def shard_group(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The entries of a per-shard stage as one record: their fingerprints, sorted, their code
    version(s), and one digest of their contents that does not depend on their fingerprints."""
    versions = sorted({r["code_version"] for r in records})
    contents = sorted(canonical_json(r["files"]).decode("utf-8") for r in records)
    return {
        "code_version": ",".join(versions),
        "fingerprints": sorted(r["fingerprint"] for r in records),
        "digest": _hex(canonical_json(contents)),
    }


def snapshot(root: Path) -> dict[str, dict[str, Any]]:
    """Stage → its record, for every stage with entries in the store at `root`. A stage other than
    the per-shard ones with several entries gets `"entries": [...]` instead (a case makes one)."""
    stages: dict[str, dict[str, Any]] = {}
    for stage_dir in sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith(".")):
        records = [
            entry_record(stage_dir.name, entry)
            for entry in sorted(stage_dir.iterdir())
            if entry.is_dir() and (entry / MANIFEST).is_file()
        ]
        if not records:
            continue
        if stage_dir.name in SHARD_STAGES:
            stages[stage_dir.name] = shard_group(records)
        elif len(records) == 1:
            stages[stage_dir.name] = records[0]
        else:
            stages[stage_dir.name] = {"entries": records}
    return stages
