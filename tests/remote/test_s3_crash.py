"""The kill-point suite on the object-store path: a run with its store in a bucket of the moto server,
killed by a real SIGKILL at every kind of step of a write the local suite kills at
(tests/robust/test_crash.py: each of its points is on the object-store path too, since a bucket
store writes each entry through the same stage code and local cache folder before uploading it; the
stage × step matrix of the local suite is not repeated here, each step kind is killed on one or two
stages) and at the two the bucket adds (`<stage>.uploaded`: files uploaded, manifest not yet PUT;
`<stage>.committed`: manifest PUT, the local cache not yet updated), leaves nothing a reader takes,
and the next run resumes, reusing exactly the committed stages, with outputs byte-identical to an
uninterrupted run. A fault step added to the code and killed nowhere here fails
`test_every_fault_step_in_the_code_is_killed_on_the_object_store_path`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.helpers import REPO
from tests.robust.chain import STAGES
from tests.robust.test_crash import CHAIN_POINTS

pytestmark = pytest.mark.slow

OBJECT_STORE_POINTS = [
    "clean-shard.uploaded#2", "clean.uploaded", "clean.committed",
    "tokenize-shard.uploaded#1", "tokenize-shard.committed#3", "tokenize.uploaded", "tokenize.committed",
    "bow.uploaded", "tfidf.committed", "word2vec.uploaded", "word2vec.committed",
]
LOCAL_STEP_POINTS = [  # every step kind of CHAIN_POINTS, before and after the commit (all 31 run locally)
    "clean.locked", "clean.tmp-created", "clean.read", "clean.part-written#2", "clean.files-written",
    "clean.manifest-written", "tokenize.part-written#3", "tokenize.published", "bow.vocabulary-written",
    "ngram.matrix-shard-written#1", "tfidf.files-written", "word2vec.trained", "word2vec.vectors-parquet-written",
    "word2vec.published", "record-run.start", "record-run.between", "record-run.done",
]
POINTS = LOCAL_STEP_POINTS + OBJECT_STORE_POINTS
NOT_IN_THE_CHAIN = {"found"}
"""Fault steps no kill suite reaches: dedup's (`dedup.found`), a stage outside the default chain."""
COMMITTED_STEPS = {"committed", "manifest-written", "published"}
"""In a bucket an entry is published when its manifest is PUT: the local manifest and rename come after."""


def committed_before(point: str) -> list[str]:
    stage, _, step = point.partition(".")
    if stage == "record-run":
        return STAGES
    if stage.endswith("-shard"):
        return STAGES[: STAGES.index(stage[: -len("-shard")])]
    done = STAGES[: STAGES.index(stage)]
    return done + [stage] if step.split("#")[0] in COMMITTED_STEPS else done


def test_every_fault_step_in_the_code_is_killed_on_the_object_store_path():
    """A fault point added anywhere (local or bucket path) is in this suite, or this test fails."""
    in_code = set()
    for source in (REPO / "src" / "koprep").rglob("*.py"):
        for name in re.findall(r'fault_point\(f?"([^"]+)"\)', source.read_text(encoding="utf-8")):
            in_code.add(name if name.startswith("record-run.") else name.rsplit(".", 1)[-1])
    def steps(points: list[str]) -> set[str]:
        return {p.split("#")[0] if p.startswith("record-run.") else p.split("#")[0].split(".", 1)[1] for p in points}

    assert {"uploaded", "committed", "locked", "published"} <= in_code  # the scan finds them
    assert in_code - NOT_IN_THE_CHAIN <= steps(POINTS)
    assert set(LOCAL_STEP_POINTS) <= set(CHAIN_POINTS) and steps(CHAIN_POINTS) <= steps(LOCAL_STEP_POINTS)


@pytest.fixture(scope="module")
def kill_results(s3_server, tmp_path_factory):
    import s3fs

    from tests.remote.conftest import ACCESS_KEY, SECRET

    bucket = "koprep-kills"
    s3fs.S3FileSystem(key=ACCESS_KEY, secret=SECRET, endpoint_url=s3_server, skip_instance_cache=True).mkdir(bucket)
    corpus = tmp_path_factory.mktemp("corpus") / "reviews.txt"
    from tests.helpers import nsmc
    from tests.robust.chain import write_corpus

    write_corpus(corpus, nsmc(60)["document"].tolist())
    env = {
        **os.environ, "PYTHONPATH": str(REPO), "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_ENDPOINT_URL": s3_server, "AWS_DEFAULT_REGION": "us-east-1",
        "KOPREP_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
        "KOPREP_UPLOAD_GRACE_SECONDS": "0",  # nothing else writes: the resume's sweep may take every abandoned upload
    }
    proc = subprocess.run(
        # three points at a time: each has its own prefix and cache folder, and a run on the bucket
        # mostly waits on HTTP round trips to the server
        [sys.executable, "-m", "tests.robust.kill_driver", "--jobs=3", f"s3://{bucket}/kills", str(corpus), *POINTS],
        cwd=REPO, capture_output=True, text=True, timeout=900, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    return {line["point"]: line for line in lines[1:]}


@pytest.mark.parametrize("point", POINTS)
def test_run_killed_on_the_object_store_path_leaves_nothing_taken_and_resumes(kill_results, point):
    result = kill_results[point]
    assert result["killed"], f"the run was not killed at {point}"
    assert result["problems_after_kill"] == []
    assert result["published_before_resume"] == committed_before(point)
    assert result["resume_exit"] == 0
    assert [name for name, cached in result["cached"].items() if cached] == committed_before(point)
    assert result["equal_to_reference"]
    assert result["problems_after_resume"] == [] and result["leftovers_after_resume"] == 0
