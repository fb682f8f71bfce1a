"""Cache keys, in one place: what each stage's fingerprint hashes besides its upstream stages.

A stage's key is its name, its code version, its *parameters* (the settings that change its output,
with defaults filled in), its *inputs* (the fingerprints of the upstream entries it reads, and of
sources that are not stages: the corpus's bytes, a fitted run's vocabulary) and, for stages whose
output a library computes (gensim), that library's version. The stage graph
(`koprep.pipeline.graph`) names, for each stage, the functions below that give its parameters and
its non-stage inputs; `StageGraph.key` assembles the key, and the plan and the executing stage both
call it, so the plan's fingerprints are the ones a run uses.

Never in a key: run settings (`run.workers`, `run.force`, the runner), paths, anything that only
changes how an output is computed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from koprep.store import fingerprint

if TYPE_CHECKING:
    from koprep.pipeline.resolve import Resolution

LIBRARIES = (
    "koprep", "konlpy", "soynlp", "scikit-learn", "gensim", "pandas", "pyarrow", "numpy", "kiwipiepy", "python-mecab-ko",
)
"""Library versions every manifest records (for `koprep status` to explain a change); only a stage's
own `libraries` enter its key."""
PHRASE_SETTINGS = ("phrases_min_count", "phrases_threshold", "phrases_scoring", "phrases_delimiter")
"""The `[word2vec]` settings that the `phrases` stage learns with."""


@dataclass(frozen=True)
class StageKey:
    """Everything that determines one stage's output."""

    stage: str
    code_version: str
    params: Any
    inputs: dict[str, str]
    libraries: dict[str, str] = field(default_factory=dict)
    """Versions of the libraries whose algorithms compute the output (gensim for word2vec)."""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.stage, self.code_version, self.params, self.inputs, self.libraries)


# ------------------------------------------------------------------------------ parameters
def clean_params(run: Resolution) -> dict[str, Any]:
    config = run.config
    return {"corpus": config.corpus, "clean": config.clean, "shard_size": config.run.shard_size, **_clean_libraries(run)}


def _clean_libraries(run: Resolution) -> dict[str, Any]:
    """The versions of the models an optional clean step uses (Kiwi's spacing, the hanja tables),
    under "libraries"; nothing when none is on, so those keys are as they always were."""
    from koprep.stages.clean import libraries

    found = libraries(run.config.clean)
    return {"libraries": found} if found else {}


def corpus_source(run: Resolution) -> dict[str, str]:
    """The clean stage reads the corpus: its bytes and how they are read."""
    return {"corpus": run.corpus_fingerprint}


def model_params(run: Resolution) -> dict[str, Any]:
    # What training depends on only, so a tokenize-only option reuses the trained model.
    return {"backend": run.config.tokenize.backend, "fit_version": run.trainable_backend.fit_version()}


def tokenize_params(run: Resolution) -> dict[str, Any]:
    """The backend, its version and the options that affect its output (defaults filled in;
    execution-only options such as okt `threads` and options the chosen mode ignores left out), and
    the resolved token filter, and the user dictionary's content digest when one is set. A trained model
    enters through its fingerprint (`inputs.model`)."""
    params = {
        "backend": run.config.tokenize.backend,
        "backend_version": run.backend.version(),
        "options": run.backend.options.affecting_output(),
        "filter": asdict(run.token_filter),
    }
    if run.user_dictionary is not None:  # only when set: keys without one stay as they were
        params["user_dictionary"] = run.user_dictionary.key()
    return params


def settings_section(name: str) -> Any:
    """A stage whose parameters are its config section as a whole (`[bow]`, `[word2vec]`, ...)."""

    def params(run: Resolution) -> Any:
        return getattr(run.config, name)

    params.__name__ = params.__qualname__ = f"settings_section({name!r})"
    return params


def fitted_source(name: str) -> Any:
    """A vectorizer applied with `run.fitted_from` reads that run's fitted vocabulary too."""

    def sources(run: Resolution) -> dict[str, str]:
        fitted = run.fitted.get(name)
        return {} if fitted is None else {"fitted": fitted.fingerprint}

    sources.__name__ = sources.__qualname__ = f"fitted_source({name!r})"
    return sources


def phrases_params(run: Resolution) -> dict[str, Any]:
    return {name: getattr(run.config.word2vec, name) for name in PHRASE_SETTINGS}


def no_sources(run: Resolution) -> dict[str, str]:
    return {}


def set_by_command(run: Resolution) -> Any:
    """On-demand stages take their parameters from their command (`koprep evaluate`), not from a run."""
    raise TypeError("an on-demand stage is keyed by its command, not by a run's settings")


# ---------------------------------------------------------------------------------- shards
def clean_shard_key(stage: str, version: str, digest: str, run: Resolution) -> StageKey:
    """One shard of the clean stage: its documents' bytes (as read) and the clean settings."""
    return StageKey(stage, version, {"clean": run.config.clean, **_clean_libraries(run)}, {"documents": digest})


def tokenize_shard_key(tokenize: StageKey, clean_shard_stage: str, clean_shard: str, stage: str) -> StageKey:
    """One shard of the tokenize stage: the tokenize key with the clean shard as its input."""
    inputs = {clean_shard_stage: clean_shard}
    if "model" in tokenize.inputs:
        inputs["model"] = tokenize.inputs["model"]
    return replace(tokenize, stage=stage, inputs=inputs)
