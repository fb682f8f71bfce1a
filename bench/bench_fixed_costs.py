"""The fixed costs of a `koprep run`, and what the no-op path and a running Prefect server save.

Every measurement is a fresh `koprep`/`python` process (wall time, best of --repeats), on the first
--docs NSMC reviews:

- `koprep --help`, bare `python -c pass` (the interpreter's own start), importing `koprep.plan`
  (the no-op path's stack) and `flows.preprocess` (Prefect + the flow), starting the Okt JVM;
- `koprep status` and a fully cached `koprep run` (answered from the store, no Prefect), and the
  same fully cached run through the flow with a temporary server (what every run cost before);
- a cold `koprep run` without PREFECT_API_URL (KOPREP_PREFECT_SERVER=per-run: a temporary server
  of its own, as every run before the kept server) and the same
  cold run against a `prefect server start` already running (its start is not counted).

`--cold-pairs N` measures only the start-up tax (see `start_up_tax`): the first run on a machine,
later runs reusing the server `koprep run` keeps, later runs with KOPREP_PREFECT_SERVER=per-run,
and runs against a running server. `--server-start` splits a temporary server's start into
importing Prefect's server and its database migrations, on a new and on an existing database.

    .venv/bin/python bench/bench_fixed_costs.py --docs 2000 --backend whitespace
    .venv/bin/python bench/bench_fixed_costs.py --docs 2000 --backend okt --repeats 1
    .venv/bin/python bench/bench_fixed_costs.py --docs 2000 --backend mecab --cold-pairs 3
    .venv/bin/python bench/bench_fixed_costs.py --server-start --repeats 3
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "nsmc" / "ratings_train.txt"
FAST = ["--set", "word2vec.vector_size=32", "--set", "word2vec.epochs=2"]


def clean_env(home: Path, api_url: str | None = None, server: str = "per-run") -> dict[str, str]:
    """`server`: KOPREP_PREFECT_SERVER, what a run without PREFECT_API_URL does (per-run: a temporary
    server of its own, stopped at its end; reuse: the server kept in PREFECT_HOME, started if none)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "KOPREP_PREFECT_SERVER"))}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", KOPREP_PREFECT_SERVER=server,
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90")  # as koprep.cli sets it
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def stop_kept_server(home: Path) -> None:
    """Stop the server a `reuse` run kept in `home` (`koprep server stop`), so the bench leaves none."""
    subprocess.run([str(BIN / "koprep"), "server", "stop"], env=clean_env(home), capture_output=True, timeout=120)


def timed(command: list[str], env: dict[str, str], repeats: int = 1, setup=None) -> tuple[float, float]:
    """Best (wall seconds, CPU seconds) of `repeats` runs; CPU time (user + system, the process and
    every child it waited for, a temporary Prefect server included) is steadier on a shared machine."""
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        if setup:
            setup()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best = min(best, (elapsed, cpu))
    return best


def start_server(home: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env={**clean_env(home), "PREFECT_SERVER_UI_ENABLED": "false"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return server, url
        except OSError:
            time.sleep(0.5)
    os.killpg(server.pid, signal.SIGTERM)
    raise SystemExit("prefect server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--backend", default="whitespace")
    parser.add_argument("--repeats", type=int, default=3, help="best of N for the short measurements")
    parser.add_argument("--cold-pairs", type=int, default=0,
                        help="only the start-up tax: N rounds of cold runs without PREFECT_API_URL (a fresh PREFECT_HOME, "
                             "as the first run on a machine; later runs reusing the kept server; later runs with "
                             "KOPREP_PREFECT_SERVER=per-run) and against a running server, medians")
    parser.add_argument("--server-start", action="store_true",
                        help="only where a temporary server's start goes: importing Prefect's server, then its "
                             "database migrations on a fresh PREFECT_HOME and on an existing one (CPU seconds)")
    args = parser.parse_args()
    if args.server_start:
        return server_start(args)
    if args.cold_pairs:
        return start_up_tax(args)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = tmp / "nsmc.tsv"
        with open(CORPUS, encoding="utf-8") as source:
            corpus.write_text("".join(line for _, line in zip(range(args.docs + 1), source)), encoding="utf-8")
        koprep = str(BIN / "koprep")
        python = sys.executable
        run = [koprep, "run", str(corpus), "--backend", args.backend, *FAST]
        homes = iter(range(1000))

        def fresh_home() -> Path:
            home = tmp / f"home-{next(homes)}"
            home.mkdir()
            return home

        offline = clean_env(fresh_home())
        rows: list[tuple[str, tuple[float, float]]] = []
        rows.append(("python -c pass (interpreter start)", timed([python, "-c", "pass"], offline, args.repeats)))
        rows.append(("koprep --help", timed([koprep, "--help"], offline, args.repeats)))
        rows.append(("import koprep.plan (no-op path's stack)", timed([python, "-c", "import koprep.plan"], offline, args.repeats)))
        rows.append(("import koprep.orchestration.flow (Prefect + flow)", timed([python, "-c", "import koprep.orchestration.flow"], offline, args.repeats)))
        rows.append(("start the Okt JVM + first analysis", timed(
            [python, "-c", "from koprep.tokenizers.okt import shared_okt; shared_okt().pos('시작')"], offline, args.repeats,
        )))

        def fresh_store(name: str):
            def reset():
                shutil.rmtree(tmp / name, ignore_errors=True)
            return reset

        cold_temporary = timed([*run, "--artifacts", str(tmp / "a1")], clean_env(fresh_home()), 1, fresh_store("a1"))
        server_home = fresh_home()
        server, url = start_server(server_home)
        try:
            cold_server = timed([*run, "--artifacts", str(tmp / "a2")], clean_env(server_home, url), 1, fresh_store("a2"))
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
        status = timed([koprep, "status", str(corpus), "--backend", args.backend, *FAST, "--artifacts", str(tmp / "a2")],
                       offline, args.repeats)
        noop_home = fresh_home()
        noop = timed([*run, "--artifacts", str(tmp / "a2")], clean_env(noop_home), args.repeats)
        assert not list(noop_home.iterdir()), "the no-op run touched PREFECT_HOME"
        # The same fully cached run through the flow, as every `koprep run` went before the no-op path.
        through_flow = timed([python, "-c", (
            "from koprep.orchestration.flow import preprocess; "
            f"preprocess(corpus={str(corpus)!r}, backend={args.backend!r}, artifacts={str(tmp / 'a2')!r}, "
            "overrides={'word2vec.vector_size': 32, 'word2vec.epochs': 2})"
        )], clean_env(fresh_home()), 1)
        rows += [  # the temporary-server rows: KOPREP_PREFECT_SERVER=per-run (clean_env's default)
            (f"koprep status ({args.docs} docs, everything cached)", status),
            ("koprep run, fully cached (no Prefect)", noop),
            ("the same through the flow, temporary Prefect server", through_flow),
            ("koprep run, cold, temporary Prefect server", cold_temporary),
            ("koprep run, cold, running Prefect server", cold_server),
        ]

    print(f"{args.docs} NSMC reviews, backend {args.backend}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}; best of {args.repeats} for the short ones, one cold run each")
    width = max(len(name) for name, _ in rows)
    print(f"  {'':<{width}}  {'wall s':>7}  {'CPU s':>7}")
    for name, (wall, cpu) in rows:
        print(f"  {name:<{width}}  {wall:7.2f}  {cpu:7.2f}")
    saved = (cold_temporary[0] - cold_server[0], cold_temporary[1] - cold_server[1])
    print(f"  {'a running server saves (cold temporary - cold running)':<{width}}  {saved[0]:7.2f}  {saved[1]:7.2f}")
    print(f"  {'no-op / cold run with a running server':<{width}}  {noop[0] / cold_server[0]:6.3f}x  "
          f"{noop[1] / cold_server[1]:6.3f}x")


SERVER_START = """
import asyncio, json, resource, time
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
c0, w0 = cpu(), time.perf_counter()
import prefect.server.api.server  # what the server process imports before it serves
from prefect.server.database import provide_database_interface
import alembic.operations.batch as batch
c1, w1 = cpu(), time.perf_counter()
rebuilt = [0]
flush = batch.BatchOperationsImpl.flush
def counted(self):
    rebuilt[0] += 1
    return flush(self)
batch.BatchOperationsImpl.flush = counted
asyncio.run(provide_database_interface().create_db())  # what the server's start runs: alembic upgrade head
c2, w2 = cpu(), time.perf_counter()
print(json.dumps({"import": [c1 - c0, w1 - w0], "migrate": [c2 - c1, w2 - w1], "rebuilt": rebuilt[0]}))
"""


def server_start(args: argparse.Namespace) -> None:
    """A temporary server's start, in parts (each a fresh process, best of --repeats): importing
    Prefect's server package, then `create_db` (Alembic's upgrade to head, as the server's start runs
    it) on a new database (the first run on a machine) and on an existing one (later starts)."""
    import json

    rows: dict[str, list[dict]] = {"new database": [], "existing database": []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            home = Path(tmp) / f"home-{repeat}"
            home.mkdir()
            for kind in rows:  # the new database first: the second start finds it migrated
                done = subprocess.run([sys.executable, "-c", SERVER_START], env=clean_env(home), capture_output=True,
                                      text=True, check=True)
                rows[kind].append(json.loads(done.stdout.splitlines()[-1]))
    print(f"a temporary Prefect server's start, in parts; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}; best of {args.repeats}; CPU s (wall s)")
    for kind, parts in rows.items():
        best = {part: min(row[part][0] for row in parts) for part in ("import", "migrate")}
        walls = {part: min(row[part][1] for row in parts) for part in ("import", "migrate")}
        print(f"  {kind + ':':<19} import Prefect's server {best['import']:5.2f} ({walls['import']:5.2f}), "
              f"migrations {best['migrate']:5.2f} ({walls['migrate']:5.2f}), "
              f"{max(row['rebuilt'] for row in parts)} SQLite batch table rebuilds")


def start_up_tax(args: argparse.Namespace) -> None:
    """Cold runs without PREFECT_API_URL against cold runs with a running server, alternating:

    - first run: a fresh PREFECT_HOME (the first run on a machine: the server creates and migrates
      its database); the run starts the server and keeps it (stopped, untimed, after each);
    - later runs, server reused (the default since the kept server): one PREFECT_HOME whose kept
      server an untimed run started, so each timed run only checks that it answers;
    - later runs, KOPREP_PREFECT_SERVER=per-run (every later run before the kept server): one
      PREFECT_HOME kept, its database made by an untimed run, a server started per run;
    - against a running `prefect server start` (its start not counted)."""
    import statistics

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = tmp / "nsmc.tsv"
        with open(CORPUS, encoding="utf-8") as source:
            corpus.write_text("".join(line for _, line in zip(range(args.docs + 1), source)), encoding="utf-8")
        run = [str(BIN / "koprep"), "run", str(corpus), "--backend", args.backend, *FAST]
        store = tmp / "store"

        def cold(env: dict[str, str]) -> float:
            shutil.rmtree(store, ignore_errors=True)
            return timed([*run, "--artifacts", str(store)], env)[0]

        server_home, per_run_home, reuse_home = tmp / "server-home", tmp / "per-run-home", tmp / "reuse-home"
        for home in (server_home, per_run_home, reuse_home):
            home.mkdir()
        server, url = start_server(server_home)
        kinds = {
            "first run: fresh PREFECT_HOME, starts the kept server": [],
            "later runs: the kept server reused (default)": [],
            "later runs: KOPREP_PREFECT_SERVER=per-run": [],
            "against a running Prefect server": [],
        }
        first, reused, per_run, running = kinds.values()
        loads = [os.getloadavg()[0]]
        homes = [reuse_home]
        try:
            cold(clean_env(per_run_home))  # creates the database the later per-run runs reuse
            cold(clean_env(reuse_home, server="reuse"))  # starts the server the later runs reuse
            for pair in range(args.cold_pairs):
                home = tmp / f"home-{pair}"
                home.mkdir()
                homes.append(home)
                first.append(cold(clean_env(home, server="reuse")))
                stop_kept_server(home)
                reused.append(cold(clean_env(reuse_home, server="reuse")))
                per_run.append(cold(clean_env(per_run_home)))
                running.append(cold(clean_env(server_home, url)))
                loads.append(os.getloadavg()[0])
        finally:
            for home in homes:
                stop_kept_server(home)
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    r = statistics.median(running)
    print(f"{args.docs} NSMC reviews, backend {args.backend}, {os.cpu_count()} cores, load average "
          f"{min(loads):.1f}-{max(loads):.1f}; {args.cold_pairs} alternating rounds of cold runs, medians")
    for name, times in kinds.items():
        print(f"  {name + ':':<57} {statistics.median(times):6.2f} s   ({', '.join(f'{x:.1f}' for x in times)})")
    print("  start-up tax (median - running server's median):")
    for name, times in list(kinds.items())[:3]:
        print(f"    {name + ':':<55} {statistics.median(times) - r:+6.2f} s")


if __name__ == "__main__":
    main()
