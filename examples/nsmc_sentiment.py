"""NSMC sentiment with koprep's shard-wise TF-IDF, next to scikit-learn's TfidfVectorizer.

    .venv/bin/python examples/nsmc_sentiment.py

Tokens are a plain whitespace split (Okt is too slow for 150k reviews in an example). The TF-IDF
vocabulary is fitted on the training reviews in shards of 20k, the test reviews are transformed
with that vocabulary, and a LogisticRegression(C=3) is trained on the result. The same model on
scikit-learn's TfidfVectorizer with the same parameters should give the same accuracy, because
the matrices are the same.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from koprep.stages.vectorize import TfidfParams, fit_vocabulary, transform

NSMC = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "nsmc"
SHARD_SIZE = 20_000
PARAMS = TfidfParams(ngram_range=(1, 2), min_df=2, sublinear_tf=True)


def load(split: str) -> tuple[list[list[str]], list[int]]:
    path = NSMC / f"ratings_{split}.txt"
    if not path.exists():
        sys.exit(f"{path} not found: the shared corpora must sit beside the checkout")
    frame = pd.read_csv(path, sep="\t", quoting=3, dtype=str, keep_default_na=False)
    return [text.split() for text in frame["document"]], frame["label"].astype(int).tolist()


def shards(docs: list[list[str]]) -> list[list[list[str]]]:
    return [docs[i : i + SHARD_SIZE] for i in range(0, len(docs), SHARD_SIZE)]


def accuracy(train_x, train_y, test_x, test_y) -> float:
    model = LogisticRegression(C=3, max_iter=1000)
    return model.fit(train_x, train_y).score(test_x, test_y)


def identity(doc):
    return doc


def compare() -> dict:
    """Accuracy and vectorizing time of koprep's shard-wise TF-IDF and of scikit-learn's."""
    train_docs, train_y = load("train")
    test_docs, test_y = load("test")

    start = time.perf_counter()
    vocabulary = fit_vocabulary(shards(train_docs), PARAMS)
    train_x = sp.vstack([transform(shard, vocabulary, PARAMS) for shard in shards(train_docs)], format="csr")
    test_x = sp.vstack([transform(shard, vocabulary, PARAMS) for shard in shards(test_docs)], format="csr")
    koprep_seconds = time.perf_counter() - start

    start = time.perf_counter()
    vectorizer = TfidfVectorizer(
        tokenizer=identity, preprocessor=identity, token_pattern=None, lowercase=False, **PARAMS.model_dump()
    )
    direct_train_x = vectorizer.fit_transform(train_docs)
    direct_test_x = vectorizer.transform(test_docs)
    sklearn_seconds = time.perf_counter() - start
    return {
        "terms": len(vocabulary.table),
        "train_documents": vocabulary.n_docs,
        "koprep_accuracy": accuracy(train_x, train_y, test_x, test_y),
        "koprep_seconds": koprep_seconds,
        "sklearn_accuracy": accuracy(direct_train_x, train_y, direct_test_x, test_y),
        "sklearn_seconds": sklearn_seconds,
    }


def main() -> None:
    result = compare()
    print(f"vocabulary: {result['terms']} terms fitted on {result['train_documents']} reviews")
    print(f"koprep TF-IDF       : accuracy {result['koprep_accuracy']:.4f} (vectorized in {result['koprep_seconds']:.1f}s)")
    print(f"scikit-learn direct : accuracy {result['sklearn_accuracy']:.4f} (vectorized in {result['sklearn_seconds']:.1f}s)")


if __name__ == "__main__":
    main()
