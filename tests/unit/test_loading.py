"""A run's artifacts open with the tools downstream code uses, without koprep, and agree with what
koprep's own loaders return: pandas, pyarrow datasets, polars, DuckDB SQL, Hugging Face `datasets`
and gensim KeyedVectors (word2vec's binary, fastText's model)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pytest
from datasets import Dataset
from gensim.models import KeyedVectors
from gensim.models.fasttext import load_facebook_vectors

from koprep.loaders import open_run
from koprep.stages.fasttext import decompose
from koprep.store import ArtifactStore
from tests.runs import record_pipeline_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A real run on the default corpus (kolaw + kobill, whitespace tokens, three shards) with
    word2vec and fastText."""
    store = ArtifactStore(tmp_path_factory.mktemp("store"))
    overrides = {"run.stages": ["clean", "tokenize", "tfidf", "word2vec", "fasttext"], "run.shard_size": 1000,
                 "word2vec.vector_size": 16, "word2vec.epochs": 2,
                 "fasttext.vector_size": 16, "fasttext.epochs": 2, "fasttext.bucket": 20_000}
    record_pipeline_run(store, None, "loading", overrides=overrides)
    return open_run(store.root, "loading")


@pytest.fixture(scope="module")
def tokens(run) -> pd.DataFrame:
    frame = run.tokens()
    assert len(frame) == 2480 and len(list(run.path("tokenize").glob("part-*.parquet"))) == 3
    return frame


def _parts(run, stage: str) -> str:
    return str(run.path(stage) / "part-*.parquet")


def test_pandas_reads_the_tokens_folder(run, tokens):
    frame = pd.read_parquet(run.path("tokenize"))
    assert frame["doc_id"].tolist() == tokens["doc_id"].tolist()
    assert [list(t) for t in frame["tokens"]] == [list(t) for t in tokens["tokens"]]


def test_pyarrow_dataset_scans_the_parts_in_corpus_order(run, tokens):
    dataset = ds.dataset(run.path("tokenize"), format="parquet")
    table = dataset.to_table(columns=["doc_id", "tokens"])
    assert table.column("doc_id").to_pylist() == tokens["doc_id"].tolist()
    long = dataset.to_table(filter=ds.field("doc_id") == tokens["doc_id"].iloc[5])
    assert long.num_rows == 1 and long.column("tokens").to_pylist()[0] == list(tokens["tokens"].iloc[5])


def test_polars_counts_tokens_as_python_does(run, tokens):
    frame = pl.scan_parquet(_parts(run, "tokenize")).explode("tokens").group_by("tokens").len().collect()
    counted = dict(zip(frame["tokens"].to_list(), frame["len"].to_list()))
    counted.pop(None, None)  # an empty document explodes to one null
    assert counted == Counter(token for doc in tokens["tokens"] for token in doc)


def test_duckdb_sql_over_the_tokens_and_the_tfidf_matrix(run, tokens):
    top = duckdb.sql(
        f"select token, count(*) as n from (select unnest(tokens) as token from read_parquet('{_parts(run, 'tokenize')}'))"
        " group by token order by n desc, token limit 5"
    ).fetchall()
    expected = sorted(Counter(t for doc in tokens["tokens"] for t in doc).items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert top == expected
    matrix = run.matrix("tfidf")
    folder = run.path("tfidf")
    nonzeros = duckdb.sql(
        f"select v.term, sum(m.value) from read_parquet('{folder / 'matrix.parquet'}') m "
        f"join read_parquet('{folder / 'vocabulary.parquet'}') v using (term_id) group by v.term"
    ).fetchall()
    totals = dict(zip(matrix.terms, np.asarray(matrix.matrix.sum(axis=0)).ravel()))
    assert len(nonzeros) == len(totals)
    for term, total in nonzeros:
        assert total == pytest.approx(totals[term])


def test_hugging_face_datasets_from_the_parquet_parts(run, tokens, tmp_path):
    files = sorted(str(p) for p in run.path("tokenize").glob("part-*.parquet"))
    dataset = Dataset.from_parquet(files, cache_dir=str(tmp_path / "hf-cache"))
    assert dataset.num_rows == len(tokens) and dataset.column_names == ["doc_id", "tokens"]
    assert dataset["doc_id"] == tokens["doc_id"].tolist()
    assert dataset[7]["tokens"] == list(tokens["tokens"].iloc[7])


def test_gensim_loads_the_word2vec_binary_and_the_fasttext_model(run):
    word2vec = KeyedVectors.load_word2vec_format(str(run.path("word2vec") / "vectors.bin"), binary=True)
    ours = run.word_vectors()
    assert word2vec.index_to_key == ours.index_to_key
    np.testing.assert_array_equal(word2vec.vectors, ours.vectors)
    parquet = pd.read_parquet(Path(run.path("word2vec")) / "vectors.parquet")
    np.testing.assert_array_equal(np.stack(parquet["vector"].to_numpy()), ours.vectors)

    fasttext = load_facebook_vectors(str(run.path("fasttext") / "model.bin"))
    answering = run.word_vectors("fasttext")
    assert len(fasttext) == len(answering)
    for word in ("헌법", "헌법재판소에서는요"):  # in the vocabulary, and not
        np.testing.assert_allclose(fasttext[decompose(word)], answering[word], atol=1e-6)
