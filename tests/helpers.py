"""Shared test data access: the real corpora beside the checkout (../shared/corpora)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
CORPORA = REPO.parent / "shared" / "corpora"
NSMC_TRAIN = CORPORA / "nsmc" / "ratings_train.txt"
NSMC_TEST = CORPORA / "nsmc" / "ratings_test.txt"
PETITIONS = CORPORA / "petitions"
CHATBOT = CORPORA / "chatbot" / "ChatbotData.csv"
W2V_EVAL = CORPORA / "word2vec_eval"


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared corpus {path} is not available beside the checkout")
    return path


def nsmc(n: int, split: str = "train") -> pd.DataFrame:
    path = require(NSMC_TRAIN if split == "train" else NSMC_TEST)
    return pd.read_csv(path, sep="\t", quoting=3, dtype=str, keep_default_na=False, nrows=n)
