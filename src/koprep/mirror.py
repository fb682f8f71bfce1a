"""A store whose root is a URL: the objects (`koprep.remote.ObjectStore`) are the truth, and a local
read-through cache holds the entries this machine has read or written, so every reader of the
pipeline keeps reading local Parquet files.

The cache is a local artifact store (same layout, same manifest checks) under
`$KOPREP_CACHE_DIR/stores/<hash of the URL>/` (default `~/.cache/koprep`). A run's lookups (is this
entry committed?) use a cached entry only while its manifest's `attempt` is the one the bucket's
committed manifest names: one GET of the manifest each. Reading an entry a run record names
(`open_entry`: loaders, show, report) takes a complete cached copy of that fingerprint without
asking the bucket (it was checked against the committed manifest when cached). A miss
downloads the entry's objects once (a file shared with a shard entry already cached is hard-linked
from it). The cache is bounded (KOPREP_CACHE_BYTES, default 20 GiB): after a download the least
recently used entries beyond the bound are removed (renamed aside first, as gc does).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from koprep.entryfiles import remove_aside
from koprep.remote import MANIFEST, CommitLost, ObjectStore
from koprep.storage import LocationError, RemoteLocation

if TYPE_CHECKING:
    from koprep.store import ArtifactStore

CACHE_DIR_ENV = "KOPREP_CACHE_DIR"
CACHE_BYTES_ENV = "KOPREP_CACHE_BYTES"
DEFAULT_CACHE_BYTES = 20 << 30
_NOT_PREFETCHED: Any = object()


def cache_root(location: RemoteLocation) -> Path:
    """The local cache folder of one store URL (the URL without secrets, hashed: one folder per store)."""
    base = Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "koprep")
    return (base / "stores" / hashlib.sha256(location.display.encode()).hexdigest()[:20]).resolve()


def cache_bytes() -> int:
    try:
        return int(os.environ.get(CACHE_BYTES_ENV, DEFAULT_CACHE_BYTES))
    except ValueError:
        raise LocationError(f"{CACHE_BYTES_ENV} must be a number of bytes") from None


class Mirror:
    """The bucket side of an `ArtifactStore` whose root is a URL (its `root` is the local cache)."""

    def __init__(self, location: RemoteLocation) -> None:
        self.objects = ObjectStore(location)
        self._prefetched: dict[tuple[str, str], dict[str, Any] | None] = {}
        """Manifests read in one batch (`prefetched`), each taken by the next lookup of its entry."""

    @property
    def display(self) -> str:
        return self.objects.display

    # ---------------------------------------------------------------- lookup
    @contextlib.contextmanager
    def prefetched(self, keys: list[tuple[str, str]], *, committed_only: bool = False) -> Iterator[None]:
        """Read the manifests of `keys` in one concurrent batch; inside the block, the first `fetch` of
        each entry takes its answer instead of a GET of its own (a later one asks the bucket again).
        The answer is what the bucket held when the batch was read, as a GET at that moment would
        have said; committing the entry here drops it (the entry is then what was just committed).
        Whatever the block did not take is forgotten when it ends, so nothing lingers in a process
        that lives long (a worker). With `committed_only`, an entry the batch did not find is asked
        for again at its first `fetch` (another process may have committed it since)."""
        found = self.objects.manifests(list(dict.fromkeys(keys)))
        if committed_only:
            found = {key: manifest for key, manifest in found.items() if manifest is not None}
        self._prefetched.update(found)
        try:
            yield
        finally:
            for key in found:
                self._prefetched.pop(key, None)

    def fetch(self, store: ArtifactStore, stage: str, fp: str) -> tuple[dict[str, Any] | None, str | None]:
        """(manifest, problem) of the committed entry, its files in the local cache: (None, None) when
        the bucket has no committed manifest; a problem when an object is missing or damaged."""
        remote = self._prefetched.pop((stage, fp), _NOT_PREFETCHED)
        if remote is _NOT_PREFETCHED:
            remote = self.objects.manifest(stage, fp)
        if remote is None:
            return None, None
        if not remote.get("attempt") or not isinstance(remote.get("files"), dict):
            return None, f"its {MANIFEST} in {self.display} is unreadable"
        path = store.entry_path(stage, fp)
        local = _read_json(path / MANIFEST)
        if local is not None and local.get("attempt") == remote["attempt"]:
            from koprep.entryfiles import inspect_entry

            manifest, problem = inspect_entry(path, stage, fp, full=False)
            if problem is None and manifest is not None:
                _touch(path)
                return manifest, None
        with store.lock(stage, fp):
            return self._download(store, stage, fp, remote)

    def _download(self, store: ArtifactStore, stage: str, fp: str, remote: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        from koprep.entryfiles import TMP_PREFIX, file_sha256, write_json_atomic

        final = store.entry_path(stage, fp)
        tmp = final.parent / f"{TMP_PREFIX}{fp}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        try:
            files = {}
            for name, meta in sorted(remote["files"].items()):
                target = tmp / name
                target.parent.mkdir(parents=True, exist_ok=True)
                obj = meta.get("object") or ""
                if not self._link_cached(store, obj, meta, target):
                    try:
                        self.objects.download(obj, target)
                    except FileNotFoundError:
                        return remote, f"object {obj} is missing"
                    if target.stat().st_size != meta["bytes"] or file_sha256(target) != meta["sha256"]:
                        return remote, f"object {obj} does not match the size and SHA-256 in the manifest (damaged)"
                files[name] = {**meta, "mtime_ns": target.stat().st_mtime_ns}
            local = {**remote, "files": files}
            write_json_atomic(tmp / MANIFEST, local)
            aside = final.parent / f"{TMP_PREFIX}{fp}-replaced-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            if final.exists():
                os.rename(final, aside)
            os.rename(tmp, final)
            shutil.rmtree(aside, ignore_errors=True)
            _touch(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.evict(store, keep=final)
        return local, None

    def _link_cached(self, store: ArtifactStore, obj: str, meta: dict[str, Any], target: Path) -> bool:
        """Hard-link a file that another cached entry (a shard entry) holds as the same object."""
        parts = obj.split("/")
        if len(parts) < 4:
            return False
        source_dir = store.root / parts[0] / parts[1]
        source = _read_json(source_dir / MANIFEST)
        if source is None or source.get("attempt") != parts[2]:
            return False
        origin = source_dir / "/".join(parts[3:])
        record = source.get("files", {}).get("/".join(parts[3:]))
        try:
            stat = origin.stat()
            if record is None or (stat.st_size, stat.st_mtime_ns) != (meta["bytes"], record.get("mtime_ns")):
                return False
            os.link(origin, target)
        except OSError:
            return False
        return True

    # ---------------------------------------------------------------- writes
    def commit(self, stage: str, fp: str, folder: Path, record: dict[str, Any], *, replace: bool) -> dict[str, Any] | None:
        """Upload a finished local entry (`folder`, `record` its manifest) and commit it. Returns the
        manifest as committed (with `attempt` and each file's `object`), or None when another writer
        committed first (its entry is then the one to use)."""
        from koprep.entryfiles import fault_point

        self._prefetched.pop((stage, fp), None)  # what a batch read before this commit no longer holds
        files = record["files"]
        shared = {name for name, meta in files.items() if meta.get("object")}
        attempt, objects = self.objects.upload_attempt(stage, fp, folder, sorted(set(files) - shared))
        fault_point(f"{stage}.uploaded")
        committed = {
            **record,
            "attempt": attempt,
            "files": {name: {"bytes": meta["bytes"], "sha256": meta["sha256"], "object": meta.get("object") or objects[name]}
                      for name, meta in files.items()},
        }
        try:
            self.objects.commit(stage, fp, committed, replace=replace)
        except CommitLost:
            theirs = self.objects.manifest(stage, fp)
            if theirs and verify_objects(self, RemoteEntry(stage, fp, theirs, {})) is None:
                self.objects.discard_attempt(stage, fp, attempt)
                return None  # another writer's complete entry: use it
            # The committed entry is damaged (why this one was recomputed): replace it.
            self.objects.commit(stage, fp, committed, replace=True)
        fault_point(f"{stage}.committed")
        return committed

    # ---------------------------------------------------------------- upkeep
    def sweep(self) -> list[str]:
        """Remove abandoned attempts (see `koprep.remote`): only entries with no manifest or more than
        one attempt can hold one, and only then are the manifests read to know what is referenced."""
        listed = self.objects.objects()
        candidates = False
        for _stage, _fp, objects in self.objects.entry_keys(listed):
            attempts = {name.split("/", 1)[0] for name in objects if "/" in name}
            if attempts and (MANIFEST not in objects or len(attempts) > 1):
                candidates = True
                break
        if not candidates:
            return []
        named = self.referenced_attempts(listed)
        return self.objects.sweep(lambda stage, fp, attempt: (stage, fp, attempt) in named)

    def referenced_attempts(self, listed: dict[str, dict[str, Any]]) -> set[tuple[str, str, str]]:
        """(stage, fingerprint, attempt) of every attempt a committed manifest names or refers to."""
        named = set()
        for stage, fp, objects in self.objects.entry_keys(listed):
            if MANIFEST not in objects:
                continue
            manifest = self.objects.manifest(stage, fp) or {}
            if manifest.get("attempt"):
                named.add((stage, fp, manifest["attempt"]))
            for meta in (manifest.get("files") or {}).values():
                parts = str(meta.get("object", "")).split("/")
                if len(parts) >= 4:
                    named.add((parts[0], parts[1], parts[2]))
        return named

    def evict(self, store: ArtifactStore, keep: Path) -> None:
        """Keep the cache under its bound: remove least recently used entries (never `keep`)."""
        limit = cache_bytes()
        entries = []
        total = 0
        for manifest_path in store.root.glob(f"*/*/{MANIFEST}"):
            folder = manifest_path.parent
            if folder.parent.name.startswith("."):
                continue
            size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
            used = folder.stat().st_mtime  # set on every use (`_touch`)
            entries.append((used, folder, size))
            total += size
        for _used, folder, size in sorted(entries, key=lambda e: e[0]):
            if total <= limit:
                break
            if folder == keep:
                continue
            try:
                if remove_aside(folder, "evicted"):
                    total -= size
            except OSError:
                continue  # another process's cache work; the next eviction tries again


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _touch(folder: Path) -> None:
    """Mark a cached entry as just used: its folder's modification time orders eviction."""
    try:
        os.utime(folder)
    except OSError:
        pass


# ------------------------------------------------------------------------------- maintenance
class RemoteEntry:
    """One `<stage>/<fingerprint>/` of the bucket as `koprep ls`, gc and verify see it."""

    def __init__(self, stage: str, fp: str, manifest: dict[str, Any] | None, objects: dict[str, dict[str, Any]]) -> None:
        self.stage, self.fingerprint, self.manifest, self.objects = stage, fp, manifest or {}, objects

    @property
    def complete(self) -> bool:
        """A committed manifest whose own objects are all listed with their recorded sizes (objects it
        refers to in other entries are checked with those entries, and by `verify`)."""
        files = self.manifest.get("files")
        if not self.manifest.get("attempt") or not isinstance(files, dict):
            return False
        prefix = f"{self.stage}/{self.fingerprint}/"
        for meta in files.values():
            obj = str(meta.get("object", ""))
            if obj.startswith(prefix) and self.objects.get(obj[len(prefix):], {}).get("bytes") != meta.get("bytes"):
                return False
        return True

    @property
    def bytes(self) -> int:
        return sum(info["bytes"] for info in self.objects.values())

    @property
    def modified(self) -> float:
        return max((info["modified"] for info in self.objects.values()), default=0.0)


def remote_entries(mirror: Mirror) -> list[RemoteEntry]:
    """Every entry folder of the bucket, its manifest read (one listing, one GET per manifest)."""
    listed = mirror.objects.objects()
    found = []
    for stage, fp, objects in mirror.objects.entry_keys(listed):
        manifest = mirror.objects.manifest(stage, fp) if MANIFEST in objects else None
        found.append(RemoteEntry(stage, fp, manifest, objects))
    return found


def verify_objects(mirror: Mirror, entry: RemoteEntry) -> str | None:
    """What is wrong with a committed entry's objects (each read and hashed), or None."""
    if not entry.manifest:
        return f"no readable {MANIFEST} (an interrupted upload, removed by the next sweep after the grace period)"
    if not entry.manifest.get("attempt") or not isinstance(entry.manifest.get("files"), dict):
        return f"its {MANIFEST} is not a koprep manifest"
    for name, meta in sorted(entry.manifest["files"].items()):
        found = mirror.objects.object_sha256(str(meta.get("object", "")))
        if found is None:
            return f"object {meta.get('object')} of file {name} is missing"
        if found != (meta.get("bytes"), meta.get("sha256")):
            return f"object {meta.get('object')} of file {name} does not match its size and SHA-256 (damaged)"
    return None
