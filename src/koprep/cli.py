"""`koprep` command line: run the pipeline, inspect backends and cleaning, use the artifacts.

This module imports only the standard library at start-up: each command imports what it needs
(pandas, pydantic, Prefect) when it runs, so `koprep --help` answers at once.
"""

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
EXIT_CLOSED_PIPE = 141
"""128 + SIGPIPE: what the shell reports for any program cut off by a closed pipe (`| head`)."""

STAGE_NAMES = ("clean", "model", "tokenize", "bow", "ngram", "tfidf", "phrases", "word2vec")

EXAMPLES = {
    "koprep": """examples:
  koprep run ../shared/corpora/nsmc/ratings_train.txt --set corpus.limit=20000
  koprep status ../shared/corpora/nsmc/ratings_train.txt --set corpus.limit=20000
  koprep backends

exit codes: 0 ok, 1 bug or failed run, 2 bad input (nothing started), 3 store integrity, 141 output pipe closed""",
    "run": """examples:
  koprep run reviews.tsv --backend kiwi --set ngram.min_df=2
  koprep run reviews.tsv --dry-run                  # what would run, and why; runs nothing
  koprep run reviews.tsv --force tokenize           # recompute tokenize and every stage after it
  koprep run reviews.tsv --json | jq .stages.tfidf.path

When every stage is already stored, the run is answered from the store without starting Prefect.""",
    "status": """examples:
  koprep status reviews.tsv --backend kiwi          # cached or stale, and why, per stage
  koprep status reviews.tsv --set tokenize.options.mode=nouns --json

Runs nothing: no tokenizer, no JVM, no Prefect server.""",
    "backends": """examples:
  koprep backends
  koprep backends --json""",
    "clean-preview": """examples:
  koprep clean-preview "영화 ㅋㅋㅋㅋ 최고!! https://a.kr"
  koprep clean-preview "&lt;b&gt;좋아요&lt;/b&gt;" --set clean.html=placeholder --json""",
    "serve": """examples:
  koprep serve reviews.tsv --backend kiwi --cron '0 3 * * *'
  koprep serve reviews.tsv --interval 3600 --name hourly

Needs a running Prefect server: export PREFECT_API_URL=http://127.0.0.1:4200/api""",
    "trigger": """examples:
  koprep trigger --watch
  koprep trigger --param backend=kiwi --set ngram.min_df=2 --watch --json""",
    "similar": """examples:
  koprep similar 영화 배우 --topn 10
  koprep similar 영화 --to 드라마 --run RUN_ID""",
    "verify": """examples:
  koprep verify                        # every artifact's files against its manifest, every run record
  koprep verify --artifacts /data/koprep-store --json""",
    "presets": """examples:
  koprep presets                       # each preset and the settings it changes
  koprep run reviews.tsv --preset classify""",
    "compare": """examples:
  koprep compare ../shared/corpora/nsmc/ratings_test.txt --label-column label --backend mecab,kiwi --preset topic,classify
  koprep compare labelled.csv --label-column label --backend whitespace --folds 3 --json""",
    "evaluate": """examples:
  koprep evaluate --analogies ../shared/corpora/word2vec_eval/word_analogy_korean.txt \\
                  --similarity ../shared/corpora/word2vec_eval/WS353_korean.csv""",
}


def _command(commands, name: str, **kwargs) -> argparse.ArgumentParser:
    return commands.add_parser(
        name, epilog=EXAMPLES[name], formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs
    )


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "corpus", nargs="?", default=None,
        help="text file (one document per line), folder of .txt, TSV/CSV, JSON Lines or Parquet; "
        "default: konlpy's bundled kolaw + kobill corpora",
    )
    parser.add_argument("--backend", help="tokenizer backend (see `koprep backends`); default okt")
    parser.add_argument("--config", dest="config_file", metavar="FILE", help="TOML config file")
    _add_preset_option(parser)
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override one setting, e.g. --set ngram.min_df=2 --set corpus.text_column=content (repeatable)",
    )
    parser.add_argument("--artifacts", default="artifacts", metavar="DIR", help="artifact store root (default: artifacts)")
    parser.add_argument(
        "--force", action="append", default=[], choices=STAGE_NAMES, metavar="STAGE",
        help="recompute STAGE and every stage after it even if stored, replacing their entries (repeatable; "
        f"one of {', '.join(STAGE_NAMES)})",
    )
    parser.add_argument(
        "--workers", type=int, metavar="N",
        help="cores to tokenize on (default: every core; the same as --set run.workers=N); never changes an output",
    )
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


def _add_preset_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset", metavar="NAME",
        help="named settings for a task, under --config/--backend/--set: topic (the defaults), classify, search "
        "(`koprep presets` lists what each changes)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="koprep", description=__doc__.split("\n\n")[0], epilog=EXAMPLES["koprep"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"koprep {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = _command(commands, "run", help="run the preprocessing flow (clean → tokenize → bow/ngram/tfidf/word2vec)")
    _add_run_options(run)
    run.add_argument("--dry-run", action="store_true",
                     help="print what would be computed or taken from the store, and why (as `koprep status`); run nothing")
    run.add_argument("--json", action="store_true",
                     help="print only the run summary as one JSON object on stdout (with --dry-run: the plan)")
    run.set_defaults(handler=_run)

    status = _command(commands, "status", help="show each stage as cached or stale, and why, without running anything")
    _add_run_options(status)
    status.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    status.set_defaults(handler=_status)

    backends = _command(commands, "backends", help="list tokenizer backends, whether they are installed, and their options")
    backends.add_argument("--json", action="store_true", help="print the list as one JSON array")
    backends.set_defaults(handler=_backends)

    preview = _command(commands, "clean-preview", help="show what each cleaning step does to TEXT")
    preview.add_argument("text")
    preview.add_argument("--config", dest="config_file", metavar="FILE")
    _add_preset_option(preview)
    preview.add_argument("--set", dest="overrides", action="append", default=[], metavar="clean.KEY=VALUE")
    preview.add_argument("--json", action="store_true", help="print the steps as a JSON array of {step, text, changed}")
    preview.set_defaults(handler=_clean_preview)

    serve = _command(
        commands, "serve", help="serve the flow on the Prefect server (PREFECT_API_URL) with a schedule until Ctrl-C",
    )
    _add_run_options(serve)
    serve.add_argument("--name", default="served", help="deployment name (runs show as koprep-preprocess/NAME)")
    when = serve.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", help='cron schedule, e.g. "0 3 * * *" (03:00 UTC daily)')
    when.add_argument("--interval", type=float, metavar="SECONDS", help="run every SECONDS")
    serve.add_argument("--limit", type=int, help="at most this many runs at once (default: no limit)")
    serve.set_defaults(handler=_serve)

    trigger = _command(commands, "trigger", help="start a run of a deployment on the Prefect server; --watch follows it")
    trigger.add_argument("deployment", nargs="?", default=None, metavar="DEPLOYMENT",
                         help="FLOW/DEPLOYMENT (default: koprep-preprocess/nightly from prefect.yaml)")
    trigger.add_argument("--param", dest="params", action="append", default=[], metavar="KEY=VALUE",
                         help="flow parameter over the deployment's default, e.g. --param backend=whitespace (repeatable)")
    trigger.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                         help="config override merged into the `overrides` parameter (repeatable)")
    trigger.add_argument("--watch", action="store_true",
                         help="follow the run to its end, print the stage summary; exit 0 only if it completed")
    trigger.add_argument("--timeout", type=float, metavar="SECONDS", help="with --watch: give up waiting after SECONDS")
    trigger.add_argument("--json", action="store_true",
                         help="print only JSON on stdout: the created run, or with --watch the run summary")
    trigger.set_defaults(handler=_trigger)
    similar = _command(commands, "similar", help="nearest words by word2vec similarity, e.g. `koprep similar 영화`")
    similar.add_argument("words", nargs="+", metavar="WORD")
    similar.add_argument("--to", metavar="OTHER", help="print the similarity of each WORD to OTHER instead")
    similar.add_argument("--topn", type=int, default=10)
    _add_store_options(similar)
    similar.set_defaults(handler=_similar)

    evaluate = _command(
        commands, "evaluate", help="score a run's word2vec vectors on a Korean word-analogy and/or word-similarity set"
    )
    evaluate.add_argument("--analogies", metavar="FILE", help="Google-format analogy file, e.g. word_analogy_korean.txt")
    evaluate.add_argument("--similarity", metavar="FILE", help="word-pair file with scores, e.g. WS353_korean.csv")
    _add_store_options(evaluate)
    evaluate.set_defaults(handler=_evaluate)
    _add_inspection_commands(commands)

    presets = _command(commands, "presets", help="list the named presets (--preset NAME) and what each changes vs the defaults")
    presets.add_argument("--json", action="store_true", help="print one JSON object")
    presets.set_defaults(handler=_presets)

    compare = _command(
        commands, "compare",
        help="cross-validated accuracy / macro-F1 of a LogisticRegression per backend × preset on a labelled corpus",
        description="For each backend × preset, run (or reuse from the artifact store) the pipeline and cross-validate "
        "a LogisticRegression (C=3) on the preset's TF-IDF features (tfidf, chargram). Prints a table and, as the "
        "last stdout line, {\"results\": [{backend, preset, accuracy, macro_f1, std, docs_per_s, ...}]}.",
    )
    compare.add_argument("corpus", help="a labelled corpus (TSV/CSV, JSON Lines or Parquet with a label column)")
    compare.add_argument("--label-column", required=True, metavar="COL", help="the column holding each document's class")
    compare.add_argument("--backend", default="okt,kiwi,mecab", metavar="A,B,…",
                         help="backends, comma-separated (default: okt,kiwi,mecab)")
    compare.add_argument("--preset", default="classify", metavar="P,Q,…",
                         help="presets, comma-separated (default: classify)")
    compare.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    compare.add_argument("--config", dest="config_file", metavar="FILE", help="TOML config file, layered over each preset")
    compare.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                         help="override one setting for every combination (repeatable)")
    compare.add_argument("--artifacts", default="artifacts", metavar="DIR", help="artifact store root (default: artifacts)")
    compare.add_argument("--json", action="store_true", help="print only the JSON object")
    compare.set_defaults(handler=_compare)

    verify = _command(
        commands, "verify", help="check every artifact against its manifest (SHA-256) and every run record's references; "
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


def _presets(args: argparse.Namespace) -> int:
    from koprep import presets
    from koprep.config import preset_changes

    listing = []
    for name in presets.names():
        preset = presets.load(name)
        listing.append({"name": name, "description": preset.description, "changes": preset_changes(preset)})
    if args.json:
        print(json.dumps({"presets": listing}, ensure_ascii=False))
        return 0
    for item in listing:
        print(f"{item['name']}: {item['description']}")
        if not item["changes"]:
            print("  (no changes: the defaults)")
        for change in item["changes"]:
            where = f"  [{change['backend']} only]" if change["backend"] else ""
            default = "per backend" if change["default"] is None else json.dumps(change["default"], ensure_ascii=False)
            print(f"  {change['setting']} = {json.dumps(change['value'], ensure_ascii=False)}  (default {default}){where}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from koprep import compare

    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    preset_names = [p.strip() for p in args.preset.split(",") if p.strip()]
    printed: list[str] = []

    def print_row(result) -> None:
        if not printed:
            print(compare.table_header())
        printed.append(compare.table_row(result))
        print(printed[-1], flush=True)

    results = compare.compare(
        args.corpus, args.label_column, backends, preset_names, folds=args.folds, artifacts=args.artifacts,
        config_file=args.config_file, overrides=args.overrides, on_result=None if args.json else print_row,
    )
    print(json.dumps(compare.json_record(results), ensure_ascii=False))
    return 0


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
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")


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


def _plan(args: argparse.Namespace, *, shards: bool = False):
    """The run's plan; bad input fails here, before any work and before Prefect is imported.
    `shards`: say which shards of a stale clean/tokenize stage a run would compute (see build_plan)."""
    from koprep.config import load_config
    from koprep.plan import build_plan
    from koprep.store import ArtifactStore

    config = load_config(args.config_file, dict(_overrides(args)), args.backend, args.preset)
    return build_plan(ArtifactStore(args.artifacts), args.corpus, config, shards=shards)


def _status(args: argparse.Namespace) -> int:
    return _status_of(_plan(args, shards=True), args.json)


def _run(args: argparse.Namespace) -> int:
    plan = _plan(args, shards=args.dry_run)
    if args.dry_run:
        return _status_of(plan, args.json)
    summary = plan.answer_from_store()
    # Human text goes to stderr with --json, so stdout holds the JSON object only.
    human = sys.stderr if args.json else sys.stdout
    if summary is not None:
        from koprep.report import write_report

        write_report(plan.store, summary)  # the flow publishes it too; this path never imports Prefect
        print("nothing to do: every stage is in the store (answered without Prefect)", file=human)
    else:
        from koprep.orchestration.flow import preprocess
        from koprep.pipeline import preflight
        from koprep.progress import terminal_progress

        preflight(plan.store, args.corpus, plan.config)  # fails before a Prefect server is contacted or started
        _check_runner(args, plan.store)
        tokenize = plan.stages.get("tokenize")
        if args.runner == "local" and tokenize is not None and tokenize.state != "cached":
            from koprep.parallel import warm_up
            from koprep.tokenizers import get_tokenizer

            # Okt's JVM starts while Prefect is imported and the flow run is created (~2 s saved).
            warm_up(get_tokenizer(plan.config.tokenize.backend, plan.config.tokenize.options))

        with terminal_progress():
            summary = preprocess(
                corpus=args.corpus, backend=args.backend, config_file=args.config_file,
                overrides=dict(_overrides(args)), artifacts=args.artifacts, preset=args.preset,
                runner=args.runner, dask_address=args.dask_address,
            )
    _print_summary(summary, human)
    if args.json:
        print(json.dumps({k: summary[k] for k in ("run_id", "stages")}, ensure_ascii=False))
    return 0


def _status_of(plan, as_json: bool) -> int:
    from koprep.plan import format_plan

    print(json.dumps(plan.to_json(), ensure_ascii=False) if as_json else format_plan(plan))
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


def _overrides(args: argparse.Namespace) -> list:
    """`--set` pairs, with `--force` and `--workers` as the `run.force` and `run.workers` settings they
    stand for, so they travel wherever the overrides go (flow parameters too)."""
    pairs = _pairs(args.overrides)
    if getattr(args, "force", None):
        pairs.append(("run.force", list(dict.fromkeys(args.force))))
    if getattr(args, "workers", None) is not None:
        pairs.append(("run.workers", args.workers))
    return pairs


def _print_summary(summary: dict, file=None) -> None:
    file = file or sys.stdout
    print(f"run {summary['run_id']}  corpus {summary['corpus']}  backend {summary['backend']}", file=file)
    print(f"{'stage':<10} {'cached':<7} {'rows':>8} {'seconds':>8}  path", file=file)
    for name, stage in summary["stages"].items():
        print(f"{name:<10} {'yes' if stage['cached'] else 'no':<7} {stage['rows']:>8} {stage['seconds']:>8.2f}  {stage['path']}",
              file=file)
    clean = summary["stages"].get("clean", {}).get("extra", {})
    if clean.get("empty_after_clean"):
        print(f"{clean['empty_after_clean']} document(s) are empty after cleaning (kept, with empty text)", file=file)


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

    config = load_config(args.config_file, args.overrides, preset=args.preset)
    steps = preview(args.text, config.clean)
    if args.json:
        changed = [index == 0 or text != steps[index - 1][1] for index, (_, text) in enumerate(steps)]
        print(json.dumps([{"step": name, "text": text, "changed": flag} for (name, text), flag in zip(steps, changed)],
                         ensure_ascii=False))
        return 0
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
        overrides=dict(_overrides(args)) or None, artifacts=args.artifacts, preset=args.preset,
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
    except OrchestrationError as exc:
        print(f"koprep: error: {exc}", file=sys.stderr)
        return 1
    if finished.summary is not None:
        _print_summary(finished.summary, human)
    if args.json:
        record = {"flow_run_id": finished.flow_run_id, "state": finished.state, "message": finished.message}
        if finished.summary is not None:
            record.update(run_id=finished.summary["run_id"], stages=finished.summary["stages"])
        print(json.dumps(record, ensure_ascii=False))
    return 0 if finished.succeeded else 1


# ------------------------------------------------------------------ show / ls / gc (koprep.inspection)
def _add_inspection_commands(commands) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    show = commands.add_parser(
        "show", formatter_class=formatter,
        help="what a run's stages hold: rows, vocabulary, top terms, token lengths, sample documents",
        description="Show what a run made: rows, vocabulary size, top terms by frequency and by TF-IDF, the "
        "token-length distribution, sample documents before/after cleaning and tokenization, word2vec neighbours.",
        epilog="examples:\n  koprep show\n  koprep show tokenize --top 30\n  koprep show tfidf --run RUN_ID --json",
    )
    show.add_argument("stage", nargs="?", metavar="STAGE", help="one stage (clean, tokenize, bow, ngram, tfidf, word2vec, ...)")
    show.add_argument("--top", type=int, default=20, help="how many top terms / words (default 20)")
    show.add_argument("--samples", type=int, default=3, help="how many sample documents (default 3)")
    show.add_argument("--corpus", metavar="PATH",
                      help="the corpus the run read, for the 'before cleaning' samples (runs record only its name)")
    _add_store_options(show)
    show.set_defaults(handler=_show)

    ls = commands.add_parser(
        "ls", formatter_class=formatter, help="stored artifacts with sizes, ages and the runs that use them",
        description="List every entry in the artifact store with its size, age and the runs that use it.",
        epilog="examples:\n  koprep ls\n  koprep ls --artifacts /data/koprep --json",
    )
    ls.add_argument("--artifacts", default="artifacts", metavar="DIR", help="artifact store root (default: artifacts)")
    ls.add_argument("--json", action="store_true", help="print JSON only")
    ls.set_defaults(handler=_ls)

    gc = commands.add_parser(
        "gc", formatter_class=formatter, help="remove artifacts that no recent run uses",
        description="Keep the newest N run records and everything they use (their stages, trained soynlp "
        "model, phrases, the runs their config names, evaluate reports of their vectors); remove older run "
        "records and every other entry. Entries younger than --grace are kept: a run in progress may have "
        "written them without having recorded itself yet.",
        epilog="examples:\n  koprep gc --dry-run\n  koprep gc --keep-runs 3\n  koprep gc --keep-runs 1 --grace 0 --json",
    )
    gc.add_argument("--keep-runs", type=int, default=None, metavar="N",
                    help="how many of the newest runs to keep (default 10)")
    gc.add_argument("--grace", type=float, default=None, metavar="SECONDS",
                    help="keep unused entries younger than this (default 3600)")
    gc.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    gc.add_argument("--artifacts", default="artifacts", metavar="DIR", help="artifact store root (default: artifacts)")
    gc.add_argument("--json", action="store_true", help="print JSON only")
    gc.set_defaults(handler=_gc)


def _show(args: argparse.Namespace) -> int:
    from koprep.inspection import show
    from koprep.store import ArtifactStore

    result = show(
        ArtifactStore(args.artifacts), args.run, args.stage, top=args.top, samples=args.samples, corpus=args.corpus
    )
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"run {result['run_id']}  corpus {result['corpus']}  backend {result['backend']}")
    for name, stage in result["stages"].items():
        print()
        for line in _show_lines(name, stage):
            print(line)
    return 0


def _show_lines(name: str, stage: dict) -> list[str]:
    lines = [f"{name}  rows {stage['rows']:,}  {stage['path']}"]
    if name == "clean":
        lines.append(f"  documents {stage['documents']:,}  empty after cleaning {stage['empty_after_clean']:,}")
        for sample in stage["samples"]:
            lines.append(f"  [{sample['doc_id']}]")
            if sample["raw"] is not None:
                lines.append(f"    before {_clip(sample['raw'])}")
            lines.append(f"    after  {_clip(sample['clean'])}")
    elif name == "tokenize":
        per_doc = stage["tokens_per_document"]
        lines.append(
            f"  documents {stage['documents']:,}  tokens {stage['tokens']:,}  vocabulary {stage['vocabulary']:,}  "
            f"empty {stage['empty_documents']:,}"
        )
        lines.append(f"  tokens per document  mean {per_doc['mean']}  median {per_doc['median']:g}  max {per_doc['max']:,}")
        lines.append(f"  tokens per document  {_bars(per_doc['histogram'])}")
        lengths = stage["characters_per_token"]
        lines.append("  characters per token " + "  ".join(f"{k}: {v:,}" for k, v in lengths.items()))
        lines.append("  top terms by frequency")
        lines += _term_columns([(t["term"], f"{t['count']:,}") for t in stage["top_terms"]])
        for sample in stage["samples"]:
            lines.append(f"  [{sample['doc_id']}]")
            if sample["clean"] is not None:
                lines.append(f"    text   {_clip(sample['clean'])}")
            lines.append(f"    tokens {_clip(' · '.join(sample['tokens']))}")
    elif "top_by_df" in stage:
        weight = stage["weight"]
        lines.append(f"  terms {stage['terms']:,}  documents {stage['documents']:,}  nonzeros {stage['nonzeros']:,}")
        lines.append("  top terms by TF-IDF weight (summed over documents)" if weight == "tfidf" else "  top terms by count")
        lines += _term_columns([(t["term"], f"{t[weight]:,.2f}" if weight == "tfidf" else f"{t[weight]:,}")
                                for t in stage[f"top_by_{weight}"]])
        lines.append("  top terms by document frequency")
        lines += _term_columns([(t["term"], f"{t['df']:,}") for t in stage["top_by_df"]])
    elif name == "word2vec":
        lines.append(f"  words {stage['terms']:,}  vector size {stage['vector_size']}")
        lines.append("  nearest neighbours of the most frequent words")
        for item in stage["neighbours"]:
            similar = ", ".join(f"{w} {s:.2f}" for w, s in item["similar"])
            lines.append(f"    {item['word']} ({item['count']:,}): {similar}")
    else:
        lines.append(f"  {json.dumps(stage.get('extra', {}), ensure_ascii=False)[:200]}")
    return lines


def _clip(text: str, width: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _term_columns(items: list[tuple[str, str]], per_line: int = 5) -> list[str]:
    cells = [f"{term} ({value})" for term, value in items]
    return ["    " + "   ".join(cells[i : i + per_line]) for i in range(0, len(cells), per_line)]


def _bars(histogram: dict) -> str:
    ticks = "▁▂▃▄▅▆▇█"
    counts = histogram["counts"]
    peak = max(counts) or 1
    bars = "".join(ticks[min(int(c / peak * (len(ticks) - 1) + 0.999), len(ticks) - 1)] if c else " " for c in counts)
    return f"0 {bars} {histogram['edges'][-1]}" + (f"  (+{histogram['above']:,} longer)" if histogram["above"] else "")


def _ls(args: argparse.Namespace) -> int:
    from koprep.inspection import listing
    from koprep.store import ArtifactStore

    result = listing(ArtifactStore(args.artifacts))
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    from koprep.pipeline import CLEAN_SHARD, TOKENIZE_SHARD

    shard_stages = (CLEAN_SHARD, TOKENIZE_SHARD)
    print(f"{'stage':<10} {'fingerprint':<14} {'size':>9} {'age':>6}  runs")
    for entry in result["entries"]:
        if entry["stage"] in shard_stages:
            continue  # summarised below; --json lists each
        users = ", ".join(run[:8] for run in entry["runs"][:3]) + (f" +{len(entry['runs']) - 3}" if len(entry["runs"]) > 3 else "")
        state = "" if entry["complete"] else "  (incomplete: never used, removed by gc)"
        print(f"{entry['stage']:<10} {entry['fingerprint'][:12]:<14} {_size(entry['bytes']):>9} "
              f"{_age(entry['age_seconds']):>6}  {users or '-'}{state}")
    for stage in shard_stages:
        shards = [e for e in result["entries"] if e["stage"] == stage]
        if shards:
            unused = sum(1 for e in shards if not e["runs"])
            print(f"{stage}: {len(shards)} shard entries, {_size(sum(e['bytes'] for e in shards))} (hard-linked into the "
                  f"{stage.removesuffix('-shard')} entries above){f', {unused} used by no run' if unused else ''}")
    print(f"{len(result['entries'])} entries, {_size(result['total_bytes'])} on disk, {len(result['runs'])} runs in {result['root']}")
    return 0


def _gc(args: argparse.Namespace) -> int:
    from koprep.inspection import DEFAULT_GRACE_SECONDS, DEFAULT_KEEP_RUNS, collect_garbage, plan_gc
    from koprep.store import ArtifactStore

    store = ArtifactStore(args.artifacts)
    keep = DEFAULT_KEEP_RUNS if args.keep_runs is None else args.keep_runs
    plan = plan_gc(store, keep, DEFAULT_GRACE_SECONDS if args.grace is None else args.grace)
    if not args.dry_run:
        collect_garbage(store, plan)
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, **plan.as_dict()}, ensure_ascii=False))
        return 0
    verb = "would remove" if args.dry_run else "removed"
    for record in plan.removed_runs:
        print(f"{verb} run {record.run_id}")
    for entry in plan.removed_entries:
        print(f"{verb} {entry.stage}/{entry.fingerprint}  {_size(entry.bytes)}")
    for entry in plan.young_entries:
        print(f"kept   {entry.stage}/{entry.fingerprint}  unused, but younger than the grace period")
    print(f"{verb} {len(plan.removed_runs)} run(s) and {len(plan.removed_entries)} entries ({_size(plan.freed_bytes)}); "
          f"kept {len(plan.kept_runs)} run(s) and {len(plan.kept_entries)} entries they use")
    return 0


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _age(seconds: float) -> str:
    for unit, size, limit in (("s", 1, 60), ("min", 60, 3600), ("h", 3600, 86400)):
        if seconds < limit:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds / 86400:.0f}d"


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
            code = args.handler(args)
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


def _closed_pipe() -> int:
    """The reader went away (`koprep backends | head -1`): stop quietly. Later writes, including the
    interpreter's final flush, go to /dev/null instead of raising again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_CLOSED_PIPE


if __name__ == "__main__":
    sys.exit(main())
