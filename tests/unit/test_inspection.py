"""koprep show / ls / gc on real pipeline runs over NSMC reviews (real soynlp model, real gensim
phrases, real Parquet), without Prefect: what stays, what goes, and what show reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from koprep import inspection, maintenance
from koprep.loaders import open_run
from koprep.pipeline.evaluate import evaluate_vectors
from koprep.store import ArtifactStore, StoreError
from tests.helpers import W2V_EVAL, nsmc, require, write_nsmc
from tests.runs import record_pipeline_run

FAST_W2V = {"word2vec.vector_size": 16, "word2vec.epochs": 2}
pytestmark = pytest.mark.slow  # NSMC from the shared corpora, a soynlp model trained on 3,000 reviews
HOUR = 3600.0


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def _keys(summary) -> set[tuple[str, str]]:
    """Every entry a run uses: its stages (model and phrases among them), and the shard entries of
    clean and tokenize."""
    keys = {(name, stage["fingerprint"]) for name, stage in summary["stages"].items()}
    for name in ("clean", "tokenize"):
        manifest = json.loads((Path(summary["stages"][name]["path"]) / "_manifest.json").read_text(encoding="utf-8"))
        keys |= {(f"{name}-shard", fp) for fp in manifest["shards"]}
    return keys


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "nsmc3000.tsv"
    write_nsmc(path, 3000)
    return path


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory, corpus):
    """old (whitespace), mid (same but ngram.min_df=2: shares all but ngram with old), new (soynlp-noun
    with word2vec phrases: its own model, tokens, vectors, phrases; shares clean), and an evaluate
    report of new's vectors. Recorded an hour apart, oldest first."""
    root = tmp_path_factory.mktemp("store")
    store = ArtifactStore(root)
    start = time.time() - 10 * HOUR
    runs = {
        "old": record_pipeline_run(store, corpus, "old", overrides=FAST_W2V, recorded_at=start),
        "mid": record_pipeline_run(store, corpus, "mid", overrides={**FAST_W2V, "ngram.min_df": 2}, recorded_at=start + HOUR),
        "new": record_pipeline_run(store, corpus, "new", backend="soynlp-noun",
                                   overrides={**FAST_W2V, "word2vec.phrases": True, "word2vec.phrases_min_count": 3},
                                   recorded_at=start + 2 * HOUR),
    }
    evaluation = evaluate_vectors(store, store.open_entry(runs["new"]["stages"]["word2vec"]["path"]),
                                similarity=str(require(W2V_EVAL / "WS353_korean.csv")))
    return root, runs, ("evaluate", evaluation.fingerprint)


@pytest.fixture
def store_copy(three_runs, tmp_path):
    """A copy of the three-run store (gc changes it), with the copies' record mtimes preserved."""
    root, runs, evaluation = three_runs
    copy = tmp_path / "store"
    subprocess.run(["cp", "-a", str(root), str(copy)], check=True)
    # Run records name absolute entry paths: point the copies at the copied entries.
    for record in (copy / "runs").glob("*.json"):
        stat = record.stat()
        record.write_text(record.read_text(encoding="utf-8").replace(str(root), str(copy)), encoding="utf-8")
        os.utime(record, (stat.st_atime, stat.st_mtime))
    return ArtifactStore(copy), runs, evaluation


def _present(store: ArtifactStore) -> set[tuple[str, str]]:
    return {e.key for e in maintenance.stored_entries(store)}


def test_the_scenario_shares_entries_as_intended(three_runs):
    _, runs, _ = three_runs
    old, mid, new = (_keys(runs[n]) for n in ("old", "mid", "new"))
    assert old - mid == {("ngram", runs["old"]["stages"]["ngram"]["fingerprint"])}
    assert {stage for stage, _ in new - old} == {
        "model", "tokenize", "tokenize-shard", "bow", "ngram", "tfidf", "phrases", "word2vec"
    }
    assert ("clean", runs["old"]["stages"]["clean"]["fingerprint"]) in new


def test_gc_keeps_the_newest_run_and_everything_it_uses(store_copy):
    store, runs, evaluation = store_copy
    before = _present(store)
    plan = maintenance.plan_gc(store, keep_runs=1, grace_seconds=0)
    assert plan.kept_runs == ["new"]
    assert [r.run_id for r in plan.removed_runs] == ["mid", "old"]
    maintenance.collect_garbage(store, plan)

    kept = _keys(runs["new"]) | {evaluation}
    assert {stage for stage, _ in kept} >= {"model", "phrases", "evaluate"}
    assert _present(store) == kept
    assert before - kept == (_keys(runs["old"]) | _keys(runs["mid"])) - kept
    assert sorted(p.name for p in (store.root / "runs").iterdir()) == ["latest.json", "new.json"]
    # What stays is complete and usable: every kept entry verifies, and the kept run still loads.
    for stage, fp in kept:
        assert store.lookup(stage, fp, verify=True) is not None
    run = open_run(store.root, "new")
    assert run.store.lookup("model", Path(runs["new"]["stages"]["model"]["path"]).name) is not None
    assert len(run.matrix("tfidf").doc_ids) == 3000
    assert run.word_vectors().vector_size == 16
    assert not list(store.root.glob("*/.gc-*"))


def test_gc_keeping_two_runs_removes_only_what_the_oldest_alone_used(store_copy):
    store, runs, evaluation = store_copy
    plan = maintenance.plan_gc(store, keep_runs=2, grace_seconds=0)
    maintenance.collect_garbage(store, plan)
    assert [e.key for e in plan.removed_entries] == [("ngram", runs["old"]["stages"]["ngram"]["fingerprint"])]
    assert _present(store) == _keys(runs["mid"]) | _keys(runs["new"]) | {evaluation}
    assert not (store.root / "runs" / "old.json").exists()
    assert open_run(store.root, "mid").matrix("ngram").matrix.shape[0] == 3000


def test_gc_dry_run_removes_nothing(store_copy):
    store, runs, _ = store_copy
    before = _files(store.root)
    result = subprocess.run(
        [sys.executable, "-m", "koprep.cli", "gc", "--artifacts", str(store.root), "--keep-runs", "1",
         "--grace", "0", "--dry-run", "--json"],
        capture_output=True, text=True, check=True,
    )
    report = json.loads(result.stdout)
    assert report["dry_run"] is True
    assert report["removed_runs"] == ["mid", "old"]
    removed = (_keys(runs["old"]) | _keys(runs["mid"])) - _keys(runs["new"])
    assert {(e["stage"], e["fingerprint"]) for e in report["removed_entries"]} == removed
    assert len({stage for stage, _ in removed}) == 6 and report["freed_bytes"] > 0
    assert _files(store.root) == before


def test_gc_keeps_unused_entries_younger_than_the_grace_period(store_copy):
    store, runs, evaluation = store_copy
    plan = maintenance.plan_gc(store, keep_runs=1)  # default grace: an hour; the entries are minutes old
    assert plan.removed_entries == []
    assert {e.key for e in plan.young_entries} == (_keys(runs["old"]) | _keys(runs["mid"])) - _keys(runs["new"])
    maintenance.collect_garbage(store, plan)
    assert sorted(p.name for p in (store.root / "runs").iterdir()) == ["latest.json", "new.json"]
    assert _present(store) == _keys(runs["old"]) | _keys(runs["mid"]) | _keys(runs["new"]) | {evaluation}


def test_gc_keeps_the_run_a_kept_run_was_fitted_from(store_copy, corpus, tmp_path):
    store, runs, _ = store_copy
    other = tmp_path / "other.tsv"
    write_nsmc(other, 300, "test")
    applied = record_pipeline_run(store, other, "applied", overrides={**FAST_W2V, "run.fitted_from": "mid"},
                                  recorded_at=time.time())
    plan = maintenance.plan_gc(store, keep_runs=1, grace_seconds=0)
    assert plan.kept_runs == ["applied", "mid"]
    maintenance.collect_garbage(store, plan)
    fitted = {("tfidf", runs["mid"]["stages"]["tfidf"]["fingerprint"]), ("ngram", runs["mid"]["stages"]["ngram"]["fingerprint"])}
    assert fitted <= _present(store)
    assert _present(store) >= _keys(applied)
    assert open_run(store.root, "applied").transform(["정말 재미있는 영화"], "tfidf").shape[0] == 1


def test_gc_removes_an_incomplete_folder_and_refuses_a_negative_count(store_copy):
    store, _, _ = store_copy
    broken = store.root / "tokenize" / ("0" * 32)
    broken.mkdir()
    (broken / "part-00000.parquet").write_bytes(b"not parquet")
    listed = {e.key: e for e in maintenance.stored_entries(store)}
    assert listed[("tokenize", "0" * 32)].complete is False
    plan = maintenance.plan_gc(store, keep_runs=3, grace_seconds=0)
    assert [e.key for e in plan.removed_entries] == [("tokenize", "0" * 32)]
    with pytest.raises(StoreError, match="keep-runs"):
        maintenance.plan_gc(store, keep_runs=-1)


def test_ls_lists_sizes_ages_and_users(three_runs):
    root, runs, evaluation = three_runs
    listing = maintenance.listing(ArtifactStore(root))
    by_key = {(e["stage"], e["fingerprint"]): e for e in listing["entries"]}
    clean = ("clean", runs["old"]["stages"]["clean"]["fingerprint"])
    assert by_key[clean]["runs"] == ["new", "mid", "old"]
    assert by_key[("ngram", runs["old"]["stages"]["ngram"]["fingerprint"])]["runs"] == ["old"]
    assert by_key[evaluation]["runs"] == ["new"]
    model = Path(runs["new"]["stages"]["model"]["path"])
    assert by_key[("model", model.name)]["runs"] == ["new"]
    assert by_key[clean]["bytes"] == sum(p.stat().st_size for p in (root / "clean" / clean[1]).iterdir())
    assert all(e["age_seconds"] >= 0 and e["complete"] for e in listing["entries"])
    assert [r["run_id"] for r in listing["runs"]] == ["new", "mid", "old"]


def test_show_reports_what_the_artifacts_hold(three_runs, corpus):
    root, runs, _ = three_runs
    result = inspection.show(ArtifactStore(root), "old", top=10, samples=3, corpus=str(corpus))
    reviews = nsmc(3000)
    tokens = pd.read_parquet(runs["old"]["stages"]["tokenize"]["path"])
    counts = Counter(t for doc in tokens["tokens"] for t in doc)
    tok = result["stages"]["tokenize"]
    assert tok["tokens"] == sum(counts.values()) and tok["vocabulary"] == len(counts)
    assert [(t["term"], t["count"]) for t in tok["top_terms"]] == sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    lengths = tokens["tokens"].map(len)
    assert tok["tokens_per_document"]["max"] == lengths.max()
    assert sum(tok["tokens_per_document"]["histogram"]["counts"]) + tok["tokens_per_document"]["histogram"]["above"] == 3000
    assert sum(tok["characters_per_token"].values()) == tok["tokens"]
    clean = result["stages"]["clean"]
    assert [s["doc_id"] for s in clean["samples"]] == reviews["id"].head(3).tolist()
    assert [s["raw"] for s in clean["samples"]] == reviews["document"].head(3).tolist()
    # The run recorded only the corpus's name, which the current folder does not hold: no "before".
    unnamed = inspection.show(ArtifactStore(root), "old", "clean", samples=3)["stages"]["clean"]
    assert [s["raw"] for s in unnamed["samples"]] == [None, None, None]
    # TF-IDF totals are the column sums of the stored matrix.
    tfidf = open_run(root, "old").matrix("tfidf")
    sums = tfidf.matrix.sum(axis=0).A1
    best = sorted(zip(tfidf.terms, sums), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [t["term"] for t in result["stages"]["tfidf"]["top_by_tfidf"]] == [term for term, _ in best]
    w2v = result["stages"]["word2vec"]
    kv = open_run(root, "old").word_vectors()
    first = w2v["neighbours"][0]
    assert first["word"] == kv.index_to_key[0]
    assert [w for w, _ in first["similar"]] == [w for w, _ in kv.most_similar(first["word"], topn=5)]


def test_show_cli_json_and_unknown_stage(three_runs):
    root, runs, _ = three_runs
    out = subprocess.run([sys.executable, "-m", "koprep.cli", "show", "tfidf", "--run", "mid", "--artifacts", str(root),
                          "--json"], capture_output=True, text=True, check=True).stdout
    assert list(json.loads(out)["stages"]) == ["tfidf"]
    bad = subprocess.run([sys.executable, "-m", "koprep.cli", "show", "nope", "--artifacts", str(root)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "has no 'nope' stage" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("size", [7, 100, 250, 1000])
def test_matrix_batches_are_pyarrows_batches_read_row_group_by_row_group(tmp_path, size):
    """`vectorizer_details` sums the matrix in the batches pyarrow's `iter_batches` gives (the same
    rows in each: float sums equal to the bit), read one row group at a time."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from koprep.inspection import _batches

    rng = np.random.default_rng(3)
    writer = pq.ParquetWriter(tmp_path / "m.parquet", pa.schema([("term_id", pa.int32()), ("value", pa.float64())]))
    for rows in (90, 1, 130, 45, 0, 200):  # row groups of uneven sizes, as the stage writes them per shard group
        writer.write_table(pa.table({"term_id": pa.array(rng.integers(0, 50, rows), pa.int32()),
                                     "value": pa.array(rng.random(rows))}))
    writer.close()
    file = pq.ParquetFile(tmp_path / "m.parquet")
    ours = [batch.to_pydict() for batch in _batches(file, ["term_id", "value"], size)]
    theirs = [batch.to_pydict() for batch in file.iter_batches(batch_size=size, columns=["term_id", "value"])]
    assert ours == theirs and sum(len(batch["value"]) for batch in ours) == 466
