"""The whole contract a tokenizer backend implements; a third-party backend can be written from this
module alone and registered through the `koprep.tokenizers` entry point group (or `register_backend`).

A backend is a class with:

- `name`: its registry name, e.g. "okt".
- `Options`: a `BackendOptions` subclass (a frozen pydantic model that refuses unknown names) with
  every option and its default; `Options.execution_only` names the options that change only how the
  output is produced (threads, workers), and `Options.ignored()` the ones the chosen settings make
  irrelevant (e.g. `keep_tags` outside `pos` mode). Neither enters a cache key.
- `default_drop_tags`: the tags the token filter drops when the user sets no `drop_tags`, matched
  by prefix (`tag_matches`); () for untagged backends.
- a constructor taking the options as keyword arguments (`Backend(**options)`), validated by
  `Options`, kept as `self.options`; building a backend must be cheap (load libraries lazily).
- `version()` and `tokenize(texts)` (see `Tokenizer`).

Backends that learn from the corpus (soynlp) also implement `Trainable`: `fit` (learn a model: plain
data, a DataFrame the pipeline stores as Parquet), `with_model` (a tokenizer that consumes such a
model) and `fit_version`, following soynlp's own split between extractors that learn scores and
tokenizers that consume a dict of scores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, Sequence, get_args, runtime_checkable

from pydantic import BaseModel, ConfigDict

from koprep.errors import BadInputError

if TYPE_CHECKING:  # pandas only names a type here; a tokenizer worker process need not import it (0.25 s)
    import pandas as pd

Tagged = list[tuple[str, str]]
"""One document as (token, tag) pairs; the tag is "" when a backend has no POS tags."""


class BackendUnavailable(BadInputError, ImportError):
    """Raised when a registered backend's library is not installed; the message says how to fix it."""


class BackendOptionError(BadInputError):
    """Raised when options given to a backend are invalid; the message names the valid ones."""


def tag_matches(tag: str, patterns: tuple[str, ...]) -> bool:
    """A tag matches when it equals or starts with one of `patterns` ("J" matches JKS, JKO, JX ...);
    the empty tag of untagged backends matches nothing. The one rule for `drop_tags` and `keep_tags`."""
    return bool(tag) and tag.startswith(patterns)


class BackendOptions(BaseModel):
    """Base of every backend's `Options`: frozen, unknown option names refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    execution_only: ClassVar[frozenset[str]] = frozenset()
    """Options that never change the output, only how it is computed (threads, workers)."""

    def ignored(self) -> frozenset[str]:
        """Options these settings make irrelevant to the output (e.g. `keep_tags` outside `pos` mode)."""
        return frozenset()

    def affecting_output(self) -> dict[str, Any]:
        """The options that determine the output, with defaults filled in: what enters cache keys,
        so spelling out a default, changing an execution-only option or an ignored one recomputes nothing."""
        skip = self.execution_only | self.ignored()
        return {name: value for name, value in self.model_dump(mode="json").items() if name not in skip}


def options_key(options: dict[str, Any]) -> str:
    """Options as `name=value` pairs for a `version()` string."""
    return ":".join(f"{name}={value}" for name, value in options.items())


@runtime_checkable
class Tokenizer(Protocol):
    name: ClassVar[str]
    """Registry name, e.g. "okt"."""
    Options: ClassVar[type[BackendOptions]]
    default_drop_tags: ClassVar[tuple[str, ...]]
    options: BackendOptions
    """The validated options this backend was built with."""

    def __init__(self, **options: Any) -> None: ...

    def version(self) -> str:
        """Everything about this backend that changes its output: library + dictionary versions and
        `options.affecting_output()`, nothing else. Enters the tokenize stage's fingerprint."""

    def tokenize(self, texts: Sequence[str]) -> list[Tagged]:
        """Tokenize a batch of cleaned texts. Empty or whitespace-only texts give []; tokens are
        never empty strings; output is deterministic."""

    # Optional: `parallelism`, one of PARALLELISM (see there); "none" when absent.
    # Optional: `crash_safe = True` for a backend that cannot crash or hang its process (pure Python
    # string operations): it then tokenizes in the calling process. Absent, koprep tokenizes in
    # supervised worker processes (`koprep.supervised`) and quarantines a document that kills or
    # stalls the analyser.


@runtime_checkable
class Trainable(Protocol):
    """The methods of a backend that must learn from the corpus before it can tokenize (e.g. soynlp).
    Methods only, so `issubclass(backend_class, Trainable)` works on a class too."""

    def fit(self, texts: Sequence[str]) -> pd.DataFrame:
        """Learn from the corpus; return the model as a plain table (no pickles), e.g. term/score."""

    def with_model(self, model: pd.DataFrame) -> Tokenizer:
        """A tokenizer that uses a model previously returned by `fit` (possibly on another corpus)."""

    def fit_version(self) -> str:
        """Everything that changes what `fit` learns (library version, training options) and nothing
        that only changes how a model is applied: the trained model's cache key."""


@runtime_checkable
class TrainableTokenizer(Tokenizer, Trainable, Protocol):
    """A tokenizer backend that is also `Trainable`."""


CONTRACT = ("name", "Options", "default_drop_tags", "version", "tokenize")
"""What `registry` checks a backend class has before it builds one."""

Parallelism = Literal["processes", "own", "none"]
PARALLELISM: tuple[Parallelism, ...] = get_args(Parallelism)
"""How a backend uses several cores (its optional `parallelism` class attribute; koprep.parallel):
"processes": spawned worker processes, each sent the pickled backend (so it must pickle, and build
its native analyser on first use); a "processes" backend that also has `with_workers(n)` (Kiwi's
threads) is set up in each process for the cores left to it; "own": its own workers, set up by a `with_workers(n)` method that
returns the backend for n workers (Kiwi's thread pool, Okt's threads on one JVM); "none", the
default: the calling process only."""


def parallelism(backend: Any) -> Parallelism:
    """A backend's (class's or instance's) declared `parallelism`, "none" when it declares none."""
    return getattr(backend, "parallelism", "none")


def contract_problems(cls: type) -> list[str]:
    """What backend class `cls` lacks of the contract; [] when it keeps it."""
    problems = [f"no {attribute!r}" for attribute in CONTRACT if not hasattr(cls, attribute)]
    options = getattr(cls, "Options", None)
    if options is not None and not (isinstance(options, type) and issubclass(options, BackendOptions)):
        problems.append("its Options is not a koprep.tokenizers.base.BackendOptions subclass")
    mode = parallelism(cls)
    if mode not in PARALLELISM:
        problems.append(f"its parallelism {mode!r} is not one of {', '.join(PARALLELISM)}")
    elif mode == "own" and not callable(getattr(cls, "with_workers", None)):
        problems.append('its parallelism is "own" but it has no with_workers(n) method')
    drop_tags = getattr(cls, "default_drop_tags", ())
    if not (isinstance(drop_tags, tuple) and all(isinstance(tag, str) and tag for tag in drop_tags)):
        problems.append("default_drop_tags is not a tuple of non-empty tags")
    return problems

