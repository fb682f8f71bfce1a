"""The artifact store and corpora in a bucket of a real S3-compatible server (moto, tests/remote/conftest.py):
the same outputs as on local disk, a fresh machine reusing what another computed, concurrent runs on
several machines, and no secret anywhere."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from koprep.maintenance import collect_garbage, plan_gc, stored_entries, verify
from koprep.store import ArtifactStore
from tests.helpers import REPO, nsmc
from tests.robust.chain import outputs, run_chain, write_corpus

pytestmark = pytest.mark.slow


@pytest.fixture
def corpus(tmp_path) -> Path:
    return write_corpus(tmp_path / "reviews.txt", nsmc(300)["document"].tolist())


def object_digests(s3, store_url: str) -> dict[str, dict[str, str]]:
    """{stage: {file: SHA-256 of the object's bytes}} of the latest run, read from the bucket itself."""
    fs = s3.fs
    prefix = store_url[len("s3://"):]
    record = json.loads(fs.cat_file(f"{prefix}/runs/latest.json"))
    found = {}
    for name, stage in record["stages"].items():
        manifest = json.loads(fs.cat_file(f"{prefix}/{stage['path']}/_manifest.json"))
        found[name] = {
            file: hashlib.sha256(fs.cat_file(f"{prefix}/{meta['object']}")).hexdigest()
            for file, meta in manifest["files"].items()
        }
    return found


def test_a_run_on_s3_equals_the_local_run_and_a_fresh_machine_reuses_it(s3, corpus, tmp_path, monkeypatch):
    local = run_chain(tmp_path / "local", corpus)
    s3.fs.put(str(corpus), f"{s3.name}/corpora/reviews.txt")
    store_url, corpus_url = s3.url("store"), s3.url("corpora", "reviews.txt")

    remote = run_chain(store_url, corpus_url)
    fingerprints = {name: stage["fingerprint"] for name, stage in local["stages"].items()}
    assert {name: stage["fingerprint"] for name, stage in remote["stages"].items()} == fingerprints
    assert not any(stage["cached"] for stage in remote["stages"].values())
    expected = outputs(tmp_path / "local")
    assert object_digests(s3, store_url) == expected  # the objects are byte-identical to the local files
    assert verify(ArtifactStore(store_url)) == {**verify(ArtifactStore(store_url)), "problems": [], "leftovers": []}

    # Another machine: nothing on its disk; every stage comes from the bucket, nothing recomputed.
    monkeypatch.setenv("KOPREP_CACHE_DIR", str(tmp_path / "fresh-machine"))
    again = run_chain(store_url, corpus_url)
    assert all(stage["cached"] for stage in again["stages"].values())
    assert outputs(store_url) == expected

    # Every shard part of the tokenize entry is the shard entry's object, referred to, not copied.
    manifest = json.loads(s3.fs.cat_file(f"{s3.name}/store/tokenize/{fingerprints['tokenize']}/_manifest.json"))
    parts = [meta["object"] for name, meta in manifest["files"].items() if name.startswith("part-")]
    assert len(parts) > 1 and all(obj.startswith("tokenize-shard/") for obj in parts)
    assert not s3.fs.glob(f"{s3.name}/store/tokenize/{fingerprints['tokenize']}/*/part-*")


def test_three_machines_computing_at_once_leave_one_entry_each_and_all_finish(s3, tmp_path):
    corpus = write_corpus(tmp_path / "reviews.txt", nsmc(3000)["document"].tolist())
    store_url = s3.url("store")
    code = textwrap.dedent(f"""
        import json
        from tests.robust.chain import run_chain
        print(json.dumps(run_chain({store_url!r}, {str(corpus)!r}, {{"run.shard_size": 500}})))
    """)
    machines = [
        subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env={**s3.machine(tmp_path / f"machine-{i}"), "PYTHONPATH": str(REPO)})
        for i in range(3)
    ]
    results = [(p.wait(timeout=600), *p.communicate()) for p in machines]
    for code_, _, stderr in results:
        assert code_ == 0, stderr[-3000:]
    summaries = [json.loads(stdout.strip().splitlines()[-1]) for _, stdout, _ in results]
    assert len({json.dumps({n: s["fingerprint"] for n, s in summary["stages"].items()}) for summary in summaries}) == 1

    # Exactly one committed attempt per entry: the losers of each commit removed their uploads.
    store = ArtifactStore(store_url)
    for entry in stored_entries(store):
        assert entry.complete
        attempts = {key.split("/")[-2] for key in s3.fs.find(f"{s3.name}/store/{entry.stage}/{entry.fingerprint}")
                    if not key.endswith("_manifest.json")}
        assert len(attempts) <= 1, (entry.stage, attempts)  # none when every file refers to shard entries' objects
    report = verify(store)
    assert report["problems"] == [] and report["leftovers"] == []
    local = run_chain(tmp_path / "local", corpus, {"run.shard_size": 500})
    assert {n: s["fingerprint"] for n, s in local["stages"].items()} == {
        n: s["fingerprint"] for n, s in summaries[0]["stages"].items()}
    assert object_digests(s3, store_url) == outputs(tmp_path / "local")


def test_verify_finds_damaged_and_missing_objects_and_sweep_takes_only_abandoned_uploads(s3, corpus, monkeypatch):
    store_url = s3.url("store")
    summary = run_chain(store_url, corpus)
    prefix = f"{s3.name}/store"
    tfidf = summary["stages"]["tfidf"]["fingerprint"]
    manifest = json.loads(s3.fs.cat_file(f"{prefix}/tfidf/{tfidf}/_manifest.json"))
    victim = next(meta["object"] for name, meta in manifest["files"].items() if name.endswith(".parquet"))
    s3.fs.pipe_file(f"{prefix}/{victim}", b"not parquet")
    word2vec = summary["stages"]["word2vec"]["fingerprint"]
    w2v = json.loads(s3.fs.cat_file(f"{prefix}/word2vec/{word2vec}/_manifest.json"))
    s3.fs.rm_file(f"{prefix}/{next(iter(w2v['files'].values()))['object']}")
    # An abandoned upload (a writer killed before its commit) and a live one (just uploaded).
    s3.fs.pipe_file(f"{prefix}/bow/{'0' * 32}/20200101T000000-dead/part.parquet", b"x")

    problems = {p["path"]: p["detail"] for p in verify(ArtifactStore(store_url))["problems"]}
    assert "damaged" in problems[f"tfidf/{tfidf}"] and "missing" in problems[f"word2vec/{word2vec}"]

    store = ArtifactStore(store_url)
    assert store.sweep() == []  # younger than the grace period: maybe a live writer
    monkeypatch.setenv("KOPREP_UPLOAD_GRACE_SECONDS", "0")
    assert [str(p) for p in store.sweep()] == [f"bow/{'0' * 32}/20200101T000000-dead"]
    assert verify(store)["leftovers"] == []

    # A damaged entry is not used: the next run recomputes it (replacing the manifest).
    monkeypatch.setenv("KOPREP_CACHE_DIR", str(Path(os.environ["KOPREP_CACHE_DIR"]) / "fresh"))
    again = run_chain(store_url, corpus)
    assert not again["stages"]["tfidf"]["cached"] and not again["stages"]["word2vec"]["cached"]
    assert again["stages"]["bow"]["cached"]
    assert verify(store)["problems"] == []

    plan = plan_gc(store, keep_runs=0, grace_seconds=0)
    collect_garbage(store, plan)
    assert s3.fs.find(prefix) == []  # no run kept: every entry and attempt is gone


def test_pandas_pyarrow_duckdb_and_polars_read_a_run_from_the_bucket(s3, corpus):
    import duckdb
    import pandas as pd
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs
    from fsspec.implementations.arrow import ArrowFSWrapper  # noqa: F401 - pyarrow reads through fsspec

    from koprep.loaders import open_run

    run_chain(s3.url("store"), corpus)
    run = open_run(s3.url("store"))
    expected = pd.read_parquet(run.path("tokenize"))
    urls = run.urls("tokenize")
    assert len(urls) > 1 and all(url.startswith(f"s3://{s3.name}/store/tokenize-shard/") for url in urls)
    options = {"endpoint_url": s3.endpoint}  # credentials from the AWS environment

    with_pandas = pd.concat([pd.read_parquet(url, storage_options=options) for url in urls], ignore_index=True)
    pd.testing.assert_frame_equal(with_pandas, expected)

    fs = pafs.PyFileSystem(pafs.FSSpecHandler(s3.fs))
    with_arrow = ds.dataset([url[len("s3://"):] for url in urls], filesystem=fs, format="parquet").to_table().to_pandas()
    pd.testing.assert_frame_equal(with_arrow, expected)

    con = duckdb.connect()
    con.register_filesystem(s3.fs)
    listing = ", ".join(f"'{url}'" for url in urls)
    with_duckdb = con.sql(f"SELECT * FROM read_parquet([{listing}])").df()
    assert with_duckdb["doc_id"].tolist() == expected["doc_id"].tolist()
    assert [list(t) for t in with_duckdb["tokens"]] == [list(t) for t in expected["tokens"]]

    polars = pytest.importorskip("polars")
    polar_options = {"aws_endpoint_url": s3.endpoint, "aws_allow_http": "true", "aws_region": "us-east-1"}
    with_polars = polars.concat([polars.read_parquet(url, storage_options=polar_options) for url in urls])
    assert with_polars["doc_id"].to_list() == expected["doc_id"].tolist()


def test_the_read_through_cache_downloads_once_and_stays_within_its_bound(s3, corpus, tmp_path, monkeypatch):
    from koprep.loaders import open_run

    run_chain(s3.url("store"), corpus)
    monkeypatch.setenv("KOPREP_CACHE_DIR", str(tmp_path / "reader"))
    first = open_run(s3.url("store")).matrix("tfidf")
    cached = sorted((tmp_path / "reader").glob("stores/*/tfidf/*/*.parquet"))
    stamps = [path.stat().st_mtime_ns for path in cached]
    second = open_run(s3.url("store")).matrix("tfidf")
    assert (second.matrix != first.matrix).nnz == 0 and second.doc_ids == first.doc_ids
    assert cached and [path.stat().st_mtime_ns for path in cached] == stamps  # not downloaded again

    monkeypatch.setenv("KOPREP_CACHE_DIR", str(tmp_path / "small"))
    monkeypatch.setenv("KOPREP_CACHE_BYTES", "1")  # every download evicts the others
    run = open_run(s3.url("store"))
    run.matrix("bow")
    run.matrix("tfidf")
    assert [p.parent.parent.name for p in (tmp_path / "small").glob("stores/*/*/*/_manifest.json")] == ["tfidf"]
