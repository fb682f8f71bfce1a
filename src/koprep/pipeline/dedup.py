"""The dedup stage against the store: the clean output's texts, read in corpus order, grouped into
duplicates (`koprep.stages.dedup`), and written back as one part per clean shard (the same parts,
so a later stage can line them up with the clean shards):

    drop   each part without its duplicates (the first document of every group stays)
    mark   each part whole, with two more columns: `duplicate` ('exact', 'near' or null) and
           `duplicate_of` (the doc_id of the first document of its group, or null)

The tokenize stage, when a run chooses dedup, tokenizes the clean shards as before (their
`tokenize-shard` entries are shared with runs without dedup) and leaves out the dropped documents
when it assembles its entry; chargram reads this output instead of the clean one.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from koprep.errors import BadInputError
from koprep.pipeline.datasets import Parts
from koprep.pipeline.execution import StageJob
from koprep.stages import dedup as dedup_logic
from koprep.store import PendingEntry, fault_point

if TYPE_CHECKING:
    from koprep.pipeline.keys import StageKey
    from koprep.pipeline.resolve import Resolution

EXAMPLES = 5
"""Duplicate pairs the manifest keeps per kind, for the report."""


def check_library(run: Resolution, key: StageKey) -> None:
    """The dedup stage's preflight: near-duplicates need datasketch (the `dedup` extra)."""
    if run.config.dedup.near is not False and importlib.util.find_spec("datasketch") is None:
        raise BadInputError(
            "dedup.near needs datasketch (MinHash-LSH), which is not installed: pip install 'koprep[dedup]', "
            "or set dedup.near=false to find exact duplicates only"
        )


def compute(job: StageJob, pending: PendingEntry) -> tuple[int, dict[str, Any]]:
    params: dedup_logic.DedupParams = job.run.config.dedup
    clean = job.inputs["clean"]
    files = Parts.part_files(clean.path)
    ids = [pq.read_table(f, columns=["doc_id"]).column("doc_id").to_pylist() for f in files]
    texts = list(Parts.texts(clean.path))
    found = dedup_logic.find_duplicates(texts, params)
    fault_point(f"{job.key.stage}.found")
    doc_ids = [doc_id for shard in ids for doc_id in shard]
    leaders = [doc_ids[c] for c in found.cluster.tolist()]
    kept = 0
    dropped_per_part: list[int] = []
    start = 0
    for index, file in enumerate(files):
        table = pq.read_table(file)
        stop = start + table.num_rows
        kinds = found.kind[start:stop]
        if params.mode == "drop":
            table = table.filter(pa.array([k is None for k in kinds]))
        else:
            table = table.append_column("duplicate", pa.array(kinds, pa.string()))
            of = [leader if k is not None else None for k, leader in zip(kinds, leaders[start:stop])]
            table = table.append_column("duplicate_of", pa.array(of, pa.string()))
        dropped_per_part.append((stop - start) - table.num_rows)
        kept += table.num_rows
        pq.write_table(table, pending.path / Parts.PART.format(index))
        fault_point(f"{job.key.stage}.part-written")
        start = stop
    return kept, {
        "documents": len(texts),
        **found.counts(),
        "mode": params.mode,
        "dropped": sum(dropped_per_part),
        "dropped_per_part": dropped_per_part,
        "steps": dedup_logic.describe(params),
        "examples": _examples(found, texts, doc_ids),
    }


def _examples(found: dedup_logic.Duplicates, texts: list[str], doc_ids: list[str]) -> dict[str, list[dict[str, str]]]:
    """A few duplicates of each kind beside the document they repeat (the report shows them)."""
    examples: dict[str, list[dict[str, str]]] = {"exact": [], "near": []}
    for position, kind in enumerate(found.kind):
        if kind is None or len(examples[kind]) >= EXAMPLES:
            continue
        leader = int(found.cluster[position])
        examples[kind].append({
            "doc_id": doc_ids[position], "text": texts[position],
            "duplicate_of": doc_ids[leader], "original": texts[leader],
        })
    return examples


def kept_rows(dedup_part: Path, tokens: pa.Table) -> pa.Table:
    """A tokenize shard's rows whose documents a dedup part kept (in drop mode, the part holds only those)."""
    kept = pq.read_table(dedup_part, columns=["doc_id"]).column("doc_id")
    return tokens.filter(pc.is_in(tokens.column("doc_id"), value_set=kept.combine_chunks()))
