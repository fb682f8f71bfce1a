"""The pipeline's configuration: one validated model, built from defaults, a TOML file and overrides.

Each stage owns its parameter model next to its logic (`CleanParams` in `stages/clean.py`, ...);
this module only composes them, so validation happens in one place: `load_config`.

    [corpus]   format, text_column, id_column, limit
    [clean]    the cleaning steps            (koprep.stages.clean.CleanParams)
    [dedup]    exact / near-duplicates       (koprep.stages.dedup.DedupParams; runs when run.stages has dedup)
    [tokenize] backend, options, model, stopwords and tag filters
    [bow] [ngram] [tfidf]                    (koprep.stages.vectorize.CountParams / TfidfParams)
    [chargram] character n-gram TF-IDF        (koprep.stages.vectorize.ChargramParams)
    [word2vec]                               (koprep.stages.embed.Word2VecParams)
    [fasttext] jamo or character subwords     (koprep.stages.fasttext.FastTextParams)
    [run]      shard_size, stages, fitted_from, workers
    [store]    storage options for URL stores and corpora (StoreParams; no secrets, no fingerprint)
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from koprep.corpus import CorpusParams
from koprep.errors import BadInputError
from koprep.pipeline.graph import GRAPH
from koprep.stages.clean import CleanParams
from koprep.stages.dedup import DedupParams
from koprep.stages.embed import Word2VecParams
from koprep.stages.fasttext import FastTextParams
from koprep.stages.filters import TokenFilterParams
from koprep.stages.vectorize import ChargramParams, CountParams, TfidfParams
from koprep.storage import secret_option_names, use_config_options

if TYPE_CHECKING:
    from koprep.presets import Preset


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
    user_dictionary: str | None = None
    """A user dictionary file (UTF-8 lines `word<TAB>tag[<TAB>score]`, Sejong tags) the backend
    applies where it can (koprep.tokenizers.userdict); its content enters the tokenize key."""


class NgramParams(CountParams):
    """The `ngram` stage: CountVectorizer parameters with 1–2-grams by default, also when only other
    settings are given (`--set ngram.min_df=2` keeps the bigrams)."""

    ngram_range: tuple[int, int] = (1, 2)


class RunParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    shard_size: int = 2_000
    """Documents per shard, on average (`koprep.shards`: content-defined boundaries). Shards are the
    unit clean and tokenize compute and cache, and later stages stream shard by shard: smaller shards
    make appends and edits recompute less."""
    stages: tuple[str, ...] = GRAPH.default_stages()
    """Stages to run (the stage graph's run stages, `koprep.pipeline.graph`); the ones they depend on
    always run (or come from the cache). `chargram` runs only when listed here."""
    fitted_from: str | None = None
    """A run id: vectorize this corpus with that run's fitted bow/ngram/tfidf vocabularies (and
    its cleaning, tokenizer and trained model), e.g. the test split with the train split's."""
    force: tuple[str, ...] = ()
    """Stages to recompute even if stored (`koprep run --force STAGE`), with every stage after them;
    their stored entries are replaced. Any stage a run computes, auxiliary ones (`model`, `phrases`)
    included. Not part of any fingerprint."""
    workers: int | None = None
    """Cores to tokenize on (None: every core this process may use). How depends on the backend
    (koprep.parallel); it never changes an output or a fingerprint."""
    supervise: bool = True
    """Tokenize in worker processes that koprep watches (`koprep.supervised`): a document that crashes
    the analyser or makes it hang is quarantined (kept with empty tokens, listed in the run record,
    the report and `koprep show`) and the run completes. false tokenizes Okt, Kiwi and backends
    without worker processes of their own in the calling process, where such a document ends the run.
    Never changes a fingerprint."""
    tokenize_timeout: float = 120.0
    """Seconds a supervised worker may take to answer a batch of documents; a batch that takes longer
    is retried one document at a time, and a document that alone takes longer is quarantined."""

    @field_validator("shard_size")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("shard_size must be >= 1")
        return value

    @field_validator("stages")
    @classmethod
    def _run_stages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _known_stages(value, GRAPH.run_stages())

    @field_validator("force")
    @classmethod
    def _stored_stages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _known_stages(value, GRAPH.stored_stages())

    @field_validator("tokenize_timeout")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("tokenize_timeout must be > 0 seconds")
        return value

    @field_validator("workers")
    @classmethod
    def _at_least_one(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("workers must be >= 1 (or unset for every core)")
        return value


def _known_stages(names: tuple[str, ...], known: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown stage(s) {', '.join(map(repr, unknown))}; the stages are {', '.join(known)}")
    return names


class StoreParams(BaseModel):
    """`[store]`: storage options for `s3://`-style store roots and corpora, the keyword arguments of
    the fsspec filesystem (e.g. endpoint_url, profile, client_kwargs = {region_name = "..."}).

    Never a secret: a key, secret, token, password or credential is refused (exit 2), so none is in a
    config file that may be shared or committed. Credentials come from the standard chain
    (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or `profile = "..."`, an instance role)
    or KOPREP_STORAGE_OPTIONS. Excluded from every dump, so from run records; no fingerprint reads it
    (where a store lives never changes what it holds). Precedence: `--set store.KEY=...` >
    KOPREP_STORAGE_OPTIONS > the config file, key by key (koprep.storage.storage_options)."""

    model_config = ConfigDict(frozen=True, extra="allow")
    _from_command_line: frozenset[str] = PrivateAttr(default=frozenset())
    """Options given with `--set store.KEY=...` (above the environment), not by the config file."""

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            secrets = secret_option_names(data)
            if secrets:
                names = ", ".join(f"store.{name}" for name in secrets)
                raise ValueError(
                    f"{names} looks like a credential, and [store] must hold none (config files get shared and "
                    "committed): remove it and use the standard credential chain instead (AWS_ACCESS_KEY_ID / "
                    "AWS_SECRET_ACCESS_KEY or AWS_PROFILE in the environment, a profile, an instance role) "
                    "or KOPREP_STORAGE_OPTIONS"
                )
        return data

    @property
    def options(self) -> dict[str, Any]:
        """All the `[store]` options (file and `--set` together)."""
        return dict(self.model_extra or {})

    def activate(self) -> None:
        """Make these the storage options of every location this process parses from now on (what a run
        does before it opens its store and corpus)."""
        options = self.options
        from_command_line = {name: options[name] for name in self._from_command_line if name in options}
        from_file = {name: value for name, value in options.items() if name not in self._from_command_line}
        use_config_options(from_file, from_command_line)


class PipelineConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    corpus: CorpusParams = CorpusParams()
    clean: CleanParams = CleanParams()
    dedup: DedupParams = DedupParams()
    tokenize: TokenizeParams = TokenizeParams()
    bow: CountParams = CountParams()
    ngram: NgramParams = NgramParams()
    tfidf: TfidfParams = TfidfParams()
    chargram: ChargramParams = ChargramParams()
    word2vec: Word2VecParams = Word2VecParams()
    fasttext: FastTextParams = FastTextParams()
    run: RunParams = RunParams()
    store: StoreParams = Field(default_factory=StoreParams, exclude=True, repr=False)
    """Excluded from model_dump: never in a run record, a flow run's parameters or a fingerprint."""

    def with_run_stages(self, stages: Iterable[str]) -> PipelineConfig:
        """The same settings for a run of `stages` only (and what they read)."""
        return self.model_copy(update={"run": self.run.model_copy(update={"stages": tuple(stages)})})


SECTIONS = tuple(PipelineConfig.model_fields)


def load_config(
    config_file: str | Path | None = None,
    overrides: Iterable[str] | Mapping[str, Any] = (),
    backend: str | None = None,
    preset: str | None = None,
) -> PipelineConfig:
    """Defaults ← `preset` (koprep.presets: topic, classify, search) ← TOML file ← `backend` ←
    overrides (`"section.key=value"` strings or a mapping of dotted keys to values).
    Raises ConfigError naming the offending setting (UnknownPresetError for an unknown preset)."""
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
    items = list(overrides.items() if isinstance(overrides, Mapping) else (parse_override(o) for o in overrides))
    for key, value in items:
        _assign(data, key, value)
    if preset is not None:
        data = _under_preset(preset, data)
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"unknown config section(s) {unknown}; sections are {list(SECTIONS)}")
    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {describe_validation_error(exc)}") from None
    config.store._from_command_line = frozenset(
        key.split(".")[1] for key, _ in items if key.startswith("store.")
    )
    return config


def describe_validation_error(error: ValidationError, root: str = "") -> str:
    """pydantic's errors as one line, each as `dotted.location: message` (`root` names an empty location)."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or root}: {problem['msg']}"
        for problem in error.errors(include_url=False)
    )


def _under_preset(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """`data` (file, backend and overrides, already layered) over the preset's settings for the
    backend they resolve to (a preset's per-backend table applies to the backend finally used)."""
    from koprep import presets

    try:
        chosen = presets.load(name)
    except presets.UnknownPresetError as exc:
        raise ConfigError(str(exc)) from None
    resolved_backend = (data.get("tokenize") or {}).get("backend") or (chosen.settings.get("tokenize") or {}).get(
        "backend", TokenizeParams.model_fields["backend"].default
    )
    return presets.deep_merge(chosen.layer(str(resolved_backend)), data)


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


def preset_changes(preset: "Preset", backend: str | None = None) -> list[dict[str, Any]]:
    """What the preset changes against the defaults, one row per setting: `setting` (dotted),
    `default` (None where the default depends on the backend, as `tokenize.drop_tags`'s does),
    `value`, and `backend` (None when it applies to every backend). With `backend`,
    only the rows that apply to it."""
    defaults = PipelineConfig().model_dump(mode="json")
    rows: list[dict[str, Any]] = []
    layers = [(None, preset.settings)] + [
        (name, sections) for name, sections in sorted(preset.per_backend.items()) if backend in (None, name)
    ]
    for layer_backend, sections in layers:
        for dotted, value in _flatten_settings(sections):
            default = _lookup_setting(defaults, dotted)
            if default is None and dotted.startswith("tokenize.options.") and layer_backend is not None:
                default = _backend_option_default(layer_backend, dotted.removeprefix("tokenize.options."))
            if value != default:  # a preset may spell out a default; only real changes are listed
                rows.append({"setting": dotted, "default": default, "value": value, "backend": layer_backend})
    return rows


def _flatten_settings(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            out.extend(_flatten_settings(value, dotted + "."))
        else:
            out.append((dotted, value))
    return out


def _backend_option_default(backend: str, option: str) -> Any:
    from koprep.tokenizers import get_tokenizer

    try:  # building a backend imports its library but starts nothing (no JVM)
        return getattr(get_tokenizer(backend, {}).options, option, None)
    except Exception:  # noqa: BLE001 - a backend that is not installed has no default to show
        return None


def _lookup_setting(data: dict[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
