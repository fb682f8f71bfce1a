"""Carrying out a plan: every stage of the run in graph order, each as soon as its inputs are done,
through an executor.

    execute(plan, executor)   the walk: a stage given by a setting is taken as it is; a stage that
                              fans out (tokenize) does its bookkeeping where the walk runs and hands
                              its missing shards to `executor.map_shards`; every other stage is
                              `executor.submit`-ted with its inputs (results, or futures of them)
    run_and_record(plan, executor)   the walk, with the run's preflight before and its record after
    InProcess                 runs each stage at once, in this process (`koprep compare`, tests);
                              the Prefect flow's executors (`koprep.orchestration.runners`) run them
                              as Prefect tasks, locally or on a Dask cluster

`run_stage` and `run_shards` are what those tasks call, wherever they run.
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Protocol

from koprep.pipeline.execution import ShardRunner, StageJob, StageResult, stage_result
from koprep.pipeline.keys import StageKey
from koprep.progress import ProgressCallback

if TYPE_CHECKING:
    from koprep.pipeline.resolve import Resolution
    from koprep.plan import Plan
    from koprep.runs import RunRecord


class Future(Protocol):
    def result(self) -> Any: ...


Outcome = StageResult | Future
"""A stage's result, or a future of it (a stage still running on the executor)."""


class Executor(Protocol):
    """Where a plan's stages run."""

    def for_workers(self, run: Resolution) -> Resolution:
        """The resolved run as the task processes must see it (absolute paths on other machines)."""

    def submit(self, run: Resolution, key: StageKey, inputs: dict[str, Outcome]) -> Outcome:
        """Start `run_stage(run, key, inputs)`; `inputs` may hold futures of upstream results."""

    def map_shards(self, run: Resolution, key: StageKey, inputs: dict[str, StageResult], indices: list[int]) -> str:
        """Compute the shard entries `indices` of a stage that fans out (`run_shards`) and wait for
        them; returns how the work was spread."""


def run_stage(
    run: Resolution, key: StageKey, inputs: dict[str, StageResult], on_progress: ProgressCallback | None = None,
    map_shards: ShardRunner | None = None,
) -> StageResult:
    """One stage's entry: taken from the store, or computed by the stage's compute function."""
    compute = run.graph[key.stage].compute
    if compute is None:
        raise ValueError(f"stage {key.stage!r} is computed on demand by its own command, not by a run")
    job = StageJob(run, key, here(run, inputs), on_progress, map_shards)
    return stage_result(run.store, key, lambda pending: compute(job, pending), force=job.force)


def run_shards(
    run: Resolution, key: StageKey, inputs: dict[str, StageResult], indices: list[int],
    on_progress: ProgressCallback | None = None,
) -> str:
    """The shard entries `indices` of the fanning-out stage `key.stage`, in this process."""
    fan_out = run.graph[key.stage].fan_out
    if fan_out is None:
        raise ValueError(f"stage {key.stage!r} does not fan out over shards")
    return fan_out(run, key, here(run, inputs), indices, on_progress)


def here(run: Resolution, inputs: dict[str, StageResult]) -> dict[str, StageResult]:
    """The upstream results with paths on this machine. With a store in a bucket, another process (a
    Dask worker, another machine) reports its own cache's paths: the entries are taken (downloaded
    once into this process's cache) and their paths used instead."""
    store = run.store
    if store.mirror is None:
        return inputs
    moved = {}
    for name, result in inputs.items():
        local = store.entry_path(result.stage, result.fingerprint)
        if Path(result.path) != local or not local.is_dir():
            store.open_entry(local)  # downloads it if this cache does not hold the committed entry
            result = dataclasses.replace(result, path=str(local))
        moved[name] = result
    return moved


class InProcess:
    """Every stage at once, one after another, in this process. `progress` gives some stages a
    progress callback, by stage name."""

    def __init__(self, progress: Mapping[str, ProgressCallback] | None = None) -> None:
        self.progress = dict(progress or {})

    def for_workers(self, run: Resolution) -> Resolution:
        return run

    def submit(self, run: Resolution, key: StageKey, inputs: dict[str, Outcome]) -> Outcome:
        return run_stage(run, key, resolved(inputs), self.progress.get(key.stage))

    def map_shards(self, run: Resolution, key: StageKey, inputs: dict[str, StageResult], indices: list[int]) -> str:
        return run_shards(run, key, inputs, indices, self.progress.get(key.stage))


def execute(plan: Plan, executor: Executor | None = None) -> dict[str, StageResult]:
    """Run every stage of `plan` through `executor` (default: in this process); their results by
    stage, in graph order."""
    executor = executor or InProcess()
    run = executor.for_workers(plan.run)
    outcomes: dict[str, Outcome] = {}
    # Each stage's first lookup (in this process) takes its manifest from one batch read here: a
    # re-run on a store in a bucket asks once for all, not once per stage. Only committed entries are
    # taken from it: a stage the batch did not find may be computed meanwhile by a Dask worker.
    reused = [(name, planned.fingerprint) for name, planned in plan.stages.items()
              if planned.key is not None and not planned.forced_by]
    with plan.store.prefetched(reused, committed_only=True):
        for name, planned in plan.stages.items():
            stage = run.graph[name]
            inputs = {upstream: outcomes[upstream] for upstream in stage.inputs if upstream in outcomes}
            if planned.given is not None:
                outcomes[name] = StageResult.from_entry(planned.given, cached=True)
            elif planned.key is None:
                raise ValueError(f"stage {name!r} has neither a key nor a given entry")
            elif stage.fan_out is not None:
                # The stage's bookkeeping (which shards are stored, assembling the entry) is cheap and runs
                # here; the shards to compute go to the executor (one task locally, one per shard on Dask).
                outcomes[name] = _fanned_out(executor, run, planned.key, resolved(inputs))
            else:
                outcomes[name] = executor.submit(run, planned.key, inputs)
        return resolved(outcomes)


def _fanned_out(executor: Executor, run: Resolution, key: StageKey, inputs: dict[str, StageResult]) -> StageResult:
    def map_shards(indices: list[int]) -> str:
        return executor.map_shards(run, key, inputs, indices)

    return run_stage(run, key, inputs, map_shards=map_shards)


def run_and_record(
    plan: Plan, executor: Executor | None = None, *, run_id: str | None = None, checked: bool = False, **extra: Any
) -> RunRecord:
    """Carry out `plan` through `executor` (default: in this process) and record the run: what the
    flow does, and what `koprep compare` and the tests do without Prefect. `checked`: the caller
    already ran the plan's preflight; `extra` goes into the record."""
    if not checked:
        plan.preflight()
    plan.store.sweep()  # what killed runs left behind; never a folder a live run is writing
    record = plan.record(run_id or uuid.uuid4().hex, execute(plan, executor), **extra)
    plan.store.record_run(record)
    return record


def resolved(outcomes: Mapping[str, Outcome]) -> dict[str, StageResult]:
    """Stage results, waiting for the ones that are futures."""
    return {name: value if isinstance(value, StageResult) else value.result() for name, value in outcomes.items()}
