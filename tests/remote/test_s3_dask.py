"""`koprep run --runner dask` with the corpus and the store in a bucket: a scheduler and two workers on
127.0.0.1, each worker in its own empty folder with its own HOME (so its own local cache), sharing no
path with the client. The outputs equal the local runner's, byte for byte."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import free_port, stop_process_group
from tests.helpers import nsmc
from tests.remote.test_s3_store import object_digests
from tests.robust.chain import outputs, run_chain, write_corpus

pytestmark = pytest.mark.slow


@pytest.fixture
def bucket_cluster(s3, prefect_server, tmp_path):
    from distributed import Client

    dask = str(Path(sys.executable).with_name("dask"))
    address = f"tcp://127.0.0.1:{free_port()}"
    processes, logs = [], []

    def start(name: str, *command: str) -> None:
        home = tmp_path / name
        home.mkdir()
        env = {key: value for key, value in s3.env.items() if key != "KOPREP_CACHE_DIR"}
        env.update(HOME=str(home), PREFECT_API_URL=prefect_server["url"], PYTHONUNBUFFERED="1")
        log = open(tmp_path / f"{name}.log", "wb")
        logs.append(log)
        processes.append(subprocess.Popen(command, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))

    try:
        start("scheduler", dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
              "--no-dashboard")
        for n in (1, 2):
            start(f"worker{n}", dask, "worker", address, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1")
        with Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for process in reversed(processes):
            stop_process_group(process)
        for log in logs:
            log.close()


def test_dask_workers_with_empty_disks_and_the_store_on_s3_give_the_local_outputs(s3, prefect_server, bucket_cluster,
                                                                                 tmp_path):
    corpus = write_corpus(tmp_path / "reviews.txt", nsmc(600)["document"].tolist())
    settings = {"run.shard_size": 100, "word2vec.vector_size": 16, "word2vec.epochs": 2, "word2vec.min_count": 2}
    local = run_chain(tmp_path / "local", corpus, settings)
    s3.fs.put(str(corpus), f"{s3.name}/corpora/reviews.txt")
    client_dir = tmp_path / "client"
    client_dir.mkdir()
    arguments = [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]
    result = subprocess.run(
        [str(Path(sys.executable).with_name("koprep")), "run", s3.url("corpora", "reviews.txt"), "--backend",
         "whitespace", "--artifacts", s3.url("store"), "--runner", "dask", "--dask-address", bucket_cluster,
         "--json", *arguments],
        cwd=client_dir, env={**s3.env, "PREFECT_API_URL": prefect_server["url"]}, capture_output=True, text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert {n: s["fingerprint"] for n, s in summary["stages"].items()} == {
        n: s["fingerprint"] for n, s in local["stages"].items()}
    assert not any(stage["cached"] for stage in summary["stages"].values())
    assert object_digests(s3, s3.url("store")) == outputs(tmp_path / "local")
    # The workers computed in their own caches, under their own HOME: the tokenize shards are there.
    assert list((tmp_path / "worker1").glob(".cache/koprep/stores/*/tokenize-shard/*/_manifest.json")) or list(
        (tmp_path / "worker2").glob(".cache/koprep/stores/*/tokenize-shard/*/_manifest.json"))
