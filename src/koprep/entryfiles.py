"""The files of store entries: manifests checked against their files, atomic writes, hashing and the
crash-testing fault points. Shared by the local store (`koprep.store`) and its bucket-backed cache
(`koprep.mirror`), and importing neither."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import uuid
from pathlib import Path
from typing import Any, Iterator

MANIFEST = "_manifest.json"
TMP_PREFIX = ".tmp-"
FAULT_POINT_ENV = "KOPREP_FAULT_POINT"


def fault_point(name: str) -> None:
    """Crash-safety testing hook. When the environment variable KOPREP_FAULT_POINT names this point
    (`name`, or `name#N` for the N-th time it is reached), the process sends itself SIGKILL: a real,
    uncatchable kill at exactly this place, as `kill -9` or the OOM killer would deliver it.
    Otherwise it costs one environment lookup."""
    wanted = os.environ.get(FAULT_POINT_ENV)
    if not wanted:
        return
    target, _, nth = wanted.partition("#")
    if target != name:
        return
    _fault_hits[name] = _fault_hits.get(name, 0) + 1
    if _fault_hits[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


_fault_hits: dict[str, int] = {}


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot fingerprint {type(value).__name__}: {value!r}")


def file_chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    """A file's bytes in blocks of `size`, for hashing files larger than memory."""
    with open(path, "rb") as handle:
        yield from iter(lambda: handle.read(size), b"")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    for block in file_chunks(path):
        digest.update(block)
    return digest.hexdigest()


def inspect_entry(path: Path, stage: str, fp: str, *, full: bool) -> tuple[dict[str, Any] | None, str | None]:
    """(manifest, problem) of the folder at `path`: (None, None) when there is no folder, (manifest,
    None) when it is a complete entry, (…, "what is wrong") otherwise. `full` hashes every file;
    otherwise only files whose mtime differs from the manifest's are hashed (see the module doc)."""
    if not path.is_dir():
        return None, None
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"no {MANIFEST} (left by an interrupted writer from an older koprep, or deleted)"
    except (OSError, ValueError) as exc:
        return None, f"its {MANIFEST} is unreadable ({exc})"
    if not isinstance(manifest, dict) or manifest.get("fingerprint") != fp or manifest.get("stage") != stage:
        return None, f"its {MANIFEST} describes another entry"
    for name, meta in manifest.get("files", {}).items():
        file = path / name
        try:
            stat = file.stat()
        except OSError:
            return manifest, f"file {name} is missing"
        if stat.st_size != meta["bytes"]:
            return manifest, f"file {name} has {stat.st_size} bytes, the manifest says {meta['bytes']} (truncated or altered)"
        if (full or stat.st_mtime_ns != meta.get("mtime_ns")) and file_sha256(file) != meta["sha256"]:
            return manifest, f"file {name} does not match the SHA-256 in the manifest (altered)"
    return manifest, None


def read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json_atomic(path: Path, value: Any) -> None:
    write_bytes_atomic(path, json.dumps(value, ensure_ascii=False, indent=2, default=_jsonable).encode("utf-8"))


def write_bytes_atomic(path: Path, content: bytes) -> None:
    """Readers see the old file or the new one, never a part: written beside it, synced, renamed over it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _fsync(path: Path) -> None:
    """Flush a file's or a folder's (its entries') writes to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_aside(folder: Path, tag: str) -> bool:
    """Delete a folder so that no reader ever sees it half-deleted: renamed aside (to a dot name
    beside it, which no reader takes) first, then removed. False when it was already gone."""
    doomed = folder.parent / f".{tag}-{folder.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(folder, doomed)
    except FileNotFoundError:
        return False
    shutil.rmtree(doomed, ignore_errors=True)
    return True
