"""The stage chain run directly, without Prefect, and a fingerprint of a store's outputs.

`run_chain` carries out a run's plan in this process with the checks the flow uses (preflight,
sweep, clean → tokenize → bow/ngram/tfidf → word2vec, run record: `runner.run_and_record`), so crash
and concurrency tests can run many real processes quickly; a few runs go through `koprep run` too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from koprep.config import load_config
from koprep.pipeline.runner import run_and_record
from koprep.plan import build_plan
from koprep.store import MANIFEST, ArtifactStore

STAGES = ["clean", "tokenize", "bow", "ngram", "tfidf", "word2vec"]
SMALL = {
    "run.shard_size": 20,  # several shards, so kills can land between shard writes
    "word2vec.vector_size": 8,
    "word2vec.min_count": 1,
    "word2vec.epochs": 2,
}


def run_chain(artifacts: str | Path, corpus: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    config = load_config(None, {**SMALL, **(overrides or {})}, "whitespace")
    return run_and_record(build_plan(ArtifactStore(artifacts), str(corpus), config)).to_json()


def outputs(artifacts: str | Path, run: str = "latest") -> dict[str, dict[str, str]]:
    """{stage: {file: SHA-256}} of every file a run's stages hold on disk (manifests aside, since
    they carry creation times), read from the files themselves, not from the manifests."""
    store = ArtifactStore(artifacts)
    found = {}
    for name, stage in store.read_run(run).stages.items():
        folder = Path(stage.path)
        found[name] = {
            f.relative_to(folder).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(folder.rglob("*")) if f.is_file() and f.name != MANIFEST
        }
    return found


def write_corpus(path: Path, reviews: list[str]) -> Path:
    path.write_text("".join(r + "\n" for r in reviews), encoding="utf-8")
    return path
