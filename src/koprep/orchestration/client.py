"""The client side of koprep on a Prefect server: serve the flow with a schedule, trigger runs of a
deployment, watch them, and read back what they recorded. It imports the flow (and so Prefect); the
flow never imports this module."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from koprep.errors import OrchestrationError
from koprep.orchestration.flow import DEFAULT_DEPLOYMENT, RUN_JSON_ARTIFACT, STAGES_ARTIFACT, preprocess
from koprep.orchestration.parameters import PreprocessParameters
from koprep.runs import RunRecord, StageRecord

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


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
    imports `koprep.orchestration.flow` (so nothing here forks a process that has a JVM)."""
    from prefect.deployments.runner import EntrypointType

    from koprep.plan import build_plan
    from koprep.store import ArtifactStore

    # Refuse to serve parameters that every scheduled run would fail on.
    config = parameters.config()
    config.store.activate()  # its [store] options, before the store and the corpus are opened
    build_plan(ArtifactStore(parameters.artifacts), parameters.corpus, config).preflight()
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
    record: RunRecord | None
    """The run's record (`runs/<run_id>.json`) when it completed; None otherwise."""

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
    each change. Returns the final state and, for a completed run, the run record."""
    from prefect import get_client

    deadline = None if timeout is None else time.monotonic() + timeout
    seen = None
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(flow_run_id)
            state_type = run.state.type.value if run.state else "PENDING"
            state_name = (run.state.name or state_type) if run.state else "Pending"  # Prefect names every state
            message = (run.state.message or "") if run.state else ""
            if state_name != seen and on_state is not None:
                on_state(state_name, message)
            seen = state_name
            if state_type in FINAL_STATES:
                record = _run_record(client, run) if state_type == "COMPLETED" else None
                return FinishedRun(str(run.id), run.name, state_type, message, record)
            if deadline is not None and time.monotonic() > deadline:
                raise OrchestrationError(
                    f"flow run {run.name} ({run.id}) is still {state_name} after {timeout:g} s; "
                    f"it keeps running — follow it with `prefect flow-run inspect {run.id}`"
                )
            time.sleep(poll_seconds)


def _run_record(client: Any, run: "FlowRun") -> RunRecord | None:
    """The run record the flow wrote, found through its link artifact; when that file is not
    readable here (the run executed on another machine), a record rebuilt from the stage table."""
    artifacts = {a.key: a for a in _flow_run_artifacts(client, run.id)}
    link = artifacts.get(RUN_JSON_ARTIFACT)
    if link is not None:
        path = Path(urllib.parse.unquote(urllib.parse.urlparse(_link_target(link.data)).path))
        if path.is_file():
            from koprep.store import ArtifactStore

            return ArtifactStore(path.parent.parent).read_run(path.stem)  # paths resolved against its store
    table = artifacts.get(STAGES_ARTIFACT)
    if table is None:
        return None
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    return RunRecord(
        run_id=str(run.id),
        corpus=(run.parameters or {}).get("corpus") or "(default)",
        backend=(run.parameters or {}).get("backend") or "(config)",
        stages={
            row["stage"]: StageRecord(cached=row["status"] == "cached", rows=row["rows"], seconds=row["seconds"],
                                      fingerprint=row["fingerprint"], path=row["path"])
            for row in rows
        },
    )


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
