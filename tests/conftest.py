"""Session fixtures and rules shared by every test folder.

`prefect_server` starts one real `prefect server start` on 127.0.0.1 (SQLite under a temporary
PREFECT_HOME) for the whole session and exports PREFECT_API_URL, so in-process flow runs and CLI
subprocesses all talk to it instead of each starting an ephemeral server.

The fast tier, `pytest -m "not slow"`, needs neither the shared corpora nor a JVM nor a Prefect
server: a test that is not marked `slow` fails when it uses the `prefect_server` fixture, starts the
JVM, or reads the shared corpora (`tests.helpers.require`).

One hypothesis profile for every property test: `KOPREP_HYPOTHESIS_EXAMPLES` examples (default 300),
no deadline (the first example pays for imports and compiled regular expressions).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from tests import helpers

REPO = Path(__file__).resolve().parents[1]

# Without PREFECT_API_URL, `koprep run` keeps its temporary Prefect server for later runs; in the
# suite every such run gets a server of its own, stopped at its exit, so no server outlives a test
# (tests/flows/test_kept_server.py asks for the kept one itself and stops it).
os.environ["KOPREP_PREFECT_SERVER"] = "per-run"

settings.register_profile("koprep", max_examples=int(os.environ.get("KOPREP_HYPOTHESIS_EXAMPLES", "300")), deadline=None)
settings.load_profile("koprep")


def _is_slow(item: pytest.Item) -> bool:
    return item.get_closest_marker("slow") is not None


def _jvm_started() -> bool:
    jpype = sys.modules.get("jpype")
    return jpype is not None and jpype.isJVMStarted()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture of `item` is set up: hold a fast test to the fast tier's promises."""
    helpers.fast_test = None if _is_slow(item) else item.nodeid
    if helpers.fast_test and "prefect_server" in getattr(item, "fixturenames", ()):
        pytest.fail(f"{item.nodeid} uses the prefect_server fixture: mark it slow", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    jvm_before = _jvm_started()
    result = yield
    if not _is_slow(item) and not jvm_before and _jvm_started():
        pytest.fail(f"{item.nodeid} started the JVM: mark it slow (the fast tier runs without Java)", pytrace=False)
    return result


def pytest_runtest_teardown(item: pytest.Item) -> None:
    helpers.fast_test = None


def _flush_prefect_logs() -> None:
    """Send buffered run logs and events while the server is still up, so the process does not
    spend its exit retrying a server that is gone."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=10)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-home")
    port = helpers.free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
    }
    log = open(home / "server.log", "wb")
    prefect = Path(sys.executable).with_name("prefect")
    server = subprocess.Popen(
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        helpers.wait_until_serving(server, f"{url}/health", home / "server.log", "prefect server", 120, 0.5)
        saved = {k: os.environ.get(k) for k in ("PREFECT_API_URL", "PREFECT_HOME")}
        os.environ["PREFECT_API_URL"] = url  # for subprocesses (CLI, workers)
        os.environ["PREFECT_HOME"] = str(home)
        from prefect.settings import PREFECT_API_URL, temporary_settings

        # Prefect may have read its settings at import, before this fixture ran: override in-process too.
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield {"url": url, "home": home, "env": env, "pid": server.pid}
            _flush_prefect_logs()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    finally:
        helpers.stop_process_group(server, 30)
        log.close()
