"""Prefect's temporary server, kept for later runs (`KOPREP_PREFECT_SERVER=reuse`, the default).

The first `koprep run` with work and no Prefect API configured launches the server detached, under
its keeper (`keeper.py`), and records it in PREFECT_HOME; later runs with the same PREFECT_HOME,
Prefect, Python and Prefect settings find it there and only check that it answers, instead of paying
its start (4 CPU s on an existing database, 9 on a new one) each time. The keeper stops it once no
run has used it for KOPREP_PREFECT_SERVER_IDLE seconds (default 600). `KOPREP_PREFECT_SERVER=per-run`
keeps the old behaviour: a server of the run's own, stopped when it ends (`server.EarlyServer`).
`koprep server` shows the kept server; `koprep server stop` stops it.

Files in PREFECT_HOME (names in `keeper`):
- `koprep-server.json`, the state: the keeper's pid, port and API URL, when it started, and what it
  was started with (Prefect version, Python environment, PREFECT_HOME, a hash of the PREFECT_* settings). A
  run reuses the server only when all of these match and the keeper is alive and the server answers;
  anything else (a dead pid, another Prefect, a server that stopped answering) is stopped and
  replaced.
- `koprep-server.lock`, held exclusively while a run reads the state and reuses or starts a server,
  and, for a run that starts one, until it answers: two runs starting at once start one server, the
  second waits for it. The keeper holds it while it stops the server.
- `koprep-server.lease`: each run holds a shared flock on it until it exits (the kernel drops it if
  the run is killed), and sets its mtime when it starts and ends; its text is the idle period.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from koprep.errors import OrchestrationError
from koprep.orchestration.keeper import LEASE_FILE, LOCK_FILE, LOG_FILE, STATE_FILE, idle_for, idle_seconds, nobody_uses
from koprep.orchestration import server
from koprep.orchestration.server import DEFAULT_STARTUP_TIMEOUT, POLL_SECONDS, _answers

log = logging.getLogger("koprep.orchestration")

MODE_ENV = "KOPREP_PREFECT_SERVER"
MODES = ("reuse", "per-run")
IDLE_ENV = "KOPREP_PREFECT_SERVER_IDLE"
DEFAULT_IDLE_SECONDS = 600.0
ANSWER_SECONDS = 10.0
"""How long a kept server that answered before gets to answer a later run (a busy machine is slow)."""
STOP_SECONDS = 20.0
"""How long `stop_keeper` waits for the keeper to stop its server before killing both."""


def start_early() -> server.EarlyServer | ReusedServer | None:
    """Start Prefect's temporary server now if the flow will need one (`server.prefect_configured`
    is false) and set `PREFECT_API_URL` to its address: the kept server (reused, or started and
    kept), or with KOPREP_PREFECT_SERVER=per-run one for this run only. `wait()` on the result
    returns once it answers."""
    if server.prefect_configured():
        return None
    started: server.EarlyServer | ReusedServer | None = acquire() if mode() == "reuse" else None
    if started is None:
        started = server.EarlyServer(server.free_port())
    os.environ["PREFECT_API_URL"] = started.api_url
    return started


def mode() -> str:
    """`reuse` (keep the temporary server for later runs) or `per-run` (one server per run)."""
    value = os.environ.get(MODE_ENV, "").strip() or MODES[0]
    if value not in MODES:
        raise OrchestrationError(f"{MODE_ENV}={value!r} is not one of {', '.join(MODES)}")
    return value


def idle_setting() -> float:
    """Seconds without a run after which the kept server stops (KOPREP_PREFECT_SERVER_IDLE)."""
    value = os.environ.get(IDLE_ENV, "").strip()
    try:
        seconds = float(value) if value else DEFAULT_IDLE_SECONDS
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise OrchestrationError(f"{IDLE_ENV}={value!r} must be a number of seconds above 0, e.g. {IDLE_ENV}=600")
    return seconds


def prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser().resolve()


def identity(home: Path) -> dict[str, str]:
    """What a server must have been started with to serve this run as its own would."""
    settings = sorted((k, v) for k, v in os.environ.items()
                      if k.startswith("PREFECT_") and k not in ("PREFECT_API_URL", "PREFECT_HOME"))
    return {
        # The environment, not sys.executable: `koprep` and `python -m koprep` of one venv share it.
        "prefect": importlib.metadata.version("prefect"), "python": str(Path(sys.prefix).resolve()), "home": str(home),
        "settings": hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:16],
    }


def read_state(home: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((home / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and isinstance(state.get("pid"), int) else None


def _write_state(home: Path, state: dict[str, Any]) -> None:
    partial = home / f".{STATE_FILE}.{os.getpid()}"
    partial.write_text(json.dumps(state, indent=1), encoding="utf-8")
    partial.replace(home / STATE_FILE)


def keeper_alive(pid: int) -> bool:
    """Whether `pid` is a live keeper (not a pid reused by another program since)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: not ours
        return False
    proc = Path(f"/proc/{pid}")
    if not proc.exists():  # no /proc (macOS): the signal test is all there is
        return True
    try:
        zombie = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        return not zombie and b"koprep.orchestration.keeper" in (proc / "cmdline").read_bytes()
    except (OSError, IndexError):
        return False


def stop_keeper(state: dict[str, Any], timeout: float = STOP_SECONDS) -> None:
    """Stop a keeper and its server (its process group) and wait until they are gone."""
    pid = state["pid"]
    if keeper_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while keeper_alive(pid) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
    try:
        os.kill(pid, 0)
        pid_free = False
    except ProcessLookupError:
        pid_free = True
    except PermissionError:
        pid_free = False
    # Still there after the timeout, or gone while its server lives on (the keeper was killed): kill
    # the group. A pid another program has taken since is left alone (the kernel does not reuse a pid
    # while a process group of that id exists, so a free pid names only the keeper's own group).
    if pid_free or keeper_alive(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def discard(home: Path, state: dict[str, Any]) -> None:
    """Stop the server of `state` and forget it (the next run starts a new one)."""
    stop_keeper(state)
    with contextlib.suppress(OSError):
        (home / STATE_FILE).unlink()


def _lock(home: Path) -> int:
    """The lock's descriptor, held exclusively (closing it releases the lock)."""
    fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting: another koprep run is starting or checking the Prefect server")
            fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


class ReusedServer:
    """The kept server as this run uses it: reused (answering already) or started by this run
    (booting; `wait()` waits for it). Either way the run holds the lease until it exits."""

    def __init__(self, home: Path, state: dict[str, Any], started: bool) -> None:
        self.home, self.state, self.started = home, state, started
        self.api_url: str = state["api_url"]
        self.failure: str | None = None
        self._booting: threading.Thread | None = None
        self._hold_lease(idle_setting())

    def _hold_lease(self, idle: float) -> None:
        fd = os.open(self.home / LEASE_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_SH)  # released by the kernel when this process ends, however it ends
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{idle:g}\n".encode("ascii"), 0)  # the keeper reads the latest idle period here
        os.utime(fd)

        def release() -> None:
            with contextlib.suppress(OSError):
                os.utime(fd)  # the idle period counts from the end of the last run
                os.close(fd)

        atexit.register(release)

    def boot_in_background(self, lock_fd: int) -> None:
        """Hold the lock until the server answers (a concurrent run waits for this server instead of
        starting another), in a thread, while the run goes on with its preflight."""
        self._booting = threading.Thread(target=self._boot, args=(lock_fd,), name="koprep-server-boot", daemon=True)
        self._booting.start()

    def _boot(self, lock_fd: int) -> None:
        try:
            self.failure = wait_until_answering(self.state)
            if self.failure is not None:
                discard(self.home, self.state)
        finally:
            os.close(lock_fd)

    def wait(self) -> str:
        if self._booting is not None:
            self._booting.join()
        if self.failure is not None:
            raise OrchestrationError(
                f"Prefect's temporary server did not start ({self.failure}; its log: {self.home / LOG_FILE}); "
                "run `prefect server start` and point koprep at it with "
                "`export PREFECT_API_URL=http://127.0.0.1:4200/api`"
            )
        return self.api_url


def startup_timeout() -> float:
    return float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS") or DEFAULT_STARTUP_TIMEOUT)


def boot_left(state: dict[str, Any]) -> float:
    """What is left of the server's startup timeout since it was launched."""
    return float(state["launched"]) + startup_timeout() - time.time()


def wait_until_answering(state: dict[str, Any], timeout: float | None = None) -> str | None:
    """None once the server answers its health check; else why not (its keeper is gone, or it did not
    answer within `timeout`, by default what is left of its startup timeout)."""
    if timeout is None:
        timeout = boot_left(state)
    deadline = time.monotonic() + timeout
    while True:
        if _answers(f"{state['api_url']}/health"):
            return None
        if not keeper_alive(state["pid"]):
            return "it exited"
        if time.monotonic() > deadline:
            return f"it did not answer within {timeout:.0f} s"
        time.sleep(POLL_SECONDS)


def acquire() -> ReusedServer | None:
    """The kept server of this PREFECT_HOME if it can serve this run, else a new one, booting. None
    when a server started with other settings (another Python or Prefect on the same PREFECT_HOME)
    is serving a run now: it is left alone and this run starts a server of its own."""
    idle = idle_setting()  # a bad value fails before anything is started
    home = prefect_home()
    try:
        home.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock(home)
    except OSError as exc:
        raise OrchestrationError(f"cannot keep the Prefect server's files in PREFECT_HOME={home} ({exc}); "
                                 "set PREFECT_HOME to a writable folder") from exc
    wanted = identity(home)
    booting: ReusedServer | None = None
    try:
        state = read_state(home)
        if state is not None and keeper_alive(state["pid"]):
            same = all(state.get(key) == value for key, value in wanted.items())
            # A server launched but not answering yet (its run failed while it booted) gets the rest of
            # its startup timeout; one that answered before gets ANSWER_SECONDS (a busy machine).
            if same and wait_until_answering(state, max(ANSWER_SECONDS, boot_left(state))) is None:
                return ReusedServer(home, state, started=False)  # the lease taken under the lock
            if not nobody_uses(home / LEASE_FILE):  # never stop a server under a run
                log.info("the kept Prefect server in %s %s and a run is using it; this run starts one of its own",
                         home, "does not answer" if same else "was started with other settings")
                return None
        if state is not None:
            discard(home, state)
        state = {**_launch(home, idle), **wanted}
        _write_state(home, state)
        booting = ReusedServer(home, state, started=True)
        booting.boot_in_background(lock_fd)  # it releases the lock once the server answers
        return booting
    finally:
        if booting is None:
            os.close(lock_fd)


def _launch(home: Path, idle: float) -> dict[str, Any]:
    port = server.free_port()
    launched = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "koprep.orchestration.keeper", str(home), str(port), f"{idle:g}"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )
    if done.returncode != 0 or not done.stdout.strip().isdigit():
        raise OrchestrationError(f"Prefect's temporary server could not be launched: {done.stderr.strip()[-500:]}")
    return {"pid": int(done.stdout), "port": port, "api_url": f"http://127.0.0.1:{port}/api", "launched": launched}


def status() -> dict[str, Any] | None:
    """The kept server of this PREFECT_HOME, as `koprep server` shows it; None if there is none."""
    home = prefect_home()
    state = read_state(home)
    if state is None or not keeper_alive(state["pid"]):
        return None
    lease = home / LEASE_FILE
    return {
        "api_url": state["api_url"], "pid": state["pid"], "prefect_home": str(home), "prefect": state.get("prefect"),
        "python": state.get("python"), "started": state.get("launched"),
        "answering": _answers(f"{state['api_url']}/health"), "in_use": not nobody_uses(lease),
        "idle_seconds": round(idle_for(lease), 1), "stops_after_idle_seconds": idle_seconds(lease, DEFAULT_IDLE_SECONDS),
        "log": str(home / LOG_FILE),
    }


def stop(force: bool = False) -> dict[str, Any] | None:
    """Stop the kept server of this PREFECT_HOME (the one that was running, or None). A run using
    it would fail: without `force`, that is an OrchestrationError."""
    home = prefect_home()
    if not (home / LOCK_FILE).exists():
        return None
    lock_fd = _lock(home)
    try:
        state = read_state(home)
        if state is None or not keeper_alive(state["pid"]):
            return None
        if not force and not nobody_uses(home / LEASE_FILE):
            raise OrchestrationError(
                "a koprep run is using the Prefect server now; stop it after the run ends, or use --force "
                "(the run then fails)"
            )
        discard(home, state)
        return state
    finally:
        os.close(lock_fd)
