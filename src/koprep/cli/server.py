"""`koprep server`: the Prefect server `koprep run` keeps for later runs when no PREFECT_API_URL is
set (`koprep.orchestration.reusable`): show it, or stop it."""

from __future__ import annotations

import argparse
import json
import time

from koprep.cli.options import Commands, Parents, add_command

SERVER_EXAMPLES = """examples:
  koprep server                     # the kept server of PREFECT_HOME: address, pid, idle time
  koprep server stop                # stop it now (the next run starts a new one)
  KOPREP_PREFECT_SERVER_IDLE=3600 koprep run reviews.tsv    # keep it an hour after this run
  KOPREP_PREFECT_SERVER=per-run koprep run reviews.tsv      # a server of the run's own, stopped at its end

Not for `koprep serve`/`trigger`, which need a server you run: prefect server start."""


def register(commands: Commands, parents: Parents) -> None:
    server = add_command(
        commands, "server", epilog=SERVER_EXAMPLES, parents=[parents.json],
        help="show or stop the temporary Prefect server `koprep run` keeps for later runs (no PREFECT_API_URL)",
        description="Without PREFECT_API_URL, `koprep run` starts Prefect's temporary server and keeps it for later "
        "runs with the same PREFECT_HOME; it stops itself after KOPREP_PREFECT_SERVER_IDLE seconds (default 600) "
        "without a run. `koprep server` shows it; `koprep server stop` stops it.",
    )
    server.add_argument("action", nargs="?", choices=("status", "stop"), default="status",
                        help="status (default): show the kept server; stop: stop it")
    server.add_argument("--force", action="store_true", help="with stop: stop it even while a run is using it")
    server.set_defaults(handler=server_command)


def server_command(args: argparse.Namespace) -> int:
    from koprep.orchestration import reusable

    if args.action == "stop":
        stopped = reusable.stop(force=args.force)
        if args.json:
            print(json.dumps({"stopped": stopped is not None, "pid": stopped and stopped["pid"]}))
        elif stopped is None:
            print(f"no kept Prefect server in {reusable.prefect_home()}")
        else:
            print(f"stopped the Prefect server at {stopped['api_url']} (pid {stopped['pid']})")
        return 0
    shown = reusable.status()
    if args.json:
        print(json.dumps(shown))
    elif shown is None:
        print(f"no kept Prefect server in {reusable.prefect_home()}; the next `koprep run` without "
              "PREFECT_API_URL starts one")
    else:
        print(f"Prefect server at {shown['api_url']} (pid {shown['pid']}), PREFECT_HOME {shown['prefect_home']}")
        print(f"  answering: {'yes' if shown['answering'] else 'no'}; in use by a run: {'yes' if shown['in_use'] else 'no'}")
        print(f"  up {_duration(time.time() - shown['started'])}; idle {_duration(shown['idle_seconds'])}, "
              f"stops after {_duration(shown['stops_after_idle_seconds'])} idle")
        print(f"  Prefect {shown['prefect']}, {shown['python']}; log: {shown['log']}")
    return 0


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
