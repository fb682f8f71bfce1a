"""Prefect's temporary server, started while the run does its first work instead of before its flow.

Without `PREFECT_API_URL`, Prefect starts a temporary server (a uvicorn subprocess serving its API on
the SQLite database in `PREFECT_HOME`) when the flow run's client is created, and waits for it to
answer: 4 CPU s on an existing database, 9 on a new one, all on the run's critical path. `koprep run`
knows it will need one as soon as the plan says there is work, so `reusable.start_early` picks a free port,
sets `PREFECT_API_URL` to it (before this process imports Prefect, so every part of Prefect here sees
an ordinary configured server) and launches that server process at once: the command and environment
of Prefect's own `SubprocessASGIServer` (prefect/server/api/server.py, Prefect 3.9), the same app,
database and services. It boots while the run checks its plan (reading and cleaning the corpus),
imports Prefect and loads the tokenizer; `wait()` then polls its health endpoint, as Prefect does,
and the flow runs against it as against any server: the same flow and task runs, in the same
database. By default that server is then kept for later runs (`reusable`: a later run only checks
that it answers) and stops itself after an idle period; with `KOPREP_PREFECT_SERVER=per-run` it is
this run's own (`EarlyServer`, here), told to stop at exit without waiting for its shutdown (Prefect
waits up to 5 s).

The process is launched here rather than through `SubprocessASGIServer` because importing that class
imports Prefect's whole server package into this process (~3 CPU seconds, taken from the run on a
2-core machine) only to build a command line. Importing this module imports nothing of Prefect.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from koprep.errors import OrchestrationError

# What `SubprocessASGIServer` adds to the server's environment: no UI, and the app's ephemeral mode
# (only the services an ephemeral server runs: the task-run recorder, event persister, ...).
SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
# Prefect's own default for PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS (koprep's CLI sets 90).
DEFAULT_STARTUP_TIMEOUT = 20.0
POLL_SECONDS = 0.1


def server_command(port: int) -> list[str]:
    """The uvicorn command `SubprocessASGIServer` runs: Prefect's app factory on 127.0.0.1:`port`."""
    spec = importlib.util.find_spec("prefect")  # locates the package without importing it
    if spec is None or spec.origin is None:
        raise OrchestrationError("Prefect is not installed: reinstall koprep (`pip install -e .`)")
    return [
        sys.executable, "-m", "uvicorn", "--app-dir", str(Path(spec.origin).parent.parent),
        "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "error", "--lifespan", "on",
    ]


class EarlyServer:
    """Prefect's temporary server on `port`, launched and booting."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.api_url = f"http://127.0.0.1:{port}/api"
        self.process = subprocess.Popen(
            server_command(port), env={**os.environ, **SERVER_ENV}, stdin=subprocess.DEVNULL, stdout=_stderr_fd(),
        )
        # Registered at once: a run that fails meanwhile (bad input) still stops it at exit.
        atexit.register(self.stop)

    def wait(self) -> str:
        """The server's API URL once its health endpoint answers; OrchestrationError if it exits or
        does not answer within PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS."""
        timeout = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS") or DEFAULT_STARTUP_TIMEOUT)
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:  # 3: uvicorn could not bind (the port was taken meanwhile)
                return self._failed(f"it exited with code {code}")
            if _answers(f"{self.api_url}/health"):
                return self.api_url
            if time.monotonic() > deadline:
                return self._failed(f"it did not answer within {timeout:g} s")
            time.sleep(POLL_SECONDS)

    def _failed(self, reason: str) -> str:
        self.stop()
        raise OrchestrationError(
            f"Prefect's temporary server did not start ({reason}); run `prefect server start` and point "
            "koprep at it with `export PREFECT_API_URL=http://127.0.0.1:4200/api`"
        )

    def stop(self) -> None:
        """Tell it to stop; the run's results are written by then, so its shutdown is not waited for."""
        if self.process.poll() is None:
            self.process.terminate()


def _stderr_fd() -> int:
    """Where the server's output goes: stderr (with `--json`, stdout holds the JSON object only), or
    nowhere when stderr is not a file (an in-process caller capturing it)."""
    try:
        return sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):
        return subprocess.DEVNULL


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a 127.0.0.1 URL built here
            return bool(response.status == 200)
    except (OSError, urllib.error.HTTPError):
        return False


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now, for a server to bind."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prefect_configured() -> bool:
    """Whether this process must not start a server: a Prefect API is configured (in the environment
    or the active Prefect profile), or Prefect is imported already (its settings are read once, when
    it is imported, so a server started now would not be the one it talks to)."""
    return bool(os.environ.get("PREFECT_API_URL")) or "prefect" in sys.modules or _profile_api_url()


def _profile_api_url() -> bool:
    """Whether the active Prefect profile (`prefect config set PREFECT_API_URL=...`) names a server;
    read from the profiles file without importing Prefect."""
    import tomllib

    home = Path(os.environ.get("PREFECT_HOME", "~/.prefect")).expanduser()
    path = Path(os.environ.get("PREFECT_PROFILES_PATH", home / "profiles.toml")).expanduser()
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active", "ephemeral")
    return bool(profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL"))
