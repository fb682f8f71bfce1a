"""The pipeline's configuration: one validated model, built from defaults, a TOML file and overrides.

Each stage owns its parameter model next to its logic (`CleanParams` in `stages/clean.py`, ...);
this module only composes them, so validation happens in one place: `load_config`.

    [corpus]   format, text_column, id_column, limit
    [clean]    the cleaning steps            (koprep.stages.clean.CleanParams)
    [tokenize] backend, options, model, stopwords and tag filters
    [bow] [ngram] [tfidf]                    (koprep.stages.vectorize.CountParams / TfidfParams)
    [word2vec]                               (koprep.stages.embed.Word2VecParams)
    [run]      shard_size, stages, fitted_from, workers
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from koprep.corpus import CorpusParams
from koprep.errors import BadInputError
from koprep.stages.clean import CleanParams
from koprep.stages.embed import Word2VecParams
from koprep.stages.filters import TokenFilterParams
from koprep.stages.vectorize import CountParams, TfidfParams

STAGES = ("clean", "tokenize", "bow", "ngram", "tfidf", "word2vec")
StageName = Literal["clean", "tokenize", "bow", "ngram", "tfidf", "word2vec"]


class ConfigError(BadInputError):
    """The configuration is invalid; the message names the setting and what is accepted."""


class TokenizeParams(TokenFilterParams):
    backend: str = "okt"
    """Registered tokenizer backend (`koprep backends` lists them)."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Backend options, e.g. {mode = "nouns"} for okt."""
    model: str | None = None
    """For trainable backends (soynlp): use this saved model instead of training on the corpus —
    a model artifact folder inside the artifact store, or a run id whose model to reuse."""


class RunParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    shard_size: int = 20_000
    """Documents per Parquet part; later stages stream shard by shard."""
    stages: tuple[StageName, ...] = STAGES
    """Stages to run; the ones they depend on always run (or come from the cache)."""
    fitted_from: str | None = None
    """A run id: vectorize this corpus with that run's fitted bow/ngram/tfidf vocabularies (and
    its cleaning, tokenizer and trained model), e.g. the test split with the train split's."""
    workers: int | None = None
    """Cores to tokenize on (None: every core this process may use). How depends on the backend
    (koprep.parallel); it never changes an output or a fingerprint."""

    @field_validator("shard_size")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("shard_size must be >= 1")
        return value

    @field_validator("workers")
    @classmethod
    def _at_least_one(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("workers must be >= 1 (or unset for every core)")
        return value


class PipelineConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    corpus: CorpusParams = CorpusParams()
    clean: CleanParams = CleanParams()
    tokenize: TokenizeParams = TokenizeParams()
    bow: CountParams = CountParams()
    ngram: CountParams = CountParams(ngram_range=(1, 2))
    tfidf: TfidfParams = TfidfParams()
    word2vec: Word2VecParams = Word2VecParams()
    run: RunParams = RunParams()


SECTIONS = tuple(PipelineConfig.model_fields)


def load_config(
    config_file: str | Path | None = None,
    overrides: Iterable[str] | Mapping[str, Any] = (),
    backend: str | None = None,
) -> PipelineConfig:
    """Defaults ← TOML file ← `backend` ← overrides (`"section.key=value"` strings or a mapping of
    dotted keys to values). Raises ConfigError naming the offending setting."""
    data: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    if backend is not None:
        _assign(data, "tokenize.backend", backend)
    items = overrides.items() if isinstance(overrides, Mapping) else (parse_override(o) for o in overrides)
    for key, value in items:
        _assign(data, key, value)
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"unknown config section(s) {unknown}; sections are {list(SECTIONS)}")
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {describe_validation_error(exc)}") from None


def describe_validation_error(error: ValidationError, root: str = "") -> str:
    """pydantic's errors as one line, each as `dotted.location: message` (`root` names an empty location)."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or root}: {problem['msg']}"
        for problem in error.errors(include_url=False)
    )


def parse_override(text: str) -> tuple[str, Any]:
    """`section.key=value`; the value is read as JSON or TOML when it parses (numbers, booleans,
    lists, inline tables), else kept as a string."""
    return parse_pair(text, option="override", example="ngram.min_df=2", dotted=True)


def parse_pair(text: str, *, option: str, example: str, dotted: bool = False) -> tuple[str, Any]:
    """`KEY=VALUE` with the value read by `parse_value`; ConfigError shows `example` when malformed.
    `dotted` requires a SECTION.KEY name."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or (dotted and "." not in key):
        shape = "SECTION.KEY=VALUE" if dotted else "KEY=VALUE"
        raise ConfigError(f"{option} {text!r} must look like {shape}, e.g. {example}")
    return key, parse_value(raw.strip())


def parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        pass
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _assign(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {dotted}: {part} is a value, not a section")
        node = child
    node[leaf] = value
