"""`koprep backends`, `koprep clean-preview` and `koprep presets`: what the tokenizer backends, the
cleaning steps and the presets are and do, without running anything."""

from __future__ import annotations

import argparse
import json
from typing import Any

from koprep.cli.options import Commands, Parents, add_command

BACKENDS_EXAMPLES = """examples:
  koprep backends
  koprep backends --json"""

PREVIEW_EXAMPLES = """examples:
  koprep clean-preview "영화 ㅋㅋㅋㅋ 최고!! https://a.kr"
  koprep clean-preview "&lt;b&gt;좋아요&lt;/b&gt;" --set clean.html=placeholder --json"""

PRESETS_EXAMPLES = """examples:
  koprep presets                       # each preset and the settings it changes
  koprep run reviews.tsv --preset classify"""


def register(commands: Commands, parents: Parents) -> None:
    backends = add_command(
        commands, "backends", help="list tokenizer backends, whether they are installed, and their options",
        epilog=BACKENDS_EXAMPLES, parents=[parents.json],
    )
    backends.set_defaults(handler=backends_command)

    preview = add_command(
        commands, "clean-preview", help="show what each cleaning step does to TEXT", epilog=PREVIEW_EXAMPLES,
        parents=[parents.settings, parents.json],
    )
    preview.add_argument("text")
    preview.set_defaults(handler=clean_preview_command)

    presets = add_command(
        commands, "presets", help="list the named presets (--preset NAME) and what each changes vs the defaults",
        epilog=PRESETS_EXAMPLES, parents=[parents.json],
    )
    presets.set_defaults(handler=presets_command)


def backends_command(args: argparse.Namespace) -> int:
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


def clean_preview_command(args: argparse.Namespace) -> int:
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


def presets_command(args: argparse.Namespace) -> int:
    from koprep import presets
    from koprep.config import preset_changes

    listing: list[dict[str, Any]] = []
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
