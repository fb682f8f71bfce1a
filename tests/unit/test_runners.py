"""The runner choice (`--runner local|dask`, `--dask-address`) is checked before anything starts:
bad combinations and an unreachable scheduler exit 2 with a message and store nothing. The runs on
a real Dask cluster are in tests/flows/test_dask.py."""

from __future__ import annotations

import socket

import pytest

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
    assert code == cli.EXIT_USAGE
    assert message in err and "Traceback" not in err
    assert stored_entries(store) == []


def test_unreachable_scheduler_exits_2_before_any_work(corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(runners, "CONNECT_TIMEOUT", 2.0)
    address = f"tcp://127.0.0.1:{_closed_port()}"
    store = tmp_path / "store"
    code = cli.main(["run", str(corpus), "--backend", "whitespace", "--artifacts", str(store),
                     "--runner", "dask", "--dask-address", address])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
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


def test_dask_tasks_get_absolute_paths_and_the_same_config_otherwise(tmp_path, monkeypatch):
    from koprep.config import load_config

    monkeypatch.chdir(tmp_path)
    config = load_config(None, {"tokenize.stopwords_file": "stop.txt", "ngram.min_df": 2}, "whitespace")
    corpus, moved = runners.DaskExecutor(task_runner=None).for_workers("corpus.txt", config)
    assert corpus == str(tmp_path / "corpus.txt")
    assert moved.tokenize.stopwords_file == str(tmp_path / "stop.txt")
    assert moved.model_copy(update={"tokenize": config.tokenize}) == config
    assert runners.LocalExecutor().for_workers("corpus.txt", config) == ("corpus.txt", config)
