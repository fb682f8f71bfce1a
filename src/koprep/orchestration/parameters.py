"""The preprocessing flow's parameters, validated the same way wherever they come from (the Prefect
UI, `koprep trigger --param`, `prefect.yaml`, `koprep serve`). No Prefect import: the CLI checks
parameters with this module before it contacts a server."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from koprep.config import ConfigError, PipelineConfig, describe_validation_error, load_config, parse_pair
from koprep.orchestration.runners import DEFAULT_RUNNER, check_choice
from koprep.storage import is_url
from koprep.tokenizers import get_tokenizer


class PreprocessParameters(BaseModel):
    """The flow's parameters, as the Prefect UI, `koprep trigger --param` and `prefect.yaml` give them.

    Field types are checked by pydantic (unknown parameter names are refused); `config` builds the
    validated pipeline configuration from them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    corpus: str | None = None
    backend: str | None = None
    config_file: str | None = None
    overrides: dict[str, Any] | None = None
    artifacts: str = "artifacts"
    preset: str | None = None
    runner: str = DEFAULT_RUNNER
    """Where the tasks run: local (this process) or dask (the cluster at `dask_address`); never enters a fingerprint."""
    dask_address: str | None = None

    @model_validator(mode="after")
    def _runner_choice(self) -> "PreprocessParameters":
        check_choice(self.runner, self.dask_address)
        return self

    @classmethod
    def parse(cls, values: Mapping[str, Any]) -> "PreprocessParameters":
        """Validate raw parameter values; type errors and unknown names become one ConfigError."""
        try:
            return cls.model_validate(dict(values))
        except ValidationError as exc:
            raise ConfigError(
                f"invalid flow parameters: {describe_validation_error(exc, 'parameters')}; "
                f"the parameters are {sorted(cls.model_fields)}"
            ) from None

    def config(self, *, with_config_file: bool = True) -> PipelineConfig:
        """The pipeline configuration these parameters select (ConfigError names a bad setting).

        `with_config_file=False` leaves the config file out: a client checking parameters for a run
        that executes on a worker cannot read the file the worker will read."""
        return load_config(
            self.config_file if with_config_file else None, self.overrides or {}, self.backend, self.preset
        )

    def check_before_submit(self) -> PipelineConfig:
        """What a client can check before it creates a run that executes elsewhere: the settings
        (except the config file's) and the tokenizer backend's name and options."""
        config = self.config(with_config_file=False)
        # Building the tokenizer validates the backend name and its options; it starts no JVM.
        get_tokenizer(config.tokenize.backend, config.tokenize.options)
        return config

    def with_absolute_paths(self) -> "PreprocessParameters":
        """Paths made absolute against the current folder, for runs that start somewhere else; a URL
        (`s3://bucket/store`) stays as given: each run opens the bucket itself."""
        corpus = self.corpus
        if corpus is not None and not is_url(corpus) and Path(corpus).exists():
            corpus = str(Path(corpus).resolve())
        config_file = str(Path(self.config_file).resolve()) if self.config_file else None
        artifacts = self.artifacts if is_url(self.artifacts) else str(Path(self.artifacts).resolve())
        return self.model_copy(update={"corpus": corpus, "config_file": config_file, "artifacts": artifacts})


def parse_parameter_pairs(pairs: Iterable[str]) -> dict[str, Any]:
    """`KEY=VALUE` flow parameters; values are read as JSON/TOML when they parse (numbers, null,
    objects such as overrides={"ngram.min_df": 2}), else kept as strings."""
    return dict(parse_pair(pair, option="--param", example="backend=whitespace") for pair in pairs)
