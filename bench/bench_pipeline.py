"""End-to-end: `koprep run` vs the hand-written notebook way, on the same NSMC sample, in one run.

The baseline is what teams copy today, all in memory: a regex clean, an `Okt().morphs(stem=True,
norm=True)` loop (or python-mecab-ko's `MeCab().morphs` with `--backend mecab`), `CountVectorizer`
(1-gram and 1–2-gram), `TfidfVectorizer` and gensim `Word2Vec`. Then `koprep run` on the same file:

- cold: an empty artifact store;
- again: the same command, nothing changed;
- append: 1% more reviews appended to the file;
- edit: 10 reviews edited.

Each case is its own process, started the way a user starts it (the baseline as `python`, koprep as
the `koprep` command against a Prefect server this bench starts, via PREFECT_API_URL), timed from
launch to exit, with its peak memory: the process tree's summed RSS (worker processes included),
sampled every 0.1 s, and the CPU seconds (user + system) of the process and all it waited for. The
temporary Prefect server that `koprep run` starts without PREFECT_API_URL is measured once, on a tiny
run. Ratios are against the baseline measured in the same run.

The reviews are NSMC's train file (150,000) followed by its test file (50,000; ids are unique across
both), so `--docs 200000` is all of NSMC. When fewer than `--docs` + 1% reviews exist, the append
case has nothing to append and is left out.

    .venv/bin/python bench/bench_pipeline.py --docs 20000 --backend okt
    .venv/bin/python bench/bench_pipeline.py --docs 50000 --backend mecab
    .venv/bin/python bench/bench_pipeline.py --docs 200000 --backend mecab --cases cold
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pandas as pd
import psutil

REPO = Path(__file__).resolve().parents[1]
NSMC = REPO.parent / "shared" / "corpora" / "nsmc"
CORPORA = (NSMC / "ratings_train.txt", NSMC / "ratings_test.txt")
"""Read in this order: reviews beyond the train file's 150,000 come from the test file."""
CASES = ("cold", "again", "append", "edit", "server")
BIN = Path(sys.executable).parent
W2V = {"vector_size": 100, "window": 5, "min_count": 2, "epochs": 5, "seed": 1, "workers": 1, "sg": 0}
EDITED_REVIEWS = 10


# ------------------------------------------------------------------------ the hand-written way
def baseline(corpus: Path, backend: str) -> dict[str, float]:
    """The notebook routine, in this process; returns seconds per step."""
    started = time.perf_counter()
    from gensim.models import Word2Vec
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    times = {"imports": time.perf_counter() - started}
    start = time.perf_counter()
    texts = pd.read_csv(corpus, sep="\t", quoting=3, dtype=str, keep_default_na=False)["document"].tolist()
    cleaned = [re.sub(r"[^가-힣ㄱ-ㅎㅏ-ㅣa-zA-Z0-9 ]", " ", t) for t in texts]
    times["read + clean"] = time.perf_counter() - start
    start = time.perf_counter()
    if backend == "okt":
        from konlpy.tag import Okt

        okt = Okt()
        tokens = [okt.morphs(t, stem=True, norm=True) for t in cleaned]
    else:
        from mecab import MeCab

        mecab = MeCab()
        tokens = [mecab.morphs(t) for t in cleaned]
    times["tokenize"] = time.perf_counter() - start
    identity = dict(tokenizer=lambda d: d, preprocessor=lambda d: d, token_pattern=None, lowercase=False)
    start = time.perf_counter()
    CountVectorizer(**identity).fit_transform(tokens)
    CountVectorizer(ngram_range=(1, 2), **identity).fit_transform(tokens)
    TfidfVectorizer(**identity).fit_transform(tokens)
    times["vectorize"] = time.perf_counter() - start
    start = time.perf_counter()
    Word2Vec([t for t in tokens if t], **W2V)
    times["word2vec"] = time.perf_counter() - start
    return times


# ------------------------------------------------------------------------------- measuring
def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tree_rss(pid: int) -> int:
    """The summed RSS of process `pid` and all its descendants now (0 once it has exited)."""
    try:
        root = psutil.Process(pid)
        members = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total


def measured(command: list[str], env: dict[str, str] | None = None) -> dict:
    """Run `command`; wall seconds from launch to exit, the peak summed RSS of its process tree, and
    its CPU seconds (the process's and its waited-for children's: worker processes included)."""
    cpu_before = _children_cpu_seconds()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(process.pid))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    cpu_seconds = _children_cpu_seconds() - cpu_before
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{stderr[-4000:]}")
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_mib": peak / 2**20, "stdout": stdout}


def koprep_run(corpus: Path, artifacts: Path, backend: str, env: dict[str, str]) -> dict:
    command = [str(BIN / "koprep"), "run", str(corpus), "--backend", backend, "--artifacts", str(artifacts), "--json"]
    for key, value in W2V.items():
        command += ["--set", f"word2vec.{key}={value}"]
    result = measured(command, env)
    summary = json.loads(result["stdout"].strip().splitlines()[-1])
    result["stages"] = {name: (stage["cached"], stage["seconds"]) for name, stage in summary["stages"].items()}
    return result


# --------------------------------------------------------------------------- Prefect server
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_prefect_server(home: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": url,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_UI_ENABLED": "false"}
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return server, url
        except OSError:
            time.sleep(0.5)
        if server.poll() is not None:
            break
    stop(server)
    raise SystemExit("the Prefect server did not start")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# ------------------------------------------------------------------------------------ main
def write_tsv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, sep="\t", index=False, quoting=3)


def edited(frame: pd.DataFrame, count: int) -> pd.DataFrame:
    """`count` reviews spread over the file, each with a word added."""
    frame = frame.copy()
    rows = [round(i * (len(frame) - 1) / max(count - 1, 1)) for i in range(count)]
    frame.loc[rows, "document"] = frame.loc[rows, "document"] + " 정말 최고"
    return frame


def read_reviews(count: int) -> pd.DataFrame:
    """The first `count` NSMC reviews: the train file's, then the test file's."""
    frames = []
    for path in CORPORA:
        wanted = count - sum(map(len, frames))
        if wanted <= 0:
            break
        frames.append(pd.read_csv(path, sep="\t", quoting=3, dtype=str, keep_default_na=False, nrows=wanted))
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=50_000,
                        help="NSMC reviews (default 50,000; up to 200,000: train, then test)")
    parser.add_argument("--backend", choices=["okt", "mecab"], default="okt")
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"koprep cases to run, comma-separated (default {','.join(CASES)}); "
                             "again/append/edit follow a cold run, which always runs; server is the "
                             "temporary Prefect server's cost")
    parser.add_argument("--baseline-only", metavar="TSV", help=argparse.SUPPRESS)  # the baseline's own process
    args = parser.parse_args()
    if args.baseline_only:
        print(json.dumps(baseline(Path(args.baseline_only), args.backend)))
        return

    wanted_cases = {case.strip() for case in args.cases.split(",") if case.strip()}
    if wanted_cases - set(CASES):
        parser.error(f"--cases: unknown {', '.join(sorted(wanted_cases - set(CASES)))}; choose from {', '.join(CASES)}")
    appended_docs = max(1, args.docs // 100)
    reviews = read_reviews(args.docs + appended_docs)
    if len(reviews) < args.docs:
        raise SystemExit(f"NSMC has only {len(reviews)} reviews ({', '.join(map(str, CORPORA))})")
    if len(reviews) < args.docs + appended_docs and "append" in wanted_cases:
        print(f"only {len(reviews)} reviews: nothing left to append, the append case is left out", file=sys.stderr)
        wanted_cases.discard("append")
    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    server = None
    try:
        corpus = tmp / "nsmc.tsv"
        write_tsv(reviews.head(args.docs), corpus)
        server, url = start_prefect_server(tmp / "prefect-home")
        env = {**os.environ, "PREFECT_API_URL": url, "PREFECT_HOME": str(tmp / "prefect-home")}

        base = measured([sys.executable, __file__, "--backend", args.backend, "--baseline-only", str(corpus)])
        steps = json.loads(base["stdout"].strip().splitlines()[-1])
        artifacts = tmp / "artifacts"
        cases = {"cold": koprep_run(corpus, artifacts, args.backend, env)}
        if "again" in wanted_cases:
            cases["again (no-op)"] = koprep_run(corpus, artifacts, args.backend, env)
        if "append" in wanted_cases:
            write_tsv(reviews, corpus)
            cases[f"append 1% (+{appended_docs})"] = koprep_run(corpus, artifacts, args.backend, env)
        if "edit" in wanted_cases:
            write_tsv(edited(reviews if "append" in wanted_cases else reviews.head(args.docs), EDITED_REVIEWS), corpus)
            cases[f"edit {EDITED_REVIEWS} reviews"] = koprep_run(corpus, artifacts, args.backend, env)

        if "server" in wanted_cases:
            small = tmp / "small.tsv"
            write_tsv(reviews.head(1000), small)
            no_server_env = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
            with_server = koprep_run(small, tmp / "small-a", "whitespace", env)
            temporary = koprep_run(small, tmp / "small-b", "whitespace", no_server_env)
    finally:
        if server is not None:
            stop(server)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"NSMC reviews: {args.docs:,}   backend: {args.backend}   cores: {os.cpu_count()} "
          f"(usable: {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()})   "
          f"load average at the end: {os.getloadavg()[0]:.1f}")
    print("hand-written, inside its process: " + ", ".join(f"{k} {v:.1f}s" for k, v in steps.items()))
    print(f"{'case':<24} {'seconds':>8} {'ratio':>7} {'CPU s':>7} {'ratio':>6} {'peak MiB':>9} {'ratio':>6}"
          "   stages computed (s)")
    print(f"{'hand-written':<24} {base['seconds']:>8.1f} {1:>7.3f} {base['cpu_seconds']:>7.1f} {1:>6.2f} "
          f"{base['peak_mib']:>9.0f} {1:>6.2f}")
    for name, case in cases.items():
        computed = ", ".join(f"{stage} {s:.1f}" for stage, (cached, s) in case["stages"].items() if not cached) or "none"
        print(f"{'koprep ' + name:<24} {case['seconds']:>8.1f} {case['seconds'] / base['seconds']:>7.3f} "
              f"{case['cpu_seconds']:>7.1f} {case['cpu_seconds'] / base['cpu_seconds']:>6.2f} "
              f"{case['peak_mib']:>9.0f} {case['peak_mib'] / base['peak_mib']:>6.2f}   {computed}")
    if "server" in wanted_cases:
        print(f"temporary Prefect server (no PREFECT_API_URL), 1,000 reviews, whitespace: {temporary['seconds']:.1f}s "
              f"vs {with_server['seconds']:.1f}s against the running server: "
              f"+{temporary['seconds'] - with_server['seconds']:.1f}s")


if __name__ == "__main__":
    main()
