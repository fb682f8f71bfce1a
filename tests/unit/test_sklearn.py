"""KoprepVectorizer: a scikit-learn transformer over koprep runs. The fast tests fit it on the
default corpus (whitespace tokens) and run scikit-learn's own API checks that apply to a text
transformer; the slow ones put it in Pipeline, cross_val_score and GridSearchCV (n_jobs 1 and 2,
loky worker processes) on NSMC reviews with mecab, against matrices built from runs by hand."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils import estimator_checks

from koprep.errors import BadInputError
from koprep.loaders import open_run
from koprep.sklearn import KoprepVectorizer
from koprep.store import ArtifactStore
from tests.unit.korean_samples import REVIEWS, law_documents

API_CHECKS = (
    "check_no_attributes_set_in_init", "check_parameters_default_constructible", "check_get_params_invariance",
    "check_set_params", "check_estimator_repr", "check_estimator_cloneable", "check_estimator_tags_renamed",
    "check_valid_tag_types", "check_do_not_raise_errors_in_init_or_set_params", "check_mixin_order",
    "check_transformers_unfitted", "check_get_feature_names_out_error",
)
"""scikit-learn's estimator checks that apply to a transformer of texts; the others feed numeric
arrays, which a text vectorizer rejects (as scikit-learn's own TfidfVectorizer does)."""


@pytest.mark.parametrize("check", API_CHECKS)
def test_scikit_learn_api_checks(check):
    getattr(estimator_checks, check)("KoprepVectorizer", KoprepVectorizer())


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return list(law_documents()[:600])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, texts):
    artifacts = str(tmp_path_factory.mktemp("store"))
    vectorizer = KoprepVectorizer(backend="whitespace", features=["tfidf", "chargram"], artifacts=artifacts,
                                  set={"tfidf.min_df": 2})
    return vectorizer, vectorizer.fit_transform(texts)


def test_fit_transform_gives_the_run_s_features_in_input_order(fitted, texts):
    vectorizer, matrix = fitted
    run = open_run(vectorizer.artifacts, vectorizer.run_id_)
    features = run.features(["tfidf", "chargram"])
    assert sp.issparse(matrix) and matrix.shape == (len(texts), len(features.columns))
    assert list(vectorizer.get_feature_names_out()) == features.columns
    assert vectorizer.get_feature_names_out()[0].startswith("tfidf:")
    assert run.config.tfidf.min_df == 2 and run.config.tokenize.backend == "whitespace"
    by_id = dict(zip(features.doc_ids, range(len(features.doc_ids))))
    for row in (0, 17, 599):
        np.testing.assert_array_equal(matrix[row].toarray(), features.matrix[by_id[str(row)]].toarray())


def test_tfidf_columns_equal_scikit_learn_on_koprep_s_tokens(fitted, texts):
    vectorizer, matrix = fitted
    run = open_run(vectorizer.artifacts, vectorizer.run_id_)
    tokens = run.tokens().assign(row=lambda f: f["doc_id"].astype(int)).sort_values("row")["tokens"].map(list).tolist()
    params = run.config.tfidf
    reference = TfidfVectorizer(analyzer=lambda doc: doc, min_df=params.min_df, sublinear_tf=params.sublinear_tf,
                                norm=params.norm, use_idf=params.use_idf, smooth_idf=params.smooth_idf)
    expected = reference.fit_transform(tokens)
    names = vectorizer.get_feature_names_out()
    tfidf = matrix[:, [i for i, name in enumerate(names) if name.startswith("tfidf:")]]
    assert [n[len("tfidf:"):] for n in names if n.startswith("tfidf:")] == list(reference.get_feature_names_out())
    np.testing.assert_allclose(tfidf.toarray(), expected.toarray(), atol=1e-12)


def test_refitting_the_same_texts_is_a_cache_hit_and_new_texts_are_transformed(fitted, texts):
    vectorizer, matrix = fitted
    again = clone(vectorizer)
    refit = again.fit_transform(texts)
    assert again.run_id_ == vectorizer.run_id_
    record = ArtifactStore(vectorizer.artifacts).read_run(again.run_id_)
    assert all(stage.cached for stage in record.stages.values())
    assert (refit != matrix).nnz == 0
    new = vectorizer.transform(list(REVIEWS))
    assert new.shape == (len(REVIEWS), matrix.shape[1])
    expected = open_run(vectorizer.artifacts, vectorizer.run_id_).transform(list(REVIEWS), "tfidf")
    tfidf_columns = sum(name.startswith("tfidf:") for name in vectorizer.get_feature_names_out())
    np.testing.assert_allclose(new[:, :tfidf_columns].toarray(), expected.toarray(), atol=1e-12)
    np.testing.assert_array_equal(vectorizer.transform(texts).toarray(), matrix.toarray())  # the fitted texts


def test_the_estimator_pickles_without_the_store(fitted):
    vectorizer, _ = fitted
    payload = pickle.dumps(vectorizer)
    # parameters, the run id and the feature names, not the matrices (52,487 nonzeros here)
    assert len(payload) < 5_000 + 40 * vectorizer.n_features_out_
    assert pickle.loads(payload).run_id_ == vectorizer.run_id_


@pytest.mark.parametrize(
    "params, message",
    [({"features": ["word2vec"]}, "vectorizer stages"), ({"backend": "nonexistent"}, "nonexistent"),
     ({"set": {"tfidf.min_df": -1}}, "min_df"), ({"preset": "nope"}, "nope")],
)
def test_bad_parameters_are_clear_errors_at_fit(params, message, tmp_path):
    vectorizer = KoprepVectorizer(artifacts=str(tmp_path), **params)  # no validation before fit
    with pytest.raises(BadInputError, match=message):
        vectorizer.fit(list(REVIEWS))


def test_bad_input_is_a_clear_error(tmp_path):
    with pytest.raises(BadInputError, match="iterable of texts"):
        KoprepVectorizer(artifacts=str(tmp_path)).fit("한 문장")
    with pytest.raises(BadInputError, match="texts"):
        KoprepVectorizer(artifacts=str(tmp_path)).fit([1, 2])
    with pytest.raises(NotFittedError):
        KoprepVectorizer().transform(["텍스트"])


@pytest.mark.slow  # NSMC, mecab, loky worker processes
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search_equals_hand_built_runs_and_repeats_from_the_cache(tmp_path, n_jobs):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline

    from tests.helpers import hand_built_cv_scores, nsmc

    reviews = nsmc(900)
    texts, labels = reviews["document"].tolist(), reviews["label"].astype(int).tolist()
    folds = list(StratifiedKFold(3).split(texts, labels))
    artifacts = str(tmp_path / "store")
    grid = {"koprepvectorizer__preset": ["classify", "search"], "logisticregression__C": [1.0, 10.0]}
    pipeline = make_pipeline(KoprepVectorizer(backend="mecab", artifacts=artifacts), LogisticRegression(solver="liblinear"))
    search = GridSearchCV(pipeline, grid, cv=folds, n_jobs=n_jobs).fit(texts, labels)
    expected = hand_built_cv_scores(texts, labels, ["classify", "search"], [1.0, 10.0], folds, "mecab", str(tmp_path / "by-hand"))
    for i, params in enumerate(search.cv_results_["params"]):
        key = (params["koprepvectorizer__preset"], params["logisticregression__C"])
        got = [search.cv_results_[f"split{k}_test_score"][i] for k in range(3)]
        assert got == pytest.approx(expected[key], abs=1e-12), key
    assert max(search.cv_results_["mean_test_score"]) > 0.6  # sentiment is learned
    runs_before = len(list((tmp_path / "store" / "runs").glob("*.json")))
    again = GridSearchCV(pipeline, grid, cv=folds, n_jobs=n_jobs).fit(texts, labels)
    assert list(again.cv_results_["mean_test_score"]) == list(search.cv_results_["mean_test_score"])
    assert len(list((tmp_path / "store" / "runs").glob("*.json"))) == runs_before  # the same runs, reused
    store = ArtifactStore(artifacts)
    records = [store.read_run(path.stem) for path in (tmp_path / "store" / "runs").glob("sklearn-*.json")]
    assert len(records) == 2 * 3 * 2 + 1  # per preset and fold the fit and the held-out transform; the refit of the best
    assert all(stage.cached for record in records for stage in record.stages.values())  # the second search computed nothing
    scores = cross_val_score(clone(search.best_estimator_), texts, labels, cv=folds, n_jobs=n_jobs)
    best = search.best_index_
    assert list(scores) == pytest.approx([search.cv_results_[f"split{k}_test_score"][best] for k in range(3)])
