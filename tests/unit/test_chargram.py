"""The chargram vectorizer against scikit-learn's TfidfVectorizer(analyzer="char_wb" / "char") on
real Korean reviews, fitted shard-wise on 1 and several shards."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from koprep.config import load_config
from koprep.stages.clean import clean_texts
from koprep.stages.vectorize import ChargramParams, TfidfParams, char_ngrams, fit_vocabulary, transform
from tests.helpers import nsmc

PARAMS = [
    ChargramParams(),
    ChargramParams(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True),
    ChargramParams(analyzer="char_wb", ngram_range=(2, 4), min_df=3, max_df=0.5, norm="l1"),
    ChargramParams(analyzer="char", ngram_range=(2, 2), max_features=800, binary=True, smooth_idf=False),
    ChargramParams(analyzer="char_wb", ngram_range=(3, 5), min_df=0.001, use_idf=False, lowercase=False),
    ChargramParams(analyzer="char_wb", ngram_range=(1, 2), norm=None, max_features=1500, sublinear_tf=True),
]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    reviews = nsmc(2400)["document"].tolist()
    # Empty documents, Latin capitals (lowercase), a one-character word shorter than the n-grams.
    return reviews[:700] + ["", "   ", "ABC 영화 Good!! ㅋ"] + reviews[700:]


def _sklearn(params: ChargramParams) -> TfidfVectorizer:
    return TfidfVectorizer(**params.model_dump())


def _shards(texts: list[str], n: int) -> list[list[str]]:
    bounds = np.linspace(0, len(texts), n + 1).astype(int)
    return [texts[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


@pytest.mark.slow  # NSMC reviews
@pytest.mark.parametrize("n_shards", [1, 4])
@pytest.mark.parametrize("params", PARAMS, ids=repr)
def test_chargram_equals_sklearn(texts, params, n_shards):
    fit_texts, new_texts = texts[:1800], texts[1800:]
    reference = _sklearn(params)
    expected_fit = sp.csr_matrix(reference.fit_transform(fit_texts))
    fitted = fit_vocabulary(_shards(fit_texts, n_shards), params)

    assert fitted.n_docs == len(fit_texts)
    assert fitted.table["term"].tolist() == reference.get_feature_names_out().tolist()
    if params.use_idf:
        np.testing.assert_allclose(fitted.table["idf"].to_numpy(), reference.idf_, rtol=0, atol=1e-12)
    for ours_texts, expected in ((fit_texts, expected_fit), (new_texts, sp.csr_matrix(reference.transform(new_texts)))):
        ours = sp.vstack([transform(shard, fitted, params) for shard in _shards(ours_texts, n_shards)], format="csr")
        assert ours.shape == expected.shape
        ours, expected = ours.sorted_indices(), expected.sorted_indices()
        np.testing.assert_array_equal(ours.indptr, expected.indptr)
        np.testing.assert_array_equal(ours.indices, expected.indices)
        np.testing.assert_allclose(ours.data, expected.data, rtol=0, atol=1e-6)


@pytest.mark.slow  # NSMC reviews
@pytest.mark.parametrize("analyzer", ["char_wb", "char"])
def test_chargram_counts_equal_sklearn_exactly(texts, analyzer):
    # Raw counts (no idf, no norm) are integers in both: they must match exactly.
    params = ChargramParams(analyzer=analyzer, ngram_range=(1, 4), use_idf=False, norm=None, min_df=2)
    expected = sp.csr_matrix(_sklearn(params).fit_transform(texts))
    fitted = fit_vocabulary(_shards(texts, 3), params)
    ours = sp.vstack([transform(shard, fitted, params) for shard in _shards(texts, 5)], format="csr")
    assert (ours != expected).nnz == 0
    assert fitted.table["df"].tolist() == np.bincount(expected.indices, minlength=expected.shape[1]).tolist()


def test_char_ngrams_are_sklearns_on_cleaned_text():
    params = ChargramParams(analyzer="char_wb", ngram_range=(1, 3))
    cleaned = clean_texts(["진짜 재밌네요ㅋㅋㅋㅋㅋ!!"], load_config(preset="classify").clean)[0]
    assert cleaned == "진짜 재밌네요ㅋㅋ!!"
    grams = char_ngrams([cleaned], params)[0]
    assert " 진" in grams and "요ㅋㅋ" in grams and "!! " in grams
    assert grams == _sklearn(params).build_analyzer()(cleaned)


def test_term_params_keep_the_weighting_and_count_single_terms():
    params = ChargramParams(ngram_range=(2, 4), min_df=2, sublinear_tf=True, norm="l1")
    term_params = params.term_params()
    assert type(term_params) is TfidfParams
    assert term_params.ngram_range == (1, 1)
    assert (term_params.min_df, term_params.sublinear_tf, term_params.norm) == (2, True, "l1")


def test_chargram_params_are_validated():
    with pytest.raises(ValueError, match="ngram_range"):
        ChargramParams(ngram_range=(3, 2))
    with pytest.raises(ValueError, match="analyzer"):
        ChargramParams(analyzer="word")
