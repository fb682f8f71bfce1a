"""Pipeline runs without Prefect for tests of what runs leave behind (inspection, gc, report): the
run's plan (from the stage graph) carried out in this process and recorded as the flow records it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from koprep.config import PipelineConfig, load_config
from koprep.pipeline.execution import StageResult
from koprep.pipeline.runner import InProcess, execute, run_and_record
from koprep.plan import build_plan
from koprep.progress import ProgressCallback
from koprep.store import ArtifactStore


def run_stages(
    store: ArtifactStore, location: str | None, config: PipelineConfig, on_progress: ProgressCallback | None = None
) -> dict[str, StageResult]:
    """Every stage of the run, one after another (the flow runs the independent ones concurrently),
    by stage; `on_progress` goes to the tokenize stage."""
    progress = {"tokenize": on_progress} if on_progress is not None else None
    return execute(build_plan(store, location, config), InProcess(progress))


def record_pipeline_run(
    store: ArtifactStore, corpus: str | Path | None, run_id: str, backend: str = "whitespace",
    overrides: dict[str, Any] | None = None, recorded_at: float | None = None,
) -> dict[str, Any]:
    """A whole run, recorded; the record as its JSON file holds it (with paths resolved)."""
    location = None if corpus is None else str(corpus)
    record = run_and_record(build_plan(store, location, load_config(None, overrides or {}, backend)), run_id=run_id)
    if recorded_at is not None:
        os.utime(store.run_path(run_id), (recorded_at, recorded_at))
    return record.to_json()
