"""The store in a bucket vs on local disk: the three targets of the object-storage issue, in one run.

A moto server (S3-compatible, HTTP on 127.0.0.1, its own process) is started here; koprep reaches it
through s3fs and the standard AWS environment. Each case is a fresh process, timed from launch to exit:

1. cold run, store on S3 vs store on local disk (target: at most 1.15x): the stage chain directly
   (`koprep.pipeline.runner.run_and_record`: the work of `koprep run` without Prefect, whose start-up
   would add the same seconds to both sides), once each;
2. no-op re-run (every stage cached), store on S3 with this machine's cache vs local (target: at
   most 5 s and at most 2x the local no-op): `koprep run` again, as a user re-runs it (answered from
   the store without Prefect: the plan, the lookups, the run record, the HTML report); also a fresh
   machine's no-op (empty cache: downloads), and, for the store's own share, the stage chain's no-op
   (plan, preflight, lookups, record: no command start-up, no report);
3. the second `open_run(...).matrix("tfidf")` in one process, S3 vs local (target: at most 1.2x).

The short cases (2 and 3) alternate local and S3, --repeats times each, and compare medians.

    .venv/bin/python bench/bench_object_store.py --docs 50000 --backend okt
    .venv/bin/python bench/bench_object_store.py --docs 5000 --backend whitespace   # a busy machine

Ratios are against the local baseline measured in the same run; the core count and load are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NSMC = REPO.parent / "shared" / "corpora" / "nsmc" / "ratings_train.txt"

CHAIN = """
import json, sys, time
from koprep.config import load_config
from koprep.pipeline.runner import run_and_record
from koprep.plan import build_plan
from koprep.store import ArtifactStore
store, corpus, backend = sys.argv[1:4]
record = run_and_record(build_plan(ArtifactStore(store), corpus, load_config(None, {}, backend))).to_json()
print(json.dumps({name: stage["cached"] for name, stage in record["stages"].items()}))
"""

LOAD = """
import json, sys, time
from koprep.loaders import open_run
times = []
for _ in range(2):
    started = time.perf_counter()
    open_run(sys.argv[1]).matrix("tfidf")
    times.append(time.perf_counter() - started)
print(json.dumps(times))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed(code: str, *args: str, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"failed: {result.stderr[-3000:]}")
    return seconds, result.stdout.strip().splitlines()[-1]


def timed_cli(store: str, corpus: str, backend: str, *, env: dict[str, str]) -> float:
    """A `koprep run` of a fully stored plan, as a user re-runs it: answered from the store without
    Prefect (its start-up, the plan, the lookups, the run record and the HTML report), launch to exit."""
    koprep = Path(sys.executable).with_name("koprep")
    started = time.perf_counter()
    result = subprocess.run([str(koprep), "run", corpus, "--backend", backend, "--artifacts", store],
                            env=env, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - started
    if result.returncode != 0 or "nothing to do" not in result.stdout:
        raise SystemExit(f"the re-run was not a no-op: {result.stdout[-2000:]}{result.stderr[-2000:]}")
    return seconds


def requests_logged(server_log: Path) -> int:
    """How many HTTP requests the moto server has logged so far (one line each)."""
    return sum(1 for line in server_log.read_text(errors="replace").splitlines() if '" 20' in line or '" 4' in line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=50000)
    parser.add_argument("--backend", default="okt")
    parser.add_argument("--repeats", type=int, default=5, help="samples of each short case (no-op, matrix load)")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    work = Path(tempfile.mkdtemp(prefix="koprep-bench-s3-"))
    corpus = work / "reviews.tsv"
    with open(NSMC, encoding="utf-8") as source, open(corpus, "w", encoding="utf-8") as sink:
        for index, line in enumerate(source):
            if index > args.docs:
                break
            sink.write(line)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    # The server logs one line per request: the no-op's request count is read from it (unlike its
    # time, the count does not depend on the machine's load).
    server_log = work / "moto.log"
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=open(server_log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()
                break
            except OSError:
                time.sleep(0.2)
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret",
               "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1",
               "KOPREP_CACHE_DIR": str(work / "cache"), "PYTHONPATH": str(REPO / "src")}
        import s3fs

        s3fs.S3FileSystem(key="bench", secret="bench-secret", endpoint_url=endpoint).mkdir("bench")
        local, remote = str(work / "artifacts"), "s3://bench/store"
        results: dict[str, float] = {}
        samples: dict[str, list[float]] = {}
        for name, store in (("local", local), ("s3", remote)):
            results[f"cold {name}"] = timed(CHAIN, store, str(corpus), args.backend, env=env)[0]
        # The short cases alternate local and S3, --repeats times each; their medians are compared.
        for _ in range(args.repeats):
            for name, store in (("local", local), ("s3", remote)):
                before = requests_logged(server_log)
                samples.setdefault(f"no-op {name}", []).append(timed_cli(store, str(corpus), args.backend, env=env))
                if name == "s3":
                    requests = requests_logged(server_log) - before
                samples.setdefault(f"no-op chain {name}", []).append(timed(CHAIN, store, str(corpus), args.backend, env=env)[0])
                samples.setdefault(f"matrix {name}", []).append(json.loads(timed(LOAD, store, env=env)[1])[1])
        fresh = {**env, "KOPREP_CACHE_DIR": str(work / "fresh-machine")}
        samples["no-op s3, fresh machine"] = [timed_cli(remote, str(corpus), args.backend, env=fresh)]
        results.update({name: statistics.median(values) for name, values in samples.items()})
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()

    print(f"{args.docs} NSMC reviews, backend {args.backend}, {os.cpu_count()} cores, load {load_before:.1f}-"
          f"{os.getloadavg()[0]:.1f}; no Prefect server; S3 = moto server on 127.0.0.1; short cases: medians of "
          f"{args.repeats}, alternating")
    for name, seconds in results.items():
        spread = ", ".join(f"{value:.3f}" for value in samples.get(name, []))
        print(f"  {name:<26} {seconds:8.3f} s" + (f"   ({spread})" if len(samples.get(name, [])) > 1 else ""))
    chain = results["no-op chain s3"] / results["no-op chain local"]
    print(f"  (the stage chain's own no-op, without the command's start-up and report: S3 / local {chain:.2f}x)")
    cold = results["cold s3"] / results["cold local"]
    noop = results["no-op s3"] / results["no-op local"]
    matrix = results["matrix s3"] / results["matrix local"]
    print(f"target 1: cold run on S3 / local          {cold:.2f}x  (target <= 1.15x) {'ok' if cold <= 1.15 else 'MISSED'}")
    print(f"target 2: no-op on S3 {results['no-op s3']:.2f} s, / local  {noop:.2f}x  (target <= 5 s and <= 2x) "
          f"{'ok' if results['no-op s3'] <= 5 and noop <= 2 else 'MISSED'}; {requests} requests to the S3 server")
    print(f"target 3: second matrix('tfidf') S3 / local {matrix:.2f}x  (target <= 1.2x) {'ok' if matrix <= 1.2 else 'MISSED'}")


if __name__ == "__main__":
    main()
