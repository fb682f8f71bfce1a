"""word2vec in a process of its own (`koprep.stage_process`), as the local runner runs it beside the
vectorizers: the same bytes as in the flow's process, its error raised as the same exception, a
kill of it failing the run cleanly with the store consistent, and a kill of the flow's process
ending it too. Real NSMC reviews, MeCab, gensim."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from koprep import report, stage_process
from koprep.config import load_config
from koprep.errors import EmptyResultError
from koprep.maintenance import verify
from koprep.pipeline.keys import StageKey
from koprep.pipeline.resolve import Resolution
from koprep.pipeline.runner import InProcess, Outcome, resolved, run_and_record
from koprep.plan import build_plan
from koprep.store import FAULT_POINT_ENV, MANIFEST, ArtifactStore
from tests.helpers import REPO, write_nsmc
from tests.robust.chain import outputs

pytestmark = pytest.mark.slow  # reads NSMC

SETTINGS = {"run.shard_size": 500, "word2vec.epochs": 3, "word2vec.min_count": 2}


class OwnProcesses(InProcess):
    """One stage after another in this process, except the stages the graph runs in their own
    process: there, as the flow's stage task runs them."""

    def submit(self, run: Resolution, key: StageKey, inputs: dict[str, Outcome]) -> Outcome:
        return stage_process.run_stage(run, key, resolved(inputs), self.progress.get(key.stage))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_nsmc(tmp_path_factory.mktemp("corpus") / "nsmc.tsv", 2000)


def _run(artifacts: Path, corpus: Path, own_processes: bool, settings: dict | None = None, progress=None, on_result=None):
    plan = build_plan(ArtifactStore(artifacts), str(corpus), load_config(None, {**SETTINGS, **(settings or {})}, "mecab"))
    if not own_processes:
        return plan, run_and_record(plan, InProcess(progress), run_id="run")
    started = stage_process.stages_to_prestart(plan)
    assert started == ["word2vec"]
    stage_process.prestart(started)
    process = stage_process._prestarted["word2vec"]
    try:
        return plan, run_and_record(plan, OwnProcesses(progress), run_id="run", on_result=on_result), process
    finally:
        stage_process.discard_prestarted()


def test_word2vec_in_its_own_process_writes_the_same_bytes_and_reports_progress(corpus, tmp_path):
    _run(tmp_path / "here", corpus, own_processes=False)
    seen: list[tuple[int, int]] = []
    _, record, process = _run(tmp_path / "there", corpus, own_processes=True, progress={"word2vec": lambda d, t: seen.append((d, t))})
    assert process.process.pid != os.getpid() and process.process.exitcode == 0  # it ran there, and ended
    assert not record.stages["word2vec"].cached
    assert outputs(tmp_path / "there", "run") == outputs(tmp_path / "here", "run")
    assert seen and seen[-1][0] == seen[-1][1] > 0  # the process's progress reached this one


def test_an_error_in_the_process_is_raised_here_as_itself_and_nothing_is_published(corpus, tmp_path):
    with pytest.raises(EmptyResultError, match="word2vec.*min_count=100000"):
        _run(tmp_path, corpus, own_processes=True, settings={"word2vec.min_count": 100_000})
    store = ArtifactStore(tmp_path)
    assert not (tmp_path / "word2vec").exists() or not any(store.lookup("word2vec", p.name) for p in (tmp_path / "word2vec").iterdir())
    assert verify(store)["problems"] == []


def test_a_killed_process_fails_the_run_clearly_and_the_next_run_completes(corpus, tmp_path, monkeypatch):
    _run(tmp_path / "reference", corpus, own_processes=False)
    monkeypatch.setenv(FAULT_POINT_ENV, "word2vec.trained")  # the spawned process inherits it and SIGKILLs itself there
    with pytest.raises(stage_process.StageProcessError, match="word2vec stage's process ended.*killed by SIGKILL"):
        _run(tmp_path / "killed", corpus, own_processes=True)
    monkeypatch.delenv(FAULT_POINT_ENV)
    store = ArtifactStore(tmp_path / "killed")
    assert verify(store)["problems"] == []
    _, record, _ = _run(tmp_path / "killed", corpus, own_processes=True)
    assert [name for name, stage in record.stages.items() if not stage.cached] == ["word2vec"]
    assert outputs(tmp_path / "killed", "run") == outputs(tmp_path / "reference", "run")


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (an exited one nobody reaped yet is a zombie: not live)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_the_process_ends_when_the_flows_process_is_killed(tmp_path):
    script = (
        "import time\nfrom koprep import stage_process\n"
        "stage_process.prestart(['word2vec'])\n"
        "print(stage_process._prestarted['word2vec'].process.pid, flush=True)\ntime.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert _running(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not _running(child):
            return
        time.sleep(0.1)
    pytest.fail("the stage's process outlived the flow's process")


def test_the_report_gathered_while_word2vec_trains_is_the_report_gathered_after(corpus, tmp_path):
    store = ArtifactStore(tmp_path)
    preparation = report.Preparation(store)
    _, record, _ = _run(tmp_path, corpus, own_processes=True, on_result=preparation.add)
    prepared = preparation.gathered()
    assert set(prepared) == {"tokenize", "bow", "ngram", "tfidf", "word2vec"}
    assert report.report_data(store, record, prepared) == report.report_data(store, record)
    # details of another entry than the record's are not taken
    stale = {**prepared, "tfidf": {**prepared["tfidf"], "fingerprint": "0" * 32, "rows": -1}}
    assert report.report_data(store, record, stale) == report.report_data(store, record)


# ------------------------------------------------------------------ through `koprep run`, on Prefect
def _koprep_run(corpus: Path, artifacts: Path, server: dict, *settings: str, env: dict | None = None):
    args = [str(Path(sys.executable).with_name("koprep")), "run", str(corpus), "--backend", "mecab",
            "--artifacts", str(artifacts), "--json"]
    for key, value in SETTINGS.items():
        args += ["--set", f"{key}={value}"]
    for setting in settings:
        args += ["--set", setting]
    environment = {**os.environ, "PREFECT_API_URL": server["url"], **(env or {})}
    return subprocess.run(args, capture_output=True, text=True, env=environment, timeout=600)


def test_koprep_run_fails_cleanly_when_word2vec_fails_in_its_process(corpus, tmp_path, prefect_server):
    failed = _koprep_run(corpus, tmp_path, prefect_server, "word2vec.min_count=100000")
    assert failed.returncode == 2, failed.stderr[-3000:]
    assert "min_count=100000" in failed.stderr and "Traceback" not in failed.stderr
    store = ArtifactStore(tmp_path)
    assert verify(store)["problems"] == [] and not list(store.root.glob(f"word2vec/*/{MANIFEST}"))


def test_koprep_run_with_its_word2vec_process_killed_fails_then_resumes_to_the_same_bytes(corpus, tmp_path, prefect_server):
    _run(tmp_path / "reference", corpus, own_processes=False)
    killed = _koprep_run(corpus, tmp_path / "run", prefect_server, env={FAULT_POINT_ENV: "word2vec.trained"})
    # Only the word2vec process reaches that point: the run itself reports it and exits.
    assert killed.returncode == 1, killed.stderr[-3000:]
    assert "word2vec stage's process ended" in killed.stderr and "SIGKILL" in killed.stderr
    store = ArtifactStore(tmp_path / "run")
    assert verify(store)["problems"] == []
    resumed = _koprep_run(corpus, tmp_path / "run", prefect_server)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert outputs(tmp_path / "run") == outputs(tmp_path / "reference", "run")
