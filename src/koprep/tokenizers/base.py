"""The one small protocol every tokenizer backend implements.

A backend turns cleaned texts into tokens. Backends that learn from the corpus (soynlp) split
that into `fit` (learn a model: plain data, a DataFrame the pipeline stores as Parquet) and
`with_model` (a tokenizer that consumes such a model), following soynlp's own split between
extractors that learn scores and tokenizers that consume a dict of scores.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import pandas as pd

from koprep.errors import BadInputError

Tagged = list[tuple[str, str]]
"""One document as (token, tag) pairs; the tag is "" when a backend has no POS tags."""


class BackendUnavailable(BadInputError, ImportError):
    """Raised when a registered backend's library is not installed; the message says how to fix it."""


class BackendOptionError(BadInputError):
    """Raised when options given to a backend are invalid; the message names the valid ones."""


@runtime_checkable
class Tokenizer(Protocol):
    name: str
    """Registry name, e.g. "okt"."""

    def version(self) -> str:
        """Everything about this backend that changes its output: library + dictionary versions and
        the options it was built with. Enters the tokenize stage's fingerprint."""

    def tokenize(self, texts: Sequence[str]) -> list[Tagged]:
        """Tokenize a batch of cleaned texts. Empty or whitespace-only texts give []; tokens are
        never empty strings; output is deterministic."""

    # Optional: `parallelism` = "processes" (picklable; spawned worker processes), "own" (with a
    # `with_workers(n)` method returning the backend set up for n workers of its own) or "none"
    # (the default: the calling process). See koprep.parallel.


@runtime_checkable
class TrainableTokenizer(Tokenizer, Protocol):
    """A backend that must learn from the corpus before it can tokenize (e.g. soynlp)."""

    def fit(self, texts: Sequence[str]) -> pd.DataFrame:
        """Learn from the corpus; return the model as a plain table (no pickles), e.g. term/score."""

    def with_model(self, model: pd.DataFrame) -> Tokenizer:
        """A tokenizer that uses a model previously returned by `fit` (possibly on another corpus)."""

    def fit_version(self) -> str:
        """Everything that changes what `fit` learns (library version, training options) and nothing
        that only changes how a model is applied: the trained model's cache key."""


def needs_fit(tokenizer: Any) -> bool:
    return callable(getattr(tokenizer, "fit", None)) and callable(getattr(tokenizer, "with_model", None))
