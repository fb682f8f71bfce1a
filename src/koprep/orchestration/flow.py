"""The preprocessing flow on Prefect: a task per stage (tokenize: a task for the shards to compute,
or one per shard on Dask), the retry rule, and the run's Prefect UI artifacts. Stage logic and
caching live in `koprep.pipeline`; Prefect's own result caching is off because the artifact store is
the cache.

Deployment entrypoints: `flows/preprocess.py:preprocess` (prefect.yaml, a file path) and
`koprep.orchestration.flow.preprocess` (`koprep serve`, a module path). Importing this module does
nothing but import Prefect (with its server telemetry off unless set): `flow.serve` re-imports it in
spawned processes.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Mapping

# No usage telemetry from a temporary Prefect server started for this process (see koprep.cli);
# set before Prefect is imported, since Prefect reads its settings then.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect import flow, task  # noqa: E402
from prefect.cache_policies import NONE  # noqa: E402
from prefect.runtime import flow_run  # noqa: E402

from koprep import pipeline  # noqa: E402
from koprep.config import PipelineConfig  # noqa: E402
from koprep.errors import BadInputError  # noqa: E402
from koprep.orchestration import runners  # noqa: E402
from koprep.orchestration.parameters import PreprocessParameters  # noqa: E402
from koprep.plan import build_plan  # noqa: E402
from koprep.progress import stage_progress  # noqa: E402
from koprep.report import publish_report  # noqa: E402
from koprep.store import ArtifactStore  # noqa: E402

FLOW_NAME = "koprep-preprocess"
DEFAULT_DEPLOYMENT = f"{FLOW_NAME}/nightly"
"""The deployment `prefect.yaml` declares (flow name / deployment name)."""

SUMMARY_ARTIFACT = "koprep-run-summary"
STAGES_ARTIFACT = "koprep-stages"
TOP_TERMS_ARTIFACT = "koprep-top-terms"
VOCABULARY_ARTIFACT = "koprep-vocabulary-sizes"
RUN_JSON_ARTIFACT = "koprep-run-json"
TOP_TERMS = 25


# ------------------------------------------------------------------------------------ retries
def retry_unless_bad_input(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect `retry_condition_fn`: retry a failed task unless its error is one that the same input
    always reproduces (bad configuration, corpus, backend or store reference)."""
    error = state.data if isinstance(state.data, BaseException) else None
    if error is None:
        try:
            state.result()
        except BaseException as exc:  # noqa: BLE001 - classifying, not handling
            error = exc
    return not isinstance(error, BadInputError)


# ---------------------------------------------------------------------------------- artifacts
def publish_run_artifacts(summary: Mapping[str, Any], run_json: Path) -> None:
    """Record the run in the Prefect UI: a markdown summary, the per-stage table, the tfidf
    vocabulary's top terms by document frequency, vocabulary sizes, and a link to the run JSON.
    Must be called inside a flow run (the artifacts attach to it)."""
    from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

    stages = stage_rows(summary)
    create_markdown_artifact(markdown=summary_markdown(summary, run_json), key=SUMMARY_ARTIFACT,
                             description="koprep run: stages, cached or computed, rows, time")
    create_table_artifact(table=stages, key=STAGES_ARTIFACT, description="koprep stages of this run")
    sizes = vocabulary_sizes(summary)
    if sizes:
        create_table_artifact(table=sizes, key=VOCABULARY_ARTIFACT, description="vocabulary size per vectorizer")
    tfidf = summary["stages"].get("tfidf")
    if tfidf is not None:
        create_table_artifact(table=top_terms(Path(tfidf["path"]), TOP_TERMS), key=TOP_TERMS_ARTIFACT,
                              description=f"top {TOP_TERMS} tfidf vocabulary terms by document frequency")
    create_link_artifact(link=run_json.resolve().as_uri(), link_text=str(run_json), key=RUN_JSON_ARTIFACT,
                         description="the run summary JSON in the artifact store")


def stage_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "stage": name,
            "status": "cached" if stage["cached"] else "computed",
            "rows": stage["rows"],
            "seconds": stage["seconds"],
            "fingerprint": stage["fingerprint"],
            "path": stage["path"],
        }
        for name, stage in summary["stages"].items()
    ]


def vocabulary_sizes(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per stage that has a vocabulary (bow, ngram, tfidf, word2vec); None where a
    column does not apply (word2vec has no document-term matrix)."""
    return [
        {
            "stage": name,
            "terms": stage["extra"]["terms"],
            "documents": stage["extra"].get("documents"),
            "nonzeros": stage["extra"].get("nonzeros"),
            "vector_size": stage["extra"].get("vector_size"),
        }
        for name, stage in summary["stages"].items()
        if "terms" in stage.get("extra", {})
    ]


def top_terms(tfidf_path: Path, limit: int) -> list[dict[str, Any]]:
    """The `limit` terms with the highest document frequency in a tfidf vocabulary (ties by term)."""
    import pandas as pd

    vocabulary = pd.read_parquet(tfidf_path / "vocabulary.parquet")
    top = vocabulary.sort_values(["df", "term"], ascending=[False, True], kind="stable").head(limit)
    columns = [c for c in ("term", "df", "idf") if c in top.columns]
    return [
        {c: (round(float(v), 4) if c == "idf" else int(v) if c == "df" else str(v)) for c, v in row.items()}
        for row in top[columns].to_dict(orient="records")
    ]


def summary_markdown(summary: Mapping[str, Any], run_json: Path) -> str:
    computed = [name for name, stage in summary["stages"].items() if not stage["cached"]]
    lines = [
        f"# koprep run `{summary['run_id']}`",
        "",
        f"- corpus: `{summary['corpus']}`",
        f"- backend: `{summary['backend']}`",
        f"- computed: {', '.join(computed) or 'nothing (every stage came from the cache)'}",
        f"- run JSON: `{run_json}`",
        "",
        "| stage | status | rows | seconds | fingerprint |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    lines += [
        f"| {row['stage']} | {row['status']} | {row['rows']} | {row['seconds']:.2f} | `{row['fingerprint'][:12]}` |"
        for row in stage_rows(summary)
    ]
    empty = summary["stages"].get("clean", {}).get("extra", {}).get("empty_after_clean")
    if empty:
        lines += ["", f"{empty} document(s) are empty after cleaning (kept, with empty text)."]
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------------- flow
_task = task(cache_policy=NONE, persist_result=False)


@_task(name="clean")
def clean_task(store: ArtifactStore, corpus: str | None, config: PipelineConfig) -> pipeline.StageResult:
    return pipeline.clean_stage(store, corpus, config)


# Starting the JVM (Okt) can fail transiently; a bad backend name or option never heals on retry.
@_task(name="tokenize-shards", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_unless_bad_input)
def tokenize_shards_task(store: ArtifactStore, clean: pipeline.StageResult, config: PipelineConfig, indices: list[int]) -> str:
    return pipeline.tokenize_shards(store, clean, config, indices, on_progress=stage_progress("tokenize", "documents"))


@_task(name="vectorize")
def vectorize_task(store: ArtifactStore, name: str, tokens: pipeline.StageResult, config: PipelineConfig) -> pipeline.StageResult:
    return pipeline.vectorize_stage(store, name, tokens, config, on_progress=stage_progress(name, "shards"))


@_task(name="chargram")
def chargram_task(store: ArtifactStore, clean: pipeline.StageResult, config: PipelineConfig) -> pipeline.StageResult:
    return pipeline.chargram_stage(store, clean, config, on_progress=stage_progress("chargram", "shards"))


@_task(name="word2vec")
def word2vec_task(store: ArtifactStore, tokens: pipeline.StageResult, config: PipelineConfig) -> pipeline.StageResult:
    return pipeline.word2vec_stage(store, tokens, config, on_progress=stage_progress("word2vec", "shards"))


def run_stages(
    executor: runners.StageExecutor, store: ArtifactStore, corpus: str | None, config: PipelineConfig, wanted: set[str]
) -> tuple[dict[str, pipeline.StageResult], str | None]:
    """Clean, then chargram beside tokenize, then the wanted stages after tokenize concurrently, through `executor`."""
    corpus, config = executor.for_workers(corpus, config)
    clean = executor.run(clean_task, store=store, corpus=corpus, config=config)
    stages = {"clean": clean}
    # chargram reads the cleaned text only, so it runs beside tokenization.
    futures = {}
    if "chargram" in wanted:
        futures["chargram"] = executor.submit(chargram_task, store=store, clean=clean, config=config)
    model_path = None
    if wanted & set(pipeline.TOKEN_STAGES):
        # The stage's bookkeeping (which shards are stored, assembling the entry) is cheap and runs
        # here; the shards to tokenize go to the executor (one task locally, one task per shard on Dask).
        tokens, model_path = pipeline.tokenize_stage(
            store, clean, config,
            run_shards=lambda indices: executor.map_shards(
                tokenize_shards_task, indices, store=store, clean=clean, config=config
            ),
        )
        stages["tokenize"] = tokens
        for name in pipeline.VECTORIZER_STAGES:
            if name in wanted:
                futures[name] = executor.submit(
                    vectorize_task.with_options(name=name), store=store, name=name, tokens=tokens, config=config
                )
        if "word2vec" in wanted:
            futures["word2vec"] = executor.submit(word2vec_task, store=store, tokens=tokens, config=config)
    stages.update({name: future.result() for name, future in futures.items()})
    return stages, model_path


@flow(name=FLOW_NAME, log_prints=True)
def preprocess(
    corpus: str | None = None,
    backend: str | None = None,
    config_file: str | None = None,
    overrides: dict[str, Any] | None = None,
    artifacts: str = "artifacts",
    preset: str | None = None,
    runner: str = runners.DEFAULT_RUNNER,
    dask_address: str | None = None,
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
        runner: Where the tasks run: local (this process) or dask (an existing Dask cluster; the
            artifact store and the corpus must be at the same absolute paths on every worker).
        dask_address: The Dask scheduler's address for the dask runner, e.g. tcp://10.0.0.5:8786.
    """
    parameters = PreprocessParameters.parse(
        dict(
            corpus=corpus, backend=backend, config_file=config_file, overrides=overrides, artifacts=artifacts,
            preset=preset, runner=runner, dask_address=dask_address,
        )
    )
    store = ArtifactStore(artifacts)
    # The plan resolves and validates the settings and references (bad input fails here, before any
    # task runs); preflight checks what the plan cannot: a writable store, a corpus that cleans to text.
    config = build_plan(store, corpus, parameters.config()).config
    pipeline.preflight(store, corpus, config)
    store.sweep()  # what killed runs left behind; never a folder a live run is writing
    wanted = set(config.run.stages)

    with runners.open_executor(parameters.runner, parameters.dask_address, store.root, corpus) as executor:
        stages, model_path = run_stages(executor, store, corpus, config, wanted)

    run_id = flow_run.get_id() or uuid.uuid4().hex
    summary = pipeline.run_summary(str(run_id), corpus, config, stages, model_path)
    run_json = store.record_run(str(run_id), summary)
    publish_run_artifacts(summary, run_json)
    publish_report(store, summary)
    return summary
