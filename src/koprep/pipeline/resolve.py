"""A run's settings resolved once, before any work, into what every stage of it needs.

`Resolution` is built by the plan (`koprep.plan.build_plan`) and handed as it is to the flow, the
in-process runner and, pickled, to Dask workers: the configuration with `run.fitted_from` applied,
the tokenizer backend as configured (nothing loaded: no JVM, no model), the resolved token filter
(stopword files read now), the model entry `tokenize.model` names, the fitted vocabularies
`run.fitted_from` names, and which stages `run.force` recomputes. Bad input fails while resolving,
with the error a run would give.

`ready_tokenizer` is the one place that turns settings (and a trained model) into a tokenizer that
can tokenize: the tokenize stage, the Dask shard tasks and `Run.preprocess` all call it.
"""

from __future__ import annotations

import copy
from functools import cached_property
from pathlib import Path
from typing import Any

from koprep import corpus as corpus_io
from koprep.config import PipelineConfig, TokenizeParams
from koprep.pipeline.datasets import MatrixFiles, ModelTable
from koprep.pipeline.graph import GRAPH, StageGraph
from koprep.stages.tokenize import TokenFilter
from koprep.store import ArtifactStore, Entry, StoreError
from koprep.tokenizers import get_tokenizer, userdict
from koprep.tokenizers.base import Tokenizer, TrainableTokenizer


class Resolution:
    """What a run's stages need, resolved from (store, corpus location, configuration)."""

    def __init__(self, store: ArtifactStore, location: str | None, config: PipelineConfig, graph: StageGraph = GRAPH):
        self.store = store
        self.location = location
        self.graph = graph
        self.config = with_fitted_from(store, config, graph)
        params = self.config.tokenize
        self.user_dictionary = None if params.user_dictionary is None else userdict.load(params.user_dictionary)
        self.backend: Tokenizer = userdict.apply(get_tokenizer(params.backend, params.options), self.user_dictionary)
        self.trainable = isinstance(self.backend, TrainableTokenizer)
        if params.model is not None and not self.trainable:
            raise StoreError(f"tokenize.model is set but backend {params.backend!r} does not use a trained model")
        self.token_filter = TokenFilter.for_backend(params, self.backend)
        self.forced: dict[str, str] = graph.downstream(self.config.run.force)
        """Each stage `run.force` recomputes, mapped to the named stage that causes it."""

    @cached_property
    def corpus_fingerprint(self) -> str:
        """The corpus's bytes and how they are read (hashed once per run; streamed, never loaded whole)."""
        return corpus_io.corpus_fingerprint(self.location, self.config.corpus)

    @property
    def trainable_backend(self) -> TrainableTokenizer:
        if not isinstance(self.backend, TrainableTokenizer):
            raise StoreError(f"backend {self.config.tokenize.backend!r} does not use a trained model")
        return self.backend

    @cached_property
    def model_reference(self) -> Entry | None:
        """The trained model `tokenize.model` names (a model folder in the store, or a run id)."""
        reference = self.config.tokenize.model
        return None if reference is None else resolve_model(self.store, reference)

    @cached_property
    def fitted(self) -> dict[str, Entry]:
        """With `run.fitted_from`: that run's fitted vectorizer entries, for the vectorizers this run
        chose (a chosen one the fitted run lacks is refused)."""
        source = self.config.run.fitted_from
        if source is None:
            return {}
        stages = self.store.read_run(source).stages
        found = {}
        for name in vectorizer_stages(self.graph):
            if name not in self.config.run.stages:
                continue
            if name not in stages:
                raise StoreError(f"run {source!r} has no fitted {name!r} vectorizer to apply")
            found[name] = self.store.open_entry(stages[name].path)
        return found

    def ready_tokenizer(self, model: Entry | None = None) -> tuple[Tokenizer, TokenFilter]:
        """The backend ready to tokenize with `model` loaded (trainable backends), and the token filter."""
        return ready_tokenizer(self.config.tokenize, model, self.backend, self.token_filter)

    def at_location(self, location: str | None) -> Resolution:
        """The same resolution with the corpus named by another path (an absolute one, for workers)."""
        moved = copy.copy(self)
        moved.location = location
        return moved

    def __getstate__(self) -> dict[str, Any]:
        # Pickled for Dask workers: the resolved values travel, the graph is the module's own.
        state = dict(self.__dict__)
        state.pop("graph")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, graph=GRAPH)


def ready_tokenizer(
    params: TokenizeParams, model: Entry | None = None, backend: Tokenizer | None = None,
    token_filter: TokenFilter | None = None,
) -> tuple[Tokenizer, TokenFilter]:
    """A tokenizer that can tokenize, and its token filter: the backend `params` configure (or the
    `backend` already built from them), with the trained `model` loaded for trainable backends."""
    if backend is None:
        dictionary = None if params.user_dictionary is None else userdict.load(params.user_dictionary)
        backend = userdict.apply(get_tokenizer(params.backend, params.options), dictionary)
    token_filter = token_filter or TokenFilter.for_backend(params, backend)
    if isinstance(backend, TrainableTokenizer):
        if model is None:
            raise StoreError(f"backend {params.backend!r} needs a trained model; set tokenize.model")
        return backend.with_model(ModelTable.read(model)), token_filter
    return backend, token_filter


def vectorizer_stages(graph: StageGraph = GRAPH) -> tuple[str, ...]:
    """The stages that fit a vocabulary (`run.fitted_from` applies theirs)."""
    return tuple(stage.name for stage in graph if stage.dataset is MatrixFiles)


def with_fitted_from(store: ArtifactStore, config: PipelineConfig, graph: StageGraph = GRAPH) -> PipelineConfig:
    """With `run.fitted_from`, take from that run the settings of its vectorizers and of every stage
    they read (cleaning, tokenization), so this corpus is processed exactly as the one the
    vectorizers were fitted on (its trained model too)."""
    if config.run.fitted_from is None:
        return config
    source = store.read_run(config.run.fitted_from)
    fitted = PipelineConfig.model_validate(source.config)
    sections = [name for name in graph.upstream(vectorizer_stages(graph)) if name in PipelineConfig.model_fields]
    update = {name: getattr(fitted, name) for name in sections}
    if "model" in source.stages and fitted.tokenize.model is None:
        update["tokenize"] = fitted.tokenize.model_copy(update={"model": source.stages["model"].path})
    return config.model_copy(update=update)


def resolve_model(store: ArtifactStore, reference: str) -> Entry:
    """A model named by an artifact folder (inside the store) or by a run id that trained one."""
    candidate = Path(reference)
    if not candidate.is_absolute() and len(candidate.parts) == 1 and not (store.root / candidate).is_dir():
        stages = store.read_run(reference).stages
        if "model" not in stages:
            raise StoreError(f"run {reference!r} used no trained tokenizer model; pass a model folder instead")
        return store.open_entry(stages["model"].path)
    entry = store.open_entry(reference)
    if entry.stage != "model":
        raise StoreError(f"{reference} is a {entry.stage!r} artifact, not a tokenizer model (model/<fingerprint>)")
    return entry
