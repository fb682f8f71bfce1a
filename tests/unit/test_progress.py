"""Progress callbacks of the long stages (real stages over NSMC reviews) and the terminal display's
rule: shown on a terminal, silent otherwise."""

from __future__ import annotations

import io

import numpy as np
import pyarrow.parquet as pq
import pytest

from koprep import progress
from koprep.config import load_config
from koprep.pipeline.datasets import Parts
from koprep.pipeline.resolve import vectorizer_stages
from koprep.pipeline.runner import InProcess, execute
from koprep.plan import build_plan
from koprep.store import ArtifactStore
from tests.helpers import write_nsmc


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))

    def check(self, total: int) -> None:
        """Starts at 0, never goes back, never passes the total, ends exactly at it."""
        assert self.calls[0] == (0, total)
        assert {t for _, t in self.calls} == {total}
        done = [d for d, _ in self.calls]
        assert done == sorted(done) and done[-1] == total
        assert len(set(done)) > 2  # it moved in steps, not only start and end


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "nsmc5000.tsv"
    write_nsmc(path, 5000)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_stages_report_progress_monotonically_to_the_total(tmp_path, corpus, workers):
    store = ArtifactStore(tmp_path)
    config = load_config(None, {"run.shard_size": 1000, "word2vec.vector_size": 16, "word2vec.epochs": 3,
                                "word2vec.workers": workers}, "whitespace")
    recorders = {name: Recorder() for name in ("tokenize", *vectorizer_stages(), "word2vec")}
    results = execute(build_plan(store, str(corpus), config), InProcess(recorders))
    recorders["tokenize"].check(5000)  # documents
    shard_ends = np.cumsum([pq.ParquetFile(part).metadata.num_rows for part in Parts.part_files(results["clean"].path)])
    assert [d for d, _ in recorders["tokenize"].calls] == [0, *shard_ends] and len(shard_ends) >= 3  # after each shard
    shard_count = len(shard_ends)
    for name in ("bow", "ngram", "tfidf"):
        recorders[name].check(2 * shard_count)  # a fitting pass and a transform pass over every shard
    recorders["word2vec"].check((3 + 1) * shard_count)  # the vocabulary pass and 3 epochs over every shard
    # A cached stage does no work and reports none.
    again = {"tokenize": Recorder()}
    assert execute(build_plan(store, str(corpus), config), InProcess(again))["tokenize"].cached
    assert again["tokenize"].calls == []


def test_counter_never_passes_the_total_and_finishes_there():
    seen = Recorder()
    counter = progress.ProgressCounter(seen, 3)
    for _ in range(5):
        counter.advance()
    counter.finish()
    assert seen.calls == [(0, 3), (1, 3), (2, 3), (3, 3), (3, 3), (3, 3)]
    short = Recorder()
    counter = progress.ProgressCounter(short, 4)
    counter.advance()
    counter.finish()
    assert short.calls == [(0, 4), (1, 4), (4, 4)]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_display_only_when_stdout_and_stderr_are_terminals():
    for stdout, stderr in ((io.StringIO(), io.StringIO()), (io.StringIO(), Terminal()), (Terminal(), io.StringIO())):
        with progress.terminal_progress(stdout, stderr) as board:
            assert board is None and progress.stage_progress("tokenize", "documents") is None
        assert stdout.getvalue() == stderr.getvalue() == ""

    stdout, stderr = Terminal(), Terminal()
    with progress.terminal_progress(stdout, stderr) as board:
        assert board is not None
        report = progress.stage_progress("tokenize", "documents")
        counter = progress.ProgressCounter(report, 2000)
        counter.advance(1000)
        counter.advance(1000)
    assert progress.stage_progress("tokenize", "documents") is None  # closed again
    shown = stderr.getvalue()
    assert "tokenize" in shown and "2000/2000" in shown and "documents" in shown and "ETA" in shown
    assert stdout.getvalue() == ""
