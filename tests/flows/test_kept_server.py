"""The temporary Prefect server `koprep run` keeps for later runs (koprep.orchestration.reusable,
keeper): reused by the next run of the same PREFECT_HOME, stopped after its idle period, replaced
when stale, started once by concurrent runs, not kept with KOPREP_PREFECT_SERVER=per-run.

Real `koprep run` processes and real Prefect servers. The suite runs with KOPREP_PREFECT_SERVER=
per-run (tests/conftest.py); these tests ask for `reuse` in their own environment, and the
`kept_home` fixture stops whatever they started and fails a test that left a process behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from koprep.orchestration import reusable
from koprep.orchestration.keeper import LEASE_FILE, LOCK_FILE, STATE_FILE
from tests.helpers import write_nsmc

BIN = Path(sys.executable).parent
FAST = ["--set", "word2vec.vector_size=16", "--set", "word2vec.epochs=1", "--set", "word2vec.min_count=1"]


def processes_of(home: Path) -> list[int]:
    """Live processes started with this PREFECT_HOME (the keeper and the server inherit it)."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "status"]):
        with contextlib.suppress(psutil.Error):
            if (process.pid != os.getpid() and process.info["status"] != psutil.STATUS_ZOMBIE
                    and process.environ().get("PREFECT_HOME") == str(home)):
                found.append(process.pid)
    return found


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds} s: {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def migrated_database(tmp_path_factory) -> Path:
    """A Prefect database migrated once for this module: each test's PREFECT_HOME starts with a copy,
    so its first server start does not run the ~140 migrations again (what these tests are about is
    keeping the server, not creating its database; test_temporary_server covers a new database)."""
    home = tmp_path_factory.mktemp("prefect-template")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    subprocess.run([str(BIN / "prefect"), "server", "database", "upgrade", "-y"], env={**env, "PREFECT_HOME": str(home)},
                   check=True, capture_output=True, timeout=300)
    return home / "prefect.db"


class KeptHome:
    def __init__(self, root: Path, database: Path | None = None) -> None:
        self.home = root / "prefect-home"
        self.home.mkdir()
        if database is not None:
            shutil.copyfile(database, self.home / database.name)
        self.corpus = write_nsmc(root / "nsmc.tsv", 300)
        self.root = root
        self.runs = 0
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "KOPREP_PREFECT_SERVER"))}
        self.env.update(PREFECT_HOME=str(self.home), KOPREP_PREFECT_SERVER="reuse")

    def state(self) -> dict | None:
        path = self.home / STATE_FILE
        return json.loads(path.read_text()) if path.exists() else None

    def run(self, **env: str) -> subprocess.Popen:
        """A `koprep run` with work (a fresh store), started."""
        self.runs += 1
        return subprocess.Popen(
            [str(BIN / "koprep"), "run", str(self.corpus), "--backend", "whitespace", "--json",
             "--artifacts", str(self.root / f"store-{self.runs}"), *FAST],
            env={**self.env, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def finished(self, run: subprocess.Popen) -> dict:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-3000:]
        return json.loads(out)

    def koprep(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "koprep"), *args], env={**self.env, **env}, capture_output=True, text=True,
                              timeout=120)


@pytest.fixture
def kept_home(tmp_path, monkeypatch, migrated_database):
    kept = KeptHome(tmp_path, migrated_database)
    yield kept
    monkeypatch.setenv("PREFECT_HOME", str(kept.home))
    state = kept.state()
    if state is not None:
        reusable.stop_keeper(state)
    left = processes_of(kept.home)
    for pid in left:  # never leave a server to the rest of the session, even when failing
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left behind: {left}"


def flow_runs(api_url: str) -> list[dict]:
    """The server's completed koprep flow runs, through its API."""
    request = urllib.request.Request(
        f"{api_url}/flow_runs/filter", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps({"flows": {"name": {"any_": ["koprep-preprocess"]}}}).encode(),
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the test's own server
        return [run for run in json.load(response) if run["state_type"] == "COMPLETED"]


def alive(pid: int) -> bool:
    return reusable.keeper_alive(pid)


@pytest.mark.slow
def test_a_second_run_reuses_the_server_and_both_flow_runs_are_on_it(kept_home):
    first = kept_home.finished(kept_home.run())
    state = kept_home.state()
    assert state is not None and alive(state["pid"])
    shown = json.loads(kept_home.koprep("server", "--json").stdout)
    assert shown["pid"] == state["pid"] and shown["answering"] and not shown["in_use"]

    second = kept_home.finished(kept_home.run())
    assert kept_home.state() == state  # same keeper, same port
    runs = flow_runs(state["api_url"])
    assert len(runs) == 2  # both flow runs, each with its task runs, on the one server
    assert first["run_id"] != second["run_id"]

    # A process using it (as a run does from its start to its exit) holds the lease, not the lock.
    user = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from koprep.orchestration import reusable; "
         "print(reusable.acquire().wait(), flush=True); time.sleep(120)"],
        # What koprep.cli.main sets by default: PREFECT_* settings are part of the server's identity.
        env={**kept_home.env, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
             "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90"},
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert user.stdout.readline().strip() == state["api_url"]
        with open(kept_home.home / LOCK_FILE, "rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: the next run does not wait
        assert json.loads(kept_home.koprep("server", "--json").stdout)["in_use"]
        refused = kept_home.koprep("server", "stop")
        assert refused.returncode == 2 and "--force" in refused.stderr and alive(state["pid"])
    finally:
        user.kill()
        user.wait()
    stopped = kept_home.koprep("server", "stop")
    assert stopped.returncode == 0 and f"pid {state['pid']}" in stopped.stdout
    assert not processes_of(kept_home.home) and kept_home.state() is None
    assert "no kept Prefect server" in kept_home.koprep("server").stdout


@pytest.mark.slow
def test_the_server_stops_itself_after_the_idle_period(kept_home):
    kept_home.finished(kept_home.run(KOPREP_PREFECT_SERVER_IDLE="3"))
    state = kept_home.state()
    assert state is not None
    assert (kept_home.home / LEASE_FILE).read_text().strip() == "3"
    wait_for(lambda: not processes_of(kept_home.home), 60, "the keeper and the server exit after 3 s idle")
    assert kept_home.state() is None


@pytest.mark.slow
def test_a_killed_server_or_a_stale_state_gets_a_new_server_and_the_run_succeeds(kept_home):
    kept_home.finished(kept_home.run())
    killed = kept_home.state()
    os.killpg(killed["pid"], signal.SIGKILL)  # keeper and server at once: the state file stays behind
    wait_for(lambda: not processes_of(kept_home.home), 30, "the killed server is gone")
    assert kept_home.state() == killed

    kept_home.finished(kept_home.run())
    replaced = kept_home.state()
    assert replaced["pid"] != killed["pid"] and alive(replaced["pid"])

    # A server started by another Prefect version is stopped and replaced, not reused.
    (kept_home.home / STATE_FILE).write_text(json.dumps({**replaced, "prefect": "0.0.0"}))
    kept_home.finished(kept_home.run())
    newest = kept_home.state()
    assert newest["pid"] != replaced["pid"] and not alive(replaced["pid"]) and alive(newest["pid"])
    assert len(flow_runs(newest["api_url"])) == 3  # one database: every run is there


@pytest.mark.slow
def test_two_runs_at_once_start_one_server(kept_home):
    runs = [kept_home.run(), kept_home.run()]
    for run in runs:
        kept_home.finished(run)
    state = kept_home.state()
    keepers = [pid for pid in processes_of(kept_home.home)
               if b"koprep.orchestration.keeper" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert keepers == [state["pid"]]
    assert len(flow_runs(state["api_url"])) == 2


def test_bad_settings_are_a_clear_error_before_anything_starts(tmp_path):
    home = tmp_path / "prefect-home"
    for setting, value in (("KOPREP_PREFECT_SERVER", "always"), ("KOPREP_PREFECT_SERVER_IDLE", "ten")):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update({"PREFECT_HOME": str(home), "KOPREP_PREFECT_SERVER": "reuse", setting: value})
        code = "from koprep.orchestration.reusable import start_early; start_early()"
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        assert "OrchestrationError" in done.stderr and setting in done.stderr
        assert not home.exists() or not list(home.iterdir())


def test_server_command_without_a_kept_server(tmp_path, monkeypatch):
    from koprep.cli import main

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    assert main(["server", "stop"]) == 0
    assert main(["server", "--json"]) == 0
    assert reusable.status() is None
    assert not reusable.keeper_alive(os.getpid())  # a live process that is not a keeper is not one
