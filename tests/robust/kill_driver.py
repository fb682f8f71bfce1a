"""Kill-injection driver, run as its own process by tests/robust/test_crash.py.

    python -m tests.robust.kill_driver [--jobs=N] BASE CORPUS POINT [POINT ...]

BASE is a folder, or a URL prefix (s3://bucket/kills) for the object-store path (tests/remote).

For each fault point: a forked child runs the stage chain with KOPREP_FAULT_POINT=POINT and is
killed there by a real SIGKILL (store.fault_point); the driver then checks the store as the kill
left it, and a second forked child runs the chain cleanly on the same store. The driver imports
the pipeline once and forks (no JVM: the whitespace backend), so each point costs two chain runs,
not two interpreter starts. It prints one JSON object per point; the test asserts on them.

Each point has its own store (its own folder or prefix, and so its own local cache folder), so
points are independent: `--jobs=N` checks up to N points at once, each in its own forked process
doing exactly the sequence above (the object-store path mostly waits on HTTP round trips, so
overlapping points saves time even on two cores). The output is the same whatever N is.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
from pathlib import Path

from koprep.maintenance import verify
from koprep.store import FAULT_POINT_ENV, ArtifactStore
from tests.robust.chain import outputs, run_chain


def start_child(target, *args, fault: str | None = None) -> int:
    """Run target(*args) in a forked process (exit code 0 if it returned, 1 if it raised); its pid."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            if fault:
                os.environ[FAULT_POINT_ENV] = fault
            else:
                os.environ.pop(FAULT_POINT_ENV, None)
            target(*args)
        except BaseException as exc:  # noqa: BLE001 - reported through the exit code
            print(f"child failed: {exc!r}", file=sys.stderr)
            code = 1
        finally:
            os._exit(code)
    return pid


def in_child(target, *args, fault: str | None = None) -> int:
    """Run target(*args) in a forked process; its wait status."""
    return os.waitpid(start_child(target, *args, fault=fault), 0)[1]


def slug(point: str) -> str:
    """A fault point's name as a file or prefix name (`#` becomes `-`)."""
    return point.replace("#", "-")


def store_at(base: str, name: str) -> str | Path:
    """The store of one run: a folder under BASE, or a prefix under BASE when it is a URL (s3://...)."""
    return f"{base.rstrip('/')}/{name}" if "://" in base else Path(base) / name


def resume(artifacts: str | Path, corpus: Path, report: Path) -> None:
    summary = run_chain(artifacts, corpus)
    report.write_text(json.dumps({name: stage["cached"] for name, stage in summary["stages"].items()}))


def warm_up() -> None:
    """Build the per-process tables (cleaning's Unicode tables, library versions) once, before
    forking, so that each child does only the chain's own work."""
    from koprep.pipeline.keys import LIBRARIES
    from koprep.stages.clean import CleanParams, clean_texts
    from koprep.store import library_versions

    clean_texts(["영화 ㅋㅋㅋ"], CleanParams())
    library_versions(*LIBRARIES)


def check_point(base: str, corpus_path: Path, point: str, fingerprints: dict[str, str], expected: dict,
                reports: Path) -> dict:
    """Kill a chain run at `point` in its own store, check the store, resume, check again."""
    artifacts = store_at(base, slug(point))
    status = in_child(run_chain, artifacts, corpus_path, fault=point)
    store = ArtifactStore(artifacts)
    after_kill = verify(store)
    published = [name for name, fp in fingerprints.items() if store.lookup(name, fp, verify=True) is not None]
    report = reports / f"{slug(point)}.json"
    resumed = in_child(resume, artifacts, corpus_path, report)
    result = {
        "point": point,
        "killed": os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL,
        "problems_after_kill": after_kill["problems"],
        "leftovers_after_kill": len(after_kill["leftovers"]),
        "published_before_resume": published,
        "resume_exit": resumed,
    }
    if resumed == 0:
        after = verify(store)
        result.update(
            cached=json.loads(report.read_text()),
            equal_to_reference=outputs(artifacts) == expected,
            problems_after_resume=after["problems"],
            leftovers_after_resume=len(after["leftovers"]),
        )
    return result


def main(base: str, corpus: str, *points: str, jobs: int = 1) -> None:
    warm_up()
    corpus_path = Path(corpus)
    reference = store_at(base, "reference")
    reports = Path(tempfile.mkdtemp(prefix="koprep-kills-"))
    assert in_child(run_chain, reference, corpus_path) == 0, "the uninterrupted reference run failed"
    expected = outputs(reference)
    fingerprints = ArtifactStore(reference).read_run().entries()
    print(json.dumps({"reference": fingerprints}), flush=True)
    results = reports / "results"
    results.mkdir()

    def write_result(point: str) -> None:
        result = check_point(base, corpus_path, point, fingerprints, expected, reports)
        (results / f"{slug(point)}.json").write_text(json.dumps(result))

    running: set[int] = set()
    failed = False

    def reap_one() -> None:
        nonlocal failed
        pid, status = os.wait()
        running.discard(pid)
        failed |= status != 0

    for point in points:
        if len(running) >= jobs:
            reap_one()
        running.add(start_child(write_result, point))
    while running:
        reap_one()
    for point in points:  # in the order given, whatever order they finished in
        found = results / f"{slug(point)}.json"
        if found.exists():
            print(found.read_text(), flush=True)
    assert not failed, "checking a point failed (its error is above)"


if __name__ == "__main__":
    arguments = sys.argv[1:]
    jobs = 1
    if arguments and arguments[0].startswith("--jobs="):
        jobs = max(1, int(arguments.pop(0).split("=", 1)[1]))
    main(*arguments, jobs=jobs)
