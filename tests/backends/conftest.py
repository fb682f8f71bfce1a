"""Real Korean text for the backend tests, and a helper that builds (and if needed fits) a backend."""

from __future__ import annotations

import json
from functools import cache
from typing import Any, Mapping

import pandas as pd
import pytest

from koprep.tokenizers import get_tokenizer
from koprep.tokenizers.base import TrainableTokenizer
from tests.helpers import PETITIONS, nsmc, require

FIT_REVIEWS = 4000
"""soynlp's extractors need thousands of documents to find anything worth calling a word."""
SAMPLE_REVIEWS = 200
"""Okt analyses ~1,000 reviews/s in one shared JVM: keep the per-call samples small."""

EDGE_TEXTS = [
    "",
    " ",
    "\t \n ",
    "ㅋㅋㅋㅋㅋ",
    "Marvel 영화 10점 만점에 10점!!  두 번째 문장입니다.",
    "https://example.com 에서 봤어요 😀😀",
]


@cache
def nsmc_documents() -> tuple[str, ...]:
    return tuple(nsmc(1000 + FIT_REVIEWS)["document"])


@pytest.fixture(scope="session")
def petitions() -> list[str]:
    """The first 40 petitions of June 2019: long, semi-formal text unlike the reviews."""
    with require(PETITIONS / "petitions_2019-06.jsonl").open(encoding="utf-8") as lines:
        return [json.loads(line)["content"] for line, _ in zip(lines, range(40))]


@pytest.fixture(scope="session")
def fit_texts() -> list[str]:
    """Reviews the trainable backends learn from; disjoint from `sample_texts`."""
    return list(nsmc_documents()[1000 : 1000 + FIT_REVIEWS])


@pytest.fixture(scope="session")
def edge_texts() -> list[str]:
    return list(EDGE_TEXTS)


@pytest.fixture(scope="session")
def sample_texts() -> list[str]:
    return list(nsmc_documents()[:SAMPLE_REVIEWS]) + EDGE_TEXTS


@pytest.fixture(scope="session")
def build(fit_texts):
    """build(name, options, model=None): backend `name` ready to tokenize; a trainable one is given
    `model`, or fitted on `fit_texts` (once per name and options in the session)."""
    fitted: dict[str, pd.DataFrame] = {}

    def _build(name: str, options: Mapping[str, Any] | None = None, model: pd.DataFrame | None = None):
        tokenizer = get_tokenizer(name, options)
        if not isinstance(tokenizer, TrainableTokenizer):
            return tokenizer
        if model is None:
            key = f"{name}:{json.dumps(dict(options or {}), sort_keys=True)}"
            if key not in fitted:
                fitted[key] = tokenizer.fit(fit_texts)
            model = fitted[key]
        return tokenizer.with_model(model)

    return _build
