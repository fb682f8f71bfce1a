"""Shard-wise fit_vocabulary + transform against scikit-learn fitted on the whole token list."""

from __future__ import annotations

import weakref

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import scipy.sparse as sp
from pydantic import ValidationError
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from koprep.stages import vectorize
from koprep.stages.vectorize import (
    ChargramParams, CountParams, TfidfParams, fit_shards, fit_vocabulary, transform,
)
from koprep.pipeline.datasets import from_long, to_long
from tests.helpers import nsmc
from tests.unit.korean_samples import law_documents


def _whitespace(text: str) -> list[str]:
    return text.split()


def _syllables(text: str) -> list[str]:
    return [ch for ch in text if not ch.isspace()]


def _spaced_pairs(text: str) -> list[str]:
    # Tokens that contain a space ("이 영화"): such a unigram has the same string as the bigram
    # 이+영화, here often in the same document; scikit-learn counts both as one feature.
    words = text.split()
    return words + [" ".join(words[i : i + 2]) for i in range(0, len(words), 2)]


TOKENIZERS = {"whitespace": _whitespace, "syllables": _syllables, "spaced_pairs": _spaced_pairs}


@pytest.fixture(scope="module")
def reviews() -> list[str]:
    texts = nsmc(3500)["document"].tolist()
    # Empty documents exist in NSMC; make sure some are in the sample.
    return texts[:1000] + ["", "   "] + texts[1000:]


def _docs(reviews: list[str], tokenizer: str) -> list[list[str]]:
    return [TOKENIZERS[tokenizer](text) for text in reviews]


def _shards(docs: list, sizes: list[int]) -> list[list]:
    bounds = np.cumsum([0, *sizes])
    shards = [docs[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    if bounds[-1] < len(docs):
        shards.append(docs[bounds[-1] :])
    return shards


def _sklearn(params: CountParams):
    fields = params.model_dump()
    cls = TfidfVectorizer if isinstance(params, TfidfParams) else CountVectorizer
    # Identity tokenizer/preprocessor, so sklearn consumes our token lists and still builds n-grams
    # (an analyzer callable would bypass ngram_range).
    return cls(tokenizer=_identity, preprocessor=_identity, token_pattern=None, lowercase=False, **fields)


def _identity(doc):
    return doc


PARAMS = [
    CountParams(),
    CountParams(ngram_range=(1, 2)),
    CountParams(ngram_range=(2, 3), min_df=2),
    CountParams(ngram_range=(1, 3), min_df=0.002, max_df=0.3),
    CountParams(ngram_range=(1, 2), max_df=40, max_features=700),
    CountParams(max_features=300, binary=True),
    TfidfParams(),
    TfidfParams(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
    TfidfParams(ngram_range=(1, 2), norm="l1", smooth_idf=False, binary=True, max_df=0.5),
    TfidfParams(norm=None, use_idf=False, sublinear_tf=True, min_df=3),
    TfidfParams(ngram_range=(2, 2), use_idf=False, max_features=500),
    TfidfParams(min_df=0.001, max_df=0.9, smooth_idf=False, max_features=1000),
]


def _assert_same_matrix(ours: sp.csr_matrix, theirs, params: CountParams) -> None:
    theirs = sp.csr_matrix(theirs)
    assert ours.shape == theirs.shape
    if isinstance(params, TfidfParams):
        assert ours.dtype == np.float64
        ours, theirs = ours.sorted_indices(), theirs.sorted_indices()
        np.testing.assert_array_equal(ours.indptr, theirs.indptr)
        np.testing.assert_array_equal(ours.indices, theirs.indices)
        np.testing.assert_allclose(ours.data, theirs.data, rtol=0, atol=1e-6)
    else:
        assert ours.dtype == np.int64
        assert (ours != theirs).nnz == 0


def _arrow(shards: list[list]) -> list[pa.ListArray]:
    """The shards as the pipeline reads them from Parquet; one is a slice with a nonzero offset."""
    arrays = [pa.array(shard, pa.list_(pa.string())) for shard in shards]
    arrays[-1] = pa.array([["앞"], *shards[-1]], pa.list_(pa.string())).slice(1)
    return arrays


SHARD_FORMS = {"lists": lambda shards: shards, "arrow": _arrow}


@pytest.mark.slow  # NSMC reviews
@pytest.mark.parametrize("form", list(SHARD_FORMS))
@pytest.mark.parametrize("tokenizer", list(TOKENIZERS))
@pytest.mark.parametrize("params", PARAMS, ids=repr)
def test_fit_and_transform_equal_sklearn_on_the_whole_corpus(reviews, tokenizer, params, form, monkeypatch):
    docs = _docs(reviews, tokenizer)
    as_form = SHARD_FORMS[form]
    reference = _sklearn(params)
    try:
        expected = reference.fit_transform(docs)
    except ValueError:  # e.g. nothing survives min_df for these tokens: we must refuse as well
        with pytest.raises(ValueError, match="no terms remain"):
            fit_vocabulary(as_form(_shards(docs, [900, 1100, 700])), params)
        return
    fitted = fit_vocabulary(as_form(_shards(docs, [900, 1100, 700])), params)

    table = fitted.table
    assert fitted.n_docs == len(docs)
    assert table["term"].tolist() == reference.get_feature_names_out().tolist()
    assert table["term_id"].tolist() == list(range(len(table)))
    assert table["term_id"].dtype == np.int32 and table["df"].dtype == np.int64
    # Every count, 0/1 or tf-idf weight of a present term is nonzero, so df = nonzeros per column.
    assert table["df"].tolist() == np.bincount(sp.csr_matrix(expected).indices, minlength=len(table)).tolist()
    if isinstance(params, TfidfParams) and params.use_idf:
        np.testing.assert_array_equal(table["idf"].to_numpy(), reference.idf_)
    else:
        assert "idf" not in table.columns

    monkeypatch.setattr(vectorize, "_TRANSFORM_CHUNK_DOCS", 600)  # shards are transformed in chunks
    shards = as_form(_shards(docs, [1500, 1500]))
    matrix = sp.vstack([transform(shard, fitted, params) for shard in shards], format="csr")
    _assert_same_matrix(matrix, expected, params)


@pytest.mark.slow  # NSMC reviews
@pytest.mark.parametrize("params", [PARAMS[4], PARAMS[7], PARAMS[11]], ids=repr)
def test_shard_count_does_not_change_the_result(reviews, params):
    docs = _docs(reviews, "whitespace")
    one = fit_vocabulary([docs], params)
    for sizes in ([1] * 5 + [997, 3], [500] * 7, [1, 2, 3, 5, 8, 13, 21]):
        many = fit_vocabulary(_shards(docs, sizes), params)
        pd.testing.assert_frame_equal(many.table, one.table)
        assert many.n_docs == one.n_docs


def test_a_term_lands_in_the_same_bucket_whatever_array_holds_it():
    # The fit merges each hash bucket on its own; a term split across buckets would be counted twice.
    terms = ["", "a", "재", "재밌", "재밌 다", "영화 재밌", "ㅋㅋㅋ", "a b c"]
    alone = [vectorize._bucket_of(pa.array([term]), 16)[0] for term in terms]
    together = vectorize._bucket_of(pa.array(["pad", *terms], pa.large_string()).slice(1), 16)
    assert together.tolist() == alone
    assert together.dtype == np.uint8 and together.max() < 16
    assert vectorize._bucket_of(pa.array([], pa.string()), 16).tolist() == []


def test_merging_in_one_bucket_or_many_gives_the_same_vocabulary(monkeypatch):
    docs = [document.split() for document in law_documents()]
    params = CountParams(ngram_range=(1, 2))
    monkeypatch.setattr(vectorize._TermCounts, "_MIN_MERGE_ROWS", 1)  # merge after every few shards
    many = vectorize.fit_shards(_shards(docs, [3] * (len(docs) // 3)), params)
    monkeypatch.setattr(vectorize._TermCounts, "_BUCKETS", 1)
    one = vectorize.fit_shards(_shards(docs, [3] * (len(docs) // 3)), params)
    pd.testing.assert_frame_equal(many.vocabulary.table, one.vocabulary.table)
    for mapped_many, mapped_one in zip(many.shard_columns, one.shard_columns, strict=True):
        np.testing.assert_array_equal(mapped_many, mapped_one)


@pytest.mark.slow  # NSMC reviews
def test_buffered_merges_give_the_same_vocabulary(reviews, monkeypatch):
    docs = _docs(reviews, "whitespace")
    params = TfidfParams(ngram_range=(1, 2), min_df=2)
    merged_once = fit_vocabulary(_shards(docs, [400] * 8), params)
    monkeypatch.setattr(vectorize._TermCounts, "_MIN_MERGE_ROWS", 1)
    merged_often = fit_vocabulary(_shards(docs, [400] * 8), params)
    pd.testing.assert_frame_equal(merged_often.table, merged_once.table)


@pytest.mark.slow  # NSMC reviews
@pytest.mark.parametrize("params", [PARAMS[2], PARAMS[5], PARAMS[7], PARAMS[8]], ids=repr)
def test_transform_of_unseen_documents_equals_sklearn_transform(reviews, params):
    train = _docs(reviews[:2500], "whitespace")
    unseen = _docs(nsmc(1200, split="test")["document"].tolist(), "whitespace")
    fitted = fit_vocabulary(_shards(train, [800, 800]), params)
    reference = _sklearn(params).fit(train)
    _assert_same_matrix(transform(unseen, fitted, params), reference.transform(unseen), params)
    # A stored vocabulary table (no FittedVocabulary wrapper) works the same.
    _assert_same_matrix(transform(iter(unseen), fitted.table, params), reference.transform(unseen), params)


def _shardwise_matrix(shards: list, params: CountParams) -> tuple[vectorize.ShardwiseFit, sp.csr_matrix]:
    """What the pipeline's vectorizer stages do: fit on the shards, then transform each fitted shard
    by the fit's own maps."""
    fitted = fit_shards(shards, params)
    return fitted, sp.vstack([fitted.transform_shard(i, shard) for i, shard in enumerate(shards)], format="csr")


@pytest.mark.slow  # NSMC reviews
@pytest.mark.parametrize("form", list(SHARD_FORMS))
@pytest.mark.parametrize("tokenizer", list(TOKENIZERS))
@pytest.mark.parametrize("params", PARAMS, ids=repr)
def test_shardwise_fit_and_transform_equal_sklearn(reviews, tokenizer, params, form):
    docs = _docs(reviews, tokenizer)
    shards = SHARD_FORMS[form](_shards(docs, [900, 1100, 700, 1]))
    reference = _sklearn(params)
    try:
        expected = reference.fit_transform(docs)
    except ValueError:
        with pytest.raises(ValueError, match="no terms remain"):
            fit_shards(shards, params)
        return
    fitted, matrix = _shardwise_matrix(shards, params)
    assert fitted.vocabulary.table["term"].tolist() == reference.get_feature_names_out().tolist()
    _assert_same_matrix(matrix, expected, params)
    # The very matrix `transform` gives with the vocabulary alone (string lookups), to the last bit.
    for index, shard in enumerate(shards):
        ours, by_strings = fitted.transform_shard(index, shard), transform(shard, fitted.vocabulary, params)
        assert ours.dtype == by_strings.dtype and (ours != by_strings).nnz == 0


@pytest.mark.parametrize("tokenizer", ["whitespace", "spaced_pairs"])
@pytest.mark.parametrize("params", [PARAMS[1], PARAMS[4], PARAMS[7], PARAMS[8]], ids=repr)
def test_shardwise_fit_and_transform_equal_sklearn_on_law_texts(tokenizer, params):
    docs = _docs(list(law_documents()), tokenizer)
    expected = _sklearn(params).fit_transform(docs)
    for as_form in SHARD_FORMS.values():
        _, matrix = _shardwise_matrix(as_form(_shards(docs, [40, 1, 150])), params)
        _assert_same_matrix(matrix, expected, params)


def test_shardwise_chargram_equals_sklearn_on_law_texts():
    texts = list(law_documents())
    params = ChargramParams(min_df=2, sublinear_tf=True)
    reference = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True)
    expected = reference.fit_transform(texts)
    fitted, matrix = _shardwise_matrix(_shards(texts, [100, 7]), params)
    assert fitted.vocabulary.table["term"].tolist() == reference.get_feature_names_out().tolist()
    assert isinstance(fitted.vocabulary.params, ChargramParams)
    _assert_same_matrix(matrix, expected, params)


def test_transform_shard_refuses_a_shard_it_was_not_fitted_on():
    docs = _docs(list(law_documents()), "whitespace")
    fitted = fit_shards([docs[:50], docs[50:100]], CountParams(ngram_range=(1, 2)))
    with pytest.raises(ValueError, match="not the one fitted"):
        fitted.transform_shard(0, docs[50:100])


@pytest.mark.slow  # NSMC reviews
def test_fit_reads_shards_one_at_a_time(reviews):
    class Shard(list):
        pass

    alive: list[weakref.ref] = []

    def shards():
        for shard in _shards(_docs(reviews, "whitespace"), [300] * 11):
            shard = Shard(shard)
            alive.append(weakref.ref(shard))
            assert sum(ref() is not None for ref in alive) <= 2, "earlier shards are still referenced"
            yield shard
            del shard

    fitted = fit_vocabulary(shards(), CountParams(ngram_range=(1, 2)))
    assert fitted.n_docs == len(reviews)


@pytest.mark.slow  # NSMC reviews
def test_pruning_errors_match_sklearn(reviews):
    docs = _docs(reviews[:300], "whitespace")
    for params in (CountParams(min_df=0.9, max_df=5), CountParams(min_df=0.9)):
        with pytest.raises(ValueError) as sklearn_error:
            _sklearn(params).fit(docs)
        with pytest.raises(ValueError, match="min_df") as our_error:
            fit_vocabulary([docs], params)
        assert sklearn_error.value and our_error.value
    with pytest.raises(ValueError, match="no tokens"):
        fit_vocabulary([[[], []]], CountParams())


def test_params_defaults_are_sklearns():
    for ours, theirs in ((CountParams(), CountVectorizer()), (TfidfParams(), TfidfVectorizer())):
        expected = theirs.get_params()
        assert {name: expected[name] for name in ours.model_dump()} == ours.model_dump()


@pytest.mark.parametrize(
    "bad",
    [
        {"ngram_range": (2, 1)},
        {"ngram_range": (0, 1)},
        {"min_df": 0},
        {"min_df": 1.5},
        {"max_df": -0.1},
        {"min_df": True},
        {"max_features": 0},
        {"min_df": 5, "max_df": 2},
        {"min_df": 0.5, "max_df": 0.2},
        {"mindf": 2},
    ],
    ids=repr,
)
def test_invalid_params_are_rejected(bad):
    with pytest.raises(ValidationError):
        TfidfParams(**bad)


def test_params_are_frozen():
    with pytest.raises(ValidationError):
        CountParams().min_df = 3


def test_untokenized_documents_are_refused():
    with pytest.raises(TypeError, match="tokenize"):
        fit_vocabulary([["좋은 영화", "나쁜 영화"]], CountParams())


def test_null_tokens_are_refused_in_either_form():
    with pytest.raises(TypeError, match="must be strings"):
        fit_vocabulary([[["좋은", None]]], CountParams())
    with pytest.raises(TypeError, match="must be strings"):
        fit_vocabulary([pa.array([["좋은", None]], pa.list_(pa.string()))], CountParams())


def test_transform_requires_idf_when_asked_for():
    docs = [["좋은", "영화"], ["나쁜", "영화"]]
    fitted = fit_vocabulary([docs], TfidfParams(use_idf=False))
    with pytest.raises(ValueError, match="idf"):
        transform(docs, fitted, TfidfParams())


@pytest.mark.slow  # NSMC reviews
@pytest.mark.parametrize("params", [CountParams(ngram_range=(1, 2)), TfidfParams(ngram_range=(1, 2))], ids=repr)
def test_long_form_round_trips(reviews, params):
    docs = _docs(reviews[:1200], "whitespace")
    doc_ids = [f"d{i}" for i in range(len(docs))]
    fitted = fit_vocabulary([docs], params)
    matrix = transform(docs, fitted, params)
    long = to_long(matrix, doc_ids)
    assert len(long) == matrix.nnz
    assert str(long["doc_id"].dtype) == "string" and long["term_id"].dtype == np.int32
    assert long["value"].dtype == (np.float64 if isinstance(params, TfidfParams) else np.int64)
    empty_rows = [doc_ids[i] for i in np.flatnonzero(np.diff(matrix.indptr) == 0)]
    assert empty_rows and not set(empty_rows) & set(long["doc_id"])

    back = from_long(long, doc_ids, len(fitted.table))
    assert back.dtype == matrix.dtype and (back != matrix).nnz == 0
    # Rows follow the doc_ids given, not the table's order.
    order = np.random.default_rng(0).permutation(len(docs))
    shuffled = from_long(long.sample(frac=1.0, random_state=1), [doc_ids[i] for i in order], len(fitted.table))
    assert (shuffled != matrix[order]).nnz == 0


def test_from_long_rejects_unknown_documents():
    long = pd.DataFrame({"doc_id": ["a", "b"], "term_id": np.array([0, 1], np.int32), "value": [1, 2]})
    with pytest.raises(ValueError, match="'b'"):
        from_long(long, ["a"], 2)
    with pytest.raises(ValueError, match="n_terms"):
        from_long(long, ["a", "b"], 1)


@pytest.mark.slow  # NSMC reviews
def test_vectorizer_stages_over_many_token_shards_equal_sklearn(tmp_path):
    """The stages as a run computes them (fit on the stored token shards, then each shard transformed
    through the fit's maps, written as Parquet) against scikit-learn on the same tokens."""
    from koprep.config import load_config
    from koprep.pipeline.readers import TokenShards
    from koprep.store import ArtifactStore
    from tests.helpers import write_nsmc
    from tests.runs import run_stages

    corpus = str(write_nsmc(tmp_path / "nsmc.tsv", 6000))
    store = ArtifactStore(tmp_path / "artifacts")
    config = load_config(backend="whitespace", overrides={
        "run.shard_size": 400, "ngram.min_df": 2, "tfidf.ngram_range": [1, 2], "tfidf.sublinear_tf": True,
    })
    results = run_stages(store, corpus, config.with_run_stages(["bow", "ngram", "tfidf"]))
    shards = TokenShards(results["tokenize"].path)
    assert len(shards.files) >= 8
    docs = [doc for shard in shards.token_lists() for doc in shard]
    for name in ("bow", "ngram", "tfidf"):
        params = getattr(config, name)
        result = results[name]
        reference = _sklearn(params)
        expected = reference.fit_transform(docs)
        table = pd.read_parquet(f"{result.path}/vocabulary.parquet")
        assert table["term"].tolist() == reference.get_feature_names_out().tolist(), name
        doc_ids = pd.read_parquet(f"{result.path}/documents.parquet")["doc_id"].tolist()
        assert len(doc_ids) == len(docs) == 6000
        _assert_same_matrix(from_long(pd.read_parquet(f"{result.path}/matrix.parquet"), doc_ids, len(table)), expected, params)


@pytest.mark.parametrize("shard_sizes", [[3], [2000, 0, 1999, 1], [], [0], [600_000, 500_000]], ids=repr)
def test_matrix_writer_documents_file_is_the_dataframe_one(tmp_path, shard_sizes):
    """The writer keeps the documents' ids in Arrow, not as Python strings; its documents.parquet is
    byte for byte the file the former DataFrame of every id wrote (also past one row group, 2**20 rows)."""
    from types import SimpleNamespace

    import pyarrow.parquet as pq

    from koprep.pipeline.datasets import MatrixFiles, arrow_table

    writer = MatrixFiles.Writer(SimpleNamespace(path=tmp_path))  # type: ignore[arg-type]
    every_id: list[str] = []
    for shard, size in enumerate(shard_sizes):
        ids = [f"{shard}-{i}-문서" if i % 7 else str(i) for i in range(size)]
        writer.matrix_shard(sp.csr_matrix((size, 3), dtype=np.int64), ids)
        every_id += ids
    writer.close()
    assert writer.documents == len(every_id)
    former = pd.DataFrame({"row": np.arange(len(every_id), dtype=np.int64), "doc_id": every_id})
    pq.write_table(arrow_table(former), tmp_path / "former.parquet")
    assert (tmp_path / MatrixFiles.DOCUMENTS).read_bytes() == (tmp_path / "former.parquet").read_bytes()
