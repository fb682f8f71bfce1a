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
def stage_graph_markdown() -> str:
    """The stage graph: a drawing of the stages and their inputs, and a table of every stage.

    TODO: generate it from the one place that declares the stage graph (written by the pipeline's
    maintainer). Until then the marker in docs/architecture.md is replaced by nothing.
    """
    return ""


# ------------------------------------------------------------------------------------ CLI reference
def _build_parser() -> argparse.ArgumentParser:
    if importlib.util.find_spec("koprep") is None:
        # mkdocs run from a Python without koprep installed: use the checkout's sources.
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
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
