"""The artifact store's objects on object storage (S3, GCS, Azure Blob, MinIO, Ceph), through fsspec.

Object stores have no rename, no flock and no hard links, so the commit is different from the local
store's rename of a finished folder. Layout under the store URL:

    <stage>/<fingerprint>/_manifest.json        the commit marker: written last, only if absent
    <stage>/<fingerprint>/<attempt>/<file>      the files of one writing attempt (a fresh random id)
    runs/<run_id>.json, runs/latest.json        run records (one PUT each: never torn)

A writer uploads its files under a prefix no other writer uses (its attempt), then PUTs the manifest
with `If-None-Match: *`: the store accepts the first manifest of an entry and refuses every later
one (`PreconditionFailed`), so of two runs computing the same entry at once exactly one commits;
the other deletes its attempt and uses the winner's entry. The manifest names the object of every
file, with its size and SHA-256: a file a stage entry shares with a shard entry is the shard entry's
object, referred to, never copied. A forced recompute (`--force`) overwrites the manifest
unconditionally (a reader sees the old complete entry or the new one: a PUT is atomic).

What a reader takes is only what a committed manifest names, so a writer killed at any point leaves
at most an attempt prefix nobody reads. `sweep` (every run's start) and `koprep gc` delete attempt
prefixes that no manifest names once their newest object is older than the upload grace period
(KOPREP_UPLOAD_GRACE_SECONDS, default one hour: an attempt is uploaded in one go right before its
commit, so a live writer's objects are always young). `koprep verify` reads and hashes every object
a manifest names.

Nothing here knows about stages; `koprep.store.ArtifactStore` uses it when its root is a URL and
keeps a local read-through copy of the entries it reads (`koprep.store` docstring).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

from koprep.storage import LocationError, RemoteLocation, storage_failure

MANIFEST = "_manifest.json"
RUNS = "runs"
UPLOAD_GRACE_ENV = "KOPREP_UPLOAD_GRACE_SECONDS"
DEFAULT_UPLOAD_GRACE_SECONDS = 3600.0


def upload_grace_seconds() -> float:
    try:
        return float(os.environ.get(UPLOAD_GRACE_ENV, DEFAULT_UPLOAD_GRACE_SECONDS))
    except ValueError:
        raise LocationError(f"{UPLOAD_GRACE_ENV} must be a number of seconds") from None


def manifest_key(stage: str, fp: str) -> str:
    return f"{stage}/{fp}/{MANIFEST}"


def parse_manifest(data: bytes | None) -> dict[str, Any] | None:
    """A manifest object's content: None when there is none; {} when it is not a JSON object."""
    if data is None:
        return None
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def lost_race(exc: BaseException) -> bool:
    """Whether a conditional PUT was refused because the object exists: s3fs raises FileExistsError
    when S3 answers 412 PreconditionFailed naming the If-None-Match condition; a server that does not
    name the condition gets an OSError whose cause is botocore's error, with code PreconditionFailed
    and HTTP status 412 (gcsfs's HttpError carries the status as `code`). Nothing else is a lost race."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, FileExistsError):
            return True
        response = getattr(current, "response", None)
        if isinstance(response, dict):
            error = response.get("Error") or {}
            status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            if error.get("Code") == "PreconditionFailed" or status == 412:
                return True
        if getattr(current, "code", None) == 412:
            return True
        current = current.__cause__ or current.__context__
    return False


class CommitLost(Exception):
    """Another writer committed the entry first (its manifest was there when ours was PUT)."""


class ObjectStore:
    """The objects of one store URL. Paths given to and returned by methods are relative to the root."""

    def __init__(self, location: RemoteLocation) -> None:
        self.location = location
        self.fs = location.filesystem()
        self.base = location.path.rstrip("/")

    @property
    def display(self) -> str:
        return self.location.display

    def key(self, *parts: str) -> str:
        return posixpath.join(self.base, *parts)

    def url(self, *parts: str) -> str:
        return f"{self.location.protocol}://{self.key(*parts)}"

    # ------------------------------------------------------------------ checks
    def check_readable(self) -> None:
        """The bucket exists and the credentials may list it: fail now with the fix, not mid-run."""
        bucket = self.base.split("/", 1)[0]
        try:
            self.fs.ls(bucket, refresh=True)
        except Exception as exc:  # noqa: BLE001 - every filesystem raises its own; all mean the same here
            raise storage_failure(self.location, exc, "read the artifact store") from None

    def check_writable(self) -> None:
        self.check_readable()
        probe = self.key(f".probe-{uuid.uuid4().hex}")
        try:
            self.fs.pipe_file(probe, b"koprep")
            self.fs.rm_file(probe)
        except Exception as exc:  # noqa: BLE001
            raise storage_failure(self.location, exc, "write to the artifact store") from None

    # ------------------------------------------------------------------- reads
    def read(self, relative: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""
        try:
            # max_concurrency=1: one GET (s3fs otherwise asks the size first, a HEAD, to decide
            # whether to fetch a big object in parallel ranges; what is read here is small).
            data: bytes = self.fs.cat_file(self.key(relative), **self._one_request)
            return data
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001
            raise storage_failure(self.location, exc, f"read {relative} from") from None

    def read_many(self, relatives: list[str]) -> dict[str, bytes | None]:
        """Several objects at once (the GETs concurrent: fsspec's `cat` of a list), each's bytes or
        None when it does not exist: what a run's lookups cost is then one round trip, not one per entry."""
        keys = {self.key(relative): relative for relative in dict.fromkeys(relatives)}
        if not keys:
            return {}
        try:
            found = self.fs.cat(list(keys), on_error="return", **self._one_request)
        except Exception as exc:  # noqa: BLE001
            raise storage_failure(self.location, exc, "read manifests from") from None
        result: dict[str, bytes | None] = {}
        for key, relative in keys.items():
            value = found.get(key, FileNotFoundError(key))
            if isinstance(value, FileNotFoundError):
                result[relative] = None
            elif isinstance(value, BaseException):
                raise storage_failure(self.location, value, f"read {relative} from")
            else:
                result[relative] = value
        return result

    @property
    def _one_request(self) -> dict[str, Any]:
        return {"max_concurrency": 1} if self.location.protocol in ("s3", "s3a") else {}

    def manifest(self, stage: str, fp: str) -> dict[str, Any] | None:
        """The committed manifest of (stage, fp), None when there is none; {} when it is unreadable."""
        return parse_manifest(self.read(manifest_key(stage, fp)))

    def manifests(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any] | None]:
        """`manifest` of several entries, read concurrently (`read_many`)."""
        found = self.read_many([manifest_key(stage, fp) for stage, fp in keys])
        return {(stage, fp): parse_manifest(found[manifest_key(stage, fp)]) for stage, fp in keys}

    def download(self, relative: str, target: Path) -> None:
        try:
            self.fs.get_file(self.key(relative), str(target))
        except FileNotFoundError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise storage_failure(self.location, exc, f"download {relative} from") from None

    def object_sha256(self, relative: str) -> tuple[int, str] | None:
        """(bytes, SHA-256) of an object read in blocks; None when it is missing."""
        digest, size = hashlib.sha256(), 0
        try:
            with self.fs.open(self.key(relative), "rb", block_size=1 << 22) as handle:
                for block in iter(lambda: handle.read(1 << 22), b""):
                    digest.update(block)
                    size += len(block)
        except FileNotFoundError:
            return None
        return size, digest.hexdigest()

    # ------------------------------------------------------------------ writes
    def upload_attempt(self, stage: str, fp: str, folder: Path, names: list[str]) -> tuple[str, dict[str, str]]:
        """Upload `names` from `folder` under a fresh attempt prefix; returns (attempt, name → object)."""
        attempt = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:12]}"
        objects = {name: f"{stage}/{fp}/{attempt}/{name}" for name in names}
        try:
            if objects:
                self.fs.put([str(folder / name) for name in objects], [self.key(o) for o in objects.values()])
        except Exception as exc:  # noqa: BLE001
            raise storage_failure(self.location, exc, f"upload {stage}/{fp} to") from None
        return attempt, objects

    def commit(self, stage: str, fp: str, manifest: dict[str, Any], *, replace: bool) -> None:
        """PUT the manifest: only if absent (raises CommitLost otherwise), or over any with `replace`."""
        body = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
        try:
            self.fs.pipe_file(self.key(stage, fp, MANIFEST), body, mode="overwrite" if replace else "create")
        except Exception as exc:  # noqa: BLE001
            if lost_race(exc):
                raise CommitLost(f"{stage}/{fp}") from None
            raise storage_failure(self.location, exc, f"commit {stage}/{fp} to") from None

    def discard_attempt(self, stage: str, fp: str, attempt: str) -> None:
        self.remove_prefix(f"{stage}/{fp}/{attempt}")

    def remove_prefix(self, relative: str) -> None:
        try:
            found = self.fs.find(self.key(relative))
            if found:
                self.fs.rm(found)
        except FileNotFoundError:
            pass
        except Exception as exc:  # noqa: BLE001
            raise storage_failure(self.location, exc, f"remove {relative} from") from None

    def remove_entry(self, stage: str, fp: str) -> None:
        """Uncommit first (the manifest), then delete the objects: no reader takes a half-deleted entry."""
        try:
            self.fs.rm_file(self.key(stage, fp, MANIFEST))
        except FileNotFoundError:
            pass
        self.remove_prefix(f"{stage}/{fp}")

    def write(self, relative: str, content: bytes) -> None:
        try:
            self.fs.pipe_file(self.key(relative), content)
        except Exception as exc:  # noqa: BLE001
            raise storage_failure(self.location, exc, f"write {relative} to") from None

    # ---------------------------------------------------------------- listings
    def objects(self) -> dict[str, dict[str, Any]]:
        """Every object under the root: relative key → {"bytes", "modified" (seconds since the epoch)}."""
        self.fs.invalidate_cache(self.base)
        try:
            found = self.fs.find(self.base, detail=True)
        except FileNotFoundError:
            return {}
        except Exception as exc:  # noqa: BLE001
            raise storage_failure(self.location, exc, "list") from None
        prefix = self.base + "/"
        listed = {}
        for key, info in found.items():
            if not key.startswith(prefix):
                continue
            modified = info.get("LastModified") or info.get("mtime") or info.get("last_modified")
            stamp = modified.timestamp() if hasattr(modified, "timestamp") else float(modified or 0)
            listed[key[len(prefix):]] = {"bytes": int(info.get("size") or 0), "modified": stamp}
        return listed

    def runs(self) -> list[tuple[str, float]]:
        """(run id, when written) of every run record, latest.json included."""
        return [
            (posixpath.basename(key)[: -len(".json")], info["modified"])
            for key, info in self.objects().items()
            if key.startswith(f"{RUNS}/") and key.endswith(".json") and key.count("/") == 1
        ]

    def entry_keys(self, listed: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str, dict[str, dict[str, Any]]]]:
        """(stage, fingerprint, its objects relative to the entry) for every entry folder in a listing."""
        grouped: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        for key, info in listed.items():
            parts = key.split("/", 2)
            if len(parts) < 3 or parts[0] == RUNS or parts[0].startswith("."):
                continue
            grouped.setdefault((parts[0], parts[1]), {})[parts[2]] = info
        for (stage, fp), objects in sorted(grouped.items()):
            yield stage, fp, objects

    def sweep(self, is_named: Callable[[str, str, str], bool], grace: float | None = None) -> list[str]:
        """Delete attempt prefixes no committed manifest names (`is_named(stage, fp, attempt)`) whose
        newest object is older than `grace` seconds. Returns what was removed."""
        grace = upload_grace_seconds() if grace is None else grace
        now = time.time()
        removed = []
        for stage, fp, objects in self.entry_keys(self.objects()):
            attempts: dict[str, float] = {}
            for name, info in objects.items():
                if "/" in name:
                    attempt = name.split("/", 1)[0]
                    attempts[attempt] = max(attempts.get(attempt, 0.0), info["modified"])
            for attempt, newest in attempts.items():
                if now - newest >= grace and not is_named(stage, fp, attempt):
                    self.discard_attempt(stage, fp, attempt)
                    removed.append(f"{stage}/{fp}/{attempt}")
        return removed
