"""The stage chain run directly, without Prefect, and a fingerprint of a store's outputs.

`run_chain` calls the pipeline functions in the order and with the checks the flow uses
(preflight, sweep, clean → tokenize → bow/ngram/tfidf → word2vec, run record), so crash and
concurrency tests can run many real processes quickly; a few runs go through `koprep run` too.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

from koprep import pipeline
from koprep.config import load_config
from koprep.store import MANIFEST, ArtifactStore
from tests.runs import run_stages

STAGES = ["clean", "tokenize", "bow", "ngram", "tfidf", "word2vec"]
SMALL = {
    "run.shard_size": 20,  # several shards, so kills can land between shard writes
    "word2vec.vector_size": 8,
    "word2vec.min_count": 1,
    "word2vec.epochs": 2,
}


def run_chain(artifacts: str | Path, corpus: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    store = ArtifactStore(artifacts)
    config = load_config(None, {**SMALL, **(overrides or {})}, "whitespace")
    pipeline.preflight(store, str(corpus), config)
    store.sweep()
    stages, _ = run_stages(store, str(corpus), config)
    run_id = uuid.uuid4().hex
    summary = {
        "run_id": run_id,
        "corpus": pipeline.corpus_io.describe_source(str(corpus)),
        "backend": config.tokenize.backend,
        "stages": {name: result.summary() for name, result in stages.items()},
        "config": config.model_dump(mode="json"),
    }
    store.record_run(run_id, summary)
    return summary


def outputs(artifacts: str | Path, run: str = "latest") -> dict[str, dict[str, str]]:
    """{stage: {file: SHA-256}} of every file a run's stages hold on disk (manifests aside, since
    they carry creation times), read from the files themselves, not from the manifests."""
    store = ArtifactStore(artifacts)
    found = {}
    for name, stage in store.read_run(run)["stages"].items():
        folder = Path(stage["path"])
        found[name] = {
            f.relative_to(folder).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(folder.rglob("*")) if f.is_file() and f.name != MANIFEST
        }
    return found


def write_corpus(path: Path, reviews: list[str]) -> Path:
    path.write_text("".join(r + "\n" for r in reviews), encoding="utf-8")
    return path
