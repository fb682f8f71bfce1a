"""Benchmark: KoprepVectorizer in GridSearchCV against building the matrices from runs by hand,
and the identical second search, answered from the artifact store.

    .venv/bin/python bench/bench_sklearn.py                     # 3,000 NSMC reviews, mecab, n_jobs 1 and 2
    .venv/bin/python bench/bench_sklearn.py --reviews 1000 --n-jobs 1

Grid: presets classify and search × LogisticRegression (liblinear) C 1 and 10, 3 stratified folds. Each search
starts from an empty store (a fresh temporary folder); the second, identical search reuses every
run of the first (clean, tokenize and the vectorizers are cache hits; only the classifiers are fit
again). The hand-built accuracies come from `tests.helpers.hand_built_cv_scores`: per preset and
fold, a koprep run on the training texts and one with `run.fitted_from` on the held-out texts,
their features loaded with `open_run(...).features()`. No Prefect server is involved: the runs are
in-process (in joblib's loky worker processes with n_jobs 2).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.helpers: the hand-built oracle the tests use too

PRESETS = ["classify", "search"]
CS = [1.0, 10.0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reviews", type=int, default=3000)
    parser.add_argument("--backend", default="mecab")
    parser.add_argument("--n-jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline

    from koprep.sklearn import KoprepVectorizer
    from tests.helpers import NSMC_TRAIN, hand_built_cv_scores

    reviews = pd.read_csv(NSMC_TRAIN, sep="\t", quoting=3, dtype=str, keep_default_na=False, nrows=args.reviews)
    texts, labels = reviews["document"].tolist(), reviews["label"].astype(int).tolist()
    folds = list(StratifiedKFold(3).split(texts, labels))
    grid = {"koprepvectorizer__preset": PRESETS, "logisticregression__C": CS}
    print(f"cores {os.cpu_count()}, load {os.getloadavg()[0]:.2f}, {len(texts)} NSMC reviews, backend {args.backend}, "
          "no Prefect server (in-process runs)")
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        by_hand = hand_built_cv_scores(texts, labels, PRESETS, CS, folds, args.backend, str(Path(folder) / "by-hand"))
        print(f"by hand: {time.perf_counter() - start:.1f} s")
        for n_jobs in args.n_jobs:
            artifacts = str(Path(folder) / f"store-{n_jobs}")
            pipeline = make_pipeline(KoprepVectorizer(backend=args.backend, artifacts=artifacts),
                                     LogisticRegression(solver="liblinear"))
            seconds = []
            for _ in range(2):
                start = time.perf_counter()
                search = GridSearchCV(pipeline, grid, cv=folds, n_jobs=n_jobs).fit(texts, labels)
                seconds.append(time.perf_counter() - start)
            largest = 0.0
            for i, params in enumerate(search.cv_results_["params"]):
                key = (params["koprepvectorizer__preset"], params["logisticregression__C"])
                got = [search.cv_results_[f"split{k}_test_score"][i] for k in range(3)]
                largest = max(largest, float(np.max(np.abs(np.subtract(got, by_hand[key])))))
            best = search.best_params_
            print(f"n_jobs {n_jobs}: first search {seconds[0]:.1f} s, second {seconds[1]:.1f} s "
                  f"({seconds[0] / seconds[1]:.2f}x faster); best {best} accuracy {search.best_score_:.4f}; "
                  f"largest difference from the hand-built accuracies {largest:.2g}; load {os.getloadavg()[0]:.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
