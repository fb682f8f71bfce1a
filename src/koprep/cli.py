"""`koprep` command line: run the pipeline, inspect backends and cleaning, use the artifacts."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Iterator, Sequence

from koprep import __version__

EXIT_USAGE = 2


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "corpus", nargs="?", default=None,
        help="text file (one document per line), folder of .txt, TSV/CSV, JSON Lines or Parquet; "
        "default: konlpy's bundled kolaw + kobill corpora",
    )
    parser.add_argument("--backend", help="tokenizer backend (see `koprep backends`); default okt")
    parser.add_argument("--config", dest="config_file", metavar="FILE", help="TOML config file")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override one setting, e.g. --set ngram.min_df=2 --set corpus.text_column=content (repeatable)",
    )
    parser.add_argument("--artifacts", default="artifacts", metavar="DIR", help="artifact store root (default: artifacts)")
    parser.add_argument(
        "--runner", choices=("local", "dask"), default="local",
        help="where the tasks run: local (this process, default) or dask (an existing Dask cluster, see --dask-address); "
        "outputs and cache keys are the same",
    )
    parser.add_argument(
        "--dask-address", metavar="tcp://HOST:PORT",
        help="the Dask scheduler for --runner dask; its workers need this koprep and the artifact store and corpus "
        "at the same absolute paths (a shared file system)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="koprep", description=__doc__)
    parser.add_argument("--version", action="version", version=f"koprep {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the preprocessing flow (clean → tokenize → bow/ngram/tfidf/word2vec)")
    _add_run_options(run)
    run.add_argument("--json", action="store_true", help="print the run summary as one JSON object on the last stdout line")
    run.set_defaults(handler=_run)

    backends = commands.add_parser("backends", help="list tokenizer backends, whether they are installed, and their options")
    backends.add_argument("--json", action="store_true")
    backends.set_defaults(handler=_backends)

    preview = commands.add_parser("clean-preview", help="show what each cleaning step does to TEXT")
    preview.add_argument("text")
    preview.add_argument("--config", dest="config_file", metavar="FILE")
    preview.add_argument("--set", dest="overrides", action="append", default=[], metavar="clean.KEY=VALUE")
    preview.set_defaults(handler=_clean_preview)

    serve = commands.add_parser(
        "serve", help="serve the flow on the Prefect server (PREFECT_API_URL) with a schedule until Ctrl-C",
    )
    _add_run_options(serve)
    serve.add_argument("--name", default="served", help="deployment name (runs show as koprep-preprocess/NAME)")
    when = serve.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", help='cron schedule, e.g. "0 3 * * *" (03:00 UTC daily)')
    when.add_argument("--interval", type=float, metavar="SECONDS", help="run every SECONDS")
    serve.add_argument("--limit", type=int, help="at most this many runs at once (default: no limit)")
    serve.set_defaults(handler=_serve)

    trigger = commands.add_parser("trigger", help="start a run of a deployment on the Prefect server; --watch follows it")
    trigger.add_argument("deployment", nargs="?", default=None, metavar="DEPLOYMENT",
                         help="FLOW/DEPLOYMENT (default: koprep-preprocess/nightly from prefect.yaml)")
    trigger.add_argument("--param", dest="params", action="append", default=[], metavar="KEY=VALUE",
                         help="flow parameter over the deployment's default, e.g. --param backend=whitespace (repeatable)")
    trigger.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                         help="config override merged into the `overrides` parameter (repeatable)")
    trigger.add_argument("--watch", action="store_true",
                         help="follow the run to its end, print the stage summary; exit 0 only if it completed")
    trigger.add_argument("--timeout", type=float, metavar="SECONDS", help="with --watch: give up waiting after SECONDS")
    trigger.add_argument("--json", action="store_true", help="with --watch: print the run summary as JSON on the last line")
    trigger.set_defaults(handler=_trigger)
    similar = commands.add_parser("similar", help="nearest words by word2vec similarity, e.g. `koprep similar 영화`")
    similar.add_argument("words", nargs="+", metavar="WORD")
    similar.add_argument("--to", metavar="OTHER", help="print the similarity of each WORD to OTHER instead")
    similar.add_argument("--topn", type=int, default=10)
    _add_store_options(similar)
    similar.set_defaults(handler=_similar)

    evaluate = commands.add_parser(
        "evaluate", help="score a run's word2vec vectors on a Korean word-analogy and/or word-similarity set"
    )
    evaluate.add_argument("--analogies", metavar="FILE", help="Google-format analogy file, e.g. word_analogy_korean.txt")
    evaluate.add_argument("--similarity", metavar="FILE", help="word-pair file with scores, e.g. WS353_korean.csv")
    _add_store_options(evaluate)
    evaluate.set_defaults(handler=_evaluate)

    verify = commands.add_parser(
        "verify", help="check every artifact against its manifest (SHA-256) and every run record's references; "
        "exit 3 if anything is corrupt or missing",
    )
    verify.add_argument("--artifacts", default="artifacts", metavar="DIR", help="artifact store root (default: artifacts)")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(handler=_verify)

    # --debug is global: accepted before the command and after it.
    debug_help = "on an unexpected error (a bug), print the full traceback"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    for command in commands.choices.values():
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
    return parser


def _verify(args: argparse.Namespace) -> int:
    from koprep.errors import EXIT_INTEGRITY
    from koprep.store import ArtifactStore, StoreError

    store = ArtifactStore(args.artifacts)
    if not store.root.is_dir():
        raise StoreError(f"there is no artifact store at {store.root}; pass its folder with --artifacts DIR")
    report = store.verify()
    problems = report["problems"]
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return EXIT_INTEGRITY if problems else 0
    print(f"checked {report['entries']} artifacts and {report['runs']} run records in {report['root']}")
    for problem in problems:
        print(f"  {problem['kind']:<10} {problem['path']}: {problem['detail']}")
    if report["leftovers"]:
        print(f"  {len(report['leftovers'])} temporary folder(s) of interrupted or running writes "
              "(never used; the next run removes those no run is writing)")
    if problems:
        print(f"{len(problems)} problem(s); corrupt artifacts are recomputed by the next `koprep run` with the same settings")
        return EXIT_INTEGRITY
    print("ok: every artifact matches its manifest")
    return 0


def _add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--artifacts", default="artifacts", metavar="DIR", help="artifact store root (default: artifacts)")
    parser.add_argument("--run", default="latest", metavar="RUN_ID", help="which run's artifacts (default: the latest)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _similar(args: argparse.Namespace) -> int:
    from koprep.loaders import open_run

    run = open_run(args.artifacts, args.run)
    try:
        if args.to:
            result = {word: run.similarity(word, args.to) for word in args.words}
        else:
            result = {word: run.similar(word, args.topn) for word in args.words}
    except KeyError as exc:
        print(f"koprep: error: {exc.args[0]}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    for word, value in result.items():
        if args.to:
            print(f"{word}\t{args.to}\t{value:.4f}")
            continue
        print(word)
        for neighbour, score in value:
            print(f"  {neighbour}\t{score:.4f}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from koprep.loaders import open_run
    from koprep.pipeline import evaluate_stage

    run = open_run(args.artifacts, args.run)
    result = evaluate_stage(run.store, run.entry("word2vec"), args.analogies, args.similarity)
    report = json.loads((Path(result.path) / "evaluation.json").read_text(encoding="utf-8"))
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return 0
    if "analogies" in report:
        a = report["analogies"]
        accuracy = "n/a" if a["overall_accuracy"] is None else f"{a['overall_accuracy']:.4f}"
        print(f"analogies   accuracy {accuracy} on {a['evaluated']}/{a['total']} items (OOV rate {a['oov_rate']:.3f})")
        for name, section in a["sections"].items():
            acc = "n/a" if section["accuracy"] is None else f"{section['accuracy']:.4f}"
            print(f"  {name:<32} {acc:>7}  {section['evaluated']:>5}/{section['total']:<5} OOV {section['oov_rate']:.3f}")
    if "similarity" in report:
        s = report["similarity"]
        spearman = "n/a" if s["spearman"] is None else f"{s['spearman']:.4f}"
        print(f"similarity  spearman {spearman} on {s['evaluated']}/{s['total']} pairs (OOV rate {s['oov_rate']:.3f})")
    print(f"report: {Path(result.path) / 'evaluation.json'}{'  (cached)' if result.cached else ''}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from koprep.config import load_config
    from koprep.pipeline import preflight, with_fitted_from
    from koprep.store import ArtifactStore

    # Bad input fails here, before a Prefect server is contacted or started.
    store = ArtifactStore(args.artifacts)
    preflight(store, args.corpus, with_fitted_from(store, load_config(args.config_file, args.overrides, args.backend)))
    _check_runner(args, store)
    from koprep.orchestration.flow import preprocess

    summary = preprocess(
        corpus=args.corpus, backend=args.backend, config_file=args.config_file,
        overrides=dict(_pairs(args.overrides)), artifacts=args.artifacts,
        runner=args.runner, dask_address=args.dask_address,
    )
    _print_summary(summary)
    if args.json:
        print(json.dumps({k: summary[k] for k in ("run_id", "stages")}, ensure_ascii=False))
    return 0


def _check_runner(args: argparse.Namespace, store) -> None:
    """A runner choice or Dask cluster that cannot run the tasks fails here, before Prefect starts."""
    from koprep.orchestration import runners

    runners.check_choice(args.runner, args.dask_address)
    if args.runner == "dask":
        runners.check_cluster(args.dask_address, store.root, runners.absolute_corpus(args.corpus),
                              prefect_api=os.environ.get("PREFECT_API_URL"))


def _pairs(overrides: Sequence[str]):
    from koprep.config import parse_override

    return [parse_override(o) for o in overrides]


def _print_summary(summary: dict) -> None:
    print(f"run {summary['run_id']}  corpus {summary['corpus']}  backend {summary['backend']}")
    print(f"{'stage':<10} {'cached':<7} {'rows':>8} {'seconds':>8}  path")
    for name, stage in summary["stages"].items():
        print(f"{name:<10} {'yes' if stage['cached'] else 'no':<7} {stage['rows']:>8} {stage['seconds']:>8.2f}  {stage['path']}")
    clean = summary["stages"].get("clean", {}).get("extra", {})
    if clean.get("empty_after_clean"):
        print(f"{clean['empty_after_clean']} document(s) are empty after cleaning (kept, with empty text)")


def _backends(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from koprep.tokenizers import available_backends

    infos = available_backends()
    if args.json:
        print(json.dumps([asdict(i) for i in infos], ensure_ascii=False))
        return 0
    for info in infos:
        state = "available" if info.available else "NOT INSTALLED"
        print(f"{info.name:<12} {state:<14} {info.description}")
        if not info.available:
            print(f"{'':<12} install: {info.install_hint}")
        for option, kind in info.options.items():
            print(f"{'':<12} --set tokenize.options.{option}=…  ({kind})")
    return 0


def _clean_preview(args: argparse.Namespace) -> int:
    from koprep.config import load_config
    from koprep.stages.clean import preview

    config = load_config(args.config_file, args.overrides)
    steps = preview(args.text, config.clean)
    width = max(len(name) for name, _ in steps)
    previous = None
    for name, text in steps:
        marker = " " if text == previous else "*"
        print(f"{marker} {name:<{width}}  {text!r}")
        previous = text
    return 0


def _serve(args: argparse.Namespace) -> int:
    from koprep.errors import OrchestrationError
    from koprep.orchestration import client
    from koprep.orchestration.parameters import PreprocessParameters
    from koprep.store import ArtifactStore

    _check_runner(args, ArtifactStore(args.artifacts))
    parameters = PreprocessParameters(
        corpus=args.corpus, backend=args.backend, config_file=args.config_file,
        overrides=dict(_pairs(args.overrides)) or None, artifacts=args.artifacts,
        runner=args.runner, dask_address=args.dask_address,
    )
    try:
        client.serve(parameters, name=args.name, cron=args.cron, interval=args.interval, limit=args.limit)
    except OrchestrationError as exc:
        print(f"koprep: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def _trigger(args: argparse.Namespace) -> int:
    """Exit 0: run created (or, with --watch, completed); 1: the run failed, crashed, was cancelled
    or outlived --timeout; 2: nothing was started (bad parameters, no server, no such deployment)."""
    from koprep.errors import OrchestrationError
    from koprep.orchestration import client
    from koprep.orchestration.parameters import parse_parameter_pairs

    deployment = args.deployment or client.DEFAULT_DEPLOYMENT
    try:
        run = client.trigger(deployment, parse_parameter_pairs(args.params), _pairs(args.overrides))
    except OrchestrationError as exc:
        print(f"koprep: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"created flow run {run.name} ({run.id}) of {deployment}")
    if url := client.run_url(run.id):
        print(f"  {url}")
    if not args.watch:
        return 0
    try:
        finished = client.watch(
            run.id, timeout=args.timeout,
            on_state=lambda name, message: print(f"  {name}" + (f": {message}" if message else ""), flush=True),
        )
    except OrchestrationError as exc:
        print(f"koprep: error: {exc}", file=sys.stderr)
        return 1
    if finished.summary is not None:
        _print_summary(finished.summary)
    if args.json:
        record = {"flow_run_id": finished.flow_run_id, "state": finished.state, "message": finished.message}
        if finished.summary is not None:
            record.update(run_id=finished.summary["run_id"], stages=finished.summary["stages"])
        print(json.dumps(record, ensure_ascii=False))
    return 0 if finished.succeeded else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes, decided here only: 0 success; 2 bad input (corpus, settings, references, data
    that yields nothing, an unwritable store); 3 a corrupt artifact; 1 anything else, which is a bug
    (one line; the traceback with --debug)."""
    # The temporary Prefect server started when no PREFECT_API_URL is set would otherwise try to
    # send usage telemetry over the network; koprep makes no network calls of its own.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from koprep.errors import EXIT_FAILED, KoprepError

    args = build_parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    try:
        with _messages(debug):
            return args.handler(args)
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

    def without_traceback(*args, **kwargs) -> logging.LogRecord:
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


if __name__ == "__main__":
    sys.exit(main())
