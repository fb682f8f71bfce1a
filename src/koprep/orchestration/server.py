"""Prefect's temporary server, started while the run does its first work instead of before its flow.

Without `PREFECT_API_URL`, Prefect starts a temporary server (a uvicorn subprocess on a SQLite
database) when the flow run's client is created, and waits for it to answer: 4 s on a quiet machine,
10-25 s under load, all on the run's critical path. `koprep run` knows it will need one as soon as the
plan says there is work, so `start_early` picks a free port, sets `PREFECT_API_URL` to it (before this
process imports Prefect, so every part of Prefect here sees an ordinary configured server) and starts
that same server (`SubprocessASGIServer`, the class Prefect's own client uses) on that port, on a
thread, while the run checks its plan (reading and cleaning the corpus), imports Prefect and loads
the tokenizer. `wait()` waits until it answers; the flow then runs against it as against any server:
the same flow and task runs. At exit it is told to stop without waiting for its shutdown (Prefect
waits up to 5 s).

Importing this module imports nothing of Prefect: the thread does.
"""

from __future__ import annotations

import atexit
import os
import socket
import sys
import threading
from typing import Any

from koprep.errors import OrchestrationError


class EarlyServer:
    """Prefect's temporary server on `port`, being started on a daemon thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.api_url = f"http://127.0.0.1:{port}/api"
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._start, name="koprep-prefect-server", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            from prefect.server.api.server import SubprocessASGIServer

            server = SubprocessASGIServer(self.port)
            # Registered before the start: a run that fails meanwhile (bad input) still stops it at exit.
            atexit.register(_stop_without_waiting, server)
            server.start()
            if server.api_url != self.api_url:  # the port was taken meanwhile; Prefect moved to another
                raise OSError(f"port {self.port} was taken before the server started")
            # Prefect's own exit handler waits up to 5 s for the server's shutdown; the run's results
            # are written by then, so it is only told to stop (it finishes on its own).
            atexit.unregister(server.stop)
        except BaseException as exc:  # noqa: BLE001 - raised by wait()
            self._error = exc

    def wait(self) -> str:
        """The server's API URL once it answers; OrchestrationError if it could not start."""
        self._thread.join()
        if self._error is not None:
            raise OrchestrationError(
                f"Prefect's temporary server did not start ({self._error}); run `prefect server start` and point "
                "koprep at it with `export PREFECT_API_URL=http://127.0.0.1:4200/api`"
            )
        return self.api_url


def start_early() -> EarlyServer | None:
    """Start Prefect's temporary server now if the flow will need one: no Prefect API configured (in
    the environment or the active Prefect profile), and Prefect not yet imported (its settings are
    read once, when it is imported). Sets `PREFECT_API_URL` to the server's address."""
    if os.environ.get("PREFECT_API_URL") or "prefect" in sys.modules or _profile_api_url():
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = EarlyServer(port)
    os.environ["PREFECT_API_URL"] = server.api_url
    return server


def _profile_api_url() -> bool:
    """Whether the active Prefect profile (`prefect config set PREFECT_API_URL=...`) names a server;
    read from the profiles file without importing Prefect."""
    import tomllib
    from pathlib import Path

    home = Path(os.environ.get("PREFECT_HOME", "~/.prefect")).expanduser()
    path = Path(os.environ.get("PREFECT_PROFILES_PATH", home / "profiles.toml")).expanduser()
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active", "ephemeral")
    return bool(profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL"))


def _stop_without_waiting(server: Any) -> None:
    process = server.server_process
    if process is not None and process.poll() is None:
        process.terminate()
