"""The stage graph, declared once.

Every stage koprep knows is one `Stage` entry in `GRAPH` below: its name, the stages it reads, its
code version, the functions that give its cache key's parameters and non-stage inputs
(`koprep.pipeline.keys`), the function that computes its entry, the files that entry holds
(`koprep.pipeline.datasets`), and whether it is assembled from per-shard entries. Everything else is
derived from this declaration: the plan's keys and their order (`koprep.plan`), the Prefect flow's
tasks (`koprep.orchestration.flow`), the in-process runs of `koprep compare` and the tests
(`koprep.pipeline.runner`), the stage names `run.stages` and `--force` accept, what `--force`
recomputes downstream, the shard entries `koprep ls` summarises, the entries a run record
references (`koprep.runs`), and the architecture page of the docs.

Adding a stage is one entry here plus its logic: pure functions in `koprep/stages/`, a compute
function that reads its inputs from the store and writes its entry (`koprep/pipeline/<kind>.py`),
its parameters in `koprep.pipeline.keys` and its settings section in `koprep.config`.

Kinds of stage:
    run         users choose it in `run.stages` (`default`: chosen unless left out); a stage that reads
                one with `default=False` reads it only when it is chosen
    auxiliary   runs when a chosen stage reads it and its condition holds (`applies`), e.g. soynlp's
                trained `model`, or `phrases` with `word2vec.phrases`; or is given by a setting
                (`given`: `tokenize.model` names a model entry)
    on-demand   computed by its own command from a run's outputs (`koprep evaluate`), never by a run
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Literal, Mapping

from koprep import evaluate as evaluate_logic
from koprep.pipeline import clean, dedup, embed, keys, tokenize, vectorize
from koprep.pipeline.datasets import Dataset, MatrixFiles, ModelTable, Parts, PhraseTable, ReportFile, WordVectorFiles
from koprep.pipeline.datasets import FastTextFiles
from koprep.pipeline.execution import StageJob, StageResult
from koprep.pipeline.keys import StageKey
from koprep.progress import ProgressCallback
from koprep.stages import clean as clean_logic
from koprep.stages import dedup as dedup_logic
from koprep.stages import embed as embed_logic
from koprep.stages import fasttext as fasttext_logic
from koprep.stages import tokenize as tokenize_logic
from koprep.stages import vectorize as vectorize_logic
from koprep.store import Entry, PendingEntry, library_versions

if TYPE_CHECKING:
    from koprep.pipeline.resolve import Resolution

Kind = Literal["run", "auxiliary", "on-demand"]
ComputeFunction = Callable[[StageJob, PendingEntry], "tuple[int, dict[str, Any]]"]
ParamsFunction = Callable[["Resolution"], Any]
SourcesFunction = Callable[["Resolution"], "dict[str, str]"]
ShardFingerprints = Callable[["Resolution", StageKey, "dict[str, list[str]]"], "list[str]"]
FanOut = Callable[["Resolution", StageKey, "dict[str, StageResult]", "list[int]", "ProgressCallback | None"], str]


def always(run: Resolution) -> bool:
    return True


@dataclass(frozen=True)
class Stage:
    name: str
    inputs: tuple[str, ...]
    """The stages whose entries it reads, by name. An input that is optional for a run (an auxiliary
    stage that does not apply, a `default=False` run stage that was not chosen) is left out of that
    run and of the key."""
    version: str
    """The code version of its logic: bump it when the same inputs and parameters give another output
    (tests/golden fails when an output changes and this does not)."""
    params: ParamsFunction
    """The settings its key hashes (`koprep.pipeline.keys`)."""
    dataset: type[Dataset]
    """The files its entry holds."""
    compute: ComputeFunction | None
    """Writes its entry from its inputs; None for on-demand stages, which their command computes."""
    sources: SourcesFunction = keys.no_sources
    """Inputs that are not stages (the corpus's bytes, a fitted run's vocabulary), by name → fingerprint."""
    libraries: tuple[str, ...] = ()
    """Libraries whose versions enter its key."""
    kind: Kind = "run"
    default: bool = True
    """For run stages: run unless `run.stages` leaves it out."""
    applies: Callable[[Resolution], bool] = always
    """For auxiliary stages: whether a run that reads it needs it at all."""
    given: Callable[[Resolution], Entry | None] | None = None
    """For auxiliary stages: an entry a setting names instead of computing one."""
    shards: str | None = None
    """Per-shard stages: the stage name of the per-shard entries its entry is assembled from."""
    shard_fingerprints: ShardFingerprints | None = None
    """Per-shard stages: the fingerprints of its shard entries, given its key and its inputs' shards."""
    preflight: Callable[[Resolution, StageKey], None] | None = None
    """Checks, before any work, what would otherwise fail mid-run (the corpus reads and cleans to text)."""
    fan_out: FanOut | None = None
    """For a stage whose own bookkeeping is cheap and runs where the flow runs: computes the given
    shards of it (wherever the executor runs that), and says how."""
    progress: str | None = None
    """The unit its progress reports count (documents, shards), if it reports any."""

    @property
    def per_shard(self) -> bool:
        return self.shards is not None


class StageGraph:
    """Stages in an order where every stage comes after its inputs (the order runs report them in)."""

    def __init__(self, stages: Iterable[Stage]) -> None:
        self.stages: dict[str, Stage] = {}
        for stage in stages:
            if stage.name in self.stages:
                raise ValueError(f"stage {stage.name!r} is declared twice")
            unknown = [name for name in stage.inputs if name not in self.stages]
            if unknown:
                raise ValueError(f"stage {stage.name!r} reads {unknown}, which are not declared before it")
            if (stage.shards is None) != (stage.shard_fingerprints is None):
                raise ValueError(f"stage {stage.name!r}: a per-shard stage names its shard stage and their fingerprints")
            self.stages[stage.name] = stage

    def __getitem__(self, name: str) -> Stage:
        return self.stages[name]

    def __iter__(self) -> Iterator[Stage]:
        return iter(self.stages.values())

    def __contains__(self, name: object) -> bool:
        return name in self.stages

    # ------------------------------------------------------------------------------ names
    def names(self, *kinds: Kind) -> tuple[str, ...]:
        """Stage names in graph order, of the given kinds (every kind when none is given)."""
        return tuple(s.name for s in self if not kinds or s.kind in kinds)

    def run_stages(self) -> tuple[str, ...]:
        """What `run.stages` accepts."""
        return self.names("run")

    def default_stages(self) -> tuple[str, ...]:
        return tuple(s.name for s in self if s.kind == "run" and s.default)

    def stored_stages(self) -> tuple[str, ...]:
        """What `run.force` / `--force` accepts: every stage a run computes."""
        return self.names("run", "auxiliary")

    def shard_stages(self) -> tuple[str, ...]:
        """The per-shard entry stages (clean-shard, tokenize-shard)."""
        return tuple(s.shards for s in self if s.shards is not None)

    def shard_stage_of(self, shard_stage: str) -> str:
        """The stage whose entries are assembled from `shard_stage`'s entries."""
        return next(s.name for s in self if s.shards == shard_stage)

    # ---------------------------------------------------------------------------- edges
    def consumers(self, name: str) -> tuple[str, ...]:
        """The stages a run computes that read `name`'s entry."""
        return tuple(s.name for s in self if name in s.inputs and s.kind != "on-demand")

    def upstream(self, names: Iterable[str]) -> tuple[str, ...]:
        """`names` and every stage they read, transitively, in graph order."""
        reached: set[str] = set()
        pending = list(names)
        while pending:
            name = pending.pop()
            if name not in reached:
                reached.add(name)
                pending.extend(self[name].inputs)
        return tuple(s.name for s in self if s.name in reached)

    def downstream(self, names: Iterable[str]) -> dict[str, str]:
        """Each stage at or after `names` (their consumers, transitively), mapped to the named stage
        that reaches it first: what `run.force` recomputes, and why."""
        reached: dict[str, str] = {}
        for named in names:
            pending = [named]
            while pending:
                stage = pending.pop()
                if stage not in reached:
                    reached[stage] = named
                    pending.extend(self.consumers(stage))
        return reached

    def select(self, run: Resolution) -> list[Stage]:
        """The stages a run computes or reads, in graph order: the chosen run stages and the stages they
        read, transitively, except an input that is optional for this run: an auxiliary stage that
        does not apply, or a run stage that runs only when chosen (`default=False`) and was not."""
        chosen = set(run.config.run.stages)
        needed: set[str] = set()
        pending = list(chosen)
        while pending:
            name = pending.pop()
            stage = self[name]
            optional = (stage.kind == "auxiliary" and not stage.applies(run)) or (
                stage.kind == "run" and not stage.default and name not in chosen
            )
            if name in needed or optional:
                continue
            needed.add(name)
            pending.extend(stage.inputs)
        return [stage for stage in self if stage.name in needed]

    def key(self, stage: Stage, run: Resolution, upstream: Mapping[str, str]) -> StageKey:
        """`stage`'s key in `run`, given the fingerprints of its inputs' entries (by stage name)."""
        inputs = {name: upstream[name] for name in stage.inputs if name in upstream}
        inputs.update(stage.sources(run))
        libraries = library_versions(*stage.libraries) if stage.libraries else {}
        return StageKey(stage.name, stage.version, stage.params(run), inputs, libraries)


def _trainable(run: Resolution) -> bool:
    return run.trainable


def _phrases_wanted(run: Resolution) -> bool:
    return bool(run.config.word2vec.phrases)


def _referenced_model(run: Resolution) -> Entry | None:
    return run.model_reference


def _vectorizer(name: str, reads: str | tuple[str, ...], compute: ComputeFunction, default: bool = True) -> Stage:
    return Stage(
        name, reads if isinstance(reads, tuple) else (reads,), vectorize_logic.VERSION, keys.settings_section(name), MatrixFiles, compute,
        sources=keys.fitted_source(name), default=default, progress="shards",
    )


GRAPH = StageGraph([
    Stage(
        "clean", (), clean_logic.VERSION, keys.clean_params, Parts, clean.compute,
        sources=keys.corpus_source, shards="clean-shard", shard_fingerprints=clean.shard_fingerprints,
        preflight=clean.check_corpus,
    ),
    Stage(
        "model", ("clean",), tokenize_logic.VERSION, keys.model_params, ModelTable, tokenize.train_model,
        kind="auxiliary", applies=_trainable, given=_referenced_model,
    ),
    Stage(
        "dedup", ("clean",), dedup_logic.VERSION, keys.settings_section("dedup"), Parts, dedup.compute,
        libraries=("datasketch",), default=False, preflight=dedup.check_library,
    ),
    Stage(
        "tokenize", ("clean", "model", "dedup"), tokenize_logic.VERSION, keys.tokenize_params, Parts, tokenize.compute,
        shards="tokenize-shard", shard_fingerprints=tokenize.shard_fingerprints, fan_out=tokenize.tokenize_shards,
        progress="documents",
    ),
    _vectorizer("bow", "tokenize", vectorize.of_tokens),
    _vectorizer("ngram", "tokenize", vectorize.of_tokens),
    _vectorizer("tfidf", "tokenize", vectorize.of_tokens),
    _vectorizer("chargram", ("clean", "dedup"), vectorize.of_texts, default=False),
    Stage(
        "phrases", ("tokenize",), embed_logic.VERSION, keys.phrases_params, PhraseTable, embed.learn_phrases,
        libraries=("gensim",), kind="auxiliary", applies=_phrases_wanted,
    ),
    Stage(
        "word2vec", ("tokenize", "phrases"), embed_logic.VERSION, keys.settings_section("word2vec"), WordVectorFiles,
        embed.train_word2vec, libraries=("gensim",), progress="shards",
    ),
    Stage(
        "fasttext", ("tokenize",), fasttext_logic.VERSION, keys.settings_section("fasttext"), FastTextFiles,
        embed.train_fasttext, libraries=("gensim",), default=False, progress="shards",
    ),
    Stage(
        "evaluate", ("word2vec", "fasttext"), evaluate_logic.VERSION, keys.set_by_command, ReportFile, None, kind="on-demand",
    ),
])
