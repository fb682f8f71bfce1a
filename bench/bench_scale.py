"""The scale curve: a cold `koprep run` on 200k, 500k, 1M and 2M documents, mecab and kiwi.

The documents are NSMC (train then test, 200,000 reviews) repeated; every copy after the first is
marked (its ids shifted by a billion per copy, " 사본N" appended to its text), so copies are distinct
documents with their own shards and digests, and the vocabulary grows a little with each copy.

For each backend and size, one cold run in its own process (`koprep run --json` against a Prefect
server this bench starts), timed from launch to exit, with the summed RSS of its whole process tree
(worker processes included) sampled every 0.2 s. Per stage: the seconds the run record gives and the
peak RSS of the tree while the stage ran (its window ends at its task's "Finished" log line and lasts
its recorded seconds; stages that run side by side share their peaks). "start" is from launch to the
first stage's start (imports, the plan, reading and cleaning the corpus: the preflight), "end" from
the last stage's end to exit (the run record, the report). Artifact bytes per document: the store's
bytes (per stage and in total, hard links counted once) over the documents.

Ratios are against the smallest size measured in the same run; the targets: time at 1M ≤ 5.25× and
at 2M ≤ 10.5× the 200k time, peak memory ≤ 1.5× the 200k peak, bytes per document flat.

    .venv/bin/python bench/bench_scale.py                                   # 200k 500k 1M 2M, mecab and kiwi
    .venv/bin/python bench/bench_scale.py --sizes 200000 500000 --backends mecab
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import BIN, W2V, read_reviews, start_prefect_server, stop, tree_rss  # noqa: E402

FINISHED = re.compile(r"^(\d\d:\d\d:\d\d\.\d+) \| \w+\s*\| Task run '([\w-]+?)-[0-9a-f]{3}' - Finished")
NSMC = 200_000


def write_corpus(path: Path, size: int) -> None:
    """`size` documents: NSMC, then marked copies of it (TSV: id, document, label)."""
    reviews = read_reviews(NSMC)
    ids = reviews["id"].astype("int64")
    with open(path, "w", encoding="utf-8") as out:
        out.write("id\tdocument\tlabel\n")
        written, copy = 0, 0
        while written < size:
            take = min(len(reviews), size - written)
            marker = f" 사본{copy}" if copy else ""
            shift = copy * 1_000_000_000
            out.writelines(
                f"{i + shift}\t{text}{marker}\t{label}\n"
                for i, text, label in zip(ids[:take], reviews["document"][:take], reviews["label"][:take])
            )
            written += take
            copy += 1


def run_measured(command: list[str], env: dict[str, str]) -> dict:
    started_wall, started = time.time(), time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    samples: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append((time.time(), tree_rss(process.pid)))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    ended_wall = time.time()
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{stderr[-4000:]}")
    record = json.loads(stdout.strip().splitlines()[-1])
    return {"seconds": seconds, "samples": samples, "stderr": stderr, "record": record,
            "started": started_wall, "ended": ended_wall}


def stage_windows(result: dict) -> dict[str, tuple[float, float, float]]:
    """Stage → (start, end, seconds) in wall-clock time, from the tasks' "Finished" log lines and the record."""
    day = dt.datetime.fromtimestamp(result["started"]).date()
    finished: dict[str, float] = {}
    for line in result["stderr"].splitlines():
        match = FINISHED.match(line)
        if match:
            clock = dt.datetime.combine(day, dt.time.fromisoformat(match.group(1))).timestamp()
            finished[match.group(2)] = clock
    windows = {}
    for name, stage in result["record"]["stages"].items():
        end = finished.get(name) or finished.get(f"{name}-shards")
        if end is not None and not stage["cached"]:
            windows[name] = (end - stage["seconds"], end, stage["seconds"])
    if windows:
        first = min(start for start, _, _ in windows.values())
        last = max(end for _, end, _ in windows.values())
        windows = {"start": (result["started"], first, first - result["started"]), **windows,
                   "end": (last, result["ended"], result["ended"] - last)}
    return windows


def peak_mib(samples: list[tuple[float, int]], start: float = 0.0, end: float = float("inf")) -> float:
    inside = [rss for moment, rss in samples if start - 0.2 <= moment <= end + 0.2]
    return max(inside, default=0) / 2**20


def store_bytes(root: Path) -> dict[str, int]:
    """Bytes per stage folder of the store, each inode counted once."""
    seen: set[tuple[int, int]] = set()
    sizes: dict[str, int] = {}
    for stage in sorted(p for p in root.iterdir() if p.is_dir()):
        total = 0
        for path in stage.rglob("*"):
            info = path.lstat()
            if path.is_file() and (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_size
        sizes[stage.name] = total
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 500_000, 1_000_000, 2_000_000])
    parser.add_argument("--backends", nargs="+", default=["mecab", "kiwi"])
    parser.add_argument("--keep", type=Path, help="keep the corpora and stores in this folder")
    args = parser.parse_args()
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    tmp.mkdir(parents=True, exist_ok=True)
    server, url = start_prefect_server(tmp / "prefect-home")
    env = {**os.environ, "PREFECT_API_URL": url, "PREFECT_HOME": str(tmp / "prefect-home")}
    print(f"cores {os.cpu_count()} (usable {len(os.sched_getaffinity(0))}); a Prefect server running; "
          f"load average at the start {os.getloadavg()[0]:.1f}", flush=True)
    try:
        for backend in args.backends:
            rows = []
            for size in args.sizes:
                corpus = tmp / f"nsmc-{size}.tsv"
                if not corpus.exists():
                    write_corpus(corpus, size)
                store = tmp / f"store-{backend}-{size}"
                shutil.rmtree(store, ignore_errors=True)
                command = [str(BIN / "koprep"), "run", str(corpus), "--backend", backend, "--artifacts", str(store),
                           "--json", *[f"--set=word2vec.{k}={v}" for k, v in W2V.items()]]
                load = os.getloadavg()[0]
                result = run_measured(command, env)
                sizes = store_bytes(store)
                rows.append((size, result, sizes, load, os.getloadavg()[0]))
                report(backend, size, result, sizes, load)
                if not args.keep:
                    shutil.rmtree(store, ignore_errors=True)
            summary(backend, rows)
    finally:
        stop(server)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def report(backend: str, size: int, result: dict, sizes: dict[str, int], load: float) -> None:
    print(f"\n{backend} {size:,} documents: {result['seconds']:.1f} s, peak {peak_mib(result['samples']):.0f} MiB "
          f"(whole process tree), {sum(sizes.values()) / size:.0f} artifact bytes/doc; load {load:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end", flush=True)
    print(f"  {'stage':<10} {'seconds':>8} {'peak MiB':>9} {'bytes/doc':>10}")
    for name, (start, end, seconds) in stage_windows(result).items():
        per_doc = f"{sizes[name] / size:10.1f}" if name in sizes else f"{'':>10}"
        print(f"  {name:<10} {seconds:8.1f} {peak_mib(result['samples'], start, end):9.0f} {per_doc}", flush=True)


def summary(backend: str, rows: list) -> None:
    base_size, base, base_sizes, _, _ = rows[0]
    base_peak = peak_mib(base["samples"])
    print(f"\n{backend}: against {base_size:,} documents (targets: time ≤ 1.05× the size ratio, peak ≤ 1.5×, bytes/doc flat)")
    print(f"  {'documents':>10} {'seconds':>8} {'x time':>7} {'x size':>7} {'peak MiB':>9} {'x peak':>7} "
          f"{'bytes/doc':>10} {'load':>9}")
    for size, result, sizes, load_start, load_end in rows:
        per_doc = sum(sizes.values()) / size
        print(f"  {size:>10,} {result['seconds']:8.1f} {result['seconds'] / base['seconds']:7.2f} "
              f"{size / base_size:7.2f} {peak_mib(result['samples']):9.0f} {peak_mib(result['samples']) / base_peak:7.2f} "
              f"{per_doc:10.0f} {load_start:4.1f}-{load_end:<4.1f}", flush=True)


if __name__ == "__main__":
    main()
