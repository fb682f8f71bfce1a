"""The `fresh-worker` deployment of prefect.yaml, run twice through `koprep trigger --watch`, each time
by a new `prefect worker` process started in an empty folder with an empty HOME (as a container
starts): the corpus and the store are in a bucket, so the second run reports every stage cached."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, nsmc
from tests.robust.chain import write_corpus

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
DEPLOYMENT = "koprep-preprocess/fresh-worker"
FAST = {"word2vec.min_count": 1, "word2vec.vector_size": 16, "word2vec.epochs": 2}


def run(command: list[str], env: dict[str, str], cwd: Path = REPO) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def trigger_on_a_fresh_worker(env: dict[str, str], machine: Path) -> dict:
    machine.mkdir()
    trigger = subprocess.Popen([str(BIN / "koprep"), "trigger", DEPLOYMENT, "--watch", "--json"], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        created = trigger.stderr.readline()
        assert created.startswith("created flow run"), created + trigger.stderr.read()
        worker_env = {key: value for key, value in env.items() if key != "KOPREP_CACHE_DIR"}
        worker_env["HOME"] = str(machine)
        run([str(BIN / "prefect"), "worker", "start", "--pool", "koprep-fresh", "--run-once"], worker_env, cwd=machine)
        out, err = trigger.communicate(timeout=300)
    finally:
        if trigger.poll() is None:
            trigger.kill()
            trigger.wait()
    assert trigger.returncode == 0, out[-2000:] + err[-3000:]
    return json.loads(out)


def test_fresh_worker_deployment_reuses_the_bucket_on_a_second_empty_machine(s3, prefect_server, tmp_path):
    corpus = write_corpus(tmp_path / "reviews.txt", nsmc(200)["document"].tolist())
    s3.fs.put(str(corpus), f"{s3.name}/corpora/reviews.txt")
    env = {**s3.env, "PREFECT_API_URL": prefect_server["url"], "PYTHONUNBUFFERED": "1"}
    parameters = {"corpus": s3.url("corpora", "reviews.txt"), "artifacts": s3.url("store"), "backend": "whitespace",
                  "config_file": None, "overrides": FAST}
    run([str(BIN / "prefect"), "work-pool", "create", "koprep-fresh", "--type", "process", "--overwrite"], env)
    run([str(BIN / "prefect"), "deploy", "--no-prompt", "--name", "fresh-worker", "--params", json.dumps(parameters)],
        env)

    first = trigger_on_a_fresh_worker(env, tmp_path / "container-1")
    assert first["state"] == "COMPLETED"
    assert not any(stage["cached"] for stage in first["stages"].values())
    second = trigger_on_a_fresh_worker(env, tmp_path / "container-2")
    assert second["state"] == "COMPLETED"
    assert all(stage["cached"] for stage in second["stages"].values()), second["stages"]
    assert {n: s["fingerprint"] for n, s in second["stages"].items()} == {
        n: s["fingerprint"] for n, s in first["stages"].items()}
    # Each container kept what it read in its own HOME's cache: the second one downloaded, never computed.
    assert list((tmp_path / "container-2").glob(".cache/koprep/stores/*/tfidf/*/_manifest.json"))
    assert s3.fs.exists(f"{s3.name}/store/runs/{second['run_id']}.json")
