"""koprep's one error hierarchy, and the exit code each branch maps to.

    KoprepError                      anything koprep raises on purpose
    ├── BadInputError                the same input will always fail the same way: exit 2, no traceback
    │   │ (CorpusError, ConfigError, BackendUnavailable, BackendOptionError, StopwordsFileError,
    │   │  EvaluationFileError; StoreError: a reference to a run or model the store does not hold,
    │   │  a path outside the store, an artifacts root that cannot be written or is full)
    │   └── EmptyResultError         data that yields nothing: no terms left after filtering, an
    │                                empty word2vec vocabulary, a soynlp fit that learns nothing
    ├── StoreIntegrityError          an artifact is truncated, altered or inconsistent: exit 3
    │   └── CorruptArtifactError     (koprep.store) its files do not match its manifest
    └── OrchestrationError           the Prefect server is missing, unreachable, or refused: exit 2

Anything else reaching the CLI is a bug: exit 1, one line, the traceback only with `--debug`.

Module-specific classes (`CorpusError`, `ConfigError`, `BackendUnavailable`, ...) subclass one of
these, so callers catch by branch: the CLI maps branches to exit codes in one place, and the
tokenize task's retry rule never retries a `BadInputError`. This module imports nothing of koprep's,
so every layer (tokenizers included) can use it.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
"""A bug, or a run that failed for a reason that is not the input's (with --debug: the traceback)."""
EXIT_BAD_INPUT = 2
EXIT_INTEGRITY = 3


class KoprepError(Exception):
    """Base of every error koprep raises on purpose; the message says what was wrong and what to do."""

    exit_code = EXIT_FAILED


class BadInputError(KoprepError, ValueError):
    """The input (corpus, settings, references, data) cannot produce a result; retrying never helps."""

    exit_code = EXIT_BAD_INPUT


class EmptyResultError(BadInputError):
    """The data yields nothing: no terms left after filtering, an empty word2vec vocabulary, a
    trainable tokenizer that learned nothing. The message names the setting to relax."""


class StoreIntegrityError(KoprepError):
    """An artifact in the store is truncated, altered or inconsistent with its manifest."""

    exit_code = EXIT_INTEGRITY


class OrchestrationError(KoprepError):
    """The Prefect server is not configured or reachable, or a deployment or run is not what was asked for."""

    exit_code = EXIT_BAD_INPUT


def exit_code_for(error: BaseException) -> int:
    return getattr(error, "exit_code", EXIT_FAILED) if isinstance(error, KoprepError) else EXIT_FAILED
