"""Prefect wiring for koprep's pipeline: one task per stage, nothing else.

Deployment entrypoint: `flows/preprocess.py:preprocess`. The stage logic and caching live in
`koprep.pipeline`; Prefect's own result caching is off because the artifact store is the cache.
Parameter checks, the retry rule and the run's Prefect artifacts live in `koprep.orchestrate`.
Importing this module has no side effects (Prefect's `serve` re-imports it in spawned processes).
"""

from __future__ import annotations

import os
import uuid
from typing import Any

# No usage telemetry from a temporary Prefect server started for this process (see koprep.cli);
# set before Prefect is imported, since Prefect reads its settings then.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect import flow, task  # noqa: E402
from prefect.cache_policies import NONE
from prefect.runtime import flow_run

from koprep import pipeline
from koprep.config import PipelineConfig
from koprep.orchestrate import FLOW_NAME, PreprocessParameters, publish_run_artifacts, retry_unless_bad_input
from koprep.store import ArtifactStore

_task = task(cache_policy=NONE, persist_result=False)


@_task(name="clean")
def clean_task(store: ArtifactStore, corpus: str | None, config: PipelineConfig) -> pipeline.StageResult:
    return pipeline.clean_stage(store, corpus, config)


# Starting the JVM (Okt) can fail transiently; a bad backend name or option never heals on retry.
@_task(name="tokenize", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_unless_bad_input)
def tokenize_task(store: ArtifactStore, clean: pipeline.StageResult, config: PipelineConfig):
    return pipeline.tokenize_stage(store, clean, config)


@_task(name="vectorize")
def vectorize_task(store: ArtifactStore, name: str, tokens: pipeline.StageResult, config: PipelineConfig) -> pipeline.StageResult:
    return pipeline.vectorize_stage(store, name, tokens, config)


@_task(name="chargram")
def chargram_task(store: ArtifactStore, clean: pipeline.StageResult, config: PipelineConfig) -> pipeline.StageResult:
    return pipeline.chargram_stage(store, clean, config)


@_task(name="word2vec")
def word2vec_task(store: ArtifactStore, tokens: pipeline.StageResult, config: PipelineConfig) -> pipeline.StageResult:
    return pipeline.word2vec_stage(store, tokens, config)


@flow(name=FLOW_NAME, log_prints=True)
def preprocess(
    corpus: str | None = None,
    backend: str | None = None,
    config_file: str | None = None,
    overrides: dict[str, Any] | None = None,
    artifacts: str = "artifacts",
    preset: str | None = None,
) -> dict[str, Any]:
    """Clean → tokenize → bow, ngram, tfidf, word2vec over CORPUS (default: konlpy's kolaw+kobill).

    Returns the run summary (also written to <artifacts>/runs/<run_id>.json).

    Args:
        corpus: Text file (one document per line), folder of .txt, TSV/CSV, JSON Lines or Parquet;
            empty for konlpy's bundled kolaw + kobill corpora.
        backend: Tokenizer backend (okt, kiwi, mecab, soynlp-noun, soynlp-word, whitespace); empty
            for the config's (okt by default).
        config_file: TOML config file; relative paths are relative to the run's working folder.
        overrides: Dotted settings, e.g. {"ngram.min_df": 2, "tokenize.options.mode": "nouns"}.
        artifacts: Artifact store folder; stages already stored there come from the cache.
        preset: Named settings under the config file (topic, classify, search; `koprep presets`).
    """
    parameters = PreprocessParameters.parse(
        dict(corpus=corpus, backend=backend, config_file=config_file, overrides=overrides, artifacts=artifacts, preset=preset)
    )
    store = ArtifactStore(artifacts)
    config = pipeline.with_fitted_from(store, parameters.config())
    pipeline.preflight(store, corpus, config)
    wanted = set(config.run.stages)

    clean = clean_task(store, corpus, config)
    stages = {"clean": clean}
    model_path = None
    if wanted - {"clean"}:
        tokens, model_path = tokenize_task(store, clean, config)
        stages["tokenize"] = tokens
        futures = {
            name: vectorize_task.with_options(name=name).submit(store, name, tokens, config)
            for name in pipeline.VECTORIZER_STAGES
            if name in wanted
        }
        if "chargram" in wanted:
            futures["chargram"] = chargram_task.submit(store, clean, config)
        if "word2vec" in wanted:
            futures["word2vec"] = word2vec_task.submit(store, tokens, config)
        stages.update({name: future.result() for name, future in futures.items()})

    run_id = flow_run.get_id() or uuid.uuid4().hex
    summary = {
        "run_id": str(run_id),
        "corpus": pipeline.corpus_io.describe_location(corpus),
        "backend": config.tokenize.backend,
        "stages": {name: result.summary() for name, result in stages.items()},
    }
    if model_path:
        summary["model"] = {"path": model_path}
    summary["config"] = config.model_dump(mode="json")
    run_json = store.record_run(str(run_id), summary)
    publish_run_artifacts(summary, run_json)
    return summary


if __name__ == "__main__":
    preprocess()
