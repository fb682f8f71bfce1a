"""The artifact store: the one module that owns artifact paths, fingerprints and atomic writes.

Layout under the root (default `artifacts/`):

    <stage>/<fingerprint>/            one complete stage output (Parquet files, _manifest.json last)
    <stage>/.tmp-<fingerprint>-<...>/ an output being written; never read, removed by `sweep`
    runs/<run_id>.json                what one run used and produced; runs/latest.json is the newest
    .locks/<stage>-<fingerprint>.lock held (fcntl.flock, koprep.locks) by the one process computing that entry
    .trash/                           corrupt entries moved aside when recomputed; emptied by `sweep`

A stage output is valid only if its `_manifest.json` exists and every file it lists has the recorded
size and content. The manifest is written last inside a temporary folder which is then renamed into
place, so a crash or kill at any point leaves either no entry or a complete one. The leading
underscore keeps `pandas.read_parquet(folder)` and pyarrow datasets from treating the manifest as data.

Integrity on reuse: the manifest records each file's size, SHA-256 and modification time
(`mtime_ns`). `lookup` and `open_entry` stat every file; a file whose size differs is corrupt, and a
file whose mtime differs from the recorded one (edited, rewritten, or copied without times) is hashed
and compared, so a changed file is never used. Files untouched since they were written cost one
`stat` (hashing a cached 50 MB run would cost ~0.1 s on every run); an alteration that keeps both
size and mtime (bit rot, `touch -r`) is found by `koprep verify` (`koprep.maintenance.verify`), which
hashes everything.

Run records (`koprep.runs.RunRecord`) and manifests hold paths relative to the root (`read_run`
resolves them), so a store can be moved or shared between machines.

A root that is a URL (`s3://bucket/prefix`, see `koprep.storage`) keeps its entries as objects
(`koprep.remote`: files under a unique attempt prefix, then the manifest PUT only if absent, as the
commit) and this same layout as a local read-through cache (`koprep.mirror`): `root` is then the
cache folder, `name` the URL, and every entry read is first checked against the bucket's committed
manifest. Locks (flock) then only order the runs of one machine; between machines both compute and
the first commit wins.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import functools
import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from koprep.entryfiles import (  # noqa: F401 - re-exported: koprep.store is where callers find them
    FAULT_POINT_ENV, MANIFEST, TMP_PREFIX, _fsync, _jsonable, fault_point, file_chunks, file_sha256, inspect_entry,
    read_manifest, write_bytes_atomic, write_json_atomic,
)
from koprep.errors import BadInputError, StoreIntegrityError
from koprep.locks import EntryLocks
from koprep.runs import RunRecord
from koprep.storage import RemoteLocation, parse_location

RUNS = "runs"
LOCKS = ".locks"
TRASH = ".trash"
FINGERPRINT_CHARS = 32
PROBE_BYTES = 1 << 20
"""`check_writable` writes this much: a root that cannot take 1 MiB cannot take a stage's output."""

_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_WRITE_FAILURE_ERRNOS = _FULL_ERRNOS | {errno.EROFS}
"""Errors that, raised while an entry is written, mean the root cannot take it (not a bug)."""

if TYPE_CHECKING:
    from koprep.mirror import Mirror

log = logging.getLogger(__name__)


class StoreError(BadInputError):
    """The artifact store was asked for something unsafe or that it does not hold (a path outside
    the root, an unknown run, a folder that is not an artifact), or its root cannot be written."""


class CorruptArtifactError(StoreIntegrityError):
    """A stored artifact is truncated, altered or incomplete: its files do not match its manifest."""


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_jsonable)


def fingerprint(
    stage: str, code_version: str, params: Any, inputs: Mapping[str, str], libraries: Mapping[str, str] | None = None
) -> str:
    """Hash of everything that determines a stage's output: its code version, parameters, the
    fingerprints (or content hashes) of its inputs, and the versions of the libraries that compute it
    (left out of the hash when there are none, so such stages keep the fingerprints they always had)."""
    key = {"stage": stage, "code": code_version, "params": params, "inputs": dict(inputs)}
    if libraries:
        key["libraries"] = dict(libraries)
    payload = canonical_json(key)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:FINGERPRINT_CHARS]


@dataclass
class PendingEntry:
    """An entry being written: files go into `path`; `manifest` (rows, extra facts) may be filled in
    until the `with` block ends."""

    path: Path
    manifest: dict[str, Any]
    vouched: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Files linked from complete entries (`link`): name → their manifest record, not hashed again."""

    def link(self, source: "Entry", name: str, as_name: str) -> None:
        """Put `source`'s file `name` into this entry as `as_name`: a hard link (no copy, and the
        source's recorded hash vouches for it while the shared file's size and mtime are the
        recorded ones), or a copy, hashed like any written file, where the file system has no hard
        links."""
        origin, target = source.file(name), self.path / as_name
        try:
            os.link(origin, target)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            shutil.copyfile(origin, target)
            return
        record = source.manifest["files"][name]
        stat = target.stat()
        if os.path.samestat(stat, origin.stat()) and (stat.st_size, stat.st_mtime_ns) == (record["bytes"], record.get("mtime_ns")):
            self.vouched[as_name] = record


@dataclass(frozen=True)
class Entry:
    """A complete, valid stage output."""

    stage: str
    fingerprint: str
    path: Path
    manifest: dict[str, Any]

    def file(self, name: str) -> Path:
        return self.path / name


@functools.cache
def _library_versions(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in names:
        try:
            found.append((name, version(name)))
        except PackageNotFoundError:
            continue
    return tuple(found)


def library_versions(*names: str) -> dict[str, str]:
    """Installed versions of `names` (missing ones left out); read once per process (~20 ms a stage otherwise)."""
    return dict(_library_versions(names))


class ArtifactStore:
    def __init__(self, root: str | os.PathLike[str] | RemoteLocation) -> None:
        location = parse_location(root)
        self.location = location
        self.mirror: Mirror | None = None
        if isinstance(location, RemoteLocation):
            from koprep.mirror import Mirror, cache_root

            self.mirror = Mirror(location)
            self.root = cache_root(location)
        else:
            self.root = location.resolve()
        self.locks = EntryLocks(self.root / LOCKS, lambda exc: StoreError(storage_message(self.root, exc)))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Sent to a Dask worker as where it is: a URL root as its URL (the worker builds its own client
        # and its own local cache, not this machine's), a local root as its absolute path.
        return (ArtifactStore, (self.location if self.mirror is not None else self.root,))

    @property
    def name(self) -> str:
        """The store as messages and records show it: its folder, or its URL (without secrets)."""
        return self.mirror.display if self.mirror is not None else str(self.root)

    # ----------------------------------------------------------------- paths
    def inside(self, *parts: str | os.PathLike[str]) -> Path:
        """A path under the root; refuses anything (.., absolute parts, symlinks) that escapes it."""
        candidate = self.root.joinpath(*parts).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            raise StoreError(f"{Path(*parts)} is outside the artifact store {self.root}")
        return candidate

    def relative(self, path: str | os.PathLike[str]) -> str:
        """`path` (inside the store) relative to the root, as written into run records."""
        return self.inside(path).relative_to(self.root).as_posix()

    def entry_path(self, stage: str, fp: str) -> Path:
        _check_name(stage, "stage")
        _check_name(fp, "fingerprint")
        return self.inside(stage, fp)

    # ---------------------------------------------------------------- lookup
    def lookup(self, stage: str, fp: str, *, verify: bool = False, warn: bool = True) -> Entry | None:
        """The complete entry for (stage, fingerprint), or None if absent, partial or corrupt (a
        corrupt one is logged unless `warn` is false, so the caller's recomputation is explained).
        `verify` hashes every file instead of trusting files whose size and mtime match the manifest."""
        path = self.entry_path(stage, fp)
        if self.mirror is not None:
            manifest, problem = self.mirror.fetch(self, stage, fp)
            if verify and problem is None and manifest is not None:
                manifest, problem = inspect_entry(path, stage, fp, full=True)
        else:
            manifest, problem = inspect_entry(path, stage, fp, full=verify)
        if problem is not None and warn:
            log.warning("artifact %s/%s is corrupt (%s); it is not used and will be recomputed", stage, fp, problem)
        if problem is not None or manifest is None:
            return None
        return Entry(stage, fp, path, manifest)

    def lookup_many(self, keys: Sequence[tuple[str, str]], *, warn: bool = True) -> list[Entry | None]:
        """`lookup` of several (stage, fingerprint) entries. With a store in a bucket their manifests
        are read in one concurrent batch (`prefetched`) instead of one round trip after another."""
        with self.prefetched(keys):
            return [self.lookup(stage, fp, warn=warn) for stage, fp in keys]

    def prefetched(self, keys: Sequence[tuple[str, str]], *, committed_only: bool = False) -> contextlib.AbstractContextManager[None]:
        """A block in which the first lookup of each of `keys` uses a manifest read in one batch at its
        start (`koprep.mirror.Mirror.prefetched`); nothing changes for a local store. `committed_only`
        keeps only the entries the batch found: for a block in which other processes (Dask workers)
        may commit the rest, whose "absent" would be stale when it is used."""
        for stage, fp in keys:
            self.entry_path(stage, fp)  # names checked before they become object keys
        if self.mirror is None or not keys:
            return contextlib.nullcontext()
        return self.mirror.prefetched(list(keys), committed_only=committed_only)

    def open_entry(self, path: str | os.PathLike[str]) -> Entry:
        """A valid entry named by a path inside the store (absolute or relative to the root).
        Raises StoreError if it is not an artifact, CorruptArtifactError if its files do not match.
        With a store in a bucket, a path from another process's cache (a Dask worker's) is taken as
        the entry it names (`<stage>/<fingerprint>`) in this one."""
        if self.mirror is not None:
            path = self._portable(str(path))
        resolved = self.inside(path)
        if resolved.parent.parent != self.root:
            raise StoreError(f"{path} is not a koprep artifact folder (<stage>/<fingerprint>) of {self.root}")
        stage, fp = resolved.parent.name, resolved.name
        if self.mirror is not None:
            # Reading what a record names: a complete cached copy of this fingerprint (checked against
            # the committed manifest when it was downloaded or written) is used without asking the bucket.
            manifest, problem = inspect_entry(resolved, stage, fp, full=False)
            if problem is None and manifest is not None and manifest.get("attempt"):
                return Entry(stage, fp, resolved, manifest)
            manifest, problem = self.mirror.fetch(self, stage, fp)
        else:
            manifest, problem = inspect_entry(resolved, stage, fp, full=False)
        if problem is not None:
            raise CorruptArtifactError(
                f"artifact {stage}/{fp} in {self.name} is corrupt: {problem}. Re-run `koprep run` with the same "
                "settings to recompute it (`koprep verify` checks the whole store)"
            )
        if manifest is None:
            raise StoreError(
                f"{stage}/{fp} is not a koprep artifact of {self.name} (no such entry); was the store moved or cleaned?"
            )
        return Entry(stage, fp, resolved, manifest)

    # ----------------------------------------------------------------- locks
    def lock(self, stage: str, fp: str) -> contextlib.AbstractContextManager[None]:
        """Hold the exclusive lock of entry (stage, fp) across processes and threads (`koprep.locks`),
        so each entry is computed once while other runs wait and then reuse it."""
        _check_name(stage, "stage")
        _check_name(fp, "fingerprint")
        return self.locks.hold(stage, fp)

    # ---------------------------------------------------------------- writes
    def check_writable(self) -> None:
        """Fail now, with a clear StoreError, if the root cannot be created or written or has no
        room (a probe of PROBE_BYTES is written, synced and removed), rather than mid-run. For a URL
        root, the bucket is checked too (it exists, the credentials may list and write it)."""
        if self.mirror is not None:
            self.mirror.objects.check_writable()
        probe = self.root / f".probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with open(probe, "wb") as handle:
                handle.write(bytes(PROBE_BYTES))
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise StoreError(storage_message(self.root, exc)) from None
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()

    @contextlib.contextmanager
    def writing(
        self, stage: str, fp: str, manifest: Mapping[str, Any], *, replace: bool = False
    ) -> Iterator[PendingEntry]:
        """Yield a fresh temporary folder to write the stage's files into (with the manifest so far,
        which the caller may extend). On normal exit, write the manifest (listing every file with
        size, SHA-256 and mtime) last, then rename the folder into place. On error, remove it. The
        entry's lock is held throughout, so `sweep` never removes the folder of a live writer. If
        another process completed the same entry meanwhile, keep theirs; with `replace` (a forced
        recompute), a complete entry already there is replaced by this one. A full or read-only root
        raises StoreError."""
        final = self.entry_path(stage, fp)
        with self.lock(stage, fp):
            tmp = final.parent / f"{TMP_PREFIX}{fp}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            try:
                final.parent.mkdir(parents=True, exist_ok=True)
                tmp.mkdir()
                fault_point(f"{stage}.tmp-created")
                pending = PendingEntry(tmp, dict(manifest))
                yield pending
                fault_point(f"{stage}.files-written")
                files = {}
                for file in sorted(tmp.rglob("*")):
                    if file.is_file():
                        name = file.relative_to(tmp).as_posix()
                        stat = file.stat()
                        vouched = pending.vouched.get(name)
                        if vouched is not None and (vouched["bytes"], vouched.get("mtime_ns")) == (stat.st_size, stat.st_mtime_ns):
                            files[name] = dict(vouched)  # a linked file, synced and hashed when its entry was written
                            continue
                        # On disk before the manifest that vouches for it: reuse trusts an unchanged
                        # size and mtime, so a power loss must not leave a file the manifest misdescribes.
                        _fsync(file)
                        files[name] = {"bytes": stat.st_size, "sha256": file_sha256(file), "mtime_ns": stat.st_mtime_ns}
                record = {
                    **pending.manifest,
                    "stage": stage,
                    "fingerprint": fp,
                    "files": files,
                    "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                }
                if self.mirror is not None:
                    plain = json.loads(json.dumps(record, default=_jsonable))  # as the local manifest reads back
                    committed = self.mirror.commit(stage, fp, tmp, plain, replace=replace)
                    if committed is None:
                        return  # another machine committed this entry first: its entry is the one to use
                    record = {**committed, "files": {n: {**m, "mtime_ns": files[n].get("mtime_ns")}
                                                     for n, m in committed["files"].items()}}
                    replace = True  # the cache follows the bucket, whatever it held before
                write_json_atomic(tmp / MANIFEST, record)
                _fsync(tmp)
                fault_point(f"{stage}.manifest-written")
                if replace:
                    self._replace(tmp, final, fp)
                else:
                    self._publish(tmp, final, stage, fp)
                fault_point(f"{stage}.published")
            except OSError as exc:
                if exc.errno in _WRITE_FAILURE_ERRNOS:
                    raise StoreError(storage_message(self.root, exc)) from None
                raise
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)

    def _publish(self, tmp: Path, final: Path, stage: str, fp: str) -> None:
        try:
            os.rename(tmp, final)
        except OSError:
            if self.lookup(stage, fp, warn=False) is not None:
                return  # a complete entry is already there (published by an earlier holder of the lock)
            # A folder that is not a valid entry (corrupt, or from an older, non-atomic writer):
            # move it aside rather than delete it, then publish ours.
            graveyard = self.inside(TRASH)
            graveyard.mkdir(exist_ok=True)
            os.rename(final, graveyard / f"{stage}-{fp}-{uuid.uuid4().hex[:8]}")
            os.rename(tmp, final)
        _fsync(final.parent)

    def _replace(self, tmp: Path, final: Path, fp: str) -> None:
        """Put the complete entry `tmp` in place of `final`. Every writer of this entry holds its
        lock, so nothing is published between the two renames: the old entry is renamed aside (as a
        temporary folder, which `sweep` removes if this process dies before it does), the new one
        renamed in, the old files removed. A reader sees the old complete entry, none, or the new one."""
        aside: Path | None  # None once there turns out to be no old entry
        aside = final.parent / f"{TMP_PREFIX}{fp}-replaced-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(final, aside)
        except FileNotFoundError:
            aside = None
        os.rename(tmp, final)
        _fsync(final.parent)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)

    def sweep(self) -> list[Path]:
        """Remove what killed runs left: temporary folders whose entry lock is free (a live writer,
        whatever its pid, holds it, so a reused pid cannot fool this) and corrupt entries moved to
        `.trash`. Safe to call while other runs are writing. For a URL root, also the bucket's abandoned
        uploads (`koprep.remote`)."""
        removed: list[Path] = []
        if self.mirror is not None:
            removed += [Path(p) for p in self.mirror.sweep()]
        if not self.root.is_dir():
            return removed
        for tmp in sorted(self.root.glob(f"*/{TMP_PREFIX}*")):
            stage, fp = tmp.parent.name, tmp.name[len(TMP_PREFIX):].split("-")[0]
            if stage.startswith(".") or not _valid_name(stage) or not _valid_name(fp):
                continue
            with self.locks.if_free(stage, fp) as free:
                if free:
                    shutil.rmtree(tmp, ignore_errors=True)
                    removed.append(tmp)
        trash = self.root / TRASH
        if trash.is_dir():
            for moved in sorted(trash.iterdir()):
                shutil.rmtree(moved, ignore_errors=True)
                removed.append(moved)
        return removed

    # ------------------------------------------------------------------ runs
    def run_path(self, run: str) -> Path:
        """The file of run record `run` (a run id, or "latest"): runs/<run>.json."""
        _check_name(run, "run id")
        return self.inside(RUNS, f"{run}.json")

    def record_run(self, record: RunRecord) -> Path:
        """Write runs/<run_id>.json and runs/latest.json (each atomically: concurrent runs never
        leave a torn file), with artifact paths relative to the root."""
        path = self.run_path(record.run_id)
        fault_point("record-run.start")
        path.parent.mkdir(parents=True, exist_ok=True)
        portable = record.with_paths(self._portable).to_json()
        write_json_atomic(path, portable)
        if self.mirror is not None:
            self.mirror.objects.write(f"{RUNS}/{path.name}", path.read_bytes())
        fault_point("record-run.between")
        write_json_atomic(self.run_path("latest"), portable)
        if self.mirror is not None:
            self.mirror.objects.write(f"{RUNS}/latest.json", path.read_bytes())
        fault_point("record-run.done")
        return path

    def publish_file(self, path: Path) -> None:
        """For a URL root, upload a file written under the cache's root (a run's HTML report) to the bucket."""
        if self.mirror is not None:
            self.mirror.objects.write(self.relative(path), path.read_bytes())

    def read_run(self, run: str = "latest") -> RunRecord:
        """A run record, with its artifact paths resolved against this root (wherever it now is)."""
        path = self.run_path(run)
        if self.mirror is not None:
            content = self.mirror.objects.read(f"{RUNS}/{path.name}")
            if content is None:  # a missing bucket or prefix says so, with the fix, before "no such run"
                self.mirror.objects.check_readable()
            known = [] if content is not None else sorted(name for name, _ in self.mirror.objects.runs())
        else:
            content = path.read_bytes() if path.is_file() else None
            known = sorted(p.stem for p in path.parent.glob("*.json")) if path.parent.is_dir() else []
        if content is None:
            raise StoreError(
                f"no run {run!r} in {self.name}; known runs: {', '.join(known) or 'none (run `koprep run` first)'}"
            )
        try:
            return self._resolved(RunRecord.model_validate_json(content))
        except ValueError as exc:
            raise CorruptArtifactError(
                f"run record {path} is not a valid run record ({_first_line(exc)}); `koprep verify` checks the store"
            ) from None

    def run_records(self) -> list[StoredRun]:
        """Every readable run record, newest first by when it was written (`runs/latest.json`, a copy
        of the newest, excluded); records being written or damaged are skipped."""
        folder = self.root / RUNS
        records = []
        if self.mirror is not None:
            for run_id, written in self.mirror.objects.runs():
                if run_id == "latest" or run_id.startswith("."):
                    continue
                # A run record never changes once written: read from the bucket once, then from the cache.
                cached = folder / f"{run_id}.json"
                content = cached.read_bytes() if cached.is_file() else self.mirror.objects.read(f"{RUNS}/{run_id}.json")
                if content is not None and not cached.is_file():
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    write_bytes_atomic(cached, content)
                try:
                    record = RunRecord.model_validate_json(content or b"")
                except ValueError:
                    continue
                records.append(StoredRun(run_id, folder / f"{run_id}.json", written, self._resolved(record)))
            return sorted(records, key=lambda r: (r.recorded, r.run_id), reverse=True)
        for path in folder.glob("*.json") if folder.is_dir() else ():
            if path.name == "latest.json" or path.name.startswith("."):
                continue
            try:
                record = RunRecord.model_validate_json(path.read_bytes())
                written = path.stat().st_mtime
            except (OSError, ValueError):
                continue
            records.append(StoredRun(path.stem, path, written, self._resolved(record)))
        return sorted(records, key=lambda r: (r.recorded, r.run_id), reverse=True)

    def _portable(self, path: str) -> str:
        """An artifact path as a run record holds it: relative to the root. With a store in a bucket,
        a path from another process's cache (a Dask worker's) names its entry by its last two parts."""
        if not Path(path).is_absolute():
            return path
        if self.mirror is not None and not Path(path).is_relative_to(self.root):
            return Path(path).parent.name + "/" + Path(path).name
        return self.relative(path)

    def _resolved(self, record: RunRecord) -> RunRecord:
        return record.with_paths(lambda p: p if Path(p).is_absolute() else str(self.root / p))


@dataclass(frozen=True)
class StoredRun:
    """A run record as the store holds it."""

    run_id: str
    path: Path
    recorded: float
    """When the record was written (file modification time, seconds since the epoch)."""
    record: RunRecord
    """The record, with its artifact paths resolved against the store's root."""


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0]


def storage_message(root: Path, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if exc.errno in _FULL_ERRNOS:
        return (
            f"the artifacts root {root} is full ({reason}); free some space, or choose another folder with "
            "--artifacts DIR. Nothing partial was kept"
        )
    return f"cannot write to the artifacts root {root} ({reason}); choose a writable folder with --artifacts DIR"


def _valid_name(name: str) -> bool:
    return bool(name) and name not in {".", ".."} and not any(c in name for c in "/\\\0")


def _check_name(name: str, what: str) -> None:
    if not _valid_name(name):
        raise StoreError(f"invalid {what} {name!r}")
