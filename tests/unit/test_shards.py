"""Shards as the unit of work and caching (issue 10): content-defined boundaries that stay put when
documents are appended or edited, and clean/tokenize recomputing only the shards whose documents
changed, with outputs identical to a cold run on the changed corpus. Whitespace tokens on text
written for the tests (the Okt version over NSMC is tests/flows/test_incremental.py)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest

from koprep import shards
from koprep.config import load_config
from koprep.pipeline.datasets import Parts, ShardPart
from koprep.pipeline.execution import StageResult
from koprep.pipeline.graph import GRAPH
from koprep.pipeline.runner import execute
from koprep.plan import build_plan, format_plan
from koprep.store import MANIFEST, ArtifactStore
from tests.unit.korean_samples import REVIEWS

SMALL = {"run.shard_size": 40, "word2vec.vector_size": 8, "word2vec.epochs": 1, "word2vec.min_count": 1}


def reviews(n: int, start: int = 0) -> pd.DataFrame:
    """`n` reviews with unique ids and texts (a review with its number appended)."""
    rows = range(start, start + n)
    return pd.DataFrame({
        "id": [f"r{i}" for i in rows],
        "document": [f"{REVIEWS[i % len(REVIEWS)]} {i}번째 관람" for i in rows],
        "label": [str(i % 2) for i in rows],
    })


def spans(frame: pd.DataFrame, target: int) -> list[tuple[int, int]]:
    return shards.boundaries(shards.document_digests(frame), target)


# ------------------------------------------------------------------------------ boundaries
def test_shards_average_the_target_size_within_bounds():
    found = spans(reviews(20_000), 200)
    sizes = [stop - start for start, stop in found]
    assert found[0][0] == 0 and found[-1][1] == 20_000
    assert all(a[1] == b[0] for a, b in zip(found, found[1:]))  # contiguous, in order
    assert 150 <= sum(sizes) / len(sizes) <= 250
    assert max(sizes) <= 400 and min(sizes[:-1]) >= 100
    assert len(set(sizes)) > 20  # cut by content, not by count


def test_appending_keeps_every_boundary_but_the_last():
    before, after = spans(reviews(5_000), 100), spans(reviews(5_050), 100)
    assert after[: len(before) - 1] == before[:-1]
    assert after[len(before) - 1][0] == before[-1][0]  # the old last shard grows from where it began


@pytest.mark.parametrize("edited", [7, 2_345, 4_990])
def test_editing_a_document_changes_only_the_shards_near_it(edited):
    corpus = reviews(5_000)
    changed = corpus.copy()
    changed.loc[edited, "document"] += " 정말 최고"
    before, after = shards.split(corpus, 100), shards.split(changed, 100)
    kept = {(s.start, s.stop, s.digest) for s in before}
    new = [s for s in after if (s.start, s.stop, s.digest) not in kept]
    assert 1 <= len(new) <= 3
    assert new[0].start <= edited < new[-1].stop  # the new shards are the edited document's neighbourhood
    assert [s.index for s in new] == list(range(new[0].index, new[0].index + len(new)))
    assert len(after) - len(new) >= len(before) - 3


def test_shard_digests_change_with_any_column_and_only_then():
    corpus = reviews(300)
    base = [s.digest for s in shards.split(corpus, 50)]
    assert [s.digest for s in shards.split(corpus.copy(), 50)] == base
    for column in ("id", "document", "label"):
        changed = corpus.copy()
        changed.loc[150, column] = changed.loc[150, column] + "x"
        digests = [s.digest for s in shards.split(changed, 50)]
        assert digests != base
        assert sum(a != b for a, b in zip(base, digests)) <= 2


def test_an_empty_corpus_is_one_empty_shard():
    assert spans(reviews(0), 10) == [(0, 0)]


# ------------------------------------------------------------------------------ pipeline
def write_tsv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, sep="\t", index=False, quoting=3)
    return path


def run(store: ArtifactStore, corpus: Path) -> dict[str, StageResult]:
    plan = build_plan(store, str(corpus), load_config(None, SMALL, "whitespace"))
    plan.preflight()
    return execute(plan)


def files(result: StageResult) -> dict[str, str]:
    folder = Path(result.path)
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir()) if f.name != MANIFEST}


def shard_containing(result: StageResult, doc_id: str) -> int:
    for index, part in enumerate(Parts.part_files(result.path)):
        if doc_id in pd.read_parquet(part, columns=["doc_id"])["doc_id"].tolist():
            return index
    raise AssertionError(f"{doc_id} is in no shard")


def test_append_and_edit_recompute_only_the_changed_shards_and_equal_a_cold_run(tmp_path):
    store = ArtifactStore(tmp_path / "store")
    corpus = write_tsv(reviews(2_000), tmp_path / "reviews.tsv")
    cold = run(store, corpus)
    shard_count = cold["clean"].extra["shards"]
    assert shard_count > 20
    assert cold["clean"].extra["computed_shards"] == cold["tokenize"].extra["computed_shards"] == list(range(shard_count))

    write_tsv(pd.concat([reviews(2_000), reviews(20, start=2_000)]), corpus)
    plan = build_plan(store, str(corpus), load_config(None, SMALL, "whitespace"), shards=True)
    appended = run(store, corpus)
    new_count = appended["clean"].extra["shards"]
    # only the old last shard (it ended at the old end of the file) and the new ones
    expected = list(range(shard_count - 1, new_count))
    assert appended["clean"].extra["computed_shards"] == appended["tokenize"].extra["computed_shards"] == expected
    # the plan knew it before any work
    for name in ("clean", "tokenize"):
        assert (plan.stages[name].shards, plan.stages[name].stale_shards) == (new_count, expected)
    assert f"{len(expected)} of {new_count} shards to compute" in format_plan(plan)
    assert not appended["clean"].cached and not appended["tokenize"].cached

    frame = pd.concat([reviews(2_000), reviews(20, start=2_000)]).reset_index(drop=True)
    frame.loc[1_000, "document"] += " 정말 최고"
    write_tsv(frame, corpus)
    edited = run(store, corpus)
    index = shard_containing(edited["clean"], "r1000")
    computed = edited["tokenize"].extra["computed_shards"]
    assert edited["clean"].extra["computed_shards"] == computed
    assert index in computed and len(computed) <= 2 and all(i in (index, index + 1) for i in computed)

    # every output equals a cold run of the edited corpus in an empty store, file for file
    fresh = run(ArtifactStore(tmp_path / "fresh"), corpus)
    for name, result in edited.items():
        assert result.fingerprint == fresh[name].fingerprint, name
        assert files(result) == files(fresh[name]), name


def test_shard_entries_back_the_stage_entry_by_hard_links(tmp_path):
    store = ArtifactStore(tmp_path / "store")
    stages = run(store, write_tsv(reviews(300), tmp_path / "reviews.tsv"))
    for shard_stage in GRAPH.shard_stages():
        name = GRAPH.shard_stage_of(shard_stage)
        entry = store.lookup(name, stages[name].fingerprint, verify=True)
        assert len(entry.manifest["shards"]) == len(Parts.part_files(entry.path))
        for index, fp in enumerate(entry.manifest["shards"]):
            shard = store.lookup(shard_stage, fp, verify=True)
            part = entry.path / Parts.PART.format(index)
            assert part.stat().st_ino == shard.file(ShardPart.FILE).stat().st_ino
            assert entry.manifest["files"][part.name]["sha256"] == shard.manifest["files"][ShardPart.FILE]["sha256"]


def test_a_shard_entry_removed_after_preflight_is_cleaned_again_from_the_corpus(tmp_path):
    store = ArtifactStore(tmp_path / "store")
    corpus = write_tsv(reviews(400), tmp_path / "reviews.tsv")
    first = run(store, corpus)["clean"]
    write_tsv(reviews(420), corpus)
    config = load_config(None, SMALL, "whitespace").with_run_stages(["clean"])
    plan = build_plan(store, str(corpus), config)
    plan.preflight()  # shard 0 is stored: preflight leaves it alone
    shard_zero = store.lookup("clean", first.fingerprint).manifest["shards"][0]
    clean_shard = GRAPH["clean"].shards
    shutil.rmtree(store.entry_path(clean_shard, shard_zero))
    clean = execute(plan)["clean"]
    assert 0 in clean.extra["computed_shards"]
    assert store.lookup(clean_shard, shard_zero, verify=True) is not None
    assert files(clean) == files(execute(build_plan(ArtifactStore(tmp_path / "fresh"), str(corpus), config))["clean"])


def test_without_hard_links_the_stage_entry_holds_verified_copies(tmp_path, monkeypatch):
    import errno
    import os

    def no_links(source, target):
        raise OSError(errno.EXDEV, "cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    store = ArtifactStore(tmp_path / "store")
    clean = run(store, write_tsv(reviews(300), tmp_path / "reviews.tsv"))["clean"]
    entry = store.lookup("clean", clean.fingerprint, verify=True)
    shard = store.lookup(GRAPH["clean"].shards, entry.manifest["shards"][0])
    part = entry.path / Parts.PART.format(0)
    assert part.stat().st_ino != shard.file(ShardPart.FILE).stat().st_ino
    assert part.read_bytes() == shard.file(ShardPart.FILE).read_bytes()
