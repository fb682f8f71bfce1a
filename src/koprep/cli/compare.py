"""`koprep compare`: cross-validated accuracy of a classifier per backend × preset on a labelled corpus."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from koprep.cli.options import Commands, Parents, add_command

if TYPE_CHECKING:
    from koprep.compare import CompareResult

EXAMPLES = """examples:
  koprep compare ../shared/corpora/nsmc/ratings_test.txt --label-column label --backend mecab,kiwi --preset topic,classify
  koprep compare labelled.csv --label-column label --backend whitespace --folds 3 --json
  koprep compare reviews.tsv --label-column label --backend mecab --variant '+dedup' --variant 'tokenize.user_dictionary=words.tsv'
  koprep compare reviews.tsv --label-column label --backend whitespace --folds-by document   # duplicates may split across folds"""


def register(commands: Commands, parents: Parents) -> None:
    compare = add_command(
        commands, "compare", epilog=EXAMPLES, parents=[parents.store, parents.json],
        help="cross-validated accuracy / macro-F1 of a LogisticRegression per backend × preset (× variant) on a labelled corpus",
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
                         help="override one setting for every combination (repeatable; run.fitted_from is refused)")
    compare.add_argument(
        "--variant", dest="variants", action="append", default=[], metavar="'+STAGE;SECTION.KEY=VALUE;…'",
        help="one more combination per backend × preset, beside the settings as given (repeatable): run stages to add "
        "(+dedup) and settings, separated by ';', e.g. --variant '+dedup' --variant 'tokenize.user_dictionary=words.tsv'",
    )
    compare.add_argument(
        "--folds-by", choices=("cluster", "document"), default="cluster",
        help="cluster (default): exact and near duplicates of the cleaned texts ([dedup] settings) share a fold, so "
        "none is tested against its copy; document: documents are split alone",
    )
    compare.set_defaults(handler=compare_command)


def compare_command(args: argparse.Namespace) -> int:
    from koprep import compare

    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    preset_names = [p.strip() for p in args.preset.split(",") if p.strip()]
    printed: list[str] = []

    def print_row(result: CompareResult) -> None:
        if not printed:
            print(compare.table_header())
        printed.append(compare.table_row(result))
        print(printed[-1], flush=True)

    results = compare.compare(
        args.corpus, args.label_column, backends, preset_names, folds=args.folds, artifacts=args.artifacts,
        config_file=args.config_file, overrides=args.overrides, on_result=None if args.json else print_row,
        variants=args.variants, folds_by=args.folds_by,
    )
    print(json.dumps(compare.json_record(results), ensure_ascii=False))
    return 0
