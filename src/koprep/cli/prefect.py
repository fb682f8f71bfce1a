"""Commands that talk to a Prefect server: `koprep serve` (the flow as a scheduled deployment) and
`koprep trigger` (a run of a deployment, optionally followed to its end)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from koprep.cli.options import Commands, Parents, add_command, check_runner, parse_pairs, settings_from
from koprep.cli.render import print_record

SERVE_EXAMPLES = """examples:
  koprep serve reviews.tsv --backend kiwi --cron '0 3 * * *'
  koprep serve reviews.tsv --interval 3600 --name hourly

Needs a running Prefect server: export PREFECT_API_URL=http://127.0.0.1:4200/api"""

TRIGGER_EXAMPLES = """examples:
  koprep trigger --watch
  koprep trigger --param backend=kiwi --set ngram.min_df=2 --watch --json"""


def register(commands: Commands, parents: Parents) -> None:
    serve = add_command(
        commands, "serve", epilog=SERVE_EXAMPLES, parents=parents.for_runs(),
        help="serve the flow on the Prefect server (PREFECT_API_URL) with a schedule until Ctrl-C",
    )
    serve.add_argument("--name", default="served", help="deployment name (runs show as koprep-preprocess/NAME)")
    when = serve.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", help='cron schedule, e.g. "0 3 * * *" (03:00 UTC daily)')
    when.add_argument("--interval", type=float, metavar="SECONDS", help="run every SECONDS")
    serve.add_argument("--limit", type=int, help="at most this many runs at once (default: no limit)")
    serve.set_defaults(handler=serve_command)

    trigger = add_command(
        commands, "trigger", epilog=TRIGGER_EXAMPLES, parents=[parents.json],
        help="start a run of a deployment on the Prefect server; --watch follows it",
    )
    trigger.add_argument("deployment", nargs="?", default=None, metavar="DEPLOYMENT",
                         help="FLOW/DEPLOYMENT (default: koprep-preprocess/nightly from prefect.yaml)")
    trigger.add_argument("--param", dest="params", action="append", default=[], metavar="KEY=VALUE",
                         help="flow parameter over the deployment's default, e.g. --param backend=whitespace (repeatable)")
    trigger.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                         help="config override merged into the `overrides` parameter (repeatable)")
    trigger.add_argument("--watch", action="store_true",
                         help="follow the run to its end, print the stage summary; exit 0 only if it completed")
    trigger.add_argument("--timeout", type=float, metavar="SECONDS", help="with --watch: give up waiting after SECONDS")
    trigger.set_defaults(handler=trigger_command)


def serve_command(args: argparse.Namespace) -> int:
    from koprep.orchestration import client
    from koprep.orchestration.parameters import PreprocessParameters

    check_runner(args)  # a runner or Dask cluster that cannot run the tasks fails here, before anything is served
    parameters = PreprocessParameters(
        corpus=args.corpus, backend=args.backend, config_file=args.config_file,
        overrides=dict(settings_from(args)) or None, artifacts=args.artifacts, preset=args.preset,
        runner=args.runner, dask_address=args.dask_address,
    )
    client.serve(parameters, name=args.name, cron=args.cron, interval=args.interval, limit=args.limit)
    return 0


def trigger_command(args: argparse.Namespace) -> int:
    """Exit 0: run created (or, with --watch, completed); 1: the run failed, crashed, was cancelled
    or outlived --timeout; 2: nothing was started (bad parameters, no server, no such deployment)."""
    from koprep.errors import EXIT_FAILED, OrchestrationError
    from koprep.orchestration import client
    from koprep.orchestration.parameters import parse_parameter_pairs

    deployment = args.deployment or client.DEFAULT_DEPLOYMENT
    run = client.trigger(deployment, parse_parameter_pairs(args.params), parse_pairs(args.overrides))
    human = sys.stderr if args.json else sys.stdout
    print(f"created flow run {run.name} ({run.id}) of {deployment}", file=human)
    if url := client.run_url(run.id):
        print(f"  {url}", file=human)
    if not args.watch:
        if args.json:
            print(json.dumps({"flow_run_id": str(run.id), "name": run.name, "deployment": deployment}))
        return 0
    try:
        finished = client.watch(
            run.id, timeout=args.timeout,
            on_state=lambda name, message: print(f"  {name}" + (f": {message}" if message else ""), file=human, flush=True),
        )
    except OrchestrationError as exc:  # the run exists and goes on: not a bad input
        print(f"koprep: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if finished.record is not None:
        print_record(finished.record, human)
    if args.json:
        result: dict[str, Any] = {"flow_run_id": finished.flow_run_id, "state": finished.state, "message": finished.message}
        if finished.record is not None:
            stages = {name: stage.model_dump(mode="json") for name, stage in finished.record.stages.items()}
            result.update(run_id=finished.record.run_id, stages=stages)
        print(json.dumps(result, ensure_ascii=False))
    return 0 if finished.succeeded else EXIT_FAILED
