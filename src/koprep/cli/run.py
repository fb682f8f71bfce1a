"""`koprep run` and `koprep status`: plan a run (every stage's fingerprint, cached or stale, and why),
then carry it out (the Prefect flow), answer it from the store, or only print it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from koprep.cli.options import Commands, Parents, add_command, check_runner, settings_from
from koprep.cli.render import print_record

if TYPE_CHECKING:
    from koprep.plan import Plan
    from koprep.runs import RunRecord

RUN_EXAMPLES = """examples:
  koprep run reviews.tsv --backend kiwi --set ngram.min_df=2
  koprep run reviews.tsv --dry-run                  # what would run, and why; runs nothing
  koprep run reviews.tsv --force tokenize           # recompute tokenize and every stage after it
  koprep run reviews.tsv --json | jq .stages.tfidf.path

When every stage is already stored, the run is answered from the store without starting Prefect."""

STATUS_EXAMPLES = """examples:
  koprep status reviews.tsv --backend kiwi          # cached or stale, and why, per stage
  koprep status reviews.tsv --set tokenize.options.mode=nouns --json

Runs nothing: no tokenizer, no JVM, no Prefect server."""


def register(commands: Commands, parents: Parents) -> None:
    run = add_command(
        commands, "run", help="run the preprocessing flow (clean → tokenize → bow/ngram/tfidf/word2vec)",
        epilog=RUN_EXAMPLES, parents=[*parents.for_runs(), parents.json],
    )
    run.add_argument("--dry-run", action="store_true",
                     help="print what would be computed or taken from the store, and why (as `koprep status`); run nothing")
    run.set_defaults(handler=run_command)

    status = add_command(
        commands, "status", help="show each stage as cached or stale, and why, without running anything",
        epilog=STATUS_EXAMPLES, parents=[*parents.for_runs(), parents.json],
    )
    status.set_defaults(handler=status_command)


def plan_for(args: argparse.Namespace, *, shards: bool = False) -> Plan:
    """The run's plan; bad input fails here, before any work and before Prefect is imported.
    `shards`: say which shards of a stale per-shard stage a run would compute (see build_plan)."""
    from koprep.config import load_config
    from koprep.plan import build_plan
    from koprep.store import ArtifactStore

    config = load_config(args.config_file, dict(settings_from(args)), args.backend, args.preset)
    config.store.activate()  # its [store] options, before the store and the corpus are opened
    return build_plan(ArtifactStore(args.artifacts), args.corpus, config, shards=shards)


def status_command(args: argparse.Namespace) -> int:
    return print_plan(plan_for(args, shards=True), args.json)


def print_plan(plan: Plan, as_json: bool) -> int:
    from koprep.plan import format_plan

    print(json.dumps(plan.to_json(), ensure_ascii=False) if as_json else format_plan(plan))
    return 0


def run_command(args: argparse.Namespace) -> int:
    plan = plan_for(args, shards=args.dry_run)
    if args.dry_run:
        return print_plan(plan, args.json)
    record = plan.answer_from_store()
    # Human text goes to stderr with --json, so stdout holds the JSON object only.
    human = sys.stderr if args.json else sys.stdout
    if record is not None:
        from koprep.report import write_report

        write_report(plan.store, record)  # the flow publishes it too; this path never imports Prefect
        print("nothing to do: every stage is in the store (answered without Prefect)", file=human)
    else:
        record = run_flow(plan, args)
    print_record(record, human)
    if args.json:
        stages = {name: stage.model_dump(mode="json") for name, stage in record.stages.items()}
        print(json.dumps({"run_id": record.run_id, "stages": stages}, ensure_ascii=False))
    return 0


def run_flow(plan: Plan, args: argparse.Namespace) -> RunRecord:
    """Check what would fail mid-run, then run the plan as a Prefect flow run."""
    from koprep.orchestration.reusable import start_early

    check_runner(args)  # a runner choice that cannot work fails before any work
    # Without a configured Prefect server, the temporary one an earlier run kept is reused (a health
    # check), or one boots (4-25 s) while the run checks its plan, imports Prefect and loads the
    # tokenizer, instead of before the flow.
    server = start_early() if args.runner == "local" else None  # Dask workers must reach a server of their own
    tokenize = plan.stages.get("tokenize")
    if args.runner == "local" and tokenize is not None and not tokenize.done:
        from koprep.parallel import warm_up
        from koprep.pipeline.tokenize import supervision

        # Okt's JVM (in its supervised worker process) starts meanwhile too (~2 s saved).
        warm_up(plan.run.backend, plan.run.token_filter, plan.run.config.run.workers, **supervision(plan.run))
    # Fails before the flow starts (bad input: exit 2; the server and worker are stopped at exit).
    plan.preflight()
    from koprep import runs
    from koprep.orchestration.flow import PlannedRun, run_plan
    from koprep.progress import terminal_progress

    if server is not None:
        server.wait()
    with terminal_progress():
        summary = run_plan(PlannedRun(plan=plan, runner=args.runner, dask_address=args.dask_address, checked=True))
    return runs.RunRecord.model_validate(summary)
