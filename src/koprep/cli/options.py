"""Options several commands share, declared once as argparse parent parsers (as DVC's commands
share theirs), and the helpers that turn them into settings.

Nothing here imports more than the standard library at start-up: `koprep --help` answers at once.
The stage names `--force` accepts come from the stage graph, read only when a `--force` is checked
(the graph imports the pipeline, which `--help` must not).
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from koprep.store import ArtifactStore

DEFAULT_ARTIFACTS = "artifacts"
ARTIFACTS_ENV = "KOPREP_ARTIFACTS"


def stage_name(value: str) -> str:
    """A `--force` value: a stage a run computes, by the stage graph (read only when a value is
    checked, as argparse formats every `choices` list into `--help`)."""
    from koprep.pipeline.graph import GRAPH

    known = GRAPH.stored_stages()
    if value not in known:
        raise argparse.ArgumentTypeError(f"invalid choice: {value!r} (choose from {', '.join(map(repr, known))})")
    return value


def _parent() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(add_help=False)


class Parents:
    """The shared option groups, each an argparse parent parser built once."""

    def __init__(self) -> None:
        self.json = _parent()
        self.json.add_argument(
            "--json", action="store_true",
            help="print only one JSON object on stdout (human text goes to stderr)",
        )

        self.store = _parent()
        self.store.add_argument(
            "--artifacts", default=os.environ.get(ARTIFACTS_ENV) or DEFAULT_ARTIFACTS, metavar="DIR|URL",
            help="artifact store root: a folder, or a URL such as s3://bucket/prefix (default: $KOPREP_ARTIFACTS, "
            "else artifacts)",
        )

        self.store_config = _parent()
        self.store_config.add_argument(
            "--config", dest="config_file", metavar="FILE",
            help="TOML config file whose [store] section gives the storage options of a URL store (e.g. its "
            "endpoint_url); the rest of the file is checked but not used here",
        )

        self.run_choice = _parent()
        self.run_choice.add_argument("--run", default="latest", metavar="RUN_ID",
                                     help="which run's artifacts (default: the latest)")

        self.settings = _parent()
        self.settings.add_argument("--config", dest="config_file", metavar="FILE", help="TOML config file")
        self.settings.add_argument(
            "--preset", metavar="NAME",
            help="named settings for a task, under --config/--backend/--set: topic (the defaults), classify, search "
            "(`koprep presets` lists what each changes)",
        )
        self.settings.add_argument(
            "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
            help="override one setting, e.g. --set ngram.min_df=2 --set corpus.text_column=content (repeatable)",
        )

        self.run = _parent()
        self.run.add_argument(
            "corpus", nargs="?", default=None,
            help="text file (one document per line), folder of .txt, TSV/CSV, JSON Lines or Parquet; "
            "default: konlpy's bundled kolaw + kobill corpora",
        )
        self.run.add_argument("--backend", help="tokenizer backend (see `koprep backends`); default okt")
        self.run.add_argument(
            "--force", action="append", default=[], type=stage_name, metavar="STAGE",
            help="recompute STAGE and every stage after it even if stored, replacing their entries (repeatable; "
            "any stage a run computes, as `koprep status` lists them, e.g. tokenize)",
        )
        self.run.add_argument(
            "--workers", type=int, metavar="N",
            help="cores to tokenize on (default: every core; the same as --set run.workers=N); never changes an output",
        )
        self.run.add_argument(
            "--runner", choices=("local", "dask"), default="local",
            help="where the tasks run: local (this process, default) or dask (an existing Dask cluster, see "
            "--dask-address); outputs and cache keys are the same",
        )
        self.run.add_argument(
            "--dask-address", metavar="tcp://HOST:PORT",
            help="the Dask scheduler for --runner dask; its workers need this koprep and the artifact store and corpus "
            "at the same absolute paths (a shared file system)",
        )

    def for_runs(self) -> list[argparse.ArgumentParser]:
        """What every command that plans a run takes: the corpus, the settings, the store."""
        return [self.run, self.settings, self.store]


Commands = argparse._SubParsersAction  # the subcommand registry `build_parser` hands to each command module


def add_command(
    commands: Commands, name: str, *, help: str, epilog: str, parents: Sequence[argparse.ArgumentParser] = (),
    description: str | None = None,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=help, description=description or help, epilog=epilog, parents=list(parents),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def use_store_config(args: argparse.Namespace) -> None:
    """Make the `[store]` options of `--config` (if given) this process's, before any store or corpus
    location is opened: what `koprep run` does with its configuration, for commands that take only
    the store from it."""
    if getattr(args, "config_file", None):
        from koprep.config import load_config

        load_config(args.config_file).store.activate()


def open_store(args: argparse.Namespace) -> ArtifactStore:
    """The artifact store of `--artifacts`, with the storage options of `--config`."""
    from koprep.store import ArtifactStore

    use_store_config(args)
    return ArtifactStore(args.artifacts)


def check_runner(args: argparse.Namespace) -> None:
    """The runner choice and, for `--runner dask`, the cluster (it answers, its workers see the store
    and the corpus and reach the Prefect API): checked before Prefect is imported or a server started."""
    import os

    from koprep.orchestration import runners

    runners.check_choice(args.runner, args.dask_address)
    if args.runner == "dask":
        from pathlib import Path

        from koprep.storage import is_url

        store = args.artifacts if is_url(args.artifacts) else Path(args.artifacts).resolve()
        runners.check_cluster(args.dask_address, store, runners.absolute_corpus(args.corpus),
                              prefect_api=os.environ.get("PREFECT_API_URL"))


def parse_pairs(overrides: Sequence[str]) -> list[tuple[str, Any]]:
    from koprep.config import parse_override

    return [parse_override(o) for o in overrides]


def settings_from(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """`--set` pairs, with `--force` and `--workers` as the `run.force` and `run.workers` settings they
    stand for, so they travel wherever the overrides go (flow parameters too)."""
    pairs = parse_pairs(args.overrides)
    if getattr(args, "force", None):
        pairs.append(("run.force", list(dict.fromkeys(args.force))))
    if getattr(args, "workers", None) is not None:
        pairs.append(("run.workers", args.workers))
    return pairs
