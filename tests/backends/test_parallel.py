"""`run.workers` spreads tokenization over cores, each backend its own way, and never changes an
output or a fingerprint (issue 10)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from koprep import parallel
from koprep.pipeline.datasets import Parts
from koprep.pipeline.execution import StageResult
from koprep.pipeline.resolve import ready_tokenizer
from koprep.config import ConfigError, load_config
from koprep.stages import tokenize as tokenize_logic
from koprep.store import ArtifactStore
from tests.runs import run_stages
from koprep.tokenizers import available_backends, get_tokenizer
from koprep.tokenizers.whitespace import WhitespaceTokenizer
from tests.helpers import nsmc

# Enough documents that worker processes are started (MIN_TEXTS_PER_PROCESS per worker), and shards
# that do not divide into whole batches, so batches of one shard are reassembled across workers.
CASES = {
    "okt": dict(documents=1_500, shard_size=700, expected="2 of the backend's own workers in a worker process"),
    "mecab": dict(documents=20_000, shard_size=6_900, expected="2 worker processes"),
    "soynlp-word": dict(documents=20_000, shard_size=6_900, expected="2 worker processes"),
    # Kiwi is slow: fewer documents, and processes started for fewer documents than the default says
    "kiwi": dict(documents=1_500, shard_size=700, expected="2 worker processes", min_texts_per_process=500),
}


def _installed(name: str) -> bool:
    return next(info for info in available_backends() if info.name == name).available


def _tokenize(tmp_path: Path, corpus: Path, backend: str, shard_size: int, workers: int) -> dict[str, StageResult]:
    config = load_config(backend=backend, overrides={"run.shard_size": shard_size, "run.workers": workers})
    return run_stages(ArtifactStore(tmp_path / f"workers-{workers}"), str(corpus), config.with_run_stages(["tokenize"]))


@pytest.mark.slow
@pytest.mark.parametrize("backend", list(CASES))
def test_two_workers_give_the_same_files_and_fingerprints_as_one(tmp_path, monkeypatch, backend):
    if not _installed(backend):
        pytest.skip(f"{backend} is not installed")
    case = CASES[backend]
    if "min_texts_per_process" in case:
        monkeypatch.setattr(parallel, "MIN_TEXTS_PER_PROCESS", case["min_texts_per_process"])
    corpus = tmp_path / "nsmc.tsv"
    nsmc(case["documents"]).to_csv(corpus, sep="\t", index=False, quoting=3)

    first = _tokenize(tmp_path, corpus, backend, case["shard_size"], workers=1)
    clean, one = first["clean"], first["tokenize"]
    two = _tokenize(tmp_path, corpus, backend, case["shard_size"], workers=2)["tokenize"]

    assert one.extra["parallel"] in ("in a worker process", "1 of the backend's own workers in a worker process")
    assert two.extra["parallel"] == case["expected"]
    assert two.fingerprint == one.fingerprint
    parts_one, parts_two = Parts.part_files(one.path), Parts.part_files(two.path)
    assert len(parts_one) == one.extra["shards"] > 2
    assert [p.name for p in parts_two] == [p.name for p in parts_one]
    for a, b in zip(parts_one, parts_two):
        assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest(), a.name
    # ...and the contents are what the backend gives when called directly on the cleaned texts.
    model = ArtifactStore(tmp_path / "workers-1").open_entry(first["model"].path) if "model" in first else None
    tokenizer, token_filter = ready_tokenizer(load_config(backend=backend).tokenize, model)
    texts = pq.read_table(Parts.part_files(clean.path)[1], columns=["text"]).column("text").to_pylist()
    direct = tokenize_logic.tokenize_texts(tokenizer, texts, token_filter)
    assert pq.read_table(parts_two[1]).column("tokens").to_pylist() == direct
    assert sum(map(len, direct)) > len(texts)


class _SpawnedWhitespace(WhitespaceTokenizer):
    """Whitespace splitting sent to worker processes, to test the batching without a heavy backend."""

    parallelism = "processes"


class _SpawnedThreaded(_SpawnedWhitespace):
    """A "processes" backend with threads of its own (as Kiwi), supervised."""

    crash_safe = False
    threads = 0

    def with_workers(self, workers: int) -> "_SpawnedThreaded":
        threaded = _SpawnedThreaded()
        threaded.threads = workers
        return threaded


@pytest.mark.slow  # spawns worker processes
@pytest.mark.parametrize("documents", [10**6, 10])
def test_a_processes_backend_with_threads_is_prestarted_as_one_process_any_corpus_takes_over(documents):
    """warm_up starts what a small corpus gets (one process of all the backend's threads); a large
    corpus takes it over as one of its processes (one thread each otherwise: the threads never change
    a token) and starts the others."""
    from koprep import supervised

    tokenizer, token_filter = _SpawnedThreaded(), tokenize_logic.TokenFilter((), (), 1)
    parallel.warm_up(tokenizer, token_filter, 2)
    (prestarted,) = supervised._prestarted.values()
    (started,) = prestarted  # the supervisor takes it out of that list
    how = parallel.plan(tokenizer, 2, documents)
    assert (how.processes, how.threads) == ((2, 1) if documents > parallel.MIN_TEXTS_PER_PROCESS else (1, 2))
    shards = [[f"문서 {i}" for i in range(3 * parallel.PROCESS_BATCH)]]
    (shard,) = parallel.tokenize_shards(tokenizer, token_filter, shards, how)
    assert shard.tokens.to_pylist() == [text.split() for text in shards[0]]
    assert not supervised._prestarted and started.process.exitcode == 0  # taken over, stopped when done


@pytest.mark.slow  # spawns worker processes
def test_process_batches_are_reassembled_in_order_shard_by_shard():
    shards = [
        [f"w{i} x{i % 7}" for i in range(1_234)],
        [],
        ["  ", "하나"],
        [f"문서 {i}" for i in range(parallel.PROCESS_BATCH * 3)],
    ]
    token_filter = tokenize_logic.TokenFilter((), (), 1)
    how = parallel.plan(_SpawnedWhitespace(), workers=2)
    assert str(how) == "2 worker processes"
    got = list(parallel.tokenize_shards(_SpawnedWhitespace(), token_filter, iter(shards), how))
    assert [shard.tokens.to_pylist() for shard in got] == [[text.split() for text in shard] for shard in shards]
    assert all(shard.tokens.type == pa.list_(pa.string()) and not shard.quarantined for shard in got)


def test_small_corpora_and_single_worker_stay_in_process():
    assert str(parallel.plan(_SpawnedWhitespace(), 2, documents=parallel.MIN_TEXTS_PER_PROCESS)) == "in process"
    assert str(parallel.plan(_SpawnedWhitespace(), 1, documents=10**6)) == "in process"
    assert str(parallel.plan(get_tokenizer("whitespace"), 8, documents=10**6)) == "in process"
    # a backend that is not crash-safe is supervised: one worker process even for one worker
    assert str(parallel.plan(get_tokenizer("okt"), 1)) == "1 of the backend's own workers in a worker process"
    assert str(parallel.plan(get_tokenizer("okt"), 1, supervise=False)) == "1 of the backend's own workers"


def test_kiwi_runs_one_kiwi_thread_per_process_and_all_threads_in_one_process_for_a_small_corpus():
    if not _installed("kiwi"):
        pytest.skip("kiwi is not installed")
    kiwi = get_tokenizer("kiwi")
    large, small = parallel.plan(kiwi, 2, 10**6), parallel.plan(kiwi, 2, parallel.MIN_TEXTS_PER_PROCESS)
    assert (str(large), large.threads) == ("2 worker processes", 1)
    assert (str(small), small.threads) == ("2 of the backend's own workers in a worker process", 2)
    assert str(parallel.plan(kiwi, 4, 10**6)) == "4 worker processes"
    assert str(parallel.plan(kiwi, 4, 2 * parallel.MIN_TEXTS_PER_PROCESS)) == "2 worker processes of 2 threads"
    assert parallel._set_up(kiwi, large).options.num_workers == 1
    assert parallel._set_up(kiwi, small).options.num_workers == 2
    pinned = get_tokenizer("kiwi", {"num_workers": 3})
    assert parallel._set_up(pinned, large).options.num_workers == 3  # an explicit setting wins


def test_an_explicit_backend_setting_overrides_workers():
    okt = get_tokenizer("okt")
    assert okt.with_workers(3).options.threads == 3
    pinned = get_tokenizer("okt", {"threads": 1})
    assert pinned.with_workers(3).options.threads == 1


@pytest.mark.parametrize("value", [0, -2])
def test_workers_must_be_positive(value):
    with pytest.raises(ConfigError, match="run.workers"):
        load_config(overrides={"run.workers": value})


@pytest.mark.slow
def test_a_script_without_a_main_guard_gets_told_how_to_fix_it(tmp_path):
    script = tmp_path / "no_guard.py"
    script.write_text(
        "from koprep import parallel\n"
        "from koprep.stages.tokenize import TokenFilter\n"
        "from tests.backends.test_parallel import _SpawnedWhitespace\n"
        "tokenizer = _SpawnedWhitespace()\n"
        "list(parallel.tokenize_shards(tokenizer, TokenFilter((), (), 1), [['a b'] * 10], parallel.plan(tokenizer, 2)))\n"
    )
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("koprep.supervised.WorkerProcessError") and 'if __name__ == "__main__":' in last_line


def test_the_workers_flag_is_the_run_workers_setting():
    from koprep.cli import build_parser
    from koprep.cli.options import settings_from

    args = build_parser().parse_args(["run", "corpus.txt", "--workers", "3", "--set", "run.shard_size=10"])
    config = load_config(overrides=dict(settings_from(args)))
    assert (config.run.workers, config.run.shard_size) == (3, 10)
    assert load_config().run.workers is None  # every core, decided when the stage runs
