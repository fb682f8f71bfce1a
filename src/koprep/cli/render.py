"""Text shared by several commands' human output."""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from koprep.runs import RunRecord


def print_record(record: RunRecord, file: IO[str] | None = None) -> None:
    """A run's stages as a table: cached or computed, rows, seconds, path."""
    file = file or sys.stdout
    print(f"run {record.run_id}  corpus {record.corpus}  backend {record.backend}", file=file)
    print(f"{'stage':<10} {'cached':<7} {'rows':>8} {'seconds':>8}  path", file=file)
    for name, stage in record.stages.items():
        print(f"{name:<10} {'yes' if stage.cached else 'no':<7} {stage.rows:>8} {stage.seconds:>8.2f}  {stage.path}",
              file=file)
    clean = record.stages.get("clean")
    empty = clean.extra.get("empty_after_clean") if clean is not None else None
    if empty:
        print(f"{empty} document(s) are empty after cleaning (kept, with empty text)", file=file)
    tokenize = record.stages.get("tokenize")
    quarantined = tokenize.extra.get("quarantined") if tokenize is not None else None
    if quarantined:
        ids = ", ".join(str(q["doc_id"]) for q in quarantined[:10]) + (" …" if len(quarantined) > 10 else "")
        print(f"{len(quarantined)} document(s) quarantined: the analyser crashed or hung on them (kept, with empty "
              f"tokens; `koprep show --stage tokenize` lists why): {ids}", file=file)


def clip(text: str, width: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
