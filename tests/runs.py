"""Pipeline runs without Prefect for tests of what runs leave behind (inspection, gc, report):
the stage functions called in the flow's order and the run recorded as the flow records it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from koprep import pipeline
from koprep.config import load_config
from koprep.store import ArtifactStore


def run_stages(
    store: ArtifactStore, location: str | None, config, on_progress=None
) -> tuple[dict[str, pipeline.StageResult], str | None]:
    """clean → tokenize → bow, ngram, tfidf → word2vec, one after another (the flow runs the last
    four concurrently); the results by stage, and the trained model's path for trainable backends.
    `on_progress` goes to the tokenize stage."""
    clean = pipeline.clean_stage(store, location, config)
    tokens, model_path = pipeline.tokenize_stage(store, clean, config, on_progress=on_progress)
    stages = {"clean": clean, "tokenize": tokens}
    for name in pipeline.VECTORIZER_STAGES:
        stages[name] = pipeline.vectorize_stage(store, name, tokens, config)
    stages["word2vec"] = pipeline.word2vec_stage(store, tokens, config)
    return stages, model_path


def record_pipeline_run(
    store: ArtifactStore, corpus: str | Path | None, run_id: str, backend: str = "whitespace",
    overrides: dict[str, Any] | None = None, recorded_at: float | None = None, on_progress=None,
) -> dict[str, Any]:
    location = None if corpus is None else str(corpus)
    config = pipeline.with_fitted_from(store, load_config(None, overrides or {}, backend))
    stages, model_path = run_stages(store, location, config)
    summary = pipeline.run_summary(run_id, location, config, stages, model_path)
    path = store.record_run(run_id, summary)
    if recorded_at is not None:
        os.utime(path, (recorded_at, recorded_at))
    return summary
