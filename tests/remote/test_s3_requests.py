"""What a re-run costs on a store in a bucket, in requests (unlike seconds, independent of the
machine's load): the manifests a run looks up are read in concurrent batches, not one round trip
per entry, and a run with every stage stored reads no shard entry and lists the store once (its sweep)."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from koprep.config import load_config
from koprep.plan import build_plan
from koprep.store import ArtifactStore
from tests.helpers import nsmc
from tests.robust.chain import SMALL, run_chain, write_corpus

pytestmark = pytest.mark.slow


class RoundTrips:
    """Counts the filesystem's reads of manifests: one `cat_file` is one round trip; one `cat` of a
    list is one concurrent batch (the calls go through to the server unchanged)."""

    def __init__(self, fs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.single: list[str] = []
        self.batches: list[list[str]] = []
        for name, log in (("cat_file", self._single), ("cat", self._batch)):
            monkeypatch.setattr(fs, name, functools.partial(self._spy, getattr(fs, name), log))

    @staticmethod
    def _spy(call: Any, log: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
        log(path)
        return call(path, *args, **kwargs)

    def _single(self, path: str) -> None:
        if path.endswith("/_manifest.json"):
            self.single.append(path)

    def _batch(self, paths: list[str]) -> None:
        self.batches.append(list(paths))


def test_a_no_op_rerun_reads_the_stage_manifests_in_batches_and_no_shard_entry(s3, tmp_path, monkeypatch):
    corpus = write_corpus(tmp_path / "reviews.txt", nsmc(300)["document"].tolist())
    store_url = s3.url("store")
    first = run_chain(store_url, corpus)  # shard_size 20: a clean-shard and a tokenize-shard entry per 20 reviews
    stages = len(first["stages"])
    shard_entries = [o for o in s3.fs.find(f"{s3.name}/store") if "-shard/" in o and o.endswith("/_manifest.json")]
    assert len(shard_entries) >= 20

    trips = RoundTrips(ArtifactStore(store_url).mirror.objects.fs, monkeypatch)  # the process's one client
    before = len(s3.requests())
    again = run_chain(store_url, corpus)
    received = s3.requests()[before:]

    assert all(stage["cached"] for stage in again["stages"].values())
    manifest_gets = [r for r in received if r.startswith("GET ") and r.endswith("/_manifest.json")]
    # Each stage's manifest twice (the plan, then the run's check) and the clean preflight's own check
    # (`single`, below); every shard entry never; no HEAD before a GET.
    assert len(manifest_gets) == 2 * stages + len(trips.single) and not any("-shard/" in r for r in manifest_gets)
    assert not [r for r in received if r.startswith("HEAD ")]
    assert len(received) < len(shard_entries) + stages  # fewer requests than the store has entries
    # ...and in two concurrent batches of every stage (plan, run), plus the clean preflight's single check.
    assert [len(batch) for batch in trips.batches] == [stages, stages] and len(trips.single) <= 1
    assert len([r for r in received if "list-type=2" in r and "prefix=store" in r]) == 1  # the sweep's; no run history


def test_status_of_a_stale_run_asks_for_every_shard_entry_in_one_batch(s3, tmp_path, monkeypatch):
    corpus = write_corpus(tmp_path / "reviews.txt", nsmc(300)["document"].tolist())
    store_url = s3.url("store")
    run_chain(store_url, corpus)
    trips = RoundTrips(ArtifactStore(store_url).mirror.objects.fs, monkeypatch)
    # Longer tokens only: tokenize and what follows are stale, each tokenize shard too.
    config = load_config(None, {**SMALL, "tokenize.min_length": 2}, "whitespace")
    plan = build_plan(ArtifactStore(store_url), str(corpus), config, shards=True)
    tokenize = plan.stages["tokenize"]
    assert tokenize.shards is not None and tokenize.shards >= 10
    assert tokenize.stale_shards == list(range(tokenize.shards))
    assert tokenize.shards in [len(batch) for batch in trips.batches]
    assert not [path for path in trips.single if "-shard/" in path]  # (the clean entry, for its shard list)
