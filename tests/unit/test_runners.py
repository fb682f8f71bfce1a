"""The runner choice (`--runner local|dask`, `--dask-address`) is checked before anything starts:
bad combinations and an unreachable scheduler exit 2 with a message and store nothing. The runs on
a real Dask cluster are in tests/flows/test_dask.py."""

from __future__ import annotations

import socket

import pytest

from koprep.errors import EXIT_BAD_INPUT
from koprep import cli
from koprep.config import ConfigError
from koprep.orchestration import runners
from koprep.orchestration.parameters import PreprocessParameters


def stored_entries(store) -> list:
    return [p for p in store.glob("*/*") if not p.parent.name.startswith(".")]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("영화가 정말 재미있었다\n배우 연기가 좋았다\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("arguments, message", [
    (["--runner", "dask"], "the dask runner needs the scheduler's address"),
    (["--runner", "dask", "--dask-address", "http://scheduler"], "is not a scheduler address"),
    (["--dask-address", "tcp://127.0.0.1:8786"], "choose the dask runner"),
])
def test_a_runner_choice_that_cannot_work_exits_2_before_any_work(corpus, tmp_path, capsys, arguments, message):
    store = tmp_path / "store"
    code = cli.main(["run", str(corpus), "--backend", "whitespace", "--artifacts", str(store), *arguments])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert message in err and "Traceback" not in err
    assert stored_entries(store) == []


def test_unreachable_scheduler_exits_2_before_any_work(corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(runners, "CONNECT_TIMEOUT", 2.0)
    address = f"tcp://127.0.0.1:{_closed_port()}"
    store = tmp_path / "store"
    code = cli.main(["run", str(corpus), "--backend", "whitespace", "--artifacts", str(store),
                     "--runner", "dask", "--dask-address", address])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert f"cannot reach the Dask scheduler at {address}" in err and "Traceback" not in err
    assert stored_entries(store) == []


def test_flow_parameters_carry_the_runner_and_refuse_bad_combinations():
    parameters = PreprocessParameters.parse({"runner": "dask", "dask_address": "tcp://10.0.0.5:8786"})
    assert (parameters.runner, parameters.dask_address) == ("dask", "tcp://10.0.0.5:8786")
    assert PreprocessParameters.parse({}).runner == "local"
    with pytest.raises(ConfigError, match="the dask runner needs the scheduler's address"):
        PreprocessParameters.parse({"runner": "dask"})
    with pytest.raises(ConfigError, match="unknown runner 'ray'"):
        PreprocessParameters.parse({"runner": "ray"})


def test_dask_tasks_get_an_absolute_corpus_path_and_the_same_resolved_run_otherwise(tmp_path, monkeypatch):
    """Dask workers run elsewhere: the corpus is named by its absolute path. The stopword file is read
    while resolving (the resolved filter travels), so no other path needs moving."""
    from koprep.config import load_config
    from koprep.pipeline.resolve import Resolution
    from koprep.store import ArtifactStore

    monkeypatch.chdir(tmp_path)
    (tmp_path / "stop.txt").write_text("영화\n", encoding="utf-8")
    config = load_config(None, {"tokenize.stopwords_file": "stop.txt", "ngram.min_df": 2}, "whitespace")
    run = Resolution(ArtifactStore("artifacts"), "corpus.txt", config)
    moved = runners.DaskExecutor(None, None, task_runner=None).for_workers(run)
    assert moved.location == str(tmp_path / "corpus.txt") and run.location == "corpus.txt"
    assert moved.config == run.config and moved.token_filter == run.token_filter
    assert "영화" in moved.token_filter.stopwords
    assert runners.LocalExecutor(None, None).for_workers(run) is run
