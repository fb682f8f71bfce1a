"""The artifact store: fingerprints, atomic publication, corrupt entries, path safety."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from koprep.maintenance import verify
from koprep.runs import RunRecord
from koprep.store import MANIFEST, ArtifactStore, StoreError, fingerprint


def write_entry(store: ArtifactStore, stage: str, fp: str, payload: bytes = b"data") -> None:
    with store.writing(stage, fp, {"params": {}}) as pending:
        (pending.path / "part-00000.parquet").write_bytes(payload)
        pending.manifest["rows"] = 1


def test_fingerprint_changes_with_each_input():
    base = fingerprint("clean", "1", {"a": 1}, {"corpus": "x"})
    assert base == fingerprint("clean", "1", {"a": 1}, {"corpus": "x"})
    variants = [
        fingerprint("tokenize", "1", {"a": 1}, {"corpus": "x"}),
        fingerprint("clean", "2", {"a": 1}, {"corpus": "x"}),
        fingerprint("clean", "1", {"a": 2}, {"corpus": "x"}),
        fingerprint("clean", "1", {"a": 1}, {"corpus": "y"}),
    ]
    assert len({base, *variants}) == 5
    # key order must not matter
    assert fingerprint("s", "1", {"a": 1, "b": 2}, {}) == fingerprint("s", "1", {"b": 2, "a": 1}, {})


def test_published_entry_is_complete_and_found(tmp_path):
    store = ArtifactStore(tmp_path)
    write_entry(store, "clean", "f" * 32)
    entry = store.lookup("clean", "f" * 32)
    assert entry is not None
    assert entry.manifest["rows"] == 1
    assert entry.manifest["files"]["part-00000.parquet"]["bytes"] == 4
    assert not list((tmp_path / "clean").glob(".tmp-*"))


def test_failed_write_leaves_nothing(tmp_path):
    store = ArtifactStore(tmp_path)
    with pytest.raises(RuntimeError):
        with store.writing("clean", "a" * 32, {}) as pending:
            (pending.path / "part-00000.parquet").write_bytes(b"half")
            raise RuntimeError("killed mid-write")
    assert store.lookup("clean", "a" * 32) is None
    assert list((tmp_path / "clean").iterdir()) == []


@pytest.mark.parametrize("damage", ["truncate", "delete_file", "delete_manifest", "garble_manifest"])
def test_damaged_entry_is_not_a_cache_hit(tmp_path, damage):
    store = ArtifactStore(tmp_path)
    fp = "b" * 32
    write_entry(store, "clean", fp, b"0123456789")
    path = store.entry_path("clean", fp)
    if damage == "truncate":
        (path / "part-00000.parquet").write_bytes(b"01234")
    elif damage == "delete_file":
        (path / "part-00000.parquet").unlink()
    elif damage == "delete_manifest":
        (path / MANIFEST).unlink()
    else:
        (path / MANIFEST).write_text("{not json")
    assert store.lookup("clean", fp) is None
    # and a new write replaces the broken folder
    write_entry(store, "clean", fp, b"0123456789")
    assert store.lookup("clean", fp) is not None


def test_same_size_alteration_is_caught_by_its_mtime_and_by_verify(tmp_path):
    """Reuse trusts a file only while its size and mtime are the ones recorded: an edit that keeps
    the size changes the mtime, so the file is hashed and refused. An edit that also restores the
    mtime (bit rot, `touch -r`) passes the cheap check; the full check (`verify`) still hashes it."""
    store = ArtifactStore(tmp_path)
    fp = "c" * 32
    write_entry(store, "clean", fp, b"0123456789")
    part = store.entry_path("clean", fp) / "part-00000.parquet"
    recorded = store.lookup("clean", fp).manifest["files"]["part-00000.parquet"]["mtime_ns"]
    part.write_bytes(b"9876543210")
    assert store.lookup("clean", fp) is None
    os.utime(part, ns=(recorded, recorded))
    assert store.lookup("clean", fp) is not None
    assert store.lookup("clean", fp, verify=True) is None
    report = verify(store)
    assert [p["kind"] for p in report["problems"]] == ["corrupt"]
    assert "SHA-256" in report["problems"][0]["detail"]


def test_moved_entry_with_new_mtimes_is_hashed_and_still_valid(tmp_path):
    """A store copied without file times (cp -r) costs a hash per file, but stays valid."""
    store = ArtifactStore(tmp_path)
    write_entry(store, "clean", "9" * 32, b"0123456789")
    part = store.entry_path("clean", "9" * 32) / "part-00000.parquet"
    os.utime(part, ns=(1, 1))
    assert store.lookup("clean", "9" * 32) is not None


def test_killed_writer_leaves_store_consistent(tmp_path):
    """A process killed while writing leaves only a temporary folder, which is never a cache hit
    and which `sweep` removes."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from koprep.store import ArtifactStore
        store = ArtifactStore({str(tmp_path)!r})
        with store.writing("clean", "d" * 32, {{}}) as pending:
            (pending.path / "part-00000.parquet").write_bytes(b"partial")
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script])
    assert proc.returncode == -9
    store = ArtifactStore(tmp_path)
    assert store.lookup("clean", "d" * 32) is None
    leftovers = list((tmp_path / "clean").glob(".tmp-*"))
    assert len(leftovers) == 1
    assert store.sweep() == leftovers
    assert list((tmp_path / "clean").iterdir()) == []


def test_concurrent_publication_keeps_one_complete_entry(tmp_path):
    store = ArtifactStore(tmp_path)
    fp = "e" * 32
    with store.writing("clean", fp, {}) as first:
        (first.path / "x").write_bytes(b"1")
        write_entry(store, "clean", fp, b"2")  # another run finishes first
    entry = store.lookup("clean", fp)
    assert entry is not None
    assert (entry.path / "part-00000.parquet").read_bytes() == b"2"


@pytest.mark.parametrize("bad", ["../outside", "/etc", "a/../../b"])
def test_paths_cannot_escape_the_root(tmp_path, bad):
    store = ArtifactStore(tmp_path / "store")
    with pytest.raises(StoreError):
        store.inside(bad)
    with pytest.raises(StoreError):
        store.open_entry(bad)


def test_symlink_escape_is_refused(tmp_path):
    (tmp_path / "store").mkdir()
    (tmp_path / "secret").mkdir()
    os.symlink(tmp_path / "secret", tmp_path / "store" / "link")
    with pytest.raises(StoreError):
        ArtifactStore(tmp_path / "store").inside("link")


@pytest.mark.parametrize("name", ["..", "a/b", "", "x\0y"])
def test_stage_and_run_names_are_checked(tmp_path, name):
    store = ArtifactStore(tmp_path)
    with pytest.raises(StoreError):
        store.entry_path(name, "f" * 32)
    with pytest.raises(StoreError):
        store.read_run(name)


def test_runs_are_recorded_and_latest_points_to_newest(tmp_path):
    store = ArtifactStore(tmp_path)
    store.record_run(RunRecord(run_id="r1", stages={}))
    store.record_run(RunRecord(run_id="r2", stages={}))
    assert store.read_run().run_id == "r2"
    assert store.read_run("r1").run_id == "r1"
    with pytest.raises(StoreError, match="known runs: latest, r1, r2"):
        store.read_run("nope")
    assert json.loads((tmp_path / "runs" / "r1.json").read_text())["run_id"] == "r1"
