"""`koprep evaluate`, `koprep compare` and `koprep serve` with the store (and corpus) in a bucket of the
moto server: the same results as on local disk, what they write committed in the bucket, and a
second machine reusing it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from koprep.cli import main
from tests.helpers import REPO, W2V_EVAL, nsmc, require, write_nsmc
from tests.remote.conftest import SECRET
from tests.robust.chain import run_chain, write_corpus

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def cli_json(capsys, *args: str) -> dict:
    capsys.readouterr()
    assert main(list(args)) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_evaluate_on_a_bucket_scores_as_on_local_disk_and_a_second_machine_reuses_the_report(
        s3, tmp_path, monkeypatch, capsys):
    ws353 = str(require(W2V_EVAL / "WS353_korean.csv"))
    corpus = write_corpus(tmp_path / "reviews.txt", nsmc(2000)["document"].tolist())
    run_chain(tmp_path / "local", corpus)
    run_chain(s3.url("store"), corpus)

    local = cli_json(capsys, "evaluate", "--artifacts", str(tmp_path / "local"), "--similarity", ws353, "--json")
    remote = cli_json(capsys, "evaluate", "--artifacts", s3.url("store"), "--similarity", ws353, "--json")
    assert remote["similarity"]["evaluated"] > 0
    assert remote["similarity"] == local["similarity"]
    reports = s3.fs.glob(f"{s3.name}/store/evaluate/*/_manifest.json")
    assert len(reports) == 1  # the report is an entry committed in the bucket, not only in this machine's cache

    monkeypatch.setenv("KOPREP_CACHE_DIR", str(tmp_path / "another-machine"))
    capsys.readouterr()
    assert main(["evaluate", "--artifacts", s3.url("store"), "--similarity", ws353]) == 0
    assert "(cached)" in capsys.readouterr().out  # taken from the bucket, not scored again
    assert s3.fs.glob(f"{s3.name}/store/evaluate/*/_manifest.json") == reports


def test_compare_on_a_bucket_equals_compare_on_local_disk_and_reuses_its_runs(s3, tmp_path, capsys):
    corpus = write_nsmc(tmp_path / "labelled.tsv", 400)
    s3.fs.put(str(corpus), f"{s3.name}/corpora/labelled.tsv")
    common = ["--label-column", "label", "--backend", "whitespace", "--preset", "classify", "--folds", "3",
              "--set", "run.shard_size=100", "--json"]

    local = cli_json(capsys, "compare", str(corpus), "--artifacts", str(tmp_path / "local"), *common)
    remote = cli_json(capsys, "compare", s3.url("corpora", "labelled.tsv"), "--artifacts", s3.url("store"), *common)
    scores = ("accuracy", "macro_f1", "std", "documents", "features")
    assert [{k: r[k] for k in scores} for r in remote["results"]] == [{k: r[k] for k in scores} for r in local["results"]]
    assert 0.5 < remote["results"][0]["accuracy"] <= 1.0
    run_id = remote["results"][0]["run_id"]
    record = json.loads(s3.fs.cat_file(f"{s3.name}/store/runs/{run_id}.json"))
    assert record["corpus"] == "labelled.tsv" and SECRET not in json.dumps(record)  # its name, never the bucket

    again = cli_json(capsys, "compare", s3.url("corpora", "labelled.tsv"), "--artifacts", s3.url("store"), *common)
    assert [{k: r[k] for k in scores} for r in again["results"]] == [{k: r[k] for k in scores} for r in remote["results"]]
    stages = json.loads(s3.fs.cat_file(f"{s3.name}/store/runs/{again['results'][0]['run_id']}.json"))["stages"]
    assert all(stage["cached"] for stage in stages.values())  # the second compare computed no stage


def test_serve_on_a_bucket_deploys_the_urls_as_given_and_its_triggered_run_writes_the_bucket(s3, prefect_server, tmp_path):
    from tests.flows.test_server import _scheduled_or_none, wait_for

    corpus = write_corpus(tmp_path / "reviews.txt", nsmc(200)["document"].tolist())
    s3.fs.put(str(corpus), f"{s3.name}/corpora/reviews.txt")
    env = {**s3.env, "PREFECT_API_URL": prefect_server["url"], "PYTHONUNBUFFERED": "1",
           "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    deployment = "koprep-preprocess/served-bucket"
    serve = subprocess.Popen(
        [str(BIN / "koprep"), "serve", s3.url("corpora", "reviews.txt"), "--backend", "whitespace",
         "--artifacts", s3.url("store"), "--set", "word2vec.min_count=1", "--set", "word2vec.epochs=2",
         "--cron", "0 3 * * *", "--name", "served-bucket"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from koprep.orchestration.client import scheduled_runs

        with temporary_settings(updates={PREFECT_API_URL: prefect_server["url"]}):
            runs = wait_for(lambda: _scheduled_or_none(scheduled_runs, deployment), timeout=90,
                            what="koprep serve to register its deployment on the bucket")
        parameters = runs[0].parameters
        # The URLs as given: not made into paths of the serving machine (each run opens the bucket itself).
        assert parameters["artifacts"] == s3.url("store") and parameters["corpus"] == s3.url("corpora", "reviews.txt")
        assert SECRET not in json.dumps(parameters)
        triggered = subprocess.run(
            [str(BIN / "koprep"), "trigger", deployment, "--watch", "--json", "--timeout", "120"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
        )
        assert triggered.returncode == 0, triggered.stdout + triggered.stderr
        result = json.loads(triggered.stdout)
        assert result["state"] == "COMPLETED"
        assert s3.fs.exists(f"{s3.name}/store/runs/{result['run_id']}.json")
        assert SECRET not in triggered.stdout + triggered.stderr
    finally:
        if serve.poll() is None:
            serve.send_signal(signal.SIGTERM)
        try:
            output = serve.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
            output = serve.communicate()[0]
    assert SECRET not in output
    assert not list(tmp_path.glob("s3*"))  # no local folder named after the URL where serve ran
