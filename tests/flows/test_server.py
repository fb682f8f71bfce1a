"""koprep on a real Prefect server: `prefect deploy` with the repository's prefect.yaml against a process
work pool, cron-scheduled runs, `koprep trigger --watch` executed by a real `prefect worker`, every stage
cached on the second run, Prefect artifacts checked against scikit-learn, `koprep serve`, bad
parameters refused before a run exists, and the tokenize task's retry rule inside the Prefect engine.

The server is the session's `prefect_server` (tests/conftest.py). Every process started here gets
its own session so that its whole process group can be checked gone when it ends.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

from koprep.errors import EXIT_BAD_INPUT
from koprep.store import ArtifactStore
from tests.helpers import REPO, nsmc

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
NIGHTLY = "koprep-preprocess/nightly"
ALL_STAGES = ["clean", "tokenize", "bow", "ngram", "tfidf", "word2vec"]
FAST = {"word2vec.min_count": 1, "word2vec.vector_size": 16, "word2vec.epochs": 2}
PROCESS_TIMEOUT = 120


SERVER_PGID: dict[str, int] = {}


@pytest.fixture(scope="module")
def env(prefect_server) -> dict[str, str]:
    SERVER_PGID[prefect_server["url"]] = prefect_server["pid"]  # started with its own session
    # Unbuffered so `koprep trigger` prints the run id before it starts waiting; the runner of
    # `koprep serve` polls every second instead of every ten.
    return {**prefect_server["env"], "PYTHONUNBUFFERED": "1", "PREFECT_RUNNER_POLL_FREQUENCY": "1"}


@pytest.fixture(scope="module")
def api(prefect_server):
    """Point this process's Prefect client at the test server (Prefect reads its settings once, at
    import, so exporting PREFECT_API_URL afterwards does not reach an already imported prefect)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: prefect_server["url"]}):
        yield prefect_server["url"]
        drain_prefect_background_workers()


def drain_prefect_background_workers() -> None:
    """Send the logs and events of in-process flow runs while the server is still up; left for
    interpreter exit they are retried against a stopped server for over a minute."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=10)


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "nsmc200.txt"
    path.write_text("\n".join(nsmc(200)["document"]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def nightly(env, api, corpus_file, tmp_path_factory) -> dict:
    """The repository's prefect.yaml deployed as-is (name, entrypoint, pull step, work pool, cron),
    with the test corpus, backend and a temporary artifact store as its default parameters."""
    parameters = {
        "corpus": str(corpus_file), "backend": "whitespace", "config_file": None,
        "overrides": FAST, "artifacts": str(tmp_path_factory.mktemp("nightly-artifacts")),
    }
    run_cli([BIN / "prefect", "work-pool", "create", "koprep", "--type", "process", "--overwrite"], env)
    run_cli([BIN / "prefect", "deploy", "--no-prompt", "--name", "nightly", "--params", json.dumps(parameters)], env)
    return parameters


# ------------------------------------------------------------------------------------ helpers
def run_cli(command: list, env: dict, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in command], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=PROCESS_TIMEOUT, **kwargs)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def assert_group_gone(pgid: int, timeout: float = 15) -> None:
    """Every process of the group (the command and anything it started without a new session) exited."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"process group {pgid} still has live processes")
        time.sleep(0.2)


def assert_no_strays(env: dict, timeout: float = 15) -> None:
    """No process started for this server outlives its command: flow-run subprocesses may start
    their own session, so look for anything but the server whose environment names this server."""
    import psutil

    def strays() -> list[str]:
        found = []
        for process in psutil.process_iter(["pid", "cmdline"]):
            with contextlib.suppress(psutil.Error):
                if process.pid == os.getpid() or os.getpgid(process.pid) == SERVER_PGID[env["PREFECT_API_URL"]]:
                    continue
                if process.environ().get("PREFECT_API_URL") == env["PREFECT_API_URL"]:
                    found.append(f"{process.pid}: {' '.join(process.info['cmdline'] or [])}")
        return found

    deadline = time.monotonic() + timeout
    while (left := strays()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"processes left behind: {left}"


def trigger_on_worker(env: dict, *args: str) -> tuple[int, str, str, dict]:
    """`koprep trigger ... --watch --json` while one `prefect worker start --run-once` executes the
    run it created. Returns the trigger's exit code, stdout, stderr (the human progress lines and
    stage table: with --json, stdout holds the JSON object only) and that JSON."""
    trigger = subprocess.Popen(
        [str(BIN / "koprep"), "trigger", *args, "--watch", "--json"], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        created = trigger.stderr.readline()
        assert created.startswith("created flow run"), created + trigger.stderr.read()
        # The run exists now, so one polling round of the worker picks it up and waits for it.
        worker = subprocess.run(
            [str(BIN / "prefect"), "worker", "start", "--pool", "koprep", "--run-once"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=PROCESS_TIMEOUT, start_new_session=True,
        )
        assert worker.returncode == 0, worker.stdout[-3000:] + worker.stderr[-3000:]
        out, err = trigger.communicate(timeout=PROCESS_TIMEOUT)
    finally:
        if trigger.poll() is None:
            os.killpg(trigger.pid, signal.SIGKILL)
            trigger.wait()
    assert_no_strays(env)
    return trigger.returncode, out, created + err, json.loads(out)


def flow_runs_of(deployment: str) -> list:
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with get_client(sync_client=True) as client:
        target = client.read_deployment_by_name(deployment)
        return client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[target.id])))


def wait_for(condition, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.5)


def sklearn_document_frequencies(tokenize_path: str) -> tuple[pd.DataFrame, int]:
    """df and idf of every token of the tokenize output, from scikit-learn directly."""
    tokens = [list(t) for t in pd.read_parquet(tokenize_path, columns=["tokens"])["tokens"]]
    counts = CountVectorizer(analyzer=lambda doc: doc, binary=True)
    matrix = counts.fit_transform(tokens)
    idf = TfidfTransformer(smooth_idf=True).fit(matrix).idf_
    frame = pd.DataFrame({"term": counts.get_feature_names_out(), "df": np.asarray(matrix.sum(axis=0)).ravel(), "idf": idf})
    return frame, len(tokens)


# -------------------------------------------------------------------------------------- tests
def test_deployment_from_prefect_yaml_has_cron_scheduled_runs(nightly, api):
    from prefect import get_client

    from koprep.orchestration.client import scheduled_runs

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(NIGHTLY)
    assert deployment.entrypoint == "flows/preprocess.py:preprocess"
    assert deployment.pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
    ]
    assert deployment.work_pool_name == "koprep"
    assert [s.schedule.cron for s in deployment.schedules] == ["0 3 * * *"]
    assert deployment.parameters == nightly

    runs = wait_for(lambda: scheduled_runs(NIGHTLY), what="the scheduler to create runs of the deployment")
    starts = [run.expected_start_time.astimezone(dt.timezone.utc) for run in runs]
    assert all((s.hour, s.minute, s.second) == (3, 0, 0) for s in starts)
    assert all(later - earlier == dt.timedelta(days=1) for earlier, later in zip(starts, starts[1:]))
    assert starts[0] > dt.datetime.now(dt.timezone.utc)
    assert all(run.parameters == nightly and run.state.type.value == "SCHEDULED" for run in runs)


def test_triggered_run_completes_on_worker_with_artifacts_then_is_fully_cached(nightly, env, api):
    from koprep.orchestration.client import flow_run_artifacts
    from koprep.orchestration.flow import (
        RUN_JSON_ARTIFACT, STAGES_ARTIFACT, SUMMARY_ARTIFACT, TOP_TERMS, TOP_TERMS_ARTIFACT, VOCABULARY_ARTIFACT,
    )

    code, out, err, first = trigger_on_worker(env, NIGHTLY)
    assert code == 0, out + err
    assert first["state"] == "COMPLETED"
    assert list(first["stages"]) == ALL_STAGES
    assert not any(stage["cached"] for stage in first["stages"].values())
    assert first["stages"]["clean"]["rows"] == 200
    assert f"run {first['run_id']}" in err and "word2vec   no" in err  # the stage table was printed, to stderr
    artifacts = Path(nightly["artifacts"])
    run_json = artifacts / "runs" / f"{first['run_id']}.json"
    assert ArtifactStore(artifacts).read_run(first["run_id"]).to_json()["stages"] == first["stages"]
    # the record itself holds paths relative to the store (it can be moved); read_run resolves them
    recorded = json.loads(run_json.read_text(encoding="utf-8"))["stages"]
    assert {name: stage["path"] for name, stage in recorded.items()} == {
        name: f"{name}/{stage['fingerprint']}" for name, stage in first["stages"].items()
    }
    for stage in first["stages"].values():
        assert Path(stage["path"]).parent.parent == artifacts
        assert (Path(stage["path"]) / "_manifest.json").is_file()

    # The Prefect artifacts of the run, as the UI shows them.
    recorded = flow_run_artifacts(first["flow_run_id"])
    progress = {f"koprep-progress-{stage}" for stage in ALL_STAGES if stage != "clean"}  # koprep.progress
    assert set(recorded) == {SUMMARY_ARTIFACT, STAGES_ARTIFACT, TOP_TERMS_ARTIFACT, VOCABULARY_ARTIFACT, RUN_JSON_ARTIFACT,
                             "koprep-report"} | progress
    markdown = recorded[SUMMARY_ARTIFACT].data
    for name in ALL_STAGES:
        assert f"| {name} | computed | {first['stages'][name]['rows']} |" in markdown
    assert run_json.as_uri() in recorded[RUN_JSON_ARTIFACT].data
    stages_table = json.loads(recorded[STAGES_ARTIFACT].data)
    assert [(r["stage"], r["status"], r["fingerprint"]) for r in stages_table] == [
        (n, "computed", first["stages"][n]["fingerprint"]) for n in ALL_STAGES
    ]
    sizes = {row["stage"]: row for row in json.loads(recorded[VOCABULARY_ARTIFACT].data)}
    reference, n_docs = sklearn_document_frequencies(first["stages"]["tokenize"]["path"])
    assert n_docs == 200
    for name in ("bow", "tfidf", "word2vec"):  # default min_df=1: every token; word2vec min_count=1
        assert sizes[name]["terms"] == len(reference)
    assert sizes["word2vec"]["vector_size"] == FAST["word2vec.vector_size"]
    assert sizes["ngram"]["terms"] > sizes["bow"]["terms"]
    expected = reference.sort_values(["df", "term"], ascending=[False, True]).head(TOP_TERMS)
    top = pd.DataFrame(json.loads(recorded[TOP_TERMS_ARTIFACT].data))
    assert top["term"].tolist() == expected["term"].tolist()
    assert top["df"].tolist() == expected["df"].tolist()
    np.testing.assert_allclose(top["idf"], expected["idf"], atol=1e-4)
    assert expected["df"].iloc[0] > expected["df"].iloc[-1] >= 1

    code, out, err, second = trigger_on_worker(env, NIGHTLY)
    assert code == 0, out + err
    assert second["run_id"] != first["run_id"]
    assert all(stage["cached"] for stage in second["stages"].values())
    for name in ALL_STAGES:
        assert second["stages"][name]["fingerprint"] == first["stages"][name]["fingerprint"]
    markdown = flow_run_artifacts(second["flow_run_id"])[SUMMARY_ARTIFACT].data
    assert "nothing (every stage came from the cache)" in markdown

    # Watching from a machine that cannot read the run JSON: the summary comes from the stage table.
    from koprep.orchestration.client import watch

    run_json.rename(run_json.with_suffix(".moved"))
    remote = watch(first["flow_run_id"])
    assert remote.succeeded
    assert {n: (s.cached, s.rows, s.path) for n, s in remote.record.stages.items()} == {
        n: (s["cached"], s["rows"], s["path"]) for n, s in first["stages"].items()
    }


def test_okt_run_on_worker(nightly, env, tmp_path):
    code, out, err, result = trigger_on_worker(
        env, NIGHTLY, "--param", "backend=okt", "--param", f"artifacts={tmp_path}",
    )
    assert code == 0, out + err
    assert result["stages"]["tokenize"]["extra"]["backend"] == "okt"
    assert result["stages"]["tokenize"]["extra"]["tokens"] > 1000
    assert not result["stages"]["tokenize"]["cached"]


def test_run_that_fails_on_the_worker_exits_nonzero_with_the_reason(nightly, env, tmp_path):
    missing = tmp_path / "missing.toml"
    code, out, err, result = trigger_on_worker(env, NIGHTLY, "--param", f"config_file={missing}")
    assert code == 1
    assert result["state"] == "FAILED"
    assert f"config file {missing} does not exist" in result["message"]
    assert "stages" not in result
    assert not (Path(nightly["artifacts"]) / "runs" / f"{result['flow_run_id']}.json").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--set", "ngram.min_df=0"], "ngram.min_df"),
        (["--param", "backend=no-such-backend"], "unknown tokenizer backend 'no-such-backend'"),
        (["--param", "backnd=okt"], "backnd: Extra inputs are not permitted"),
        (["--param", "overrides=3"], "overrides: Input should be a valid dictionary"),
        (["--set", "tokenize.options.mode=verbs"], "invalid options for tokenizer backend 'whitespace'"),
    ],
)
def test_bad_parameters_are_refused_before_a_run_is_created(nightly, api, capsys, arguments, message):
    from koprep import cli

    before = len(flow_runs_of(NIGHTLY))
    assert cli.main(["trigger", NIGHTLY, *arguments, "--watch"]) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err
    assert len(flow_runs_of(NIGHTLY)) == before


def test_trigger_without_a_server_or_deployment_says_what_to_do(nightly, api, capsys):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from koprep import cli

    assert cli.main(["trigger", "koprep-preprocess/no-such-deployment"]) == EXIT_BAD_INPUT
    assert "no deployment 'koprep-preprocess/no-such-deployment'" in capsys.readouterr().err
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert cli.main(["trigger"]) == EXIT_BAD_INPUT
    assert "cannot reach the Prefect API at http://127.0.0.1:9/api" in capsys.readouterr().err


def test_watch_timeout_exits_nonzero_and_leaves_the_run(nightly, api, capsys):
    from prefect import get_client

    from koprep import cli

    before = {run.id for run in flow_runs_of(NIGHTLY)}
    assert cli.main(["trigger", NIGHTLY, "--watch", "--timeout", "0.5"]) == 1
    assert "is still Scheduled after 0.5 s" in capsys.readouterr().err
    (created,) = [run for run in flow_runs_of(NIGHTLY) if run.id not in before]
    assert created.state.type.value == "SCHEDULED"
    with get_client(sync_client=True) as client:
        client.delete_flow_run(created.id)  # not for the next worker to pick up


def test_serve_schedules_runs_and_executes_triggered_ones(env, api, corpus_file, tmp_path):
    from prefect import get_client

    from koprep.orchestration.client import scheduled_runs

    deployment = "koprep-preprocess/served-test"
    serve = subprocess.Popen(
        [str(BIN / "koprep"), "serve", str(corpus_file), "--backend", "whitespace", "--artifacts", str(tmp_path),
         *[f"--set={k}={v}" for k, v in FAST.items()], "--cron", "0 3 * * *", "--name", "served-test"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        runs = wait_for(lambda: _scheduled_or_none(scheduled_runs, deployment), timeout=60,
                        what="koprep serve to register its deployment and the scheduler to create runs")
        assert all(run.expected_start_time.astimezone(dt.timezone.utc).hour == 3 for run in runs)
        assert runs[0].parameters["artifacts"] == str(tmp_path)
        with get_client(sync_client=True) as client:
            # A module path inside the installed package: no top-level `flows` package is needed.
            assert client.read_deployment_by_name(deployment).entrypoint == "koprep.orchestration.flow.preprocess"
        triggered = subprocess.run(
            [str(BIN / "koprep"), "trigger", deployment, "--watch", "--json", "--timeout", "90"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=PROCESS_TIMEOUT,
        )
        assert triggered.returncode == 0, triggered.stdout + triggered.stderr
        result = json.loads(triggered.stdout)
        assert result["state"] == "COMPLETED"
        assert (tmp_path / "runs" / f"{result['run_id']}.json").is_file()
        assert not any(stage["cached"] for stage in result["stages"].values())
    finally:
        if serve.poll() is None:
            serve.send_signal(signal.SIGTERM)  # graceful: the runner pauses its deployment
        try:
            output = serve.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
            output = serve.communicate()[0]
            pytest.fail(f"koprep serve did not stop on SIGTERM:\n{output[-3000:]}")
    assert_group_gone(serve.pid)
    assert_no_strays(env)
    assert "All deployments have been paused" in output
    with get_client(sync_client=True) as client:
        assert client.read_deployment_by_name(deployment).paused


def _scheduled_or_none(scheduled_runs, deployment):
    from prefect.exceptions import ObjectNotFound

    with contextlib.suppress(ObjectNotFound):
        return scheduled_runs(deployment)
    return None


def test_tokenize_retries_transient_failures_but_not_bad_input(api, monkeypatch, tmp_path):
    """The real tokenize task inside the Prefect engine: a JVM start failure is retried and then
    succeeds; a bad backend option fails on the first attempt."""
    from prefect import flow

    from koprep.orchestration import flow as koprep_flow
    from koprep.tokenizers import BackendOptionError

    attempts: list[str] = []

    def flaky(run, key, inputs, indices, on_progress=None):
        attempts.append("try")
        if len(attempts) == 1:
            raise RuntimeError("JVM failed to start")
        return "in process"

    def bad_option(run, key, inputs, indices, on_progress=None):
        attempts.append("try")
        raise BackendOptionError("invalid options for tokenizer backend 'okt'")

    task = koprep_flow.shards_task.with_options(retry_delay_seconds=0)

    @flow
    def run_tokenize():
        return task(None, None, {}, [0, 1])

    monkeypatch.setattr(koprep_flow, "_progress", lambda run, key: None)
    monkeypatch.setattr(koprep_flow, "run_shards", flaky)
    assert run_tokenize() == "in process"
    assert len(attempts) == 2

    attempts.clear()
    monkeypatch.setattr(koprep_flow, "run_shards", bad_option)
    with pytest.raises(BackendOptionError):
        run_tokenize()
    assert len(attempts) == 1
    assert koprep_flow.shards_task.retries == 2
