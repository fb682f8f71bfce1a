"""Commands over one run's results: `koprep show` (what its stages hold), `koprep similar` (word2vec
neighbours) and `koprep evaluate` (its vectors on analogy and word-similarity sets)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from koprep.cli.options import Commands, Parents, add_command, open_store, use_store_config
from koprep.cli.render import clip

SHOW_EXAMPLES = "examples:\n  koprep show\n  koprep show tokenize --top 30\n  koprep show tfidf --run RUN_ID --json"
SIMILAR_EXAMPLES = """examples:
  koprep similar 영화 배우 --topn 10
  koprep similar 영화 --to 드라마 --run RUN_ID
  koprep similar 재밌었어요 --stage fasttext     # fastText answers words it never saw"""
EVALUATE_EXAMPLES = """examples:
  koprep evaluate --analogies ../shared/corpora/word2vec_eval/word_analogy_korean.txt \\
                  --similarity ../shared/corpora/word2vec_eval/WS353_korean.csv
  koprep evaluate --stage fasttext --similarity ../shared/corpora/word2vec_eval/WS353_korean.csv"""


def register(commands: Commands, parents: Parents) -> None:
    of_a_run = [parents.store, parents.store_config, parents.run_choice, parents.json]
    show = add_command(
        commands, "show", epilog=SHOW_EXAMPLES, parents=of_a_run,
        help="what a run's stages hold: rows, vocabulary, top terms, token lengths, sample documents",
        description="Show what a run made: rows, vocabulary size, top terms by frequency and by TF-IDF, the "
        "token-length distribution, sample documents before/after cleaning and tokenization, word2vec neighbours.",
    )
    show.add_argument("stage", nargs="?", metavar="STAGE", help="one stage (clean, tokenize, bow, ngram, tfidf, word2vec, ...)")
    show.add_argument("--top", type=int, default=20, help="how many top terms / words (default 20)")
    show.add_argument("--samples", type=int, default=3, help="how many sample documents (default 3)")
    show.add_argument("--corpus", metavar="PATH",
                      help="the corpus the run read, for the 'before cleaning' samples (runs record only its name)")
    show.set_defaults(handler=show_command)

    similar = add_command(
        commands, "similar", epilog=SIMILAR_EXAMPLES, parents=of_a_run,
        help="nearest words by word2vec similarity, e.g. `koprep similar 영화`",
    )
    similar.add_argument("words", nargs="+", metavar="WORD")
    similar.add_argument("--to", metavar="OTHER", help="print the similarity of each WORD to OTHER instead")
    similar.add_argument("--topn", type=int, default=10)
    similar.add_argument("--stage", metavar="STAGE", default="word2vec",
                         help="whose vectors: word2vec (default) or fasttext (answers words it never saw)")
    similar.set_defaults(handler=similar_command)

    evaluate = add_command(
        commands, "evaluate", epilog=EVALUATE_EXAMPLES, parents=of_a_run,
        help="score a run's word2vec vectors on a Korean word-analogy and/or word-similarity set",
    )
    evaluate.add_argument("--analogies", metavar="FILE", help="Google-format analogy file, e.g. word_analogy_korean.txt")
    evaluate.add_argument("--similarity", metavar="FILE", help="word-pair file with scores, e.g. WS353_korean.csv")
    evaluate.add_argument("--stage", metavar="STAGE", default="word2vec",
                          help="whose vectors: word2vec (default) or fasttext")
    evaluate.set_defaults(handler=evaluate_command)


def show_command(args: argparse.Namespace) -> int:
    from koprep.inspection import show

    result = show(
        open_store(args), args.run, args.stage, top=args.top, samples=args.samples, corpus=args.corpus
    )
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"run {result['run_id']}  corpus {result['corpus']}  backend {result['backend']}")
    for name, stage in result["stages"].items():
        print()
        for line in show_lines(name, stage):
            print(line)
    return 0


def similar_command(args: argparse.Namespace) -> int:
    from koprep.loaders import open_run

    use_store_config(args)
    run = open_run(args.artifacts, args.run)
    try:
        if args.to:
            similarity = {word: run.similarity(word, args.to, args.stage) for word in args.words}
        else:
            neighbours = {word: run.similar(word, args.topn, args.stage) for word in args.words}
    except KeyError as exc:
        print(f"koprep: error: {exc.args[0]}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(similarity if args.to else neighbours, ensure_ascii=False))
        return 0
    if args.to:
        for word, value in similarity.items():
            print(f"{word}\t{args.to}\t{value:.4f}")
        return 0
    for word, found in neighbours.items():
        print(word)
        for neighbour, score in found:
            print(f"  {neighbour}\t{score:.4f}")
    return 0


def evaluate_command(args: argparse.Namespace) -> int:
    from koprep.loaders import open_run
    from koprep.pipeline.datasets import ReportFile
    from koprep.pipeline.evaluate import evaluate_vectors

    use_store_config(args)
    run = open_run(args.artifacts, args.run)
    result = evaluate_vectors(run.store, run.entry(args.stage), args.analogies, args.similarity)
    report = ReportFile.read(Path(result.path))
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
    print(f"report: {Path(result.path) / ReportFile.FILE}{'  (cached)' if result.cached else ''}")
    return 0


def show_lines(name: str, stage: dict[str, Any]) -> list[str]:
    lines = [f"{name}  rows {stage['rows']:,}  {stage['path']}"]
    if name == "clean":
        lines.append(f"  documents {stage['documents']:,}  empty after cleaning {stage['empty_after_clean']:,}")
        for sample in stage["samples"]:
            lines.append(f"  [{sample['doc_id']}]")
            if sample["raw"] is not None:
                lines.append(f"    before {clip(sample['raw'])}")
            lines.append(f"    after  {clip(sample['clean'])}")
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
                lines.append(f"    text   {clip(sample['clean'])}")
            lines.append(f"    tokens {clip(' · '.join(sample['tokens']))}")
        if stage.get("quarantined"):
            lines.append(f"  quarantined {len(stage['quarantined']):,} (the analyser could not get through them; empty tokens)")
            for document in stage["quarantined"]:
                lines.append(f"    [{document['doc_id']}] {document['reason']}: {clip(document.get('text', ''))}")
    elif "top_by_df" in stage:
        weight = stage["weight"]
        lines.append(f"  terms {stage['terms']:,}  documents {stage['documents']:,}  nonzeros {stage['nonzeros']:,}")
        lines.append("  top terms by TF-IDF weight (summed over documents)" if weight == "tfidf" else "  top terms by count")
        lines += _term_columns([(t["term"], f"{t[weight]:,.2f}" if weight == "tfidf" else f"{t[weight]:,}")
                                for t in stage[f"top_by_{weight}"]])
        lines.append("  top terms by document frequency")
        lines += _term_columns([(t["term"], f"{t['df']:,}") for t in stage["top_by_df"]])
    elif "neighbours" in stage:  # word vectors: word2vec, fasttext
        lines.append(f"  words {stage['terms']:,}  vector size {stage['vector_size']}")
        lines += diagnostic_lines(stage.get("diagnostic"))
        lines.append("  nearest neighbours of the most frequent words")
        for item in stage["neighbours"]:
            similar = ", ".join(f"{w} {s:.2f}" for w, s in item["similar"])
            lines.append(f"    {item['word']} ({item['count']:,}): {similar}")
    else:
        lines.append(f"  {json.dumps(stage.get('extra', {}), ensure_ascii=False)[:200]}")
    return lines


def diagnostic_lines(diagnostic: dict[str, Any] | None) -> list[str]:
    """The training diagnostic stored with word vectors, warning first."""
    if not diagnostic:
        return []
    lines = [f"  WARNING: {diagnostic['warning']}"] if diagnostic["warning"] else []
    spread = diagnostic["neighbour_cosine"]
    coverage = "n/a" if diagnostic["coverage"] is None else f"{diagnostic['coverage']:.1%}"
    lines.append(f"  trained {diagnostic['epochs']} epochs on {diagnostic['corpus_tokens']:,} tokens; "
                 f"the vocabulary covers {coverage} of them")
    if spread["mean"] is not None:
        lines.append(f"  cosine of the {spread['neighbours']} nearest neighbours of the {spread['words']} most frequent words: "
                     f"mean {spread['mean']:.2f}  min {spread['min']:.2f}  median {spread['median']:.2f}  max {spread['max']:.2f}")
    if diagnostic.get("pairwise_cosine") is not None:
        lines.append(f"  cosine of those words with each other: mean {diagnostic['pairwise_cosine']:.2f}")
    losses = diagnostic["loss_per_epoch"]
    if losses:
        shown = losses if len(losses) <= 6 else [*losses[:3], None, *losses[-2:]]
        lines.append("  loss per epoch  " + " ".join("…" if x is None else f"{x:,.0f}" for x in shown))
    return lines


def _term_columns(items: list[tuple[str, str]], per_line: int = 5) -> list[str]:
    cells = [f"{term} ({value})" for term, value in items]
    return ["    " + "   ".join(cells[i : i + per_line]) for i in range(0, len(cells), per_line)]


def _bars(histogram: dict[str, Any]) -> str:
    ticks = "▁▂▃▄▅▆▇█"
    counts = histogram["counts"]
    peak = max(counts) or 1
    bars = "".join(ticks[min(int(c / peak * (len(ticks) - 1) + 0.999), len(ticks) - 1)] if c else " " for c in counts)
    return f"0 {bars} {histogram['edges'][-1]}" + (f"  (+{histogram['above']:,} longer)" if histogram["above"] else "")
