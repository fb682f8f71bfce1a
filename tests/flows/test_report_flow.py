"""What a user sees of a run besides its artifacts, through the real CLI and flow on a real Prefect
server: live progress on a terminal and none in piped output, the HTML report beside the run
record, and the report and progress artifacts in the Prefect UI."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from koprep.orchestration.client import flow_run_artifacts

KOPREP = str(Path(sys.executable).with_name("koprep"))
PROGRESS_MARKS = ("ETA", "━", "documents/s", "shards/s", "2480/2480")  # what the display draws


def _run_on_a_terminal(command: list[str], env: dict) -> str:
    primary, secondary = pty.openpty()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary,
                               env={**env, "TERM": "xterm-256color", "COLUMNS": "140"})
    os.close(secondary)
    output = bytearray()
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closed: the process has exited
            break
        if not chunk:
            break
        output += chunk
    os.close(primary)
    assert process.wait(timeout=300) == 0, output.decode(errors="replace")[-3000:]
    return output.decode("utf-8", errors="replace")


@pytest.mark.slow
def test_progress_on_a_terminal_none_when_piped_and_the_report_in_store_and_ui(tmp_path, prefect_server):
    env = prefect_server["env"]
    shown = _run_on_a_terminal([KOPREP, "run", "--backend", "whitespace", "--artifacts", str(tmp_path / "tty")], env)
    assert "tokenize" in shown and "2480/2480" in shown and "documents" in shown and "ETA" in shown

    piped = subprocess.run(
        [KOPREP, "run", "--backend", "whitespace", "--set", "ngram.min_df=2", "--artifacts", str(tmp_path / "piped"),
         "--json"],
        capture_output=True, text=True, env=env, timeout=300, check=True,
    )
    for mark in PROGRESS_MARKS:
        assert mark not in piped.stdout and mark not in piped.stderr, mark
    summary = json.loads(piped.stdout.strip().splitlines()[-1])
    run_id = summary["run_id"]

    runs = tmp_path / "piped" / "runs"
    page = (runs / f"{run_id}.html").read_text(encoding="utf-8")
    assert (runs / "latest.html").read_text(encoding="utf-8") == page
    assert "<h1>koprep run " + run_id in page and 'id="chart-projection"' in page

    artifacts = flow_run_artifacts(run_id)
    markdown = artifacts["koprep-report"].data
    assert f"runs/{run_id}.html" in markdown and "## Top tokens by count" in markdown and "한다" in markdown
    for stage in ("tokenize", "bow", "ngram", "tfidf", "word2vec"):
        assert float(artifacts[f"koprep-progress-{stage}"].data) == 100.0, stage


@pytest.mark.slow
def test_in_process_flow_reports_progress_to_its_own_server_from_gensims_thread(tmp_path, prefect_server):
    """word2vec advances its progress from gensim's reader thread, which has none of the flow's
    Prefect context: the reports must still reach the run's server, not start a temporary one."""
    import psutil

    from koprep.orchestration.flow import preprocess

    summary = preprocess(backend="whitespace", overrides={"word2vec.epochs": 3}, artifacts=str(tmp_path))
    artifacts = flow_run_artifacts(summary["run_id"])
    assert float(artifacts["koprep-progress-word2vec"].data) == 100.0
    servers = [" ".join(p.cmdline()) for p in psutil.Process().children(recursive=True) if "uvicorn" in " ".join(p.cmdline())]
    assert servers == []
