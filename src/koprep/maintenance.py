"""Keeping the store tidy and sound: what it holds (`koprep ls`), removing what no recent run uses
(`koprep gc`), and checking every entry and every run record's references (`koprep verify`).

Pure functions over the artifact store: nothing here prints. What a run *uses*: every entry its
record names (`RunRecord.entries`: its stages, soynlp's `model`, the `phrases` behind word2vec),
every entry those were computed from (manifest `inputs`, e.g. a `fitted_from` run's vocabularies,
and the shard entries a stage entry was assembled from), the runs its config names (`run.fitted_from`,
`tokenize.model` = RUN_ID), and the on-demand entries (`evaluate` reports) computed from its vectors.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from koprep.entryfiles import remove_aside
from koprep.pipeline.graph import GRAPH
from koprep.runs import RunRecord
from koprep.store import (
    RUNS, TMP_PREFIX, ArtifactStore, StoredRun, StoreError, inspect_entry, read_manifest,
)

ON_DEMAND_STAGES = frozenset(GRAPH.names("on-demand"))
"""Stages that run records never name: computed on demand from a run's outputs (`koprep evaluate`)."""
DEFAULT_KEEP_RUNS = 10
DEFAULT_GRACE_SECONDS = 3600.0
"""gc keeps entries younger than this: a run still in progress has written them but not yet its record."""


# ---------------------------------------------------------------------------------------- entries
@dataclass(frozen=True)
class StoredEntry:
    stage: str
    fingerprint: str
    path: Path
    bytes: int
    created: float
    """Creation time from the manifest (seconds since the epoch); the folder's mtime without one."""
    complete: bool
    """False for a folder without a valid manifest: never used as a cache hit, only garbage."""
    inputs: dict[str, str] = field(default_factory=dict)
    shards: tuple[str, ...] = ()
    """The per-shard entries a `clean` or `tokenize` entry was assembled from (its manifest's `shards`)."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.stage, self.fingerprint)


def stored_entries(store: ArtifactStore) -> list[StoredEntry]:
    """Every `<stage>/<fingerprint>/` folder in the store (temporary `.tmp-*` folders excluded); for
    a URL root, every entry folder of the bucket (`path` is then where the local cache keeps it)."""
    if store.mirror is not None:
        from koprep.mirror import remote_entries

        return [
            StoredEntry(
                stage=e.stage, fingerprint=e.fingerprint, path=store.entry_path(e.stage, e.fingerprint), bytes=e.bytes,
                created=_created(e.manifest, None, e.modified), complete=e.complete,
                inputs={k: str(v) for k, v in (e.manifest.get("inputs") or {}).items()},
                shards=tuple(str(fp) for fp in e.manifest.get("shards") or ()),
            )
            for e in remote_entries(store.mirror)
        ]
    entries = []
    for stage_dir in _stage_dirs(store):
        for folder in sorted(stage_dir.iterdir()):
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            try:
                entry = store.lookup(stage_dir.name, folder.name)
            except StoreError:
                entry = None
            manifest = entry.manifest if entry is not None else (read_manifest(folder) or {})
            entries.append(
                StoredEntry(
                    stage=stage_dir.name,
                    fingerprint=folder.name,
                    path=folder,
                    bytes=_folder_bytes(folder),
                    created=_created(manifest, folder),
                    complete=entry is not None,
                    inputs={k: str(v) for k, v in (manifest.get("inputs") or {}).items()},
                    shards=tuple(str(fp) for fp in manifest.get("shards") or ()),
                )
            )
    return entries


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _created(manifest: Mapping[str, Any], folder: Path | None, modified: float = 0.0) -> float:
    try:
        return dt.datetime.fromisoformat(manifest["created"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return folder.stat().st_mtime if folder is not None else modified


def _named_entries(record: RunRecord) -> set[tuple[str, str]]:
    """(stage, fingerprint) of every entry a run record names."""
    return set(record.entries().items())


def entries_used(named: set[tuple[str, str]], entries: Iterable[StoredEntry]) -> set[tuple[str, str]]:
    """`named` plus everything those entries were computed from (transitively, via manifest inputs
    and the shard entries they were assembled from) and the on-demand entries (evaluate reports)
    computed from any of them."""
    entries = list(entries)
    by_fingerprint: dict[str, list[StoredEntry]] = {}
    for stored in entries:
        by_fingerprint.setdefault(stored.fingerprint, []).append(stored)
    by_key = {entry.key: entry for entry in entries}
    used = set(named)
    pending = list(named)
    while pending:
        entry = by_key.get(pending.pop())
        if entry is None:
            continue
        for value in (*entry.inputs.values(), *entry.shards):
            for source in by_fingerprint.get(value, []):
                if source.key not in used:
                    used.add(source.key)
                    pending.append(source.key)
    fingerprints = {fp for _, fp in used}
    used |= {
        e.key for e in entries if e.stage in ON_DEMAND_STAGES and fingerprints & set(e.inputs.values())
    }
    return used


def users_by_entry(records: list[StoredRun], entries: list[StoredEntry]) -> dict[tuple[str, str], list[str]]:
    """For each entry, the ids of the runs that use it (newest run first)."""
    users: dict[tuple[str, str], list[str]] = {}
    for stored in records:
        for key in entries_used(_named_entries(stored.record), entries):
            users.setdefault(key, []).append(stored.run_id)
    return users


# --------------------------------------------------------------------------------------------- ls
def listing(store: ArtifactStore, now: float | None = None) -> dict[str, Any]:
    """`koprep ls`: every stored entry with its size, age and the runs that use it, and the runs."""
    now = time.time() if now is None else now
    records = store.run_records()
    entries = stored_entries(store)
    users = users_by_entry(records, entries)
    return {
        "root": store.name,
        "entries": [
            {
                "stage": e.stage,
                "fingerprint": e.fingerprint,
                "bytes": e.bytes,
                "age_seconds": round(max(now - e.created, 0.0), 1),
                "complete": e.complete,
                "runs": users.get(e.key, []),
                "path": str(e.path),
            }
            for e in entries
        ],
        "runs": [
            {"run_id": r.run_id, "age_seconds": round(max(now - r.recorded, 0.0), 1), "corpus": r.record.corpus,
             "backend": r.record.backend}
            for r in records
        ],
        # in a bucket a shared file is one object that entries refer to: each entry counts only its own
        "total_bytes": sum(e.bytes for e in entries) if store.mirror else _disk_bytes(e.path for e in entries),
    }


def _disk_bytes(folders: Iterable[Path]) -> int:
    """Bytes the folders take on disk, a file hard-linked into several of them (a shard's part in
    its shard entry and its stage entry) counted once."""
    seen: dict[tuple[int, int], int] = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                stat = path.stat()
                seen[(stat.st_dev, stat.st_ino)] = stat.st_size
    return sum(seen.values())


# --------------------------------------------------------------------------------------------- gc
@dataclass(frozen=True)
class GcPlan:
    kept_runs: list[str]
    removed_runs: list[StoredRun]
    kept_entries: list[StoredEntry]
    removed_entries: list[StoredEntry]
    young_entries: list[StoredEntry]
    """Unused, but younger than the grace period (perhaps a run in progress): kept."""
    remove_latest: bool

    @property
    def freed_bytes(self) -> int:
        return sum(e.bytes for e in self.removed_entries)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kept_runs": self.kept_runs,
            "removed_runs": [r.run_id for r in self.removed_runs],
            "removed_entries": [{"stage": e.stage, "fingerprint": e.fingerprint, "bytes": e.bytes} for e in self.removed_entries],
            "kept_entries": len(self.kept_entries),
            "young_entries": [{"stage": e.stage, "fingerprint": e.fingerprint} for e in self.young_entries],
            "freed_bytes": self.freed_bytes,
        }


def plan_gc(
    store: ArtifactStore, keep_runs: int = DEFAULT_KEEP_RUNS, grace_seconds: float = DEFAULT_GRACE_SECONDS,
    now: float | None = None,
) -> GcPlan:
    """Which run records and entries `koprep gc` removes: the newest `keep_runs` runs (and the runs
    their configs name) stay with everything they use; older run records go, and every entry no
    kept run uses, unless it is younger than `grace_seconds`."""
    if keep_runs < 0:
        raise StoreError(f"--keep-runs must be 0 or more, not {keep_runs}")
    now = time.time() if now is None else now
    records = store.run_records()
    known = {r.run_id for r in records}
    kept = {r.run_id for r in records[:keep_runs]}
    frontier = list(kept)
    by_id = {r.run_id: r for r in records}
    while frontier:
        for named in by_id[frontier.pop()].record.referenced_runs() & known - kept:
            kept.add(named)
            frontier.append(named)
    entries = stored_entries(store)
    named_keys = set().union(*(_named_entries(by_id[run].record) for run in kept)) if kept else set()
    used = entries_used(named_keys, entries)
    kept_entries, removed, young = [], [], []
    for entry in entries:
        if entry.key in used:
            kept_entries.append(entry)
        elif now - entry.created < grace_seconds:
            young.append(entry)
        else:
            removed.append(entry)
    return GcPlan(
        kept_runs=[r.run_id for r in records if r.run_id in kept],
        removed_runs=[r for r in records if r.run_id not in kept],
        kept_entries=kept_entries,
        removed_entries=removed,
        young_entries=young,
        remove_latest=not kept,
    )


def collect_garbage(store: ArtifactStore, plan: GcPlan) -> None:
    """Carry out a plan. Run records go first, so an interruption leaves unused entries (removed by
    the next gc), never a run record naming entries that are gone. Each entry folder is renamed
    aside before it is deleted, so no reader ever sees a half-deleted entry (in a bucket: its manifest
    is deleted first, which uncommits it)."""
    if store.mirror is not None:
        objects = store.mirror.objects
        for record in plan.removed_runs:
            for name in (f"{record.run_id}.json", f"{record.run_id}.html"):
                objects.remove_prefix(f"{RUNS}/{name}")
        if plan.remove_latest:
            for name in ("latest.json", "latest.html"):
                objects.remove_prefix(f"{RUNS}/{name}")
        for entry in plan.removed_entries:
            objects.remove_entry(entry.stage, entry.fingerprint)
        store.sweep()  # abandoned uploads past the grace period
    runs = store.inside(RUNS)
    for record in plan.removed_runs:
        for path in (record.path, runs / f"{record.run_id}.html"):
            path.unlink(missing_ok=True)
    if plan.remove_latest:
        for name in ("latest.json", "latest.html"):
            (runs / name).unlink(missing_ok=True)
    for entry in plan.removed_entries:
        remove_aside(store.entry_path(entry.stage, entry.fingerprint), "gc")


# ----------------------------------------------------------------------------------------- verify
def verify(store: ArtifactStore) -> dict[str, Any]:
    """Check the whole store: every entry's files against its manifest (SHA-256 of every file), and
    every entry each run record references (`RunRecord.entries`). Returns {"root", "entries", "runs",
    "problems", "leftovers"}; each problem is {"kind": "corrupt" | "missing" | "unreadable", "path",
    "detail"}."""
    if store.mirror is not None:
        return _verify_bucket(store)
    problems: list[dict[str, str]] = []
    entries = 0
    for stage_dir in _stage_dirs(store):
        for path in sorted(p for p in stage_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            entries += 1
            _, problem = inspect_entry(path, stage_dir.name, path.name, full=True)
            if problem is not None:
                problems.append({"kind": "corrupt", "path": store.relative(path), "detail": problem})
    runs_dir = store.root / RUNS
    runs = _verify_records(
        store, ((store.relative(p), p.read_bytes) for p in sorted(runs_dir.glob("*.json")) if runs_dir.is_dir()),
        problems, exists=lambda stage, fp: store.entry_path(stage, fp).is_dir(),
    )
    leftovers = [store.relative(p) for p in sorted(store.root.glob(f"*/{TMP_PREFIX}*"))] if store.root.is_dir() else []
    return {"root": str(store.root), "entries": entries, "runs": runs, "problems": problems, "leftovers": leftovers}


def _verify_records(
    store: ArtifactStore, records: Iterable[tuple[str, Callable[[], bytes | None]]], problems: list[dict[str, str]],
    exists: Callable[[str, str], bool],
) -> int:
    """Check each run record (name, reader) and that every entry it names is there; returns how many."""
    runs = 0
    for name, read in records:
        runs += 1
        try:
            record = RunRecord.model_validate_json(read() or b"")
        except (OSError, ValueError) as exc:
            detail = str(exc).splitlines()[0]
            problems.append({"kind": "unreadable", "path": name, "detail": f"not a run record: {detail}"})
            continue
        for stage, fp in record.entries().items():
            if not exists(stage, fp):
                problems.append({"kind": "missing", "path": name,
                                 "detail": f"stage {stage}: {stage}/{fp} is not in {store.name}"})
    return runs


def _verify_bucket(store: ArtifactStore) -> dict[str, Any]:
    """`verify` for a URL root: every committed entry's objects read and hashed, every run record's
    entries committed; attempts no manifest names are the leftovers (interrupted or running uploads)."""
    from koprep.mirror import remote_entries, verify_objects

    mirror = store.mirror
    assert mirror is not None
    problems: list[dict[str, str]] = []
    found = remote_entries(mirror)
    committed = {(e.stage, e.fingerprint) for e in found if e.manifest}
    for entry in found:
        problem = verify_objects(mirror, entry) if entry.manifest else None
        if problem is not None:
            problems.append({"kind": "corrupt", "path": f"{entry.stage}/{entry.fingerprint}", "detail": problem})
    listed = mirror.objects.objects()
    named = mirror.referenced_attempts(listed)
    leftovers = sorted({
        f"{e.stage}/{e.fingerprint}/{name.split('/', 1)[0]}" for e in found for name in e.objects
        if "/" in name and (e.stage, e.fingerprint, name.split("/", 1)[0]) not in named
    })
    run_names = sorted(run_id for run_id, _ in mirror.objects.runs())
    runs = _verify_records(
        store, ((f"{RUNS}/{run_id}.json", functools.partial(mirror.objects.read, f"{RUNS}/{run_id}.json"))
                for run_id in run_names),
        problems, exists=lambda stage, fp: (stage, fp) in committed,
    )
    return {"root": store.name, "entries": len(found), "runs": runs, "problems": problems, "leftovers": leftovers}


def _stage_dirs(store: ArtifactStore) -> list[Path]:
    if not store.root.is_dir():
        return []
    return sorted(p for p in store.root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != RUNS)
