"""Concurrent runs on one store: real `koprep run` processes at once, locks that die with their
holder, and a sweep that never takes a live writer's folder (even when pids are reused)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from koprep.maintenance import verify
from koprep.store import TMP_PREFIX, ArtifactStore
from tests.helpers import REPO, nsmc
from tests.robust.chain import STAGES, outputs, write_corpus

RUNS = 3


@pytest.mark.slow
def test_three_koprep_runs_at_once_agree_and_compute_each_stage_once(tmp_path, prefect_server):
    # Enough text that the runs overlap: word2vec alone takes seconds.
    corpus = write_corpus(tmp_path / "reviews.txt", nsmc(20000)["document"].tolist())
    artifacts = tmp_path / "artifacts"
    executable = Path(sys.executable).with_name("koprep")
    args = [str(executable), "run", str(corpus), "--backend", "whitespace", "--artifacts", str(artifacts), "--json",
            "--set", "run.shard_size=5000", "--set", "word2vec.epochs=3", "--set", "word2vec.vector_size=32"]
    env = {**os.environ, "PREFECT_API_URL": prefect_server["url"]}
    processes = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for _ in range(RUNS)]
    results = [(p.wait(timeout=600), *p.communicate()) for p in processes]
    for code, _, stderr in results:
        assert code == 0, stderr[-3000:]
    summaries = [json.loads(stdout.strip().splitlines()[-1]) for _, stdout, _ in results]

    assert len({json.dumps({n: s["fingerprint"] for n, s in summary["stages"].items()}) for summary in summaries}) == 1
    for stage in STAGES:  # computed by exactly one run; the others waited for its lock, then reused it
        assert [summary["stages"][stage]["cached"] for summary in summaries].count(False) == 1, stage
    assert any("another run is computing" in stderr for _, _, stderr in results)  # they did overlap

    store = ArtifactStore(artifacts)
    for summary in summaries:
        assert outputs(artifacts, summary["run_id"]) == outputs(artifacts, summaries[0]["run_id"])
    latest = json.loads((artifacts / "runs" / "latest.json").read_text(encoding="utf-8"))  # never torn
    assert latest["run_id"] in {summary["run_id"] for summary in summaries}
    assert verify(store) == {**verify(store), "problems": [], "leftovers": []}
    assert not list(artifacts.glob("runs/.*.tmp"))


def hold(code: str) -> subprocess.Popen:
    """A Python process that runs `code` (which prints "ready" when it holds what it should) and then sleeps."""
    script = textwrap.dedent(code) + "\nimport sys, time\nprint('ready', flush=True)\ntime.sleep(600)\n"
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert process.stdout.readline().strip() == "ready"
    return process


def test_a_lock_held_by_a_killed_process_never_blocks(tmp_path):
    store = ArtifactStore(tmp_path)
    holder = hold(f"""
        from koprep.store import ArtifactStore
        lock = ArtifactStore({str(tmp_path)!r}).lock("clean", "{'a' * 32}")
        lock.__enter__()
    """)
    try:
        with store.locks.if_free("clean", "a" * 32) as free:
            assert not free  # really held by the other process
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        started = time.monotonic()
        with store.lock("clean", "a" * 32):
            assert time.monotonic() - started < 5  # released by the kernel when its holder died
    finally:
        holder.kill()


def test_sweep_keeps_live_writers_folders_and_is_not_fooled_by_reused_pids(tmp_path):
    store = ArtifactStore(tmp_path)
    live_fp, dead_fp = "b" * 32, "c" * 32
    writer = hold(f"""
        from koprep.store import ArtifactStore
        writing = ArtifactStore({str(tmp_path)!r}).writing("clean", "{live_fp}", {{}})
        pending = writing.__enter__()
        (pending.path / "part-00000.parquet").write_bytes(b"half")
    """)
    try:
        # The live writer's folder, renamed to carry a pid that no longer exists (as if the pid
        # in the name were stale); and a killed writer's folder carrying a live pid (ours: as if
        # the dead writer's pid had been reused). Only the lock decides.
        live = next((tmp_path / "clean").glob(f"{TMP_PREFIX}{live_fp}-*"))
        dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                                  capture_output=True, text=True).stdout.strip()
        live_renamed = live.with_name(f"{TMP_PREFIX}{live_fp}-{dead_pid}-renamed")
        live.rename(live_renamed)
        abandoned = tmp_path / "clean" / f"{TMP_PREFIX}{dead_fp}-{os.getpid()}-abandoned"
        abandoned.mkdir()
        (abandoned / "part-00000.parquet").write_bytes(b"partial")

        assert store.sweep() == [abandoned]
        assert live_renamed.is_dir() and not abandoned.exists()
    finally:
        writer.kill()
        writer.wait()
    assert store.sweep() == [live_renamed]  # its writer is gone now
    assert store.lookup("clean", live_fp) is None
