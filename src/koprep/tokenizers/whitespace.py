"""Whitespace splitting: for text that is already tokenized, and as the simplest baseline."""

from __future__ import annotations

from typing import Sequence

from koprep.tokenizers.base import BackendOptions, Tagged


class WhitespaceTokenizer:
    name = "whitespace"
    default_drop_tags: tuple[str, ...] = ()
    crash_safe = True
    """str.split cannot crash or hang: tokenized in the calling process, never in a supervised worker."""

    class Options(BackendOptions):
        pass

    def __init__(self, **options: object) -> None:
        self.options = self.Options(**options)

    def version(self) -> str:
        return "whitespace-1"

    def tokenize(self, texts: Sequence[str]) -> list[Tagged]:
        return [[(token, "") for token in text.split()] for text in texts]
