"""`koprep discover`: candidate new words in a corpus that a backend splits today, as a user dictionary to review."""

from __future__ import annotations

import argparse
import json
import sys

from koprep.cli.options import Commands, Parents, add_command, settings_from

EXAMPLES = """examples:
  koprep discover ../shared/corpora/nsmc/ratings_train.txt --backend mecab --output words.tsv
  koprep discover reviews.tsv --backend kiwi --extractor kiwi --top 50 --json
  koprep run reviews.tsv --backend mecab --set tokenize.user_dictionary=words.tsv   # after reviewing words.tsv"""


def register(commands: Commands, parents: Parents) -> None:
    discover = add_command(
        commands, "discover", epilog=EXAMPLES, parents=[parents.settings, parents.store, parents.json],
        help="find new words in a corpus that the backend splits today; write them as a user dictionary to review",
        description="Clean the corpus as a run does (its clean entry is reused from or stored in the artifact store), "
        "propose words from its own statistics (soynlp's noun extractor, or Kiwi's extract_words), keep those the "
        "backend never gives as one token in their example documents, rank them by frequency x score and write them "
        "as `word<TAB>NNG` lines with a comment per word (rank, frequency, score, the backend's pieces, an example).",
    )
    discover.add_argument("corpus", nargs="?", default=None,
                          help="the corpus, as `koprep run` reads it (default: konlpy's kolaw + kobill)")
    discover.add_argument("--backend", help="the tokenizer backend to check the candidates against (default okt)")
    discover.add_argument("--extractor", choices=("soynlp", "kiwi"), default="soynlp",
                          help="where candidates come from: soynlp's LRNounExtractor_v2 (default) or Kiwi's extract_words")
    discover.add_argument("--top", type=int, default=100, help="split candidates to keep, best first (default 100)")
    discover.add_argument("--min-count", type=int, default=10, help="least frequency of a candidate (default 10)")
    discover.add_argument("--output", "-o", metavar="FILE",
                          help="write the user dictionary here (default: print it, or with --json only the JSON)")
    discover.set_defaults(handler=discover_command)


def discover_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from koprep import discover
    from koprep.config import load_config
    from koprep.pipeline.datasets import Parts
    from koprep.pipeline.runner import execute
    from koprep.plan import build_plan
    from koprep.store import ArtifactStore
    from koprep.tokenizers.base import TrainableTokenizer

    if args.top < 1 or args.min_count < 1:
        raise discover.DiscoverInputError("--top and --min-count take a positive whole number")
    config = load_config(args.config_file, dict(settings_from(args)), args.backend, args.preset)
    plan = build_plan(ArtifactStore(args.artifacts), args.corpus, config.with_run_stages(["tokenize"]))
    if isinstance(plan.run.backend, TrainableTokenizer):
        raise discover.DiscoverInputError(
            f"backend {config.tokenize.backend!r} learns its words from the corpus itself; discover checks candidates "
            "against an analyser with a dictionary: use --backend okt, kiwi or mecab"
        )
    plan.preflight()
    texts = list(Parts.texts(execute(plan.upto("clean"))["clean"].path))
    scores = discover.extract(texts, args.extractor, args.min_count)
    candidates = discover.rank(discover.with_examples(texts, scores))
    tokenizer, _ = plan.run.ready_tokenizer()
    checked = candidates
    discover.check_split(checked, tokenizer.tokenize)
    split = [c for c in checked if c.split][: args.top]
    source = Path(args.corpus).name if args.corpus else "kolaw + kobill"
    text = discover.dictionary_text(split, source, config.tokenize.backend, args.extractor)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    elif not args.json:
        sys.stdout.write(text)
    summary = (f"{sum(c.split for c in checked)} of {len(checked)} candidates are split by {config.tokenize.backend} "
               f"today; the best {len(split)} kept")
    print(summary + (f"; written to {args.output}" if args.output else ""), file=sys.stderr)
    if args.json:
        print(json.dumps(discover.record(
            split, len(checked), corpus=source, backend=config.tokenize.backend, extractor=args.extractor,
            documents=len(texts), output=args.output,
        ), ensure_ascii=False))
    return 0
