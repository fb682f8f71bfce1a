"""Crash safety: a run killed by a real SIGKILL at any of 30+ points leaves the store consistent,
and the next run completes, reuses exactly the stages that had finished, and produces byte-identical
outputs to an uninterrupted run.

Most points run the stage chain directly (tests/robust/kill_driver.py forks a child per run, with
the fault point set, and `store.fault_point` kills it); a few go through `koprep run` on the
session's Prefect server, where the vectorizers run as concurrent tasks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from koprep.maintenance import verify
from koprep.store import FAULT_POINT_ENV, ArtifactStore
from tests.helpers import REPO, nsmc
from tests.robust.chain import SMALL, STAGES, outputs, write_corpus

pytestmark = pytest.mark.slow

# Spread over every stage and every step of a write: holding the lock, an empty temporary folder,
# between shard writes (clean, tokenize; the vectorizers read this small corpus's shards as one
# group, pipeline.READ_GROUP_DOCUMENTS, so they write one matrix part), all files written, manifest written but not renamed, renamed but the
# stage not yet returned, and the three steps of recording the run.
CHAIN_POINTS = [
    "clean.locked", "clean.tmp-created", "clean.read", "clean.part-written#2", "clean.files-written",
    "clean.manifest-written", "clean.published",
    "tokenize.locked", "tokenize.part-written#1", "tokenize.part-written#3", "tokenize.manifest-written",
    "tokenize.published",
    "bow.vocabulary-written", "bow.matrix-shard-written#1", "bow.files-written", "bow.published",
    "ngram.tmp-created", "ngram.matrix-shard-written#1", "ngram.manifest-written",
    "tfidf.locked", "tfidf.matrix-shard-written#1", "tfidf.files-written", "tfidf.published",
    "word2vec.locked", "word2vec.trained", "word2vec.vectors-parquet-written", "word2vec.manifest-written",
    "word2vec.published",
    "record-run.start", "record-run.between", "record-run.done",
]
CLI_POINTS = ["tokenize.part-written#2", "tfidf.manifest-written"]


def finished_before(point: str) -> list[str]:
    """The stages a sequential chain has published when it is killed at `point`."""
    stage, _, step = point.partition(".")
    if stage == "record-run":
        return STAGES
    done = STAGES[: STAGES.index(stage)]
    return done + [stage] if step == "published" else done


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    # 60 NSMC reviews in shards of 20: three shards per stage.
    return write_corpus(tmp_path_factory.mktemp("corpus") / "reviews.txt", nsmc(60)["document"].tolist())


@pytest.fixture(scope="module")
def chain_results(tmp_path_factory, corpus):
    base = tmp_path_factory.mktemp("kills")
    proc = subprocess.run(
        # two points at a time: each has its own store, and the suite's machine has two cores
        [sys.executable, "-m", "tests.robust.kill_driver", "--jobs=2", str(base), str(corpus), *CHAIN_POINTS],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    return base, lines[0]["reference"], {line["point"]: line for line in lines[1:]}


def test_there_are_twenty_plus_points_over_every_stage():
    assert len(CHAIN_POINTS) + len(CLI_POINTS) >= 20
    assert {p.split(".")[0] for p in CHAIN_POINTS} == {*STAGES, "record-run"}


@pytest.mark.parametrize("point", CHAIN_POINTS)
def test_killed_run_leaves_a_consistent_store_and_the_next_run_resumes(chain_results, point):
    _, _, results = chain_results
    result = results[point]
    assert result["killed"], f"the run was not killed at {point}"
    assert result["problems_after_kill"] == []  # no corrupt, partial or dangling entry
    assert result["published_before_resume"] == finished_before(point)
    assert result["resume_exit"] == 0
    # exactly the stages that had finished are reused; the rest are recomputed
    assert [name for name, cached in result["cached"].items() if cached] == finished_before(point)
    assert result["equal_to_reference"]
    assert result["problems_after_resume"] == [] and result["leftovers_after_resume"] == 0


def koprep(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    executable = Path(sys.executable).with_name("koprep")
    return subprocess.run([str(executable), *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("point", CLI_POINTS)
def test_koprep_run_killed_on_the_prefect_server_resumes(chain_results, prefect_server, corpus, tmp_path, point):
    base, reference_fps, _ = chain_results
    settings = [arg for key, value in SMALL.items() for arg in ("--set", f"{key}={value}")]
    args = ["run", str(corpus), "--backend", "whitespace", "--artifacts", str(tmp_path), "--json", *settings]
    env = {**os.environ, "PREFECT_API_URL": prefect_server["url"]}
    killed = koprep(*args, env={**env, FAULT_POINT_ENV: point})
    assert killed.returncode == -9, killed.stderr[-2000:]
    store = ArtifactStore(tmp_path)
    assert verify(store)["problems"] == []
    published = {name for name, fp in reference_fps.items() if store.lookup(name, fp, verify=True)}
    assert published >= set(finished_before(point)) - {"bow", "ngram", "tfidf", "word2vec"}  # those run concurrently

    resumed = koprep(*args, env=env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert {name for name, stage in summary["stages"].items() if stage["cached"]} == published
    assert {name: stage["fingerprint"] for name, stage in summary["stages"].items()} == reference_fps
    assert outputs(tmp_path) == outputs(base / "reference")
    assert verify(store) == {**verify(store), "problems": [], "leftovers": []}
