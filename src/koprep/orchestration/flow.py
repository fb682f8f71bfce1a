"""The preprocessing flow on Prefect: the plan's stages (`koprep.plan`, from the stage graph) as one
task each (tokenize: a task for the shards to compute, or one per shard on Dask), the retry rule,
and the run's Prefect UI artifacts. Stage logic and caching live in `koprep.pipeline`; Prefect's own
result caching is off because the artifact store is the cache.

Two flows, one flow name, one body (`_run`):
    preprocess   the deployment entrypoint: takes the raw parameters (the Prefect UI, `koprep
                 trigger`, prefect.yaml, `koprep serve`), resolves them into a plan, runs it
    run_plan     what `koprep run` calls with the plan it already resolved and checked: nothing is
                 resolved twice; the Prefect UI shows the plan as the run's parameter

Deployment entrypoints: `flows/preprocess.py:preprocess` (prefect.yaml, a file path) and
`koprep.orchestration.flow.preprocess` (`koprep serve`, a module path). Importing this module does
nothing but import Prefect (with its server telemetry off unless set): `flow.serve` re-imports it in
spawned processes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

# No usage telemetry from a temporary Prefect server started for this process (see koprep.cli);
# set before Prefect is imported, since Prefect reads its settings then.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect import flow, task  # noqa: E402
from prefect.cache_policies import NONE  # noqa: E402
from prefect.runtime import flow_run  # noqa: E402
from pydantic import BaseModel, ConfigDict, model_serializer  # noqa: E402

from koprep.errors import BadInputError  # noqa: E402
from koprep.orchestration import runners  # noqa: E402
from koprep.orchestration.parameters import PreprocessParameters  # noqa: E402
from koprep.pipeline.execution import StageResult  # noqa: E402
from koprep.pipeline.keys import StageKey  # noqa: E402
from koprep.pipeline.resolve import Resolution  # noqa: E402
from koprep.pipeline.runner import run_and_record, run_shards, run_stage  # noqa: E402
from koprep.plan import Plan, build_plan  # noqa: E402
from koprep.progress import ProgressCallback, stage_progress  # noqa: E402
from koprep.report import publish_report  # noqa: E402
from koprep.runs import RunRecord  # noqa: E402
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
def publish_run_artifacts(record: RunRecord, run_json: Path) -> None:
    """Record the run in the Prefect UI: a markdown summary, the per-stage table, the tfidf
    vocabulary's top terms by document frequency, vocabulary sizes, and a link to the run JSON.
    Must be called inside a flow run (the artifacts attach to it)."""
    from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

    stages = stage_rows(record)
    create_markdown_artifact(markdown=summary_markdown(record, run_json), key=SUMMARY_ARTIFACT,
                             description="koprep run: stages, cached or computed, rows, time")
    create_table_artifact(table=stages, key=STAGES_ARTIFACT, description="koprep stages of this run")
    sizes = vocabulary_sizes(record)
    if sizes:
        create_table_artifact(table=sizes, key=VOCABULARY_ARTIFACT, description="vocabulary size per vectorizer")
    tfidf = record.stages.get("tfidf")
    if tfidf is not None:
        create_table_artifact(table=top_terms(Path(tfidf.path), TOP_TERMS), key=TOP_TERMS_ARTIFACT,
                              description=f"top {TOP_TERMS} tfidf vocabulary terms by document frequency")
    create_link_artifact(link=run_json.resolve().as_uri(), link_text=str(run_json), key=RUN_JSON_ARTIFACT,
                         description="the run summary JSON in the artifact store")


def stage_rows(record: RunRecord) -> list[dict[str, Any]]:
    return [
        {
            "stage": name,
            "status": "cached" if stage.cached else "computed",
            "rows": stage.rows,
            "seconds": stage.seconds,
            "fingerprint": stage.fingerprint,
            "path": stage.path,
        }
        for name, stage in record.stages.items()
    ]


def vocabulary_sizes(record: RunRecord) -> list[dict[str, Any]]:
    """One row per stage that has a vocabulary (bow, ngram, tfidf, word2vec); None where a
    column does not apply (word2vec has no document-term matrix)."""
    return [
        {
            "stage": name,
            "terms": stage.extra["terms"],
            "documents": stage.extra.get("documents"),
            "nonzeros": stage.extra.get("nonzeros"),
            "vector_size": stage.extra.get("vector_size"),
        }
        for name, stage in record.stages.items()
        if "terms" in stage.extra
    ]


def top_terms(tfidf_path: Path, limit: int) -> list[dict[str, Any]]:
    """The `limit` terms with the highest document frequency in a tfidf vocabulary (ties by term)."""
    import pandas as pd

    from koprep.pipeline.datasets import MatrixFiles

    vocabulary = pd.read_parquet(tfidf_path / MatrixFiles.VOCABULARY)
    top = vocabulary.sort_values(["df", "term"], ascending=[False, True], kind="stable").head(limit)
    columns = [c for c in ("term", "df", "idf") if c in top.columns]
    # pandas-stubs types a record's keys as Hashable (any column label); these are the str `columns`.
    records = cast("list[dict[str, Any]]", top[columns].to_dict(orient="records"))
    return [
        {c: (round(float(v), 4) if c == "idf" else int(v) if c == "df" else str(v)) for c, v in row.items()}
        for row in records
    ]


def summary_markdown(record: RunRecord, run_json: Path) -> str:
    computed = [name for name, stage in record.stages.items() if not stage.cached]
    lines = [
        f"# koprep run `{record.run_id}`",
        "",
        f"- corpus: `{record.corpus}`",
        f"- backend: `{record.backend}`",
        f"- computed: {', '.join(computed) or 'nothing (every stage came from the cache)'}",
        f"- run JSON: `{run_json}`",
        "",
        "| stage | status | rows | seconds | fingerprint |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    lines += [
        f"| {row['stage']} | {row['status']} | {row['rows']} | {row['seconds']:.2f} | `{row['fingerprint'][:12]}` |"
        for row in stage_rows(record)
    ]
    clean = record.stages.get("clean")
    empty = clean.extra.get("empty_after_clean") if clean is not None else None
    if empty:
        lines += ["", f"{empty} document(s) are empty after cleaning (kept, with empty text)."]
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------------- flow
def _progress(run: Resolution, key: StageKey) -> ProgressCallback | None:
    """Where the stage `key` names reports its progress (the terminal, the Prefect UI), if it reports any."""
    unit = run.graph[key.stage].progress
    return None if unit is None else stage_progress(key.stage, unit)


@task(name="stage", cache_policy=NONE, persist_result=False)
def stage_task(run: Resolution, key: StageKey, inputs: dict[str, StageResult]) -> StageResult:
    """One stage of the plan (named after it in the UI)."""
    return run_stage(run, key, inputs, on_progress=_progress(run, key))


# Starting the JVM (Okt) can fail transiently; a bad backend name or option never heals on retry.
@task(
    name="shards", cache_policy=NONE, persist_result=False,
    retries=2, retry_delay_seconds=5, retry_condition_fn=retry_unless_bad_input,
)
def shards_task(run: Resolution, key: StageKey, inputs: dict[str, StageResult], indices: list[int]) -> str:
    """Shards of a fanning-out stage (tokenize-shards in the UI)."""
    return run_shards(run, key, inputs, indices, on_progress=_progress(run, key))


class PlannedRun(BaseModel):
    """`run_plan`'s parameter: a plan `koprep run` resolved and checked. Prefect records a flow run's
    parameters as JSON; this one records as the plan's JSON (what `koprep status --json` prints)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    plan: Plan
    runner: str = runners.DEFAULT_RUNNER
    dask_address: str | None = None
    checked: bool = False
    """The caller ran the plan's preflight and checked the Dask cluster (`runners.check_cluster`)
    already: neither is done twice."""

    @model_serializer
    def _as_json(self) -> dict[str, Any]:
        return {"plan": self.plan.to_json(), "runner": self.runner, "dask_address": self.dask_address}


def _run(plan: Plan, runner: str, dask_address: str | None, *, checked: bool = False) -> dict[str, Any]:
    """Carry out `plan` through the runner's executor, record the run, publish its artifacts; the run
    record. `checked`: the caller already ran the plan's preflight and checked the Dask cluster."""
    with runners.open_executor(
        runner, dask_address, plan.store.root, plan.location, stage_task, shards_task, cluster_checked=checked,
    ) as executor:
        record = run_and_record(plan, executor, run_id=flow_run.get_id(), checked=checked)
    publish_run_artifacts(record, plan.store.run_path(record.run_id))
    publish_report(plan.store, record)
    return record.to_json()


@flow(name=FLOW_NAME, log_prints=True)
def run_plan(planned: PlannedRun) -> dict[str, Any]:
    """Run a plan `koprep run` already resolved and checked. Returns the run record (as JSON)."""
    return _run(planned.plan, planned.runner, planned.dask_address, checked=planned.checked)


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

    Returns the run record (also written to <artifacts>/runs/<run_id>.json).

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
    # The plan resolves and validates the settings and references: bad input fails here, before any task runs.
    config = parameters.config()
    config.store.activate()  # its [store] options, before the store and the corpus are opened
    plan = build_plan(ArtifactStore(artifacts), corpus, config)
    return _run(plan, parameters.runner, parameters.dask_address)
