"""Corpora given as URLs (`koprep run s3://bucket/reviews.tsv`, or a folder `s3://bucket/texts/`):
streamed once into a local copy that every reader then uses, so each corpus format works unchanged.

The copy lives under `$KOPREP_CACHE_DIR/corpora/` (default `~/.cache/koprep`), in a folder named by
the SHA-256 of the bytes as they streamed in (in blocks: a corpus is never held in memory whole), and
an index maps the object's identity (URL, size, ETag or modification time) to that folder, so an
unchanged object is not downloaded again and a changed one always is. The corpus fingerprint is then
computed from the copy's bytes, exactly as for a local file: a corpus gets the same fingerprint
(and so the same cache entries) from a bucket as from disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import uuid
from pathlib import Path
from typing import Any

from koprep.storage import LocationError, RemoteLocation, is_url, parse_location, storage_failure

BLOCK = 1 << 22


def cache_folder() -> Path:
    return Path(os.environ.get("KOPREP_CACHE_DIR") or Path.home() / ".cache" / "koprep") / "corpora"


def local_corpus(location: str | None) -> str | None:
    """`location` itself when it is not a URL; for a URL, the path of its local copy (downloaded if
    the object changed or was never fetched). Raises LocationError naming the URL and the fix."""
    if location is None or not is_url(location):
        return location
    parsed = parse_location(location)
    if isinstance(parsed, Path):
        return str(parsed)
    return str(_fetch(parsed))


_fetched: dict[str, Path] = {}


def _fetch(location: RemoteLocation) -> Path:
    fs = location.filesystem()
    try:
        info = fs.info(location.path)
        folder = info.get("type") == "directory"
        objects = sorted(fs.find(location.path, detail=True).items()) if folder else [(location.path, info)]
    except FileNotFoundError:
        raise LocationError(f"corpus {location.display} does not exist: check the URL (bucket, prefix and file name)") from None
    except Exception as exc:  # noqa: BLE001 - each filesystem raises its own
        raise storage_failure(location, exc, "read the corpus") from None
    if folder:
        objects = [(key, meta) for key, meta in objects if key.endswith(".txt")]
        if not objects:
            raise LocationError(f"folder {location.display} has no .txt files; a folder corpus is one document per .txt file")
    identity = json.dumps([location.display, [(key, meta.get("size"), str(meta.get("ETag") or meta.get("mtime")))
                                              for key, meta in objects]])
    index_key = hashlib.sha256(identity.encode()).hexdigest()[:32]
    if index_key in _fetched and _fetched[index_key].exists():
        return _fetched[index_key]
    root = cache_folder()
    index = root / "index" / f"{index_key}.json"
    known = _read_index(index)
    if known is not None and known.exists():
        _fetched[index_key] = known
        return known
    staging = root / f".download-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        digest = hashlib.sha256()
        base = location.path.rstrip("/")
        for key, _meta in objects:
            name = posixpath.relpath(key, base) if folder else posixpath.basename(key)
            target = staging / "data" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            digest.update(name.encode() + b"\0")
            try:
                with fs.open(key, "rb", block_size=BLOCK) as source, open(target, "wb") as sink:
                    for block in iter(lambda: source.read(BLOCK), b""):
                        digest.update(block)
                        sink.write(block)
            except Exception as exc:  # noqa: BLE001
                raise storage_failure(location, exc, "download the corpus") from None
        final = root / digest.hexdigest()[:32]
        if not final.exists():
            try:
                os.rename(staging / "data", final)
            except OSError:
                if not final.exists():
                    raise
        local = final if folder else final / posixpath.basename(objects[0][0])
        index.parent.mkdir(parents=True, exist_ok=True)
        tmp = index.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(json.dumps({"path": str(local)}), encoding="utf-8")
        os.replace(tmp, index)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _fetched[index_key] = local
    return local


def _read_index(index: Path) -> Path | None:
    try:
        value: Any = json.loads(index.read_text(encoding="utf-8"))
        return Path(value["path"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def source_name(location: str) -> str:
    """A URL corpus as records show it: the file or folder name, as for a local corpus."""
    parsed = parse_location(location)
    if isinstance(parsed, Path):
        return parsed.resolve().name
    return posixpath.basename(parsed.path.rstrip("/"))
