"""The chargram stage and `Run.features` through the real Prefect flow with `--preset classify`:
fitted on one NSMC split and applied to another (`run.fitted_from`), against scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from koprep.loaders import open_run
from koprep.stages.clean import clean_texts
from tests.helpers import nsmc

pytestmark = pytest.mark.slow  # a Prefect server, NSMC reviews


@pytest.fixture(scope="module")
def split_runs(tmp_path_factory, prefect_server):
    from koprep.orchestration.flow import preprocess

    folder = tmp_path_factory.mktemp("nsmc-splits")
    frame = nsmc(900)
    train_file, test_file = folder / "train.tsv", folder / "test.tsv"
    frame.iloc[:600].to_csv(train_file, sep="\t", index=False, quoting=3)
    frame.iloc[600:].to_csv(test_file, sep="\t", index=False, quoting=3)
    artifacts = str(folder / "artifacts")
    # Shards of 250 documents: the vectorizers are fitted and applied over several parts.
    shards = {"run.shard_size": 250}
    train = preprocess(
        corpus=str(train_file), backend="whitespace", preset="classify", overrides=shards, artifacts=artifacts
    )
    test = preprocess(
        corpus=str(test_file), backend="whitespace", preset="classify",
        overrides={**shards, "run.fitted_from": train["run_id"]}, artifacts=artifacts,
    )
    return artifacts, train, test, frame


def _reference(train_run) -> TfidfVectorizer:
    params = train_run.config.chargram
    return TfidfVectorizer(**params.model_dump()).fit(train_run.clean()["text"].tolist())


def test_classify_preset_runs_chargram_beside_tfidf(split_runs):
    _, train, test, _ = split_runs
    assert list(train["stages"]) == ["clean", "tokenize", "tfidf", "chargram"]
    assert list(test["stages"]) == ["clean", "tokenize", "tfidf", "chargram"]
    assert train["config"]["chargram"]["analyzer"] == "char_wb"
    assert train["stages"]["chargram"]["extra"]["documents"] == 600


def test_chargram_fitted_on_train_applied_to_test_equals_sklearn(split_runs):
    artifacts, train, test, frame = split_runs
    train_run, test_run = open_run(artifacts, train["run_id"]), open_run(artifacts, test["run_id"])
    reference = _reference(train_run)
    assert train_run.matrix("chargram").terms == reference.get_feature_names_out().tolist()
    # The test run used the train run's vocabulary and idf, not its own.
    assert test["stages"]["chargram"]["extra"]["fitted_on"] == train["stages"]["chargram"]["fingerprint"]
    ours = test_run.matrix("chargram")
    assert ours.terms == train_run.matrix("chargram").terms
    cleaned_test = test_run.clean()["text"].tolist()
    assert cleaned_test == clean_texts(frame["document"].iloc[600:].tolist(), train_run.config.clean)
    np.testing.assert_allclose(ours.matrix.toarray(), reference.transform(cleaned_test).toarray(), rtol=0, atol=1e-9)
    # Raw texts through the train run's cleaning and fitted chargram vectorizer: the same rows.
    raw = frame["document"].iloc[600:].tolist()
    np.testing.assert_allclose(train_run.transform(raw, "chargram").toarray(), ours.matrix.toarray(), rtol=0, atol=1e-12)


def test_features_put_stages_side_by_side_in_document_order(split_runs):
    artifacts, _, test, frame = split_runs
    run = open_run(artifacts, test["run_id"])
    features = run.features(["tfidf", "chargram"])
    tfidf, chargram = run.matrix("tfidf"), run.matrix("chargram")
    assert isinstance(features.matrix, sp.csr_matrix)
    assert features.doc_ids == frame["id"].iloc[600:].tolist()  # corpus order
    assert features.matrix.shape == (300, len(tfidf.terms) + len(chargram.terms))
    assert features.columns == [f"tfidf:{t}" for t in tfidf.terms] + [f"chargram:{t}" for t in chargram.terms]
    width = len(tfidf.terms)
    np.testing.assert_array_equal(features.matrix[:, :width].toarray(), tfidf.matrix.toarray())
    np.testing.assert_array_equal(features.matrix[:, width:].toarray(), chargram.matrix.toarray())
    # A row is its document: the column "chargram:<gram>" is set exactly where the text has the gram.
    row = int(np.argmax(np.diff(features.matrix.indptr)))
    text = run.clean()["text"].iloc[row]
    present = [c for c, v in zip(features.columns, features.matrix[row].toarray()[0]) if v]
    grams = {c.removeprefix("chargram:") for c in present if c.startswith("chargram:")}
    analyze = TfidfVectorizer(**run.config.chargram.model_dump()).build_analyzer()
    assert grams == set(analyze(text)) & set(chargram.terms)
    words = {c.removeprefix("tfidf:") for c in present if c.startswith("tfidf:")}
    assert set(run.tokens()["tokens"].iloc[row]) & set(tfidf.terms) <= words
    with pytest.raises(Exception, match="no 'bow' stage"):
        run.features(["tfidf", "bow"])
    assert pd.Index(features.doc_ids).is_unique
