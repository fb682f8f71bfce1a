"""`koprep run --runner dask` against a real local Dask cluster: a `dask scheduler` and two
`dask worker` processes on 127.0.0.1 (from this venv), started and stopped here. The runs use the
session's Prefect server; the outputs are compared file by file (SHA-256 from the manifests) with a
run of the same corpus on the local runner, and the scheduler's task stream shows which worker ran
each stage."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import free_port, nsmc, stop_process_group

pytestmark = pytest.mark.slow  # a Prefect server, a Dask cluster, and Okt's JVM on the workers

STAGES = ["clean", "tokenize", "bow", "ngram", "tfidf", "word2vec"]
# Small shards, so the tokenize stage is several per-shard tasks spread over the workers.
FAST_W2V = {"word2vec.vector_size": 16, "word2vec.epochs": 2, "word2vec.min_count": 2, "run.shard_size": 40}
SETTINGS = [argument for key, value in FAST_W2V.items() for argument in ("--set", f"{key}={value}")]
TASKS = {"clean": "stage_task", "tokenize": "shards_task", "bow": "stage_task", "ngram": "stage_task",
         "tfidf": "stage_task", "word2vec": "stage_task"}
"""The flow's task function (the key Dask knows it by) each stage runs as."""


@pytest.fixture(scope="module")
def dask_cluster(prefect_server, tmp_path_factory):
    """A scheduler and two one-thread workers, run from a folder of their own (so relative paths of
    the test's working folder would not resolve there)."""
    from distributed import Client

    home = tmp_path_factory.mktemp("dask-cluster")
    dask = str(Path(sys.executable).with_name("dask"))
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**prefect_server["env"], "PYTHONUNBUFFERED": "1"}
    processes: list[subprocess.Popen] = []
    logs = []

    def start(name: str, *command: str) -> None:
        log = open(home / f"{name}.log", "wb")
        logs.append(log)
        processes.append(subprocess.Popen(command, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))

    try:
        start("scheduler", dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
        for n in (1, 2):
            start(f"worker{n}", dask, "worker", address, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1")
        with Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=120)
            workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
        yield {"address": address, "workers": workers, "home": home}
    finally:
        for process in reversed(processes):
            stop_process_group(process)
        for log in logs:
            log.close()


def manifests(summary: dict) -> dict[str, dict]:
    return {name: json.loads((Path(stage["path"]) / "_manifest.json").read_text()) for name, stage in summary["stages"].items()}


def contents(manifest: dict) -> dict[str, tuple[int, str]]:
    """Every file of an entry by its size and SHA-256 (not its modification time)."""
    return {name: (meta["bytes"], meta["sha256"]) for name, meta in manifest["files"].items()}


def run_local(corpus: str, backend: str, artifacts: str) -> dict:
    from koprep.orchestration.flow import preprocess

    return preprocess(corpus=corpus, backend=backend, overrides=FAST_W2V, artifacts=artifacts)


def run_cli(cwd: Path, env: dict, *arguments: str) -> dict:
    """`koprep run` in a subprocess, as a user types it; the summary from its --json line."""
    koprep = str(Path(sys.executable).with_name("koprep"))
    result = subprocess.run([koprep, "run", *arguments, *SETTINGS, "--json"], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend, documents", [("whitespace", 600), ("okt", 150)])
def test_dask_runner_gives_the_local_runners_outputs_with_every_stage_on_a_worker(
    dask_cluster, prefect_server, tmp_path, monkeypatch, backend, documents
):
    from distributed import Client

    nsmc(documents).to_csv(tmp_path / "corpus.tsv", sep="\t", index=False, quoting=3)
    monkeypatch.chdir(tmp_path)  # relative corpus and store paths, which the workers (elsewhere) must not see as such
    local = run_local("corpus.tsv", backend, "local-store")

    with Client(dask_cluster["address"], set_as_default=False) as client:
        client.get_task_stream()  # installs the scheduler's task-stream recorder before the run
        started = time.time()
        remote = run_cli(tmp_path, prefect_server["env"], "corpus.tsv", "--backend", backend,
                         "--artifacts", "dask-store", "--runner", "dask", "--dask-address", dask_cluster["address"])
        stream = client.get_task_stream(start=started)

    assert list(remote["stages"]) == list(local["stages"]) == STAGES
    assert not any(stage["cached"] for stage in remote["stages"].values())
    local_files, remote_files = manifests(local), manifests(remote)
    for name in STAGES:
        assert remote["stages"][name]["path"].startswith(str(tmp_path / "dask-store"))
        assert remote["stages"][name]["fingerprint"] == local["stages"][name]["fingerprint"], name
        assert remote["stages"][name]["rows"] == local["stages"][name]["rows"], name
        assert contents(remote_files[name]) == contents(local_files[name]), name
        assert remote_files[name]["files"], name

    # Each stage's task ran on one of the cluster's workers (a local run leaves the task stream empty).
    ran = {}
    for record in stream:
        key = record["key"] if isinstance(record["key"], str) else str(record["key"])
        ran.setdefault(key.rsplit("-", 1)[0], []).append(record["worker"])
    expected = {task: list(TASKS.values()).count(task) for task in set(TASKS.values())}
    shards = remote["stages"]["tokenize"]["extra"]["shards"]
    assert shards >= 3 and remote["stages"]["tokenize"]["extra"]["computed_shards"] == list(range(shards))
    expected["shards_task"] = shards  # one task per shard
    assert {task: len(workers) for task, workers in ran.items() if task in expected} == expected, ran
    if backend == "whitespace":  # a dozen shards: both workers took some
        assert len(set(ran["shards_task"])) == 2, ran
    assert {worker for workers in ran.values() for worker in workers} <= set(dask_cluster["workers"])

