"""Running one stage against the store: take its entry when complete, otherwise compute it under the
entry's lock and publish it atomically. Every stage, shard entry and on-demand stage goes through
`compute_or_reuse`; nothing here knows which stage it runs."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from koprep.errors import EmptyResultError
from koprep.pipeline.keys import LIBRARIES, StageKey
from koprep.progress import ProgressCallback
from koprep.store import ArtifactStore, CorruptArtifactError, Entry, PendingEntry, fault_point, library_versions

if TYPE_CHECKING:
    from koprep.pipeline.resolve import Resolution

Compute = Callable[[PendingEntry], "tuple[int, dict[str, Any]]"]
"""Writes an entry's files into `pending.path` and returns (rows, extra facts for the manifest)."""
ShardRunner = Callable[[list[int]], str]
"""Computes the shard entries of the given shard indices (wherever an orchestrator runs them) and
says how, for the run record."""


@dataclass
class StageResult:
    """One stage's entry as a run used it: computed now, or taken from the store."""

    stage: str
    fingerprint: str
    path: str
    cached: bool
    seconds: float
    rows: int
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "stage"}

    @classmethod
    def from_entry(cls, entry: Entry, cached: bool, seconds: float = 0.0) -> StageResult:
        return cls(
            entry.stage, entry.fingerprint, str(entry.path), cached, round(seconds, 3),
            int(entry.manifest["rows"]), dict(entry.manifest.get("extra", {})),
        )


@dataclass
class StageJob:
    """What a stage's compute function receives: the resolved run, the stage's key, the results of
    its upstream stages by name, and how it is being run."""

    run: Resolution
    key: StageKey
    inputs: dict[str, StageResult]
    on_progress: ProgressCallback | None = None
    map_shards: ShardRunner | None = None
    """For a stage that fans out (tokenize): computes its missing shards; None runs them in this process."""

    @property
    def store(self) -> ArtifactStore:
        return self.run.store

    @property
    def force(self) -> bool:
        return self.key.stage in self.run.forced


def compute_or_reuse(store: ArtifactStore, key: StageKey, compute: Compute, *, force: bool = False) -> tuple[Entry, bool]:
    """The complete entry for `key`, and whether it came from the store. Otherwise (or with `force`,
    which replaces a stored entry) `compute` writes it and it is published.

    Computing happens under the entry's lock: a concurrent run that needs the same entry waits, then
    finds it complete and reuses it, so each entry is computed once."""
    stage, fp = key.stage, key.fingerprint
    entry = None if force else store.lookup(stage, fp)
    if entry is not None:
        return entry, True
    with store.lock(stage, fp):
        fault_point(f"{stage}.locked")
        # completed by another run while this one waited (a forced run recomputes regardless)
        entry = None if force else store.lookup(stage, fp, warn=False)
        if entry is not None:
            return entry, True
        manifest = {
            "code_version": key.code_version,
            "params": key.params,
            "inputs": key.inputs,
            "libraries": library_versions(*LIBRARIES),
        }
        with store.writing(stage, fp, manifest, replace=force) as pending:
            computing = time.perf_counter()
            try:
                rows, extra = compute(pending)
            except EmptyResultError as exc:
                raise EmptyResultError(f"the {stage} stage has nothing to compute: {exc}") from None
            # How long computing took (throughput for `koprep compare` when the entry is reused later).
            seconds = round(time.perf_counter() - computing, 3)
            pending.manifest.update(rows=rows, extra=extra, compute_seconds=seconds)
        entry = store.lookup(stage, fp)
        if entry is None:
            raise CorruptArtifactError(f"{stage} output {fp} is not readable right after it was written")
        return entry, False


def stage_result(store: ArtifactStore, key: StageKey, compute: Compute, *, force: bool = False) -> StageResult:
    """`compute_or_reuse` as a run reports it, with the time it took (computing or looking up)."""
    started = time.perf_counter()
    entry, cached = compute_or_reuse(store, key, compute, force=force)
    return StageResult.from_entry(entry, cached, time.perf_counter() - started)
