"""Incremental runs through the real flow with real Okt on NSMC (issue 10): appending 1% of the
reviews tokenizes only the shards that changed, editing one review re-tokenizes only its shard,
and every output then equals a cold run of the changed corpus in an empty store, file for file.
The boundary properties themselves are tests/unit/test_shards.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from koprep.config import load_config
from koprep.pipeline.datasets import Parts
from koprep.pipeline.resolve import ready_tokenizer
from koprep.stages.tokenize import tokenize_texts
from koprep.store import MANIFEST
from tests.helpers import nsmc

pytestmark = pytest.mark.slow  # NSMC, Okt and a Prefect server

SETTINGS = {"run.shard_size": 150, "word2vec.vector_size": 16, "word2vec.epochs": 2, "word2vec.min_count": 2}
REVIEWS, APPENDED = 1_500, 15  # about ten shards, and 1% appended: the shard logic sees the same at any size
EDITED = REVIEWS // 2  # the edited review, in a middle shard


def run_flow(artifacts: Path, corpus: Path) -> dict:
    from koprep.orchestration.flow import preprocess

    return preprocess(corpus=str(corpus), backend="okt", overrides=SETTINGS, artifacts=str(artifacts))


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, sep="\t", index=False, quoting=3)
    return path


def stage_files(stage: dict) -> dict[str, str]:
    folder = Path(stage["path"])
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir()) if f.name != MANIFEST}


def computed(summary: dict, stage: str) -> list[int]:
    return summary["stages"][stage]["extra"]["computed_shards"]


def test_append_and_edit_tokenize_only_the_changed_shards_with_okt(tmp_path, prefect_server):
    reviews = nsmc(REVIEWS + APPENDED)
    corpus = tmp_path / "nsmc.tsv"
    artifacts = tmp_path / "artifacts"

    cold = run_flow(artifacts, write(reviews.head(REVIEWS), corpus))
    shards = cold["stages"]["tokenize"]["extra"]["shards"]
    assert 6 <= shards <= 14 and computed(cold, "tokenize") == list(range(shards))

    appended = run_flow(artifacts, write(reviews, corpus))
    now = appended["stages"]["tokenize"]["extra"]["shards"]
    assert computed(appended, "clean") == computed(appended, "tokenize") == list(range(shards - 1, now))
    assert appended["stages"]["tokenize"]["extra"]["documents"] == REVIEWS + APPENDED

    edited_frame = reviews.copy()
    edited_frame.loc[EDITED, "document"] += " 정말 최고"
    edited = run_flow(artifacts, write(edited_frame, corpus))
    tokens = Path(edited["stages"]["tokenize"]["path"])
    holding = next(
        i for i, part in enumerate(Parts.part_files(tokens))
        if edited_frame.loc[EDITED, "id"] in pq.read_table(part, columns=["doc_id"]).column("doc_id").to_pylist()
    )
    assert holding in computed(edited, "tokenize") and len(computed(edited, "tokenize")) <= 2
    assert computed(edited, "clean") == computed(edited, "tokenize")
    for name in ("bow", "ngram", "tfidf", "word2vec"):
        assert not edited["stages"][name]["cached"]  # global stages follow the changed tokens

    # The edited review's tokens are Okt's, called directly on its cleaned text.
    tokenizer, token_filter = ready_tokenizer(load_config(None, SETTINGS, "okt").tokenize)
    part = pq.read_table(Parts.part_files(tokens)[holding]).to_pandas()
    clean_part = pq.read_table(Parts.part_files(edited["stages"]["clean"]["path"])[holding]).to_pandas()
    row = part.index[part["doc_id"] == edited_frame.loc[EDITED, "id"]][0]
    direct = tokenize_texts(tokenizer, [clean_part.loc[row, "text"]], token_filter)[0]
    assert list(part.loc[row, "tokens"]) == direct and "최고" in direct

    # Everything equals a cold run of the edited corpus in an empty store.
    fresh = run_flow(tmp_path / "fresh", corpus)
    for name, stage in edited["stages"].items():
        assert stage["fingerprint"] == fresh["stages"][name]["fingerprint"], name
        assert stage_files(stage) == stage_files(fresh["stages"][name]), name
