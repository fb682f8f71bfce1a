"""Where the flow's tasks run: `local` (the default) or `dask`, an existing Dask cluster.

    local  every stage a Prefect task on the flow's ThreadPoolTaskRunner, started as soon as its
           inputs are done (chargram beside tokenize, the vectorizers and word2vec side by side);
           tokenize's bookkeeping in the flow's thread, with the shards to tokenize as one task on
           the process's cores the way the backend parallelises best: all in the process that runs
           the flow.
    dask   every task runs on the workers of an existing Dask cluster, one tokenize task per shard to
           tokenize, submitted through prefect-dask's
           `DaskTaskRunner(address=...)`. The tasks get the same arguments (the run's `Resolution`,
           whose store root is absolute, a stage's key and its upstream `StageResult`s: plain
           picklable values) and the workers read the corpus and read and write the store at the
           same absolute paths as the flow, so a store on disk must be shared (a network file system
           mounted at the same path on every machine). A store or corpus that is a URL
           (s3://bucket/prefix) needs no shared path: each worker reads and writes the bucket with
           its own credentials and its own local cache (`koprep.mirror`).

The runner never enters a fingerprint or an output: it only decides which process calls the same
stage functions. The flow's walk over the plan (`koprep.pipeline.runner.execute`) goes through an
executor's `submit` (a stage: a future) and `map_shards` (a fanning-out stage's shards).

The JVM (Okt) starts in a Dask worker process, never in the nanny that starts and restarts workers,
so a nanny never forks a process that has a JVM; the worker itself forks nothing.

Importing this module imports neither Prefect nor Dask: the CLI checks a runner choice before
Prefect is loaded.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from koprep.errors import BadInputError

if TYPE_CHECKING:
    from koprep.pipeline.keys import StageKey
    from koprep.pipeline.resolve import Resolution
    from koprep.pipeline.runner import Outcome

RUNNERS = ("local", "dask")
DEFAULT_RUNNER = "local"
CONNECT_TIMEOUT = 10.0
"""Seconds to wait for the scheduler to answer, and for a scheduler without workers to get one."""

_ADDRESS = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?[^\s/]+:\d{1,5}$")


class DaskClusterError(BadInputError):
    """The runner choice or the Dask cluster cannot run the flow's tasks; the message says what to fix."""


def check_choice(runner: str, address: str | None) -> None:
    """Refuse a runner choice that cannot work, before anything starts."""
    if runner not in RUNNERS:
        raise DaskClusterError(f"unknown runner {runner!r}; the runners are {', '.join(RUNNERS)}")
    if runner == "dask":
        if not address:
            raise DaskClusterError(
                "the dask runner needs the scheduler's address (--dask-address / dask_address tcp://HOST:PORT, "
                "as `dask scheduler` prints it)"
            )
        if not _ADDRESS.match(address):
            raise DaskClusterError(
                f"dask address {address!r} is not a scheduler address; use tcp://HOST:PORT (e.g. tcp://10.0.0.5:8786)"
            )
    elif address:
        raise DaskClusterError(f"dask address {address} is set but the runner is {runner!r}; choose the dask runner (--runner dask)")


# ------------------------------------------------------------------------------- executors
class LocalExecutor:
    """Stages as Prefect tasks on the flow's own task runner (threads of this process); a fanning-out
    stage's shards as one task, inside which the backend's own parallelism (threads on one JVM, worker
    processes) uses the cores, which beats one Prefect task per shard in one process."""

    name = "local"

    def __init__(self, stage_task: Any, shards_task: Any) -> None:
        self.stage_task, self.shards_task = stage_task, shards_task

    def for_workers(self, run: Resolution) -> Resolution:
        return run

    def submit(self, run: Resolution, key: StageKey, inputs: dict[str, Outcome]) -> Outcome:
        return self.stage_task.with_options(name=key.stage).submit(run=run, key=key, inputs=inputs)

    def map_shards(self, run: Resolution, key: StageKey, inputs: dict[str, Any], indices: list[int]) -> str:
        task = self.shards_task.with_options(name=f"{key.stage}-shards")
        return str(task(run=run, key=key, inputs=inputs, indices=indices))


class DaskExecutor(LocalExecutor):
    """Every task on the Dask cluster behind `task_runner` (a started prefect-dask DaskTaskRunner),
    one task per shard for a fanning-out stage."""

    name = "dask"

    def __init__(self, stage_task: Any, shards_task: Any, task_runner: Any) -> None:
        super().__init__(stage_task, shards_task)
        self.task_runner = task_runner

    def for_workers(self, run: Resolution) -> Resolution:
        # Workers have their own working folder: a relative corpus path would name another file there.
        # The path enters no fingerprint (the corpus counts by its bytes and file names).
        return run.at_location(absolute_corpus(run.location))

    def submit(self, run: Resolution, key: StageKey, inputs: dict[str, Outcome]) -> Outcome:
        return self.task_runner.submit(self.stage_task.with_options(name=key.stage), {"run": run, "key": key, "inputs": inputs})

    def map_shards(self, run: Resolution, key: StageKey, inputs: dict[str, Any], indices: list[int]) -> str:
        task = self.shards_task.with_options(name=f"{key.stage}-shards")
        futures = [
            self.task_runner.submit(task, {"run": run, "key": key, "inputs": inputs, "indices": [index]})
            for index in indices
        ]
        for future in futures:
            future.result()
        return f"{len(indices)} shard tasks on the Dask cluster"


@contextlib.contextmanager
def open_executor(
    runner: str, address: str | None, store_root: Path | str, corpus: str | None, stage_task: Any, shards_task: Any,
    *, cluster_checked: bool = False,
) -> Iterator[LocalExecutor]:
    """The executor for `runner`, for the length of a flow run. For `dask`, the cluster is checked
    first (`check_cluster`) unless the caller already did, so a cluster that cannot run the tasks
    fails before any work."""
    check_choice(runner, address)
    if runner == "local":
        yield LocalExecutor(stage_task, shards_task)
        return
    if not cluster_checked:
        check_cluster(address, store_root, absolute_corpus(corpus), prefect_api=_prefect_api_url())
    from prefect_dask import DaskTaskRunner

    with DaskTaskRunner(address=address) as task_runner:
        yield DaskExecutor(stage_task, shards_task, task_runner)


def absolute_corpus(corpus: str | None) -> str | None:
    from koprep.storage import is_url

    if corpus is None or is_url(corpus):
        return corpus  # a URL is the same on every machine
    return str(Path(corpus).expanduser().resolve())


def _prefect_api_url() -> str | None:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


# --------------------------------------------------------------------------- cluster check
def check_cluster(
    address: str | None,
    store_root: Path | str,
    corpus: str | None = None,
    *,
    prefect_api: str | None = None,
    timeout: float | None = None,
) -> list[str]:
    """Check that the Dask cluster at `address` can run the flow's tasks, and return its workers'
    addresses: the scheduler answers, it has a worker, every worker has this koprep version, reads a
    probe file written here into the store root (so the store is shared, at the same path), can
    write there, sees the corpus, and reaches the Prefect API the task runs report to.
    Raises DaskClusterError saying what to fix."""
    check_choice("dask", address)
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    try:
        from distributed import Client
    except ImportError:
        raise DaskClusterError(
            "--runner dask needs prefect-dask (and dask.distributed): pip install 'koprep[dask]'"
        ) from None
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise DaskClusterError(
            f"cannot reach the Dask scheduler at {address} ({exc}); start one with `dask scheduler` and workers "
            f"with `dask worker {address}`, or fix --dask-address"
        ) from None
    with client:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError):
            raise DaskClusterError(
                f"the Dask scheduler at {address} has no workers; start some with `dask worker {address}`"
            ) from None
        workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
        ours = importlib.metadata.version("koprep")
        versions = client.run(importlib.metadata.version, "koprep", on_error="return")
        wrong = {w: v for w, v in versions.items() if v != ours}
        if wrong:
            found = ", ".join(f"{w}: {v if isinstance(v, str) else 'not installed'}" for w, v in sorted(wrong.items()))
            raise DaskClusterError(
                f"the Dask workers must run koprep {ours}, as this process does ({found}); "
                f"install it into the workers' Python"
            )
        token = uuid.uuid4().hex
        with _probe(store_root, token) as probe:
            facts = client.run(worker_facts, probe, corpus, prefect_api)
    problems = []
    for worker, fact in sorted(facts.items()):
        if fact["probe"] != token:
            problems.append(f"{worker} does not see the artifact store {store_root} (mount the shared store at that path)")
        elif not fact["store_writable"]:
            problems.append(f"{worker} cannot write to the artifact store {store_root}")
        if corpus is not None and not fact["corpus"]:
            problems.append(f"{worker} does not see the corpus {corpus} (put it on the shared file system)")
        if fact["prefect_api"]:
            problems.append(f"{worker} cannot reach the Prefect API at {prefect_api} ({fact['prefect_api']}); "
                            "set PREFECT_API_URL to a server every worker reaches")
    if problems:
        raise DaskClusterError("the Dask cluster cannot run this flow: " + "; ".join(problems))
    return workers


@contextlib.contextmanager
def _probe(store_root: Path | str, token: str) -> Iterator[str]:
    """A probe file (or object, for a URL root) holding `token` in the store root, removed afterwards."""
    name = f".dask-probe-{uuid.uuid4().hex}"
    if isinstance(store_root, str):
        from koprep.remote import ObjectStore
        from koprep.storage import RemoteLocation, parse_location

        location = parse_location(store_root)
        assert isinstance(location, RemoteLocation)
        objects = ObjectStore(location)
        objects.check_writable()
        objects.write(name, token.encode())
        try:
            yield objects.url(name)
        finally:
            objects.remove_prefix(name)
        return
    store_root.mkdir(parents=True, exist_ok=True)
    probe = store_root / name
    probe.write_text(token, encoding="utf-8")
    try:
        yield str(probe)
    finally:
        probe.unlink(missing_ok=True)


def _remote_facts(probe: str, corpus: str | None) -> tuple[str | None, bool, bool]:
    """(probe token, store writable, corpus seen) from a worker whose store is a URL: its own client,
    with the worker's own credentials (the standard chain on that machine)."""
    from koprep.remote import ObjectStore
    from koprep.storage import RemoteLocation, is_url, parse_location

    root, _, name = probe.rpartition("/")
    location = parse_location(root)
    assert isinstance(location, RemoteLocation)
    objects = ObjectStore(location)
    try:
        seen = (objects.read(name) or b"").decode() or None
        objects.check_writable()
        writable = True
    except Exception:  # noqa: BLE001 - reported as a fact, with the fix, by check_cluster
        seen, writable = None, False
    corpus_seen = corpus is not None and not is_url(corpus) and Path(corpus).exists()
    if corpus is not None and is_url(corpus):
        remote = parse_location(corpus)
        try:
            corpus_seen = isinstance(remote, RemoteLocation) and bool(remote.filesystem().exists(remote.path))
        except Exception:  # noqa: BLE001
            corpus_seen = False
    return seen, writable, corpus_seen


def worker_facts(probe: str, corpus: str | None, prefect_api: str | None) -> dict[str, Any]:
    """Run on each Dask worker by `check_cluster`: what the worker sees of the shared paths and the API."""
    import urllib.request

    if "://" in probe:
        seen, writable, corpus_seen = _remote_facts(probe, corpus)
    else:
        try:
            seen = Path(probe).read_text(encoding="utf-8")
        except OSError:
            seen = None
        writable = os.access(Path(probe).parent, os.W_OK)
        corpus_seen = corpus is not None and Path(corpus).exists()
    api_problem = ""
    if prefect_api:
        try:
            with urllib.request.urlopen(f"{prefect_api.rstrip('/')}/health", timeout=5) as response:
                response.read()
        except OSError as exc:
            api_problem = str(exc)
    return {
        "probe": seen,
        "store_writable": writable,
        "corpus": corpus_seen,
        "prefect_api": api_problem,
        "pid": os.getpid(),
    }
