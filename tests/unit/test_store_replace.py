"""`ArtifactStore.writing(..., replace=True)`: the explicit replace path `koprep run --force` uses."""

from __future__ import annotations

from koprep.store import ArtifactStore


def test_store_replace_swaps_a_complete_entry_for_a_new_one(tmp_path):
    store = ArtifactStore(tmp_path)
    for payload, replace in ((b"old", False), (b"ignored", False), (b"new", True)):
        with store.writing("bow", "f" * 32, {"params": {}}, replace=replace) as pending:
            (pending.path / "matrix.parquet").write_bytes(payload)
            pending.manifest["rows"] = 1
    entry = store.lookup("bow", "f" * 32, verify=True)
    assert entry.file("matrix.parquet").read_bytes() == b"new"  # kept the first, then replaced on request
    assert sorted(p.name for p in (tmp_path / "bow").iterdir()) == ["f" * 32]
