"""koprep on a Prefect server: validated flow parameters, retries, run artifacts, serving the flow
on a schedule and triggering deployment runs.

The flow (`flows/preprocess.py`) uses `PreprocessParameters`, `retry_unless_bad_input` and
`publish_run_artifacts`; the `koprep serve` / `koprep trigger` commands use `serve` and `trigger`.
Prefect is imported inside the functions that talk to a server, so importing this module for
parameter validation stays cheap.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from pydantic import BaseModel, ConfigDict, ValidationError

from koprep.config import ConfigError, PipelineConfig, load_config, parse_value
from koprep.corpus import CorpusError
from koprep.errors import OrchestrationError
from koprep.stages.filters import StopwordsFileError
from koprep.store import StoreError
from koprep.tokenizers import BackendOptionError, BackendUnavailable, get_tokenizer

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

FLOW_NAME = "koprep-preprocess"
DEFAULT_DEPLOYMENT = f"{FLOW_NAME}/nightly"
"""The deployment `prefect.yaml` declares (flow name / deployment name)."""

SUMMARY_ARTIFACT = "koprep-run-summary"
STAGES_ARTIFACT = "koprep-stages"
TOP_TERMS_ARTIFACT = "koprep-top-terms"
VOCABULARY_ARTIFACT = "koprep-vocabulary-sizes"
RUN_JSON_ARTIFACT = "koprep-run-json"
TOP_TERMS = 25

BAD_INPUT_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError, CorpusError, BackendUnavailable, BackendOptionError, StoreError, StopwordsFileError, ValidationError,
)
"""Failures that the same input will always reproduce; retrying them only delays the message."""

FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}




# ------------------------------------------------------------------------------- parameters
class PreprocessParameters(BaseModel):
    """The flow's parameters, as the Prefect UI, `koprep trigger --param` and `prefect.yaml` give them.

    Field types are checked by pydantic (unknown parameter names are refused); `config` builds the
    validated pipeline configuration from them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    corpus: str | None = None
    backend: str | None = None
    config_file: str | None = None
    overrides: dict[str, Any] | None = None
    artifacts: str = "artifacts"
    preset: str | None = None

    @classmethod
    def parse(cls, values: Mapping[str, Any]) -> "PreprocessParameters":
        """Validate raw parameter values; type errors and unknown names become one ConfigError."""
        try:
            return cls.model_validate(dict(values))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'parameters'}: {error['msg']}"
                for error in exc.errors(include_url=False)
            )
            raise ConfigError(
                f"invalid flow parameters: {problems}; the parameters are {sorted(cls.model_fields)}"
            ) from None

    def config(self, *, with_config_file: bool = True) -> PipelineConfig:
        """The pipeline configuration these parameters select (ConfigError names a bad setting).

        `with_config_file=False` leaves the config file out: a client checking parameters for a run
        that executes on a worker cannot read the file the worker will read."""
        return load_config(self.config_file if with_config_file else None, self.overrides or {}, self.backend, self.preset)

    def check_before_submit(self) -> PipelineConfig:
        """What a client can check before it creates a run that executes elsewhere: the settings
        (except the config file's) and the tokenizer backend's name and options."""
        config = self.config(with_config_file=False)
        # Building the tokenizer validates the backend name and its options; it starts no JVM.
        get_tokenizer(config.tokenize.backend, config.tokenize.options)
        return config

    def with_absolute_paths(self) -> "PreprocessParameters":
        """Paths made absolute against the current folder, for runs that start somewhere else."""
        corpus = self.corpus
        if corpus is not None and Path(corpus).exists():
            corpus = str(Path(corpus).resolve())
        config_file = str(Path(self.config_file).resolve()) if self.config_file else None
        return self.model_copy(
            update={"corpus": corpus, "config_file": config_file, "artifacts": str(Path(self.artifacts).resolve())}
        )


def parse_parameter_pairs(pairs: Iterable[str]) -> dict[str, Any]:
    """`KEY=VALUE` flow parameters; values are read as JSON/TOML when they parse (numbers, null,
    objects such as overrides={"ngram.min_df": 2}), else kept as strings."""
    parameters: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--param {pair!r} must look like KEY=VALUE, e.g. backend=whitespace")
        parameters[key] = parse_value(raw.strip())
    return parameters


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
    return not isinstance(error, BAD_INPUT_ERRORS)


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


# ------------------------------------------------------------------------------------- server
def api_url() -> str:
    """The configured Prefect API, checked to answer; OrchestrationError says how to set one up."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise OrchestrationError(
            "no Prefect server configured: start one with `prefect server start` and point koprep at it with "
            "`export PREFECT_API_URL=http://127.0.0.1:4200/api` (or `prefect config set PREFECT_API_URL=...`)"
        )
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=5) as response:
            response.read()
    except OSError as exc:
        raise OrchestrationError(
            f"cannot reach the Prefect API at {url} ({exc}); is `prefect server start` running?"
        ) from None
    return url


def run_url(flow_run_id: Any) -> str | None:
    from prefect.settings import PREFECT_UI_URL

    ui = PREFECT_UI_URL.value()
    return f"{ui.rstrip('/')}/runs/flow-run/{flow_run_id}" if ui else None


def serve(
    parameters: PreprocessParameters,
    *,
    name: str,
    cron: str | None = None,
    interval: float | None = None,
    limit: int | None = None,
) -> None:
    """Serve the flow as deployment `koprep-preprocess/<name>` with a schedule and default
    `parameters` until interrupted (Ctrl-C / SIGTERM); each run starts in a fresh subprocess that
    imports `flows.preprocess` (so nothing here forks a process that has a JVM)."""
    from prefect.deployments.runner import EntrypointType

    from flows.preprocess import preprocess

    from koprep import pipeline
    from koprep.store import ArtifactStore

    # Refuse to serve parameters that every scheduled run would fail on.
    store = ArtifactStore(parameters.artifacts)
    pipeline.preflight(store, parameters.corpus, pipeline.with_fitted_from(store, parameters.config()))
    api_url()
    preprocess.serve(
        name=name,
        cron=cron,
        interval=interval,
        parameters=parameters.with_absolute_paths().model_dump(),
        tags=["koprep"],
        limit=limit,
        pause_on_shutdown=True,
        # A module path loads the flow from the installed package whatever the runs' working folder.
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


@dataclass(frozen=True)
class FinishedRun:
    flow_run_id: str
    name: str
    state: str
    message: str
    summary: dict[str, Any] | None
    """The run's summary (`runs/<run_id>.json`) when it completed; None otherwise."""

    @property
    def succeeded(self) -> bool:
        return self.state == "COMPLETED"


def trigger(
    deployment: str = DEFAULT_DEPLOYMENT,
    parameters: Mapping[str, Any] | None = None,
    overrides: Iterable[tuple[str, Any]] = (),
) -> "FlowRun":
    """Create a run of `deployment` ("flow-name/deployment-name") with `parameters` (merged over the
    deployment's defaults; `overrides` are merged into the `overrides` parameter). The merged
    parameters are validated here first, so a bad value fails now instead of in the worker."""
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

    api_url()
    with get_client(sync_client=True) as client:
        try:
            target = client.read_deployment_by_name(deployment)
        except ObjectNotFound:
            raise OrchestrationError(
                f"no deployment {deployment!r} on the server; deploy one with `prefect deploy` (prefect.yaml) "
                f"or `koprep serve`, and list them with `prefect deployment ls`"
            ) from None
        merged = {**(target.parameters or {}), **dict(parameters or {})}
        extra = dict(overrides)
        if extra:
            merged["overrides"] = {**(merged.get("overrides") or {}), **extra}
        PreprocessParameters.parse(merged).check_before_submit()
        try:
            return client.create_flow_run_from_deployment(target.id, parameters=merged, tags=["koprep-trigger"])
        except PrefectHTTPStatusError as exc:
            raise OrchestrationError(f"the server refused the run: {exc.response.text}") from None


def watch(
    flow_run_id: Any,
    *,
    poll_seconds: float = 1.0,
    timeout: float | None = None,
    on_state: Callable[[str, str], None] | None = None,
) -> FinishedRun:
    """Follow a flow run until it reaches a final state; `on_state(state_name, message)` is called on
    each change. Returns the final state and, for a completed run, the run summary."""
    from prefect import get_client

    deadline = None if timeout is None else time.monotonic() + timeout
    seen = None
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(flow_run_id)
            state_type = run.state.type.value if run.state else "PENDING"
            state_name = run.state.name if run.state else "Pending"
            message = (run.state.message or "") if run.state else ""
            if state_name != seen and on_state is not None:
                on_state(state_name, message)
            seen = state_name
            if state_type in FINAL_STATES:
                summary = _run_summary(client, run) if state_type == "COMPLETED" else None
                return FinishedRun(str(run.id), run.name, state_type, message, summary)
            if deadline is not None and time.monotonic() > deadline:
                raise OrchestrationError(
                    f"flow run {run.name} ({run.id}) is still {state_name} after {timeout:g} s; "
                    f"it keeps running — follow it with `prefect flow-run inspect {run.id}`"
                )
            time.sleep(poll_seconds)


def _run_summary(client: Any, run: "FlowRun") -> dict[str, Any] | None:
    """The run JSON the flow wrote, found through its link artifact; when that file is not
    readable here (the run executed on another machine), a summary rebuilt from the stage table."""
    artifacts = {a.key: a for a in _flow_run_artifacts(client, run.id)}
    link = artifacts.get(RUN_JSON_ARTIFACT)
    if link is not None:
        path = Path(urllib.parse.unquote(urllib.parse.urlparse(_link_target(link.data)).path))
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))
    table = artifacts.get(STAGES_ARTIFACT)
    if table is None:
        return None
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    return {
        "run_id": str(run.id),
        "corpus": (run.parameters or {}).get("corpus") or "(default)",
        "backend": (run.parameters or {}).get("backend") or "(config)",
        "stages": {
            row["stage"]: {"cached": row["status"] == "cached", "rows": row["rows"], "seconds": row["seconds"],
                           "fingerprint": row["fingerprint"], "path": row["path"], "extra": {}}
            for row in rows
        },
    }


def _link_target(data: Any) -> str:
    # A link artifact's data is the markdown "[text](link)" Prefect renders, or the bare link.
    text = str(data)
    if text.startswith("[") and "](" in text and text.endswith(")"):
        return text[text.rindex("](") + 2 : -1]
    return text


def _flow_run_artifacts(client: Any, flow_run_id: Any) -> list[Any]:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    return client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
    )


def flow_run_artifacts(flow_run_id: Any) -> dict[str, Any]:
    """The Prefect artifacts a flow run created, by key (the UI's Artifacts tab)."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        return {a.key: a for a in _flow_run_artifacts(client, flow_run_id)}


def scheduled_runs(deployment: str) -> list["FlowRun"]:
    """The SCHEDULED runs the server's scheduler created for `deployment`, soonest first."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter, DeploymentFilterId, FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        target = client.read_deployment_by_name(deployment)
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[target.id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
            ),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        )


__all__ = [
    "DEFAULT_DEPLOYMENT", "FLOW_NAME", "FinishedRun", "OrchestrationError", "PreprocessParameters",
    "flow_run_artifacts", "parse_parameter_pairs", "publish_run_artifacts", "retry_unless_bad_input",
    "scheduled_runs", "serve", "top_terms", "trigger", "watch",
]
