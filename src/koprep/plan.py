"""What a run would do, worked out before any work: config → the chain of fingerprints → each stage
cached or stale, and why.

`build_plan` resolves and validates the configuration once (`koprep.pipeline.resolve.Resolution`,
with `run.fitted_from` applied), selects the stages of the run from the stage graph
(`koprep.pipeline.graph`) and builds each one's cache key with the graph's own `key`, the one the
executing stage then uses: the corpus's bytes and the parameters determine the whole chain, so
nothing is tokenized, trained or started (no JVM, no Prefect) to know it. A stage is *cached* when a
complete entry with its fingerprint is in the store, *given* when a setting names its entry
(`tokenize.model`). A stale stage is explained against the most recent entry of the same stage that
the store's run records (`runs/*.json`) point to, by comparing that entry's manifest (code version,
parameters, inputs, library versions) with the new key:

    never computed                       no run recorded this stage yet
    input changed: corpus                the corpus's bytes (or how they are read) changed
    input changed: tokenize              an upstream stage's fingerprint changed
    parameter X changed: old → new       one per changed setting, by dotted name
    code version changed: 2 → 3          koprep's code for the stage changed
    library version changed (gensim 4.3.2 → 4.3.3)
    forced (--force tokenize)            `run.force` recomputes it whatever the store holds

`koprep status`, `koprep run --dry-run`, the no-op path of `koprep run` (every stage cached: answered
from the store without Prefect), the flow, `koprep compare` and the tests all run from this one plan.
"""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from koprep import corpus as corpus_io
from koprep.config import PipelineConfig
from koprep.pipeline.execution import StageResult
from koprep.pipeline.keys import LIBRARIES, StageKey
from koprep.pipeline.resolve import Resolution
from koprep.runs import RunRecord, StageRecord
from koprep.stages import clean as clean_logic
from koprep.store import ArtifactStore, Entry, canonical_json, library_versions, read_manifest

SHOWN_VALUE_CHARS = 60
SHOWN_SHARDS = 8


@dataclass(frozen=True)
class Reason:
    """One cause of a stage being stale; `kind` is one of never-computed, missing, input, parameter,
    code, library, key-format, forced."""

    kind: str
    text: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, **self.detail}


@dataclass
class PlannedStage:
    stage: str
    fingerprint: str
    key: StageKey | None
    """None for a given entry (`given`)."""
    cached: bool
    forced_by: str | None = None
    given: Entry | None = None
    """The entry a setting names instead of computing one (`tokenize.model`)."""
    reasons: list[Reason] = field(default_factory=list)
    previous: dict[str, Any] | None = None
    """The recorded entry the reasons compare against: run_id and fingerprint."""
    shards: int | None = None
    """For per-shard stages, when known: how many shards the stage's output has..."""
    stale_shards: list[int] = field(default_factory=list)
    """...and which of them are not in the store (or are forced): what a run computes."""

    @property
    def state(self) -> str:
        if self.given is not None:
            return "given"
        return "forced" if self.forced_by else "cached" if self.cached else "stale"

    @property
    def done(self) -> bool:
        """A run has nothing to compute for it."""
        return self.state in ("cached", "given")

    def to_json(self, store: ArtifactStore) -> dict[str, Any]:
        return {
            "state": self.state,
            "cached": self.cached,
            "fingerprint": self.fingerprint,
            "path": str(store.entry_path(self.stage, self.fingerprint)),
            "reasons": [reason.to_json() for reason in self.reasons],
            "previous": self.previous,
            **({"shards": self.shards, "stale_shards": self.stale_shards} if self.shards is not None else {}),
        }


@dataclass
class Plan:
    run: Resolution
    """The run's resolved settings (configuration with `run.fitted_from` applied, backend, filter, ...)."""
    stages: dict[str, PlannedStage]
    """The run's stages in graph order."""

    @property
    def store(self) -> ArtifactStore:
        return self.run.store

    @property
    def location(self) -> str | None:
        return self.run.location

    @property
    def config(self) -> PipelineConfig:
        return self.run.config

    @property
    def up_to_date(self) -> bool:
        """Every stage is in the store (or given) and nothing is forced: a run has nothing to compute."""
        return all(stage.done for stage in self.stages.values())

    def to_json(self) -> dict[str, Any]:
        from koprep.storage import RemoteLocation, public_options

        info: dict[str, Any] = {
            "corpus": corpus_io.describe_location(self.location),
            "backend": self.config.tokenize.backend,
            "artifacts": self.store.name,
            "up_to_date": self.up_to_date,
            "stages": {name: stage.to_json(self.store) for name, stage in self.stages.items()},
            **({"clean_steps": steps} if (steps := clean_logic.optional_steps(self.config.clean)) else {}),
        }
        if isinstance(self.store.location, RemoteLocation):
            # What the store is reached with, never a secret (KOPREP_STORAGE_OPTIONS may hold some).
            info["storage_options"] = public_options(self.store.location.options)
        return info

    def upto(self, stage: str) -> Plan:
        """This plan cut to `stage` and the stages it reads (nothing resolved or hashed again)."""
        wanted = set(self.run.graph.upstream([stage]))
        return Plan(self.run, {name: planned for name, planned in self.stages.items() if name in wanted})

    def preflight(self) -> None:
        """Check before any work what would otherwise fail mid-run, beyond what building the plan
        checked (settings, backend and options, stopword files, model and run references, the
        corpus's files): the artifacts root can be written, and each stage's own check (the corpus
        reads and cleans to text)."""
        self.store.check_writable()
        for planned in self.stages.values():
            check = self.run.graph[planned.stage].preflight
            if check is not None and planned.key is not None:
                check(self.run, planned.key)

    def record(self, run_id: str, results: dict[str, StageResult], **extra: Any) -> RunRecord:
        """The run record of this plan's run, from each stage's result (in graph order)."""
        return RunRecord(
            run_id=run_id,
            corpus=corpus_io.describe_source(self.location),
            backend=self.config.tokenize.backend,
            stages={name: StageRecord(**results[name].summary()) for name in self.stages},
            config=self.config.model_dump(mode="json"),
            **extra,
        )

    def answer_from_store(self) -> RunRecord | None:
        """Record a run that computes nothing: every stage's result comes from its stored entry,
        exactly as the flow would report a fully cached run. None if an entry vanished since the
        plan was made (then the caller runs the flow)."""
        if not self.up_to_date:
            return None
        results: dict[str, StageResult] = {}
        entries = self.store.lookup_many([(name, planned.fingerprint) for name, planned in self.stages.items()])
        for name, entry in zip(self.stages, entries):
            if entry is None:
                return None
            results[name] = StageResult.from_entry(entry, cached=True)
        self.store.sweep()  # as a flow run does: what killed runs left behind, never a live writer's folder
        record = self.record(uuid.uuid4().hex, results)
        self.store.record_run(record)
        return record


def build_plan(store: ArtifactStore, location: str | None, config: PipelineConfig, *, shards: bool = False) -> Plan:
    """The plan for running `config` over the corpus at `location` against `store`. Raises the
    same bad-input errors a run would (missing corpus, unknown backend or option, unreadable
    stopword file, unknown run or model), before any work.

    With `shards`, a stale per-shard stage (clean, tokenize) also says which of its shards a run
    would compute; when the clean output is not stored, that reads the corpus to find its shards."""
    run = Resolution(store, location, config)
    graph = run.graph
    history = RunHistory(store)
    libraries = library_versions(*LIBRARIES)
    fingerprints: dict[str, str] = {}
    stages: dict[str, PlannedStage] = {}
    # Every key first (a fingerprint depends on its inputs' fingerprints, never on what is stored), then
    # one batch of lookups: on a store in a bucket one concurrent round trip, not one per stage.
    for stage in graph.select(run):
        given = stage.given(run) if stage.given is not None else None
        if given is not None:
            stages[stage.name] = PlannedStage(stage.name, given.fingerprint, None, cached=True, given=given)
        else:
            key = graph.key(stage, run, fingerprints)
            stages[stage.name] = PlannedStage(stage.name, key.fingerprint, key, False, run.forced.get(stage.name))
        fingerprints[stage.name] = stages[stage.name].fingerprint
    keyed = [planned for planned in stages.values() if planned.key is not None]
    for planned, entry in zip(keyed, store.lookup_many([(p.stage, p.fingerprint) for p in keyed])):
        assert planned.key is not None
        planned.cached = entry is not None
        if planned.forced_by:
            planned.reasons.append(Reason("forced", f"forced (--force {planned.forced_by})", {"by": planned.forced_by}))
        elif not planned.cached:
            planned.previous, planned.reasons = explain(store, planned.key, planned.fingerprint, history, libraries)
    plan = Plan(run, stages)
    if shards and not all(planned.done for planned in stages.values() if graph[planned.stage].per_shard):
        _plan_shards(plan)
    return plan


def _plan_shards(plan: Plan) -> None:
    """Fill in the shard counts of the per-shard stages, and which of their shards are stale."""
    run, graph = plan.run, plan.run.graph
    shard_fingerprints: dict[str, list[str]] = {}
    for planned in plan.stages.values():
        stage = graph[planned.stage]
        if stage.shards is None or stage.shard_fingerprints is None or planned.key is None:
            continue
        found = stage.shard_fingerprints(run, planned.key, shard_fingerprints)
        shard_fingerprints[stage.name] = found
        planned.shards = len(found)
        if not planned.done:
            stored = [None] * len(found) if planned.forced_by else plan.store.lookup_many([(stage.shards, fp) for fp in found])
            planned.stale_shards = [i for i, entry in enumerate(stored) if entry is None]


# ------------------------------------------------------------------------------ explanations
class RunHistory:
    """The store's run records, newest first, read once per plan and only if a stage must be explained
    (a plan with every stage stored reads none: on a store in a bucket, reading them lists the store)."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    @functools.cached_property
    def runs(self) -> list[tuple[str, dict[str, str]]]:
        return [(stored.run_id, stored.record.entries()) for stored in self.store.run_records()]

    def recorded(self, stage: str) -> list[tuple[str, str]]:
        """(run_id, fingerprint) of every recorded entry of `stage`, newest run first."""
        return [(run_id, named[stage]) for run_id, named in self.runs if named.get(stage)]


def explain(
    store: ArtifactStore, key: StageKey, fp: str, history: RunHistory, libraries: dict[str, str]
) -> tuple[dict[str, Any] | None, list[Reason]]:
    """Why `key` has no stored entry, compared with the most recent recorded entry of its stage
    whose manifest can still be read. Returns (that entry as {run_id, fingerprint}, reasons)."""
    recorded = history.recorded(key.stage)
    if not recorded:
        return None, [Reason("never-computed", "never computed")]
    for run_id, old_fp in recorded:
        previous = {"run_id": run_id, "fingerprint": old_fp}
        if old_fp == fp:
            return previous, [Reason(
                "missing", f"its entry (recorded by run {run_id}) is no longer complete in the store", {"run_id": run_id}
            )]
        manifest = read_manifest(store.entry_path(key.stage, old_fp))
        if manifest is not None:
            return previous, differences(key, manifest, libraries)
    run_id, old_fp = recorded[0]
    return {"run_id": run_id, "fingerprint": old_fp}, [Reason(
        "never-computed",
        f"never computed with these settings; the entry run {run_id} used has been removed, so there is nothing to compare",
    )]


def differences(key: StageKey, manifest: dict[str, Any], libraries: dict[str, str]) -> list[Reason]:
    """What differs between a stage's new key and the manifest of an older entry of the same stage."""
    reasons: list[Reason] = []
    old_inputs, new_inputs = manifest.get("inputs") or {}, dict(key.inputs)
    for name in sorted(set(old_inputs) | set(new_inputs)):
        old, new = old_inputs.get(name), new_inputs.get(name)
        if old != new:
            what = "the corpus's bytes or how they are read" if name == "corpus" else f"the {name} stage's output"
            reasons.append(Reason(
                "input", f"input changed: {name} ({what}; {_short(old)} → {_short(new)})",
                {"input": name, "old": old, "new": new},
            ))
    old_libraries = manifest.get("libraries") or {}
    for name, new in key.libraries.items():
        old = old_libraries.get(name)
        if old != new:
            reasons.append(_library_reason(name, old, new))
    old_params = _flatten(manifest.get("params"))
    new_params = _flatten(json.loads(canonical_json(key.params)))
    for name in sorted(set(old_params) | set(new_params)):
        old, new = old_params.get(name, _ABSENT), new_params.get(name, _ABSENT)
        if old == new:
            continue
        library = _library_in(old, new, old_libraries, libraries)
        if library is not None:
            reasons.append(_library_reason(*library))
            continue
        reasons.append(Reason(
            "parameter", f"parameter {name} changed: {_show_change(old, new)}",
            {"parameter": name, "old": None if old is _ABSENT else old, "new": None if new is _ABSENT else new},
        ))
    if manifest.get("code_version") != key.code_version:
        reasons.append(Reason(
            "code", f"code version changed: {manifest.get('code_version')} → {key.code_version}",
            {"old": manifest.get("code_version"), "new": key.code_version},
        ))
    if not reasons:
        reasons.append(Reason(
            "key-format", "the way koprep keys this stage changed (same settings, new fingerprint format)"
        ))
    return _unique(reasons)


class _Absent:
    def __repr__(self) -> str:
        return "(unset)"


_ABSENT = _Absent()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for name, item in value.items():
            flat.update(_flatten(item, f"{prefix}{name}."))
        return flat
    return {prefix[:-1]: value} if prefix else {}


def _library_in(old: Any, new: Any, old_libraries: dict[str, str], libraries: dict[str, str]) -> tuple[str, str, str] | None:
    """A changed version string (a backend's `backend_version`, soynlp's `fit_version`) whose only
    news is a library upgrade: the library, its old and its new version."""
    if not (isinstance(old, str) and isinstance(new, str)):
        return None
    for name, old_version in old_libraries.items():
        new_version = libraries.get(name)
        if new_version and new_version != old_version and f"{name}-{old_version}" in old:
            if old.replace(f"{name}-{old_version}", f"{name}-{new_version}") == new:
                return name, old_version, new_version
    return None


def _library_reason(name: str, old: str | None, new: str | None) -> Reason:
    return Reason(
        "library", f"library version changed ({name} {old or 'unknown'} → {new or 'not installed'})",
        {"library": name, "old": old, "new": new},
    )


def _unique(reasons: list[Reason]) -> list[Reason]:
    seen, unique = set(), []
    for reason in reasons:
        if reason.text not in seen:
            seen.add(reason.text)
            unique.append(reason)
    return unique


def _short(fp: str | None) -> str:
    return "none" if fp is None else fp[:8]


def _show_change(old: Any, new: Any) -> str:
    if isinstance(old, list) and isinstance(new, list) and max(len(old), len(new)) > 6:
        added = [x for x in new if x not in old]
        removed = [x for x in old if x not in new]
        if added or removed:
            return f"added {_show(added)}, removed {_show(removed)}"
        return f"same {len(new)} entries, new order"
    return f"{_show(old)} → {_show(new)}"


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(unset)"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= SHOWN_VALUE_CHARS else text[: SHOWN_VALUE_CHARS - 1] + "…"


def _shard_line(planned: PlannedStage) -> str:
    stale, total = planned.stale_shards, planned.shards
    if not stale:
        return f"all {total} shards are in the store: only the stage entry is assembled"
    shown = ", ".join(map(str, stale[:SHOWN_SHARDS])) + (", …" if len(stale) > SHOWN_SHARDS else "")
    return f"{len(stale)} of {total} shards to compute ({shown}); the others are in the store"


def format_plan(plan: Plan) -> str:
    """The plan as the terminal shows it: one line per stage, with its reasons below it."""
    info = plan.to_json()
    lines = [f"corpus {info['corpus']}  backend {info['backend']}  artifacts {info['artifacts']}"]
    if "clean_steps" in info:
        lines.append("clean steps  " + "  ".join(f"{name}={value}" for name, value in info["clean_steps"].items()))
    width = max(len(name) for name in plan.stages)
    for name, planned in plan.stages.items():
        lines.append(f"{name:<{width}}  {planned.state:<6}  {planned.fingerprint[:12]}")
        lines.extend(f"{'':<{width}}    - {reason.text}" for reason in planned.reasons)
        if planned.shards is not None and planned.state != "cached":
            lines.append(f"{'':<{width}}    - {_shard_line(planned)}")
    todo = [name for name, planned in plan.stages.items() if not planned.done]
    lines.append(
        f"would compute: {', '.join(todo)}" if todo else "up to date: a run would answer from the store (no Prefect)"
    )
    return "\n".join(lines)
