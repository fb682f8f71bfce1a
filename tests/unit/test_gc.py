"""koprep gc in the fast tier: two real runs over konlpy's bundled corpus (whitespace tokens), no
shared corpora. tests/unit/test_inspection.py covers soynlp models, phrases and fitted runs."""

from __future__ import annotations

import time

from koprep import maintenance as inspection
from koprep.loaders import open_run
from koprep.pipeline.graph import GRAPH
from koprep.store import ArtifactStore
from tests.runs import record_pipeline_run

SHARD_STAGES = GRAPH.shard_stages()
SMALL = {"word2vec.vector_size": 8, "word2vec.epochs": 1}


def test_gc_removes_only_what_no_kept_run_uses_and_dry_run_removes_nothing(tmp_path):
    store = ArtifactStore(tmp_path)
    old = record_pipeline_run(store, None, "old", overrides=SMALL, recorded_at=time.time() - 7200)
    new = record_pipeline_run(store, None, "new", overrides={**SMALL, "ngram.min_df": 2}, recorded_at=time.time() - 3600)
    files = sorted(p for p in tmp_path.rglob("*"))

    plan = inspection.plan_gc(store, keep_runs=1, grace_seconds=0)
    assert [r.run_id for r in plan.removed_runs] == ["old"] and plan.kept_runs == ["new"]
    assert [e.key for e in plan.removed_entries] == [("ngram", old["stages"]["ngram"]["fingerprint"])]
    assert sorted(p for p in tmp_path.rglob("*")) == files  # planning is a dry run

    inspection.collect_garbage(store, plan)
    assert not (tmp_path / "ngram" / old["stages"]["ngram"]["fingerprint"]).exists()
    assert not (tmp_path / "runs" / "old.json").exists()
    for name, stage in new["stages"].items():
        assert store.lookup(name, stage["fingerprint"], verify=True) is not None
    assert open_run(tmp_path).matrix("ngram").matrix.shape[0] == new["stages"]["ngram"]["rows"]
    listing = inspection.listing(store)
    stage_entries = [e for e in listing["entries"] if e["stage"] not in SHARD_STAGES]
    assert {e["fingerprint"] for e in stage_entries} == {s["fingerprint"] for s in new["stages"].values()}
    # the per-shard entries clean and tokenize were assembled from are kept: the next run reuses them
    shard_entries = [e for e in listing["entries"] if e["stage"] in SHARD_STAGES]
    for name in SHARD_STAGES:
        stage = GRAPH.shard_stage_of(name)
        listed = {e["fingerprint"] for e in shard_entries if e["stage"] == name}
        assert listed == set(store.lookup(stage, new["stages"][stage]["fingerprint"]).manifest["shards"])
    assert all(e["runs"] == ["new"] for e in listing["entries"])
