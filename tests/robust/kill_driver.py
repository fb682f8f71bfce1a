"""Kill-injection driver, run as its own process by tests/robust/test_crash.py.

    python -m tests.robust.kill_driver BASE CORPUS POINT [POINT ...]

BASE is a folder, or a URL prefix (s3://bucket/kills) for the object-store path (tests/remote).

For each fault point: a forked child runs the stage chain with KOPREP_FAULT_POINT=POINT and is
killed there by a real SIGKILL (store.fault_point); the driver then checks the store as the kill
left it, and a second forked child runs the chain cleanly on the same store. The driver imports
the pipeline once and forks (no JVM: the whitespace backend), so each point costs two chain runs,
not two interpreter starts. It prints one JSON object per point; the test asserts on them.
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


def in_child(target, *args, fault: str | None = None) -> int:
    """Run target(*args) in a forked process; its wait status."""
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
    return os.waitpid(pid, 0)[1]


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


def main(base: str, corpus: str, *points: str) -> None:
    warm_up()
    corpus_path = Path(corpus)
    reference = store_at(base, "reference")
    reports = Path(tempfile.mkdtemp(prefix="koprep-kills-"))
    assert in_child(run_chain, reference, corpus_path) == 0, "the uninterrupted reference run failed"
    expected = outputs(reference)
    fingerprints = ArtifactStore(reference).read_run().entries()
    print(json.dumps({"reference": fingerprints}), flush=True)
    for point in points:
        artifacts = store_at(base, point.replace("#", "-"))
        status = in_child(run_chain, artifacts, corpus_path, fault=point)
        store = ArtifactStore(artifacts)
        after_kill = verify(store)
        published = [name for name, fp in fingerprints.items() if store.lookup(name, fp, verify=True) is not None]
        report = reports / f"{point.replace('#', '-')}.json"
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
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
