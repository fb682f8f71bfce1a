"""mkdocs hooks for koprep's documentation site (`hooks: [docs/hooks.py]` in mkdocs.yml).

Markers in the Markdown pages are replaced while the site is built, so the generated parts always
match the code they describe:

    <!-- koprep:cli-reference -->   every command's usage, arguments, options and epilog, read from
                                    the argparse parser `koprep.cli.build_parser()` (docs/cli.md)
    <!-- koprep:stage-graph -->     the stage graph's drawing and table (docs/architecture.md);
                                    see `stage_graph_markdown`

Warnings go to mkdocs's logger, so `mkdocs build --strict` fails on them (a page that lost its
marker, a command without a help line).
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import logging
import re
import sys
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.koprep")

CLI_MARKER = "<!-- koprep:cli-reference -->"
STAGE_GRAPH_MARKER = "<!-- koprep:stage-graph -->"
EXPECTED_MARKERS = {"cli.md": CLI_MARKER, "architecture.md": STAGE_GRAPH_MARKER}
"""Pages that must hold a marker: a page that lost it would silently lose its generated part."""
HEADING_LEVEL = 3
"""Each command is a heading of this level (under the page's own "Commands" heading)."""
HELP_WIDTH = 78
"""Columns for argparse's usage lines: fixed, so the page does not depend on the terminal that builds
it, and narrow enough for the page's code blocks."""


# ----------------------------------------------------------------------------------- mkdocs events
def on_page_markdown(markdown: str, *, page, config, files) -> str:
    expected = EXPECTED_MARKERS.get(page.file.src_uri)
    if expected is not None and expected not in markdown:
        log.warning("%s has lost its marker %s; its generated part is missing", page.file.src_uri, expected)
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference_markdown())
    if STAGE_GRAPH_MARKER in markdown:
        markdown = markdown.replace(STAGE_GRAPH_MARKER, stage_graph_markdown())
    return markdown


# -------------------------------------------------------------------------------------- stage graph
BOX_WIDTH, BOX_HEIGHT, COLUMN_GAP, ROW_GAP, MARGIN = 132, 34, 48, 22, 14
KIND_STYLE = {
    "run": 'fill="#ebf4ff" stroke="#2b6cb0"',
    "auxiliary": 'fill="#fffaf0" stroke="#c05621" stroke-dasharray="5 3"',
    "on-demand": 'fill="#f7fafc" stroke="#718096" stroke-dasharray="2 3"',
}


def _graph():
    _import_koprep()
    from koprep.pipeline.graph import GRAPH

    return GRAPH


def _depths(graph) -> dict[str, int]:
    """Each stage's column: one more than its deepest input (stages come after their inputs)."""
    depth: dict[str, int] = {}
    for stage in graph:
        depth[stage.name] = 1 + max((depth[name] for name in stage.inputs), default=0)
    return depth


def stage_graph_svg(graph=None) -> str:
    """The stage graph drawn from its declaration: a column per depth, an arrow per input, the corpus
    first; auxiliary stages dashed, on-demand ones dotted, per-shard stages with their shard entries
    named under them."""
    graph = graph or _graph()
    depth = _depths(graph)
    columns: dict[int, list[str]] = {0: ["corpus"]}
    for stage in graph:
        columns.setdefault(depth[stage.name], []).append(stage.name)
    tallest = max(len(names) for names in columns.values())
    height = MARGIN * 2 + tallest * BOX_HEIGHT + (tallest - 1) * ROW_GAP
    width = MARGIN * 2 + len(columns) * BOX_WIDTH + (len(columns) - 1) * COLUMN_GAP
    position: dict[str, tuple[int, int]] = {}
    for column, names in columns.items():
        used = len(names) * BOX_HEIGHT + (len(names) - 1) * ROW_GAP
        top = (height - used) // 2
        for row, name in enumerate(names):
            position[name] = (MARGIN + column * (BOX_WIDTH + COLUMN_GAP), top + row * (BOX_HEIGHT + ROW_GAP))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'role="img" aria-label="koprep stage graph" font-family="sans-serif" font-size="13">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#4a5568"/></marker></defs>',
    ]
    edges = [("corpus", stage.name) for stage in graph if not stage.inputs]
    edges += [(source, stage.name) for stage in graph for source in stage.inputs]
    for source, target in edges:
        (x1, y1), (x2, y2) = position[source], position[target]
        x1, y1, y2 = x1 + BOX_WIDTH, y1 + BOX_HEIGHT // 2, y2 + BOX_HEIGHT // 2
        bend = (x2 - x1) // 2
        parts.append(f'<path d="M {x1} {y1} C {x1 + bend} {y1}, {x2 - bend} {y2}, {x2} {y2}" fill="none" '
                     'stroke="#4a5568" stroke-width="1.2" marker-end="url(#arrow)"/>')
    for name, (x, y) in position.items():
        stage = graph[name] if name in graph else None
        style = KIND_STYLE[stage.kind] if stage is not None else 'fill="#f0fff4" stroke="#2f855a"'
        parts.append(f'<rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="6" {style}/>')
        label = html.escape(name)
        if stage is not None and stage.shards:
            parts.append(f'<text x="{x + BOX_WIDTH // 2}" y="{y + 15}" text-anchor="middle">{label}</text>')
            parts.append(f'<text x="{x + BOX_WIDTH // 2}" y="{y + 28}" text-anchor="middle" font-size="10" '
                         f'fill="#4a5568">per shard: {html.escape(stage.shards)}</text>')
        else:
            parts.append(f'<text x="{x + BOX_WIDTH // 2}" y="{y + 22}" text-anchor="middle">{label}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _function(function) -> str:
    if function is None:
        return "its command"
    module = function.__module__.removeprefix("koprep.")
    return f"`{module}.{function.__qualname__}`"


def stage_graph_table(graph=None) -> list[str]:
    graph = graph or _graph()
    lines = [
        "| stage | kind | reads | key: parameters (+ other inputs) | computed by | files | code version |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for stage in graph:
        kind = stage.kind + ((" (default)" if stage.default else " (when chosen)") if stage.kind == "run" else "")
        if stage.kind == "auxiliary" and stage.given is not None:
            kind += ", or given by a setting"
        reads = ", ".join(f"`{name}`" for name in stage.inputs) or "the corpus"
        key = _function(stage.params)
        if stage.sources.__name__ != "no_sources":
            key += f" + {_function(stage.sources)}"
        if stage.libraries:
            key += " + versions of " + ", ".join(stage.libraries)
        computed = _function(stage.compute)
        if stage.shards:
            computed += f", per shard (`{stage.shards}` entries)"
        files = ", ".join(f"`{name}`" for name in stage.dataset.files)
        lines.append(f"| `{stage.name}` | {kind} | {reads} | {key} | {computed} | {files} | {stage.version} |")
    return lines


def stage_graph_markdown() -> str:
    """The stage graph, drawn and tabulated from its one declaration (`koprep.pipeline.graph.GRAPH`)."""
    graph = _graph()
    lines = [
        '<div class="koprep-stage-graph" markdown="0">', stage_graph_svg(graph), "</div>", "",
        "Solid boxes are run stages (`run.stages`), dashed ones auxiliary stages a run computes when a chosen "
        "stage reads them and they apply, dotted ones on-demand stages. Generated from "
        "`koprep.pipeline.graph.GRAPH` when this site is built.",
        "",
        *stage_graph_table(graph),
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------ CLI reference
def _import_koprep() -> None:
    if importlib.util.find_spec("koprep") is None:
        # mkdocs run from a Python without koprep installed: use the checkout's sources.
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def _build_parser() -> argparse.ArgumentParser:
    _import_koprep()
    from koprep.cli import build_parser

    return build_parser()


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of every subcommand, in the order `koprep --help` lists them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            summaries = {choice.dest: choice.help or "" for choice in action._choices_actions}
            return [(name, summaries.get(name, ""), sub) for name, sub in action.choices.items()]
    return []


def _formatter(parser: argparse.ArgumentParser) -> argparse.HelpFormatter:
    return parser.formatter_class(prog=parser.prog, width=HELP_WIDTH)


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = _formatter(parser)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


def _text(text: str) -> str:
    """Help text as Markdown: `code spans` kept, everything else escaped so that argparse's text
    (metavars such as <DIR>, `*`, `|`) shows as written, also inside a table cell."""
    parts = re.split(r"(`[^`]*`)", " ".join(text.split()))
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(part)  # Python-Markdown's tables leave a code span's "|" alone
        else:
            escaped = html.escape(part, quote=False)
            out.append(re.sub(r"([\\*_\[\]|])", r"\\\1", escaped))
    return "".join(out)


def _default(action: argparse.Action) -> str | None:
    """The default worth printing: not for flags, unset values, or help that already says it."""
    default = action.default
    if action.nargs == 0 or default in (None, argparse.SUPPRESS) or default == [] or isinstance(default, bool):
        return None
    if "default" in (action.help or ""):
        return None
    return f"default: `{default}`"


def _arguments_table(parser: argparse.ArgumentParser) -> list[str]:
    formatter = _formatter(parser)
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) or action.help == argparse.SUPPRESS:
            continue
        invocation = formatter._format_action_invocation(action)
        if not action.option_strings:
            invocation = action.metavar or action.dest
        notes = []
        if not action.option_strings and action.nargs in ("?", "*"):
            notes.append("optional")
        if action.option_strings and action.required:
            notes.append("required")
        if isinstance(action, argparse._AppendAction) and "repeatable" not in (action.help or ""):
            notes.append("repeatable")
        if (default := _default(action)) is not None:
            notes.append(default)
        help_text = _text(formatter._expand_help(action)) if action.help else ""
        if notes:
            help_text = f"{help_text} ({', '.join(notes)})" if help_text else f"({', '.join(notes)})"
        rows.append(f"| `{invocation}` | {help_text} |")
    if not rows:
        return []
    lines = ["| argument | meaning |", "| --- | --- |", *rows]
    for group in parser._mutually_exclusive_groups:
        names = ", ".join(f"`{a.option_strings[0]}`" for a in group._group_actions if a.option_strings)
        lines += ["", f"{'Exactly' if group.required else 'At most'} one of {names}."]
    return lines


def _fenced(text: str) -> list[str]:
    """`text` verbatim in a code block whose fence is longer than any backtick run inside it."""
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return [f"{fence}text", text, fence]


def _epilog(parser: argparse.ArgumentParser) -> list[str]:
    return _fenced(parser.epilog.strip("\n")) if parser.epilog else []


def _section(title: str, summary: str, parser: argparse.ArgumentParser) -> list[str]:
    lines = [f"{'#' * HEADING_LEVEL} {title}", ""]
    if summary:
        sentence = summary[0].upper() + summary[1:]
        lines += [_text(sentence if sentence.endswith((".", "!", "?")) else sentence + "."), ""]
    if parser.description and parser.description.strip() != summary.strip():
        lines += [_text(parser.description), ""]
    lines += [*_fenced(_usage(parser)), ""]
    table = _arguments_table(parser)
    if table:
        lines += [*table, ""]
    epilog = _epilog(parser)
    if epilog:
        lines += [*epilog, ""]
    return lines


def cli_reference_markdown(parser: argparse.ArgumentParser | None = None) -> str:
    """The reference of every command, generated from `koprep.cli.build_parser()`."""
    parser = parser or _build_parser()
    commands = _subcommands(parser)
    for name, summary, _ in commands:
        if not summary:
            log.warning("koprep %s has no help line in koprep.cli; the CLI reference lists it without one", name)
    lines = ["| command | what it does |", "| --- | --- |"]
    lines += [f"| [`koprep {name}`](#koprep-{name}) | {_text(summary)} |" for name, summary, _ in commands]
    lines.append("")
    lines += _section("koprep", parser.description or "", parser)
    for name, summary, sub in commands:
        lines += _section(f"koprep {name}", summary, sub)
    return "\n".join(lines) + "\n"
