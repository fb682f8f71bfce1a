"""Entry locks: one `fcntl.flock` per store entry, so each entry is computed by one process at a time.

A lock is `<root>/.locks/<stage>-<fingerprint>.lock`, held with `flock`, which the kernel releases
when its holder exits or is killed: a lock can never outlive its process. Within a process the lock
is re-entrant in the holding thread (a stage computing its shard entries holds its own lock too) and
exclusive between threads.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import Callable, Iterator

log = logging.getLogger("koprep.store")


class _HeldLock:
    """This process's hold on one entry lock: the flock'd descriptor and the re-entry depth."""

    def __init__(self) -> None:
        self.rlock, self.fd, self.depth = threading.RLock(), -1, 0


_held_locks: dict[str, _HeldLock] = {}
_held_guard = threading.Lock()


class EntryLocks:
    """The lock files under one store root. `open_failed` turns an OSError opening a lock file into
    the store's own error (an unwritable root)."""

    def __init__(self, folder: Path, open_failed: Callable[[OSError], Exception]) -> None:
        self.folder = folder
        self.open_failed = open_failed

    def path(self, stage: str, fp: str) -> Path:
        return self.folder / f"{stage}-{fp}.lock"

    @contextlib.contextmanager
    def hold(self, stage: str, fp: str) -> Iterator[None]:
        """Hold the exclusive lock of entry (stage, fp) across processes and threads, waiting for it."""
        path = self.path(stage, fp)
        with _held_guard:
            held = _held_locks.setdefault(str(path), _HeldLock())
        with held.rlock:
            if held.depth == 0:
                fd = self._open(path)
                try:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        log.info("waiting: another run is computing %s/%s; this run will reuse it", stage, fp)
                        fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
                held.fd = fd
            held.depth += 1
            try:
                yield
            finally:
                held.depth -= 1
                if held.depth == 0:
                    os.close(held.fd)  # releases the flock
                    held.fd = -1

    @contextlib.contextmanager
    def if_free(self, stage: str, fp: str) -> Iterator[bool]:
        """Take (stage, fp)'s lock without waiting; yields whether it was free. Held by a live
        writer (in any process, this one included) means busy."""
        fd = self._open(self.path(stage, fp))
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def _open(self, path: Path) -> int:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise self.open_failed(exc) from None
