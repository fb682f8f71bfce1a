"""`koprep` command line: run the pipeline, inspect backends and cleaning, use the artifacts.

One module per command or group of commands, each registering its subcommands on the parser with
the shared option groups of `options` (as DVC's `dvc/commands/` do):

    run        run, status                      backends   backends, clean-preview, presets
    results    show, similar, evaluate          store      ls, gc, verify
    compare    compare                          prefect    serve, trigger
    discover   discover                         server     server (the kept temporary Prefect server)

This package imports only the standard library at start-up: each command imports what it needs
(pandas, pydantic, Prefect) when it runs, so `koprep --help` answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import traceback
from typing import Any, Iterator, Sequence

from koprep import __version__
from koprep.cli import backends, compare, discover, prefect, results, run, store
from koprep.cli import server as kept_server
from koprep.cli.options import Parents

EXIT_CLOSED_PIPE = 141
"""128 + SIGPIPE: what the shell reports for any program cut off by a closed pipe (`| head`)."""
COMMAND_MODULES = (run, backends, prefect, results, compare, store, discover, kept_server)
"""In the order `koprep --help` lists their commands."""

EXAMPLES = """examples:
  koprep run ../shared/corpora/nsmc/ratings_train.txt --set corpus.limit=20000
  koprep status ../shared/corpora/nsmc/ratings_train.txt --set corpus.limit=20000
  koprep backends

exit codes: 0 ok, 1 bug or failed run, 2 bad input (nothing started), 3 store integrity, 141 output pipe closed"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="koprep", description=__doc__.split("\n\n")[0] if __doc__ else None, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"koprep {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parents = Parents()
    for module in COMMAND_MODULES:
        module.register(commands, parents)

    # --debug is global: accepted before the command and after it.
    debug_help = "on an unexpected error (a bug), print the full traceback"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    for command in commands.choices.values():
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes, decided here only: 0 success; 2 bad input (corpus, settings, references, data
    that yields nothing, an unwritable store); 3 a corrupt artifact; 1 anything else, which is a bug
    (one line; the traceback with --debug)."""
    # The temporary Prefect server started when no PREFECT_API_URL is set would otherwise try to
    # send usage telemetry over the network; koprep makes no network calls of its own.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect gives that server 20 s to start, which a busy 2-core machine overruns.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    from koprep.errors import EXIT_FAILED, KoprepError

    args = build_parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    try:
        with _messages(debug):
            code: int = args.handler(args)
            sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
            return code
    except BrokenPipeError:
        return _closed_pipe()
    except KoprepError as exc:
        if debug:
            traceback.print_exc()
        print(f"koprep: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("koprep: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns a bug into exit 1
        if debug:
            traceback.print_exc()
            print(f"koprep: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        else:
            print(f"koprep: internal error (a bug in koprep): {type(exc).__name__}: {exc}; "
                  "re-run with --debug to see the traceback", file=sys.stderr)
        return EXIT_FAILED


class _NoteFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        kind = "warning: " if record.levelno >= logging.WARNING else ""
        return f"koprep: {kind}{record.getMessage()}"


@contextlib.contextmanager
def _messages(debug: bool) -> Iterator[None]:
    """While a command runs: koprep's notes and warnings (waiting for another run's lock, empty
    documents, a corrupt artifact being recomputed) as `koprep: ...` lines on stderr and, without
    --debug, no traceback from any logger (Prefect logs one for every failed task): the error line
    from `main` says what happened."""
    logger = logging.getLogger("koprep")
    handler = logging.StreamHandler()
    handler.setFormatter(_NoteFormatter())
    handler.setLevel(logging.INFO)
    propagate, make_record = logger.propagate, logging.getLogRecordFactory()

    def without_traceback(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        record.exc_info = None
        record.exc_text = None
        return record

    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    logger.propagate = False
    if not debug:
        logging.setLogRecordFactory(without_traceback)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
        logging.setLogRecordFactory(make_record)


def _closed_pipe() -> int:
    """The reader went away (`koprep backends | head -1`): stop quietly. Later writes, including the
    interpreter's final flush, go to /dev/null instead of raising again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_CLOSED_PIPE
