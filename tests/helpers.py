"""Shared test data access: the real corpora beside the checkout (../shared/corpora)."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
CORPORA = REPO.parent / "shared" / "corpora"
NSMC_TRAIN = CORPORA / "nsmc" / "ratings_train.txt"
NSMC_TEST = CORPORA / "nsmc" / "ratings_test.txt"
PETITIONS = CORPORA / "petitions"
CHATBOT = CORPORA / "chatbot" / "ChatbotData.csv"
W2V_EVAL = CORPORA / "word2vec_eval"

fast_test: str | None = None
"""The node id of the running test when it is not marked slow (set by tests/conftest.py)."""


def require(path: Path) -> Path:
    """`path` in the shared corpora; skips the test when the corpora are not beside the checkout.
    Only slow tests may read them: the fast tier runs without."""
    if fast_test is not None:
        pytest.fail(f"{fast_test} reads the shared corpora ({path.name}): mark it slow or use inline text", pytrace=False)
    if not path.exists():
        pytest.skip(f"shared corpus {path} is not available beside the checkout")
    return path


def nsmc(n: int, split: str = "train") -> pd.DataFrame:
    path = require(NSMC_TRAIN if split == "train" else NSMC_TEST)
    return pd.read_csv(path, sep="\t", quoting=3, dtype=str, keep_default_na=False, nrows=n)


def write_nsmc(path: Path, n: int, split: str = "train") -> Path:
    """The first `n` NSMC reviews as a TSV corpus file at `path` (as koprep reads NSMC)."""
    nsmc(n, split).to_csv(path, sep="\t", index=False, quoting=3)
    return path


def hand_built_cv_scores(
    texts: list[str], labels: list[int], presets: list[str], cs: list[float], folds: list, backend: str, artifacts: str
) -> dict[tuple[str, float], list[float]]:
    """What a user does without KoprepVectorizer, per preset and fold: write the training texts as
    a corpus, `koprep run` it with the preset, run the held-out texts with `run.fitted_from`, load
    both runs' features and fit a logistic regression for each C. (preset, C) → accuracy per fold;
    the oracle for KoprepVectorizer in GridSearchCV (tests/unit/test_sklearn.py,
    bench/bench_sklearn.py)."""
    import tempfile

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.linear_model import LogisticRegression

    from koprep.config import load_config
    from koprep.loaders import feature_stages, open_run
    from koprep.pipeline.runner import run_and_record
    from koprep.plan import build_plan
    from koprep.store import ArtifactStore

    store = ArtifactStore(artifacts)
    scores: dict[tuple[str, float], list[float]] = {(preset, c): [] for preset in presets for c in cs}

    def features(run_id: str, stages: list[str]):
        found = open_run(artifacts, run_id).features(stages)
        return found.matrix[np.argsort(np.asarray(found.doc_ids, dtype=np.int64), kind="stable")]

    with tempfile.TemporaryDirectory() as folder:
        for preset in presets:
            for number, (train, test) in enumerate(folds):
                runs = {}
                for part, rows in (("train", train), ("test", test)):
                    corpus = Path(folder) / f"{preset}-{number}-{part}.parquet"
                    pq.write_table(pa.table({"doc_id": [str(i) for i in range(len(rows))],
                                             "text": [texts[i] for i in rows]}), corpus)
                    overrides = {"run.fitted_from": runs["train"]} if part == "test" else {}
                    config = load_config(None, overrides, backend, preset)
                    config = config.with_run_stages(feature_stages(config))
                    runs[part] = run_and_record(build_plan(store, str(corpus), config)).run_id
                stages = feature_stages(load_config(None, {}, backend, preset))
                x_train, x_test = features(runs["train"], stages), features(runs["test"], stages)
                y = np.asarray(labels)
                for c in cs:
                    model = LogisticRegression(C=c, solver="liblinear").fit(x_train, y[train])
                    scores[(preset, c)].append(float(model.score(x_test, y[test])))
    return scores


@contextlib.contextmanager
def plugin_on_path(site: Path, monkeypatch: pytest.MonkeyPatch, module: str, source: str, distribution: str,
                     entry_points: str) -> Iterator[Path]:
    """A tokenizer plug-in as pip would leave it: `module`.py and a dist-info with entry_points.txt in
    `site`, put on sys.path, with the backend registry reset so its entry points are read again;
    on exit the module is forgotten so the next test imports its own copy."""
    import importlib
    import sys
    import textwrap

    from koprep.tokenizers import registry

    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    dist_info = site / f"{distribution.replace('-', '_')}-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(entry_points)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(registry, "_registry", dict(registry._BUILTIN))
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    try:
        yield site
    finally:
        sys.modules.pop(module, None)
        importlib.invalidate_caches()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a server a test starts)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(server: subprocess.Popen, url: str, log_path: Path, what: str, timeout: float,
                       interval: float = 0.2) -> None:
    """Return once `url` answers 2xx; raise with the end of the server's log if it exits or `timeout`
    seconds pass first."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if 200 <= response.status < 300:
                    return
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start: {log_path.read_text(errors='replace')[-3000:]}")
        time.sleep(interval)


def stop_process_group(process: subprocess.Popen, timeout: float = 20) -> None:
    """Stop a process started in its own session, and its children (a Dask nanny spawns the worker)."""
    import os
    import signal

    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # children left behind by a parent that exited first
    except ProcessLookupError:
        pass
    process.wait()


def run_at_once(commands: list[tuple[list[str], dict[str, str]]], cwd: Path, timeout: float = 300
                ) -> list[subprocess.CompletedProcess]:
    """Start every (argv, env) command, then wait for each: their results in order, as `subprocess.run`
    with capture_output and text gives them. For commands that do not depend on each other (commands
    that only read a store), which then overlap their interpreter start-ups."""
    started = [(argv, subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                       cwd=cwd)) for argv, env in commands]
    results = []
    try:
        for argv, process in started:
            stdout, stderr = process.communicate(timeout=timeout)
            results.append(subprocess.CompletedProcess(argv, process.returncode, stdout, stderr))
    finally:
        for _, process in started:
            if process.poll() is None:
                process.kill()
                process.wait()
    return results
