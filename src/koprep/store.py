"""The artifact store: the one module that owns artifact paths, fingerprints and atomic writes.

Layout under the root (default `artifacts/`):

    <stage>/<fingerprint>/            one complete stage output (Parquet files, _manifest.json last)
    <stage>/.tmp-<fingerprint>-<...>/ an output being written; never read, removed by `sweep`
    runs/<run_id>.json                what one run used and produced; runs/latest.json is the newest

A stage output is valid only if its `_manifest.json` exists and every file it lists has the recorded
size (and, with `verify`, the recorded SHA-256). The manifest is written last inside a temporary
folder which is then renamed into place, so a crash or kill at any point leaves either no entry or a
complete one. The leading underscore keeps `pandas.read_parquet(folder)` and pyarrow datasets from
treating the manifest as data.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from koprep.errors import BadInputError

MANIFEST = "_manifest.json"
RUNS = "runs"
FINGERPRINT_CHARS = 32


class StoreError(BadInputError):
    """The artifact store was asked for something unsafe or that it does not hold (a path outside
    the root, an unknown run, a folder that is not a complete artifact)."""


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_jsonable)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot fingerprint {type(value).__name__}: {value!r}")


def fingerprint(stage: str, code_version: str, params: Any, inputs: Mapping[str, str]) -> str:
    """Hash of everything that determines a stage's output: its code version, parameters, and the
    fingerprints (or content hashes) of its inputs."""
    payload = canonical_json({"stage": stage, "code": code_version, "params": params, "inputs": dict(inputs)})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:FINGERPRINT_CHARS]


def file_chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    """A file's bytes in blocks of `size`, for hashing files larger than memory."""
    with open(path, "rb") as handle:
        yield from iter(lambda: handle.read(size), b"")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    for block in file_chunks(path):
        digest.update(block)
    return digest.hexdigest()


@dataclass
class PendingEntry:
    """An entry being written: files go into `path`; `manifest` (rows, extra facts) may be filled in
    until the `with` block ends."""

    path: Path
    manifest: dict[str, Any]


@dataclass(frozen=True)
class Entry:
    """A complete, valid stage output."""

    stage: str
    fingerprint: str
    path: Path
    manifest: dict[str, Any]

    def file(self, name: str) -> Path:
        return self.path / name


def library_versions(*names: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


class ArtifactStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    # ----------------------------------------------------------------- paths
    def inside(self, *parts: str | os.PathLike[str]) -> Path:
        """A path under the root; refuses anything (.., absolute parts, symlinks) that escapes it."""
        candidate = self.root.joinpath(*parts).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            raise StoreError(f"{Path(*parts)} is outside the artifact store {self.root}")
        return candidate

    def entry_path(self, stage: str, fp: str) -> Path:
        _check_name(stage, "stage")
        _check_name(fp, "fingerprint")
        return self.inside(stage, fp)

    # ---------------------------------------------------------------- lookup
    def lookup(self, stage: str, fp: str, *, verify: bool = False) -> Entry | None:
        """The complete entry for (stage, fingerprint), or None if absent, partial or corrupt."""
        path = self.entry_path(stage, fp)
        manifest = read_manifest(path)
        if manifest is None or manifest.get("fingerprint") != fp or manifest.get("stage") != stage:
            return None
        for name, meta in manifest.get("files", {}).items():
            file = path / name
            try:
                if file.stat().st_size != meta["bytes"]:
                    return None
            except OSError:
                return None
            if verify and file_sha256(file) != meta["sha256"]:
                return None
        return Entry(stage, fp, path, manifest)

    def open_entry(self, path: str | os.PathLike[str]) -> Entry:
        """A valid entry named by a path inside the store (absolute or relative to the root)."""
        resolved = self.inside(path)
        manifest = read_manifest(resolved)
        if manifest is None:
            raise StoreError(f"{resolved} is not a complete koprep artifact (no valid {MANIFEST})")
        entry = self.lookup(manifest["stage"], manifest["fingerprint"])
        if entry is None or entry.path != resolved:
            raise StoreError(f"{resolved} is incomplete or corrupt; re-run the stage that produced it")
        return entry

    # ---------------------------------------------------------------- writes
    @contextlib.contextmanager
    def writing(self, stage: str, fp: str, manifest: Mapping[str, Any]) -> Iterator[PendingEntry]:
        """Yield a fresh temporary folder to write the stage's files into (with the manifest so far,
        which the caller may extend). On normal exit, write the
        manifest (listing every file with size and SHA-256) last, then rename the folder into place.
        On error, remove it. If another process completed the same entry meanwhile, keep theirs."""
        final = self.entry_path(stage, fp)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".tmp-{fp}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        pending = PendingEntry(tmp, dict(manifest))
        try:
            yield pending
            files = {
                p.relative_to(tmp).as_posix(): {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
                for p in sorted(tmp.rglob("*"))
                if p.is_file()
            }
            record = {
                **pending.manifest,
                "stage": stage,
                "fingerprint": fp,
                "files": files,
                "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            }
            write_json_atomic(tmp / MANIFEST, record)
            _fsync_dir(tmp)
            self._publish(tmp, final, stage, fp)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def _publish(self, tmp: Path, final: Path, stage: str, fp: str) -> None:
        try:
            os.rename(tmp, final)
        except OSError:
            if self.lookup(stage, fp) is not None:
                return  # a concurrent run published the same content first
            # A leftover folder without a valid manifest (e.g. from an older, non-atomic writer):
            # move it aside rather than delete it, then publish ours.
            graveyard = self.inside(".trash")
            graveyard.mkdir(exist_ok=True)
            os.rename(final, graveyard / f"{stage}-{fp}-{uuid.uuid4().hex[:8]}")
            os.rename(tmp, final)
        _fsync_dir(final.parent)

    def sweep(self) -> list[Path]:
        """Remove temporary folders left by runs that were killed (their pid is gone)."""
        removed = []
        if not self.root.exists():
            return removed
        for tmp in self.root.glob("*/.tmp-*"):
            try:
                pid = int(tmp.name.split("-")[2])
            except (IndexError, ValueError):
                continue
            if not _pid_alive(pid):
                shutil.rmtree(tmp, ignore_errors=True)
                removed.append(tmp)
        return removed

    # ------------------------------------------------------------------ runs
    def record_run(self, run_id: str, summary: Mapping[str, Any]) -> Path:
        _check_name(run_id, "run id")
        runs = self.inside(RUNS)
        runs.mkdir(parents=True, exist_ok=True)
        path = runs / f"{run_id}.json"
        write_json_atomic(path, summary)
        write_json_atomic(runs / "latest.json", summary)
        return path

    def read_run(self, run: str = "latest") -> dict[str, Any]:
        _check_name(run, "run id")
        path = self.inside(RUNS, f"{run}.json")
        if not path.is_file():
            known = sorted(p.stem for p in path.parent.glob("*.json")) if path.parent.is_dir() else []
            raise StoreError(
                f"no run {run!r} in {self.root}; known runs: {', '.join(known) or 'none (run `koprep run` first)'}"
            )
        return json.loads(path.read_text(encoding="utf-8"))


def read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json_atomic(path: Path, value: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(value, ensure_ascii=False, indent=2, default=_jsonable))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check_name(name: str, what: str) -> None:
    if not name or name in {".", ".."} or "/" in name or "\\" in name or "\0" in name:
        raise StoreError(f"invalid {what} {name!r}")
