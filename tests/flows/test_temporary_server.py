"""`koprep run` without PREFECT_API_URL: koprep launches Prefect's temporary server itself
(koprep.orchestration.server), and the run is still a Prefect flow run with its task runs, stored
in the database under PREFECT_HOME as Prefect's own temporary server stores them; nothing of the
server outlives the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from koprep.errors import OrchestrationError
from koprep.orchestration import reusable
from koprep.orchestration import server as early
from tests.helpers import write_nsmc

BIN = Path(sys.executable).parent
FAST = ["--set", "word2vec.vector_size=16", "--set", "word2vec.epochs=1", "--set", "word2vec.min_count=1"]


def env_without_prefect(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(home)
    env["KOPREP_PREFECT_SERVER"] = "per-run"  # the opt-out: the run's own server (the kept one: test_kept_server.py)
    return env


def processes_of(home: Path) -> list[str]:
    """Live processes started with this PREFECT_HOME (the temporary server names it in its environment)."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if process.pid != os.getpid() and process.environ().get("PREFECT_HOME") == str(home):
                found.append(f"{process.pid}: {' '.join(process.info['cmdline'] or [])}")
    return found


@pytest.mark.slow
def test_a_run_without_prefect_api_url_records_its_flow_and_task_runs_and_leaves_no_server(tmp_path):
    home = tmp_path / "prefect-home"
    home.mkdir()
    corpus = write_nsmc(tmp_path / "nsmc.tsv", 300)
    done = subprocess.run(
        [str(BIN / "koprep"), "run", str(corpus), "--backend", "whitespace", "--artifacts", str(tmp_path / "store"),
         "--json", *FAST],
        env=env_without_prefect(home), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)  # the server's output went to stderr: stdout is the JSON object only
    deadline = time.monotonic() + 20  # told to stop at exit, not waited for
    while (left := processes_of(home)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"processes left behind: {left}"
    assert not (home / "koprep-server.json").exists()  # nothing recorded for a later run to reuse

    with contextlib.closing(sqlite3.connect(home / "prefect.db")) as db:
        flow_runs = db.execute(
            "SELECT flow_run.id, flow_run.state_type FROM flow_run JOIN flow ON flow.id = flow_run.flow_id "
            "WHERE flow.name = 'koprep-preprocess'"
        ).fetchall()
        assert [state for _, state in flow_runs] == ["COMPLETED"]
        task_runs = db.execute("SELECT name, state_type FROM task_run WHERE flow_run_id = ?",
                               (flow_runs[0][0],)).fetchall()
    stages = set(summary["stages"])
    assert stages == {"clean", "tokenize", "bow", "ngram", "tfidf", "word2vec"}
    completed = [name for name, state in task_runs if state == "COMPLETED"]
    for stage in stages:  # every stage ran as a completed task run of that flow run ("tokenize-shards-ca3")
        assert any(name.startswith(f"{stage}-") for name in completed), (stage, task_runs)


@pytest.mark.slow
def test_the_server_command_is_the_one_prefect_runs_for_its_own_temporary_server(monkeypatch):
    """koprep builds the command line without importing Prefect's server; it must stay Prefect's."""
    from prefect.server.api import server as prefect_server

    launched: dict = {}

    def record(args, env, **_):
        launched.update(args=args, env=env)
        raise RuntimeError("recorded")  # stop before a process starts

    monkeypatch.setattr(prefect_server.subprocess, "Popen", record)
    with pytest.raises(RuntimeError, match="recorded"):
        prefect_server.SubprocessASGIServer(4321)._run_uvicorn_command()
    assert launched["args"] == early.server_command(4321)
    assert {k: launched["env"][k] for k in early.SERVER_ENV} == early.SERVER_ENV


@pytest.mark.slow
def test_a_server_that_cannot_start_is_a_clear_error_naming_the_fix(monkeypatch):
    with socket.socket() as taken:  # its port is held: uvicorn cannot bind and exits
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = early.EarlyServer(taken.getsockname()[1])
        with pytest.raises(OrchestrationError, match="export PREFECT_API_URL="):
            server.wait()
    assert server.process.wait(timeout=30) is not None


def test_no_server_is_started_when_one_is_configured(monkeypatch, tmp_path):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    monkeypatch.delenv("PREFECT_PROFILES_PATH", raising=False)
    monkeypatch.delenv("PREFECT_PROFILE", raising=False)
    monkeypatch.setattr(early, "EarlyServer", lambda port: pytest.fail("a server was started"))
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert reusable.start_early() is None
    monkeypatch.delenv("PREFECT_API_URL")
    (tmp_path / "profiles.toml").write_text(
        'active = "local"\n[profiles.local]\nPREFECT_API_URL = "http://127.0.0.1:4200/api"\n', encoding="utf-8")
    assert early._profile_api_url()  # reusable.start_early() returns None: the active profile names a server
    monkeypatch.setenv("PREFECT_PROFILE", "ephemeral")
    assert not early._profile_api_url()


def test_the_server_command_imports_nothing_of_prefect():
    code = ("import sys; from koprep.orchestration.server import server_command; server_command(8000); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
