"""Downstream accuracy: koprep's presets against the libraries called directly, per backend.

NSMC (default): for each backend × preset, koprep's Prefect flow runs on the train reviews, then on
the test reviews with the train run's fitted vectorizers (`run.fitted_from`); a
LogisticRegression(C=3) is trained on `run.features(...)` of the train run (the preset's TF-IDF
stages: tfidf + chargram for `classify`, tfidf for `topic` and `search`) and scored on the test
run's. The baseline ("direct") tokenizes the raw reviews with the library itself
(`Okt().morphs(text, stem=True)`, `Kiwi().tokenize` forms, `mecab.MeCab().morphs`) and uses
scikit-learn's `TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)` and the same
classifier.

Chatbot (`--corpus chatbot`, the Q column, labels 0/1/2 — kept aside while the presets were tuned on
NSMC): no fixed split exists, so both sides are scored by 5-fold stratified cross-validation
(`koprep.compare`: the pipeline's stages, then `cross_validate_features`; the direct features go
through the same function).

    .venv/bin/python bench/bench_downstream.py                                  # NSMC 150k/50k, okt,kiwi,mecab × presets
    .venv/bin/python bench/bench_downstream.py --backend mecab --preset classify
    .venv/bin/python bench/bench_downstream.py --backend okt --docs 30000       # first 30k train / 10k test reviews
    .venv/bin/python bench/bench_downstream.py --backend mecab --preset topic --config examples/sentiment.toml
    .venv/bin/python bench/bench_downstream.py --corpus chatbot --backend mecab,kiwi,okt

Okt on the whole of NSMC takes about 4 minutes per pass (train + test) on this machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

# Without PREFECT_API_URL the flow starts a temporary server; on a busy machine it needs more than
# Prefect's default 20 s to answer.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
NSMC = CORPORA / "nsmc"
CHATBOT = CORPORA / "chatbot" / "ChatbotData.csv"
DIRECT_TFIDF = dict(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
C = 3


def direct_tokens(backend: str, texts: list[str]) -> list[list[str]]:
    if backend == "mecab":
        import mecab

        tagger = mecab.MeCab()
        return [tagger.morphs(t) for t in texts]
    if backend == "kiwi":
        from kiwipiepy import Kiwi

        return [[token.form for token in tokens] for tokens in Kiwi().tokenize(texts)]
    if backend == "okt":
        from konlpy.tag import Okt

        okt = Okt()
        return [okt.morphs(t, stem=True) for t in texts]
    return [t.split() for t in texts]


def direct_vectorizer() -> TfidfVectorizer:
    identity = dict(tokenizer=lambda d: d, preprocessor=lambda d: d, token_pattern=None, lowercase=False)
    return TfidfVectorizer(**DIRECT_TFIDF, **identity)


def classifier() -> LogisticRegression:
    return LogisticRegression(C=C, max_iter=3000)


def nsmc_rows(
    backends: list[str], presets: list[str], docs: int | None, artifacts: str,
    config_file: str | None = None, settings: dict | None = None,
) -> list[dict]:
    from koprep.orchestration.flow import preprocess

    from koprep.loaders import feature_stages, open_run

    def read(split: str, n: int | None) -> pd.DataFrame:
        path = NSMC / f"ratings_{split}.txt"
        return pd.read_csv(path, sep="\t", quoting=3, dtype=str, keep_default_na=False, nrows=n)

    test_docs = None if docs is None else max(1, docs // 3)
    train, test = read("train", docs), read("test", test_docs)
    label = dict(zip(train["id"], train["label"].astype(int))) | dict(zip(test["id"], test["label"].astype(int)))
    limit = lambda n: {**(settings or {}), **({} if n is None else {"corpus.limit": n})}
    rows = []
    for backend in backends:
        backend_rows = []
        for preset in presets:
            start = time.perf_counter()
            train_run = preprocess(
                str(NSMC / "ratings_train.txt"), backend, config_file, preset=preset, overrides=limit(docs),
                artifacts=artifacts,
            )
            test_run = preprocess(
                str(NSMC / "ratings_test.txt"), backend, config_file, preset=preset, artifacts=artifacts,
                overrides={**limit(test_docs), "run.fitted_from": train_run["run_id"]},
            )
            seconds = time.perf_counter() - start
            trained = open_run(artifacts, train_run["run_id"])
            stages = feature_stages(trained.config)
            train_x = trained.features(stages)
            test_x = open_run(artifacts, test_run["run_id"]).features(stages)
            accuracy = classifier().fit(train_x.matrix, [label[d] for d in train_x.doc_ids]).score(
                test_x.matrix, [label[d] for d in test_x.doc_ids]
            )
            backend_rows.append(dict(backend=backend, preset=preset, features="+".join(stages),
                                     n_features=train_x.matrix.shape[1], koprep=accuracy, koprep_s=seconds))
            print(f"# {backend_rows[-1]}", flush=True)
        start = time.perf_counter()
        vectorizer = direct_vectorizer()
        direct_train = vectorizer.fit_transform(direct_tokens(backend, train["document"].tolist()))
        direct_test = vectorizer.transform(direct_tokens(backend, test["document"].tolist()))
        direct_seconds = time.perf_counter() - start
        direct = classifier().fit(direct_train, train["label"].astype(int)).score(direct_test, test["label"].astype(int))
        print(f"# {backend} direct: accuracy {direct:.4f}, features {direct_train.shape[1]}, {direct_seconds:.0f}s", flush=True)
        rows += [dict(row, direct=direct, direct_s=direct_seconds) for row in backend_rows]
    return rows


def chatbot_rows(backends: list[str], presets: list[str], docs: int | None, artifacts: str) -> list[dict]:
    from koprep.compare import compare, cross_validate_features

    frame = pd.read_csv(CHATBOT, dtype=str, keep_default_na=False, nrows=docs)
    frame["label"] = frame["label"].str.strip()  # one row has "2   "
    corpus = Path(artifacts) / "chatbot.csv"
    frame[["Q", "label"]].to_csv(corpus, index=False)  # the question and its label only: no answer text
    rows = []
    for backend in backends:
        start = time.perf_counter()
        direct_x = direct_vectorizer().fit_transform(direct_tokens(backend, frame["Q"].tolist()))
        direct = cross_validate_features(direct_x, frame["label"].to_numpy(), 5)["accuracy"]
        direct_seconds = time.perf_counter() - start
        for result in compare(str(corpus), "label", [backend], presets, folds=5, artifacts=artifacts):
            rows.append(dict(backend=backend, preset=result.preset, features="+".join(result.features),
                             n_features=result.n_features, koprep=result.accuracy, direct=direct,
                             koprep_s=result.seconds, direct_s=direct_seconds))
            print(f"# {rows[-1]}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=["nsmc", "chatbot"], default="nsmc")
    parser.add_argument("--backend", default="okt,kiwi,mecab", help="comma-separated (default okt,kiwi,mecab)")
    parser.add_argument("--preset", default="topic,classify,search", help="comma-separated (default: every preset)")
    parser.add_argument("--docs", type=int, help="NSMC: first N train and N/3 test reviews; chatbot: first N questions")
    parser.add_argument("--config", metavar="FILE", help="NSMC: a koprep TOML config over each preset")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="NSMC: a setting over each preset (repeatable)")
    args = parser.parse_args()
    backends, presets = args.backend.split(","), args.preset.split(",")

    from koprep.config import parse_override

    with tempfile.TemporaryDirectory() as artifacts:
        if args.corpus == "nsmc":
            settings = dict(map(parse_override, args.overrides))
            rows = nsmc_rows(backends, presets, args.docs, artifacts, args.config, settings)
        else:
            rows = chatbot_rows(backends, presets, args.docs, artifacts)
    scope = "whole corpus" if args.docs is None else f"first {args.docs} documents"
    measure = "test accuracy (fit on train)" if args.corpus == "nsmc" else "5-fold CV accuracy"
    print(f"\n{args.corpus} ({scope}), {measure}, LogisticRegression C={C}")
    print("| backend | preset | features | koprep | direct | koprep − direct | koprep s | direct s |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['backend']} | {r['preset']} | {r['features']} ({r['n_features']:,}) | {r['koprep']:.4f} | {r['direct']:.4f} "
              f"| {r['koprep'] - r['direct']:+.4f} | {r['koprep_s']:.0f} | {r['direct_s']:.0f} |")


if __name__ == "__main__":
    main()
