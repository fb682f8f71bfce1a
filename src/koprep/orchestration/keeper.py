"""The keeper of koprep's reusable Prefect server: a small standard-library process that runs the
server (Prefect's temporary-server command, `server.server_command`) and stops it once no run has
used it for the idle period.

    python -m koprep.orchestration.keeper PREFECT_HOME PORT IDLE_SECONDS

It detaches itself first (fork, then a new session): the launching `koprep run` reads the keeper's
pid from its stdout and goes on, and neither the keeper nor the server holds the run's stdin, stdout
or stderr (a CI pipeline reading them does not wait for the server). The server's output and the
keeper's own errors go to `koprep-server.log` in PREFECT_HOME.

The files it shares with runs (`reusable.py` writes them; their roles are described there):
- the lease, `koprep-server.lease`: its mtime is the last time a run started or ended using the
  server, its text the idle seconds the last run asked for; every run in progress holds a shared
  `flock` on it.
- the lock, `koprep-server.lock`: held (exclusively) while a run decides whether to reuse or start
  a server, and by the keeper while it stops one, so no run picks up a server being stopped.
- the state, `koprep-server.json`: removed by the keeper when its server is gone.

Every ~1/10 of the idle period (0.1-5 s) the keeper looks at the lease. Once it is older than the
idle period, and under the lock no run holds it, the keeper removes the state and stops the server.
SIGTERM/SIGINT/SIGHUP stop the server too; the server exiting on its own ends the keeper.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

from koprep.orchestration.server import SERVER_ENV, server_command

STATE_FILE = "koprep-server.json"
LEASE_FILE = "koprep-server.lease"
LOCK_FILE = "koprep-server.lock"
LOG_FILE = "koprep-server.log"
SERVER_STOP_SECONDS = 10.0
"""How long the server gets to shut down (Prefect's own temporary server gets 5) before SIGKILL."""


def idle_seconds(lease: Path, default: float) -> float:
    """The idle period the last run asked for (the lease's text), else the keeper's own."""
    try:
        return float(lease.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return default


def idle_for(lease: Path) -> float:
    try:
        return time.time() - lease.stat().st_mtime
    except OSError:
        return float("inf")  # removed: nobody will renew it


def remove_state_if_mine(home: Path) -> None:
    state = home / STATE_FILE
    with contextlib.suppress(OSError, ValueError):
        if json.loads(state.read_text(encoding="utf-8")).get("pid") == os.getpid():
            state.unlink()


def nobody_uses(lease: Path) -> bool:
    """Whether no run holds the lease (each run in progress holds a shared flock on it)."""
    try:
        fd = os.open(lease, os.O_RDONLY)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # releases the test lock at once


class Stop(Exception):
    """A signal asked the keeper to stop its server (raised from the handler: it ends the sleep at once)."""


def _stop(signum: int, frame: object) -> None:
    raise Stop


def keep(home: Path, port: int, default_idle: float) -> int:
    lease, lock = home / LEASE_FILE, home / LOCK_FILE
    with open(home / LOG_FILE, "ab") as log:
        server = subprocess.Popen(
            server_command(port), env={**os.environ, **SERVER_ENV}, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT,
        )
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _stop)
    try:
        while server.poll() is None:
            idle = idle_seconds(lease, default_idle)
            time.sleep(min(5.0, max(0.1, idle / 10)))
            if idle_for(lease) < idle:
                continue
            with open(lock, "a+b") as held:
                fcntl.flock(held, fcntl.LOCK_EX)  # no run is deciding to reuse it meanwhile
                if idle_for(lease) >= idle_seconds(lease, default_idle) and nobody_uses(lease):
                    remove_state_if_mine(home)  # under the lock: the next run starts a new server
                    break
    except Stop:
        pass
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # a second signal must not cut the shutdown short
        remove_state_if_mine(home)
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(SERVER_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return 0


def main(argv: list[str]) -> int:
    home, port, idle = Path(argv[0]), int(argv[1]), float(argv[2])
    child = os.fork()
    if child:  # the launcher: tell the run the keeper's pid and leave; the keeper is init's child now
        print(child, flush=True)
        return 0
    os.setsid()  # its own session: no terminal's Ctrl-C or hang-up reaches it
    devnull = os.open(os.devnull, os.O_RDONLY)
    log = os.open(home / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    for fd, target in ((0, devnull), (1, log), (2, log)):  # let go of the launcher's pipes
        os.dup2(target, fd)
    os.close(devnull)
    os.close(log)
    try:
        keep(home, port, idle)
    except BaseException:  # noqa: BLE001 - the log is the only place a keeper's failure can go
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(0)  # the forked copy of the launcher's interpreter must not run its exit twice
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
