"""Downstream proof: NSMC sentiment from koprep's TF-IDF artifacts vs the libraries called directly.

koprep runs its Prefect flow on NSMC train, then on NSMC test with the *train* run's fitted
vectorizer (`run.fitted_from`), loads both TF-IDF matrices with `koprep.loaders`, and trains a
LogisticRegression(C=3) on train, scored on test. The baseline tokenizes the raw reviews with the
same library directly (`mecab.MeCab().morphs` / `Kiwi().tokenize` forms / `str.split`) and uses
`TfidfVectorizer` with the same parameters (1–2-grams, min_df=2, sublinear_tf=True).

    .venv/bin/python bench/bench_downstream.py --backend mecab [--config examples/sentiment.toml] [--set ...]

Anchors measured with direct library calls (issue #5): mecab 0.8724, kiwi 0.8715, whitespace 0.7939.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

NSMC = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "nsmc"
TFIDF = {"tfidf.ngram_range": [1, 2], "tfidf.min_df": 2, "tfidf.sublinear_tf": True}


def direct_tokens(backend: str, texts: list[str]) -> list[list[str]]:
    if backend == "mecab":
        import mecab

        tagger = mecab.MeCab()
        return [tagger.morphs(t) for t in texts]
    if backend == "kiwi":
        from kiwipiepy import Kiwi

        return [[token.form for token in tokens] for tokens in Kiwi().tokenize(texts)]
    return [t.split() for t in texts]


def accuracy(train_x, train_y, test_x, test_y) -> float:
    return LogisticRegression(C=3, max_iter=2000).fit(train_x, train_y).score(test_x, test_y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="mecab", choices=["mecab", "kiwi", "whitespace"])
    parser.add_argument("--config", metavar="FILE", help="koprep TOML config, e.g. examples/sentiment.toml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--limit", type=int, help="first N reviews of each split")
    args = parser.parse_args()

    from koprep.config import parse_override
    from koprep.loaders import open_run
    from koprep.orchestration.flow import preprocess

    overrides = {**TFIDF, "run.stages": ["clean", "tokenize", "tfidf"], **dict(map(parse_override, args.overrides))}
    if args.limit:
        overrides["corpus.limit"] = args.limit
    read = lambda split: pd.read_csv(NSMC / f"ratings_{split}.txt", sep="\t", quoting=3, dtype=str, keep_default_na=False, nrows=args.limit)
    train, test = read("train"), read("test")

    with tempfile.TemporaryDirectory() as artifacts:
        start = time.perf_counter()
        train_run = preprocess(
            str(NSMC / "ratings_train.txt"), args.backend, args.config, overrides=overrides, artifacts=artifacts
        )
        test_run = preprocess(
            str(NSMC / "ratings_test.txt"), args.backend, args.config,
            overrides={**overrides, "run.fitted_from": train_run["run_id"]}, artifacts=artifacts,
        )
        koprep_seconds = time.perf_counter() - start
        train_matrix = open_run(artifacts, train_run["run_id"]).matrix("tfidf")
        test_matrix = open_run(artifacts, test_run["run_id"]).matrix("tfidf")
    label = dict(zip(train["id"], train["label"].astype(int))) | dict(zip(test["id"], test["label"].astype(int)))
    koprep_accuracy = accuracy(
        train_matrix.matrix, [label[d] for d in train_matrix.doc_ids], test_matrix.matrix, [label[d] for d in test_matrix.doc_ids]
    )

    start = time.perf_counter()
    identity = dict(tokenizer=lambda d: d, preprocessor=lambda d: d, token_pattern=None, lowercase=False)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, **identity)
    direct_train = vectorizer.fit_transform(direct_tokens(args.backend, train["document"].tolist()))
    direct_test = vectorizer.transform(direct_tokens(args.backend, test["document"].tolist()))
    direct_seconds = time.perf_counter() - start
    direct_accuracy = accuracy(direct_train, train["label"].astype(int), direct_test, test["label"].astype(int))

    print(f"backend {args.backend}, config {args.config or 'default'}, overrides {args.overrides or 'none'}, train {len(train)} / test {len(test)} reviews")
    print(f"koprep pipeline : accuracy {koprep_accuracy:.4f}  vocabulary {train_matrix.matrix.shape[1]}  preprocessing {koprep_seconds:.1f}s")
    print(f"direct libraries: accuracy {direct_accuracy:.4f}  vocabulary {direct_train.shape[1]}  preprocessing {direct_seconds:.1f}s")
    print(f"accuracy difference (koprep - direct): {koprep_accuracy - direct_accuracy:+.4f}")


if __name__ == "__main__":
    main()
