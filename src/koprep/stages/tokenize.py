"""Tokenize cleaned texts with a backend, then apply the token filters (stopwords, tags, length)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from koprep.stages.filters import TokenFilterParams, filter_tokens, resolve_stopwords
from koprep.tokenizers.base import Tokenizer

VERSION = "1"
BATCH = 2_000
"""Texts handed to a backend at once: large enough for batch APIs (Kiwi) to pay off."""


@dataclass(frozen=True)
class TokenFilter:
    """The resolved token filter: exact lists, so they can enter fingerprints and manifests."""

    stopwords: tuple[str, ...]
    drop_tags: tuple[str, ...]
    min_length: int

    @classmethod
    def for_backend(cls, params: TokenFilterParams, tokenizer: Tokenizer) -> "TokenFilter":
        drop_tags = params.drop_tags if params.drop_tags is not None else tokenizer.default_drop_tags
        return cls(resolve_stopwords(params), tuple(drop_tags), params.min_length)


def tokenize_texts(tokenizer: Tokenizer, texts: Sequence[str], token_filter: TokenFilter) -> list[list[str]]:
    stopwords = frozenset(token_filter.stopwords)
    tokens: list[list[str]] = []
    for start in range(0, len(texts), BATCH):
        for tagged in tokenizer.tokenize(list(texts[start : start + BATCH])):
            tokens.append(filter_tokens(tagged, stopwords, token_filter.drop_tags, token_filter.min_length))
    return tokens
