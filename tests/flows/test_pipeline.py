"""End-to-end pipeline runs through the real Prefect flow against a real local Prefect server,
with real Okt, real Parquet files, and scikit-learn / gensim called directly as the reference."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from koprep.loaders import open_run
from tests.helpers import CHATBOT, PETITIONS, nsmc, require, write_nsmc

pytestmark = pytest.mark.slow  # real Prefect runs with Okt (JVM) on NSMC

ALL_STAGES = ["clean", "tokenize", "bow", "ngram", "tfidf", "word2vec"]
FAST_W2V = {"word2vec.vector_size": 16, "word2vec.epochs": 2, "word2vec.min_count": 2}


@pytest.fixture(autouse=True)
def _server(prefect_server):
    return prefect_server


def run_flow(artifacts: Path, corpus=None, backend=None, **overrides):
    from koprep.orchestration.flow import preprocess

    return preprocess(corpus=None if corpus is None else str(corpus), backend=backend,
                      overrides=overrides or None, artifacts=str(artifacts))


def manifests(summary) -> dict[str, dict]:
    return {
        name: json.loads((Path(stage["path"]) / "_manifest.json").read_text())
        for name, stage in summary["stages"].items()
    }


@pytest.fixture(scope="module")
def nsmc_file(tmp_path_factory):
    frame = nsmc(400)
    path = tmp_path_factory.mktemp("corpus") / "nsmc400.tsv"
    frame.to_csv(path, sep="\t", index=False, quoting=3)
    return path


@pytest.fixture(scope="module")
def okt_run(tmp_path_factory, prefect_server, nsmc_file):
    artifacts = tmp_path_factory.mktemp("artifacts")
    first = run_flow(artifacts, nsmc_file, **FAST_W2V)
    return artifacts, first


def test_default_corpus_runs_every_stage_with_okt(tmp_path):
    summary = run_flow(tmp_path, **FAST_W2V)
    assert list(summary["stages"]) == ALL_STAGES
    assert summary["corpus"] == "konlpy:kolaw+kobill"
    assert all(not stage["cached"] for stage in summary["stages"].values())
    tokens = open_run(tmp_path).tokens()
    assert len(tokens) == summary["stages"]["clean"]["rows"] > 2000
    constitution = tokens.loc[tokens["doc_id"] == "kolaw/constitution.txt:1", "tokens"].iloc[0]
    assert "대한민국" in list(constitution) and "헌법" in list(constitution)
    kv = open_run(tmp_path).word_vectors()
    assert "국회" in kv.key_to_index


def test_second_run_is_fully_cached_and_identical(okt_run, nsmc_file):
    artifacts, first = okt_run
    second = run_flow(artifacts, nsmc_file, **FAST_W2V)
    assert all(stage["cached"] for stage in second["stages"].values())
    for name in ALL_STAGES:
        assert second["stages"][name]["fingerprint"] == first["stages"][name]["fingerprint"]
        assert second["stages"][name]["path"] == first["stages"][name]["path"]
    assert manifests(first) == manifests(second)  # same files, same SHA-256s, untouched


def test_changing_one_parameter_recomputes_only_its_dependants(okt_run, nsmc_file):
    artifacts, first = okt_run
    changed = run_flow(artifacts, nsmc_file, **FAST_W2V, **{"ngram.min_df": 2})
    cached = {name: stage["cached"] for name, stage in changed["stages"].items()}
    assert cached == {"clean": True, "tokenize": True, "bow": True, "ngram": False, "tfidf": True, "word2vec": True}

    changed = run_flow(artifacts, nsmc_file, **FAST_W2V, **{"tokenize.min_length": 2})
    cached = {name: stage["cached"] for name, stage in changed["stages"].items()}
    assert cached == {"clean": True, "tokenize": False, "bow": False, "ngram": False, "tfidf": False, "word2vec": False}


@pytest.mark.parametrize(
    "options",
    [{"threads": 1}, {"threads": 4}, {"stem": True, "norm": True, "mode": "morphs"}, {"keep_tags": ["Noun"]}],
    ids=["threads-1", "threads-4", "defaults-spelled-out", "keep_tags-outside-pos-mode"],
)
def test_options_that_cannot_change_the_output_leave_every_stage_cached(okt_run, nsmc_file, options):
    artifacts, first = okt_run
    again = run_flow(artifacts, nsmc_file, **FAST_W2V, **{f"tokenize.options.{k}": v for k, v in options.items()})
    assert {name: stage["cached"] for name, stage in again["stages"].items()} == dict.fromkeys(ALL_STAGES, True)
    assert {n: s["fingerprint"] for n, s in again["stages"].items()} == {
        n: s["fingerprint"] for n, s in first["stages"].items()
    }


def _direct_tokens(artifacts: Path):
    tokens = open_run(artifacts).tokens()
    return [list(t) for t in tokens["tokens"]]


@pytest.mark.parametrize(
    "stage, reference",
    [
        ("bow", lambda: CountVectorizer(ngram_range=(1, 1))),
        ("ngram", lambda: CountVectorizer(ngram_range=(1, 2))),
        ("tfidf", lambda: TfidfVectorizer()),
    ],
)
def test_vectorizers_equal_scikit_learn_on_the_same_tokens(okt_run, stage, reference):
    artifacts, _ = okt_run
    run = open_run(artifacts)
    docs = _direct_tokens(artifacts)
    vectorizer = reference().set_params(
        tokenizer=lambda d: d, preprocessor=lambda d: d, token_pattern=None, lowercase=False
    )
    expected = vectorizer.fit_transform(docs)
    ours = run.matrix(stage)
    assert ours.terms == list(vectorizer.get_feature_names_out())
    assert ours.doc_ids == run.tokens()["doc_id"].tolist()
    assert ours.matrix.shape == expected.shape
    np.testing.assert_allclose(ours.matrix.toarray(), expected.toarray(), rtol=0, atol=1e-9)
    if stage == "tfidf":
        np.testing.assert_allclose(ours.vocabulary["idf"].to_numpy(), vectorizer.idf_, atol=1e-12)


def test_word2vec_loads_back_and_equals_gensim_direct(okt_run):
    from gensim.models import Word2Vec

    artifacts, _ = okt_run
    run = open_run(artifacts)
    params = run.record.config["word2vec"]
    sentences = [d for d in _direct_tokens(artifacts) if d]
    direct = Word2Vec(
        sentences, vector_size=params["vector_size"], window=params["window"], min_count=params["min_count"],
        sg=params["sg"], epochs=params["epochs"], seed=params["seed"], workers=1,
    ).wv
    kv = run.word_vectors()
    assert kv.index_to_key == direct.index_to_key
    np.testing.assert_allclose(kv.vectors, direct.vectors, atol=1e-6)
    table = pd.read_parquet(run.path("word2vec") / "vectors.parquet")
    assert table["term"].tolist() == kv.index_to_key
    assert table["count"].tolist() == [direct.get_vecattr(w, "count") for w in direct.index_to_key]
    np.testing.assert_array_equal(np.stack(table["vector"].to_numpy()), kv.vectors)


def test_artifact_schemas_match_the_readme(okt_run):
    artifacts, first = okt_run
    paths = {name: Path(stage["path"]) for name, stage in first["stages"].items()}
    schema = lambda path: {f.name: str(f.type) for f in pq.read_schema(path)}
    assert schema(paths["clean"] / "part-00000.parquet") == {"doc_id": "string", "text": "string", "label": "string"}
    assert schema(paths["tokenize"] / "part-00000.parquet") == {"doc_id": "string", "tokens": "list<element: string>"}
    assert schema(paths["tfidf"] / "vocabulary.parquet") == {"term_id": "int32", "term": "string", "df": "int64", "idf": "double"}
    assert schema(paths["bow"] / "matrix.parquet") == {"doc_id": "string", "term_id": "int32", "value": "int64"}
    assert schema(paths["tfidf"] / "matrix.parquet") == {"doc_id": "string", "term_id": "int32", "value": "double"}
    assert schema(paths["word2vec"] / "vectors.parquet") == {"term": "string", "count": "int64", "vector": "list<element: float>"}
    duckdb = pytest.importorskip("duckdb")
    top = duckdb.sql(f"select count(*) from read_parquet('{paths['tokenize']}/part-*.parquet')").fetchall()[0][0]
    assert top == 400


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "text", "folder", "parquet"])
def test_each_corpus_format_runs_through_the_flow(tmp_path, fmt):
    overrides = {"run.stages": ["clean", "tokenize", "bow"]}
    if fmt == "jsonl":
        corpus = require(PETITIONS / "petitions_2019-06.jsonl")
        overrides.update({"corpus.text_column": "content", "corpus.id_column": "petition_idx", "corpus.limit": 50})
        expected = 50
    elif fmt == "csv":
        corpus, expected = require(CHATBOT), 11823
    else:
        reviews = nsmc(60)["document"].tolist()
        expected = 60
        if fmt == "text":
            corpus = tmp_path / "reviews.txt"
            corpus.write_text("\n".join(reviews), encoding="utf-8")
        elif fmt == "folder":
            corpus = tmp_path / "docs"
            corpus.mkdir()
            for i, review in enumerate(reviews):
                (corpus / f"{i:03d}.txt").write_text(review, encoding="utf-8")
        else:
            corpus = tmp_path / "reviews.parquet"
            pd.DataFrame({"text": reviews}).to_parquet(corpus)
    summary = run_flow(tmp_path / "artifacts", corpus, "whitespace", **overrides)
    assert list(summary["stages"]) == ["clean", "tokenize", "bow"]
    assert summary["stages"]["tokenize"]["rows"] == expected
    bow = open_run(tmp_path / "artifacts").matrix("bow")
    assert bow.matrix.shape[0] == expected and bow.matrix.nnz > 0


def koprep_cli(*args, env=None, cwd=None):
    koprep = Path(sys.executable).with_name("koprep")
    return subprocess.run([str(koprep), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def test_cli_run_json_summary_and_cache(tmp_path, prefect_server, nsmc_file):
    env = {**os.environ, "PREFECT_API_URL": prefect_server["url"]}
    args = ["run", str(nsmc_file), "--backend", "whitespace", "--artifacts", str(tmp_path), "--json",
            "--set", "word2vec.vector_size=8", "--set", "word2vec.epochs=1"]
    first = koprep_cli(*args, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert set(summary) == {"run_id", "stages"}
    assert list(summary["stages"]) == ALL_STAGES
    for stage in summary["stages"].values():
        assert {"fingerprint", "path", "cached", "seconds", "rows"} <= set(stage)
        assert Path(stage["path"]).is_dir() and not stage["cached"]
    # The flow run carries out the plan the CLI made, and shows it in the Prefect UI as its parameter.
    from prefect import get_client

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(summary["run_id"])
    assert set(flow_run.parameters) == {"planned"}
    planned = flow_run.parameters["planned"]
    assert planned["runner"] == "local" and planned["plan"]["backend"] == "whitespace"
    assert {name: stage["fingerprint"] for name, stage in planned["plan"]["stages"].items()} == {
        name: stage["fingerprint"] for name, stage in summary["stages"].items()
    }
    assert all(stage["state"] == "stale" for stage in planned["plan"]["stages"].values())
    again = json.loads(koprep_cli(*args, env=env).stdout.strip().splitlines()[-1])
    assert all(stage["cached"] for stage in again["stages"].values())
    assert again["run_id"] != summary["run_id"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "/nonexistent/corpus.txt"], "does not exist"),
        (["run", "--set", "ngram.min_df=-3"], "ngram.min_df"),
        (["run", "--backend", "nosuch"], "unknown tokenizer backend 'nosuch'"),
    ],
)
def test_cli_bad_input_fails_fast_with_a_clear_message(tmp_path, prefect_server, args, message):
    result = koprep_cli(*args, "--artifacts", str(tmp_path), env={**os.environ, "PREFECT_API_URL": prefect_server["url"]})
    assert result.returncode == 2
    assert message in result.stderr
    assert not list(tmp_path.glob("*/*"))  # nothing written


def _fitted_sklearn(stage: str, train_docs):
    reference = {"bow": CountVectorizer(), "ngram": CountVectorizer(ngram_range=(1, 2)), "tfidf": TfidfVectorizer()}[stage]
    reference.set_params(tokenizer=lambda d: d, preprocessor=lambda d: d, token_pattern=None, lowercase=False)
    return reference.fit(train_docs)


@pytest.fixture(scope="module")
def test_split_run(okt_run, tmp_path_factory):
    artifacts, train = okt_run
    test_file = tmp_path_factory.mktemp("test-split") / "nsmc-test.tsv"
    test_frame = nsmc(150, "test")
    test_frame.to_csv(test_file, sep="\t", index=False, quoting=3)
    summary = run_flow(
        artifacts, test_file,
        **{"run.fitted_from": train["run_id"], "run.stages": ["clean", "tokenize", "bow", "ngram", "tfidf"]},
    )
    return artifacts, train, summary, test_frame


@pytest.mark.parametrize("stage", ["bow", "ngram", "tfidf"])
def test_fitted_vectorizer_transforms_another_corpus(test_split_run, stage):
    artifacts, train, test, _ = test_split_run
    assert not test["stages"][stage]["cached"]
    train_run, test_run = open_run(artifacts, train["run_id"]), open_run(artifacts, test["run_id"])
    reference = _fitted_sklearn(stage, [list(t) for t in train_run.tokens()["tokens"]])
    expected = reference.transform([list(t) for t in test_run.tokens()["tokens"]])
    ours = test_run.matrix(stage)
    assert ours.terms == list(reference.get_feature_names_out())  # the train vocabulary, not refitted
    np.testing.assert_allclose(ours.matrix.toarray(), expected.toarray(), atol=1e-9)


def test_transform_api_on_raw_texts_equals_the_pipeline_and_scikit_learn(test_split_run):
    artifacts, train, test, test_frame = test_split_run
    train_run = open_run(artifacts, train["run_id"])
    texts = test_frame["document"].tolist()
    ours = train_run.transform(texts, "tfidf")
    pipeline_matrix = open_run(artifacts, test["run_id"]).matrix("tfidf").matrix
    np.testing.assert_allclose(ours.toarray(), pipeline_matrix.toarray(), atol=1e-12)
    reference = _fitted_sklearn("tfidf", [list(t) for t in train_run.tokens()["tokens"]])
    np.testing.assert_allclose(
        ours.toarray(), reference.transform(train_run.preprocess(texts)).toarray(), atol=1e-9
    )


def test_soynlp_model_is_trained_once_and_reused_on_another_corpus(tmp_path):
    """The soynlp noun model is an artifact: a second run reuses it, and another corpus can be
    tokenized with it (by run id) without training again."""
    reviews = tmp_path / "nsmc3000.tsv"
    write_nsmc(reviews, 3000)
    artifacts = tmp_path / "artifacts"
    stages = {"run.stages": ["clean", "tokenize", "bow"]}
    first = run_flow(artifacts, reviews, "soynlp-noun", **stages)
    assert "model" in first["stages"] and len(list((artifacts / "model").iterdir())) == 1
    model = pd.read_parquet(Path(first["stages"]["model"]["path"]) / "model.parquet")
    assert {"영화", "배우"} <= set(model["term"])
    second = run_flow(artifacts, reviews, "soynlp-noun", **stages)
    assert all(stage["cached"] for stage in second["stages"].values())
    split = run_flow(artifacts, reviews, "soynlp-noun", **stages, **{"tokenize.options.compose_compound": False})
    assert not split["stages"]["tokenize"]["cached"]  # an option that only changes how the model is applied
    assert len(list((artifacts / "model").iterdir())) == 1  # ... reuses the trained model
    assert split["stages"]["model"]["fingerprint"] == first["stages"]["model"]["fingerprint"]
    assert split["stages"]["model"]["cached"]

    petitions = require(PETITIONS / "petitions_2019-06.jsonl")
    applied = run_flow(
        artifacts, petitions, "soynlp-noun",
        **stages, **{"corpus.text_column": "content", "corpus.limit": 40, "tokenize.model": first["run_id"]},
    )
    assert len(list((artifacts / "model").iterdir())) == 1  # no new training
    assert applied["stages"]["model"] == {**first["stages"]["model"], "cached": True, "seconds": 0.0}  # given
    tokens = open_run(artifacts, applied["run_id"]).tokens()
    produced = {t for doc in tokens["tokens"] for t in doc}
    nouns = set(model["term"])
    # compose_compound (the default) joins a chain of known nouns into one token
    assert produced and all(_segments_into(token, nouns) for token in produced)
    assert produced & nouns


def _segments_into(token: str, words: set[str]) -> bool:
    reachable = [True] + [False] * len(token)
    for end in range(1, len(token) + 1):
        reachable[end] = any(reachable[start] and token[start:end] in words for start in range(end))
    return reachable[-1]


def test_similar_cli_matches_gensim(okt_run):
    artifacts, first = okt_run
    kv = open_run(artifacts, first["run_id"]).word_vectors()
    result = koprep_cli("similar", "영화", "--topn", "5", "--artifacts", str(artifacts), "--run", first["run_id"], "--json")
    assert result.returncode == 0, result.stderr
    neighbours = json.loads(result.stdout)["영화"]
    expected = kv.most_similar("영화", topn=5)
    assert [w for w, _ in neighbours] == [w for w, _ in expected]
    np.testing.assert_allclose([s for _, s in neighbours], [s for _, s in expected], atol=1e-6)
    missing = koprep_cli("similar", "없는단어쀍", "--artifacts", str(artifacts), "--run", first["run_id"])
    assert missing.returncode == 1 and "not in the word2vec vocabulary" in missing.stderr


def test_evaluate_on_the_korean_sets_is_written_and_cached(okt_run):
    from tests.helpers import W2V_EVAL

    analogies, ws353 = require(W2V_EVAL / "word_analogy_korean.txt"), W2V_EVAL / "WS353_korean.csv"
    artifacts, first = okt_run
    args = ["evaluate", "--analogies", str(analogies), "--similarity", str(ws353), "--artifacts", str(artifacts),
            "--run", first["run_id"]]
    result = koprep_cli(*args, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["analogies"]["total"] == 10_000 and 0 < report["analogies"]["oov_rate"] <= 1
    assert report["similarity"]["total"] == 353
    kv = open_run(artifacts, first["run_id"]).word_vectors()
    pairs = pd.read_csv(ws353, encoding="utf-8-sig")
    in_vocab = sum(a in kv.key_to_index and b in kv.key_to_index for a, b in zip(pairs["word 1"], pairs["word 2"]))
    assert report["similarity"]["evaluated"] == in_vocab
    assert list((artifacts / "evaluate").iterdir())[0].joinpath("evaluation.json").is_file()
    again = koprep_cli(*args)
    assert again.returncode == 0 and "(cached)" in again.stdout


def test_word2vec_phrases_are_their_own_cached_step(tmp_path):
    """With word2vec.phrases, gensim Phrases is learned once as a `phrases` artifact; word2vec then
    trains on the phrase-joined sentences exactly as gensim does with the same Phrases model."""
    from gensim.models import Word2Vec
    from gensim.models.phrases import Phrases

    corpus = require(PETITIONS / "petitions_2019-06.jsonl")
    settings = {"corpus.text_column": "content", "corpus.limit": 300, "run.stages": ["clean", "tokenize", "word2vec"],
                "word2vec.phrases": True, "word2vec.phrases_min_count": 3, "word2vec.vector_size": 16, "word2vec.epochs": 2}
    first = run_flow(tmp_path, corpus, "whitespace", **settings)
    phrases = first["stages"]["phrases"]
    table = pd.read_parquet(Path(phrases["path"]) / "phrases.parquet")
    docs = [list(t) for t in open_run(tmp_path).tokens()["tokens"] if len(t)]
    direct_phrases = Phrases(docs, min_count=3, threshold=10.0, delimiter="_")
    assert dict(zip(table["phrase"], table["score"])) == pytest.approx(direct_phrases.export_phrases())
    assert len(table) > 10
    frozen = direct_phrases.freeze()
    direct = Word2Vec([frozen[d] for d in docs], vector_size=16, epochs=2, min_count=2, seed=1, workers=1).wv
    kv = open_run(tmp_path).word_vectors()
    assert kv.index_to_key == direct.index_to_key
    assert any("_" in word for word in kv.index_to_key)
    np.testing.assert_allclose(kv.vectors, direct.vectors, atol=1e-6)

    retrained = run_flow(tmp_path, corpus, "whitespace", **{**settings, "word2vec.epochs": 3})
    assert not retrained["stages"]["word2vec"]["cached"]
    assert retrained["stages"]["phrases"]["cached"]  # phrases not relearned


def test_disabling_a_cleaning_step_recomputes_clean_and_everything_after_it(okt_run, nsmc_file):
    artifacts, first = okt_run
    changed = run_flow(artifacts, nsmc_file, **FAST_W2V, **{"clean.emoticon_normalize": False})
    assert not any(stage["cached"] for stage in changed["stages"].values())
    steps = [s["step"] for s in changed["stages"]["clean"]["extra"]["steps"]["steps"]]
    assert "emoticon_normalize" not in steps and "repeat_normalize" in steps
    again = run_flow(artifacts, nsmc_file, **FAST_W2V)
    assert all(stage["cached"] for stage in again["stages"].values())  # the old entries are still valid


@pytest.fixture(scope="module")
def nsmc_2000(tmp_path_factory):
    path = tmp_path_factory.mktemp("nsmc2000") / "ratings.tsv"
    write_nsmc(path, 2000)
    return path


@pytest.mark.parametrize("backend", ["okt", "kiwi", "mecab", "soynlp-noun", "soynlp-word", "whitespace"])
def test_koprep_run_works_for_every_backend_on_nsmc(tmp_path, prefect_server, nsmc_2000, backend):
    from koprep.tokenizers import available_backends

    if not next(i for i in available_backends() if i.name == backend).available:
        pytest.skip(f"{backend} is not installed")
    result = koprep_cli(
        "run", str(nsmc_2000), "--backend", backend, "--artifacts", str(tmp_path), "--json",
        "--set", 'run.stages=["clean", "tokenize", "tfidf"]', env={**os.environ, "PREFECT_API_URL": prefect_server["url"]},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["stages"]["tokenize"]["rows"] == 2000
    tokens = open_run(tmp_path).tokens()
    nonempty = sum(len(t) > 0 for t in tokens["tokens"])
    assert nonempty > 1800, f"{backend} left {2000 - nonempty} reviews without tokens"  # short reviews may hold no noun
    assert open_run(tmp_path).matrix("tfidf").matrix.shape[0] == 2000
