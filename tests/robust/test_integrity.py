"""Integrity and portability of the store: damaged artifacts are detected when loaded or reused
and recomputed, `koprep verify` checks a whole store, nothing is unpickled, no absolute path of
the writing machine is stored, and a moved store loads and is fully reused."""

from __future__ import annotations

import json
import logging
import pickle
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from koprep.cli import main
from koprep.loaders import open_run
from koprep.store import CorruptArtifactError, StoreError
from tests.helpers import nsmc
from tests.unit.korean_samples import law_documents
from tests.robust.chain import STAGES, outputs, run_chain, write_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "laws.txt", list(law_documents()[:60]))


@pytest.fixture
def store_dir(tmp_path, corpus) -> Path:
    run_chain(tmp_path / "artifacts", corpus)
    return tmp_path / "artifacts"


def cached(summary) -> dict[str, bool]:
    return {name: stage["cached"] for name, stage in summary["stages"].items()}


def verify(capsys, root: Path) -> tuple[int, dict]:
    code = main(["verify", "--artifacts", str(root), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_truncated_artifact_is_refused_on_load_reported_by_verify_and_recomputed(store_dir, corpus, capsys, caplog):
    reference = outputs(store_dir)
    matrix = open_run(store_dir).path("tfidf") / "matrix.parquet"
    matrix.write_bytes(matrix.read_bytes()[:-100])

    with pytest.raises(CorruptArtifactError, match=r"tfidf/\w+ .* is corrupt: file matrix.parquet has \d+ bytes"):
        open_run(store_dir).matrix("tfidf")
    code, report = verify(capsys, store_dir)
    assert code == 3
    assert [(p["kind"], p["path"].split("/")[0]) for p in report["problems"]] == [("corrupt", "tfidf")]
    assert main(["similar", "영화", "--artifacts", str(store_dir)]) in (0, 1)  # word2vec is intact: usable
    capsys.readouterr()

    with caplog.at_level(logging.WARNING, logger="koprep"):
        again = run_chain(store_dir, corpus)
    assert cached(again) == {name: name != "tfidf" for name in STAGES}
    assert "is corrupt (file matrix.parquet has" in caplog.text and "recomputed" in caplog.text
    assert outputs(store_dir) == reference
    assert verify(capsys, store_dir) == (0, {**verify(capsys, store_dir)[1], "problems": []})


def test_same_size_alteration_is_detected_on_reuse(store_dir, corpus):
    reference = outputs(store_dir)
    vectors = open_run(store_dir).path("word2vec") / "vectors.bin"
    data = bytearray(vectors.read_bytes())
    data[-1] ^= 0xFF  # same size, new mtime
    vectors.write_bytes(bytes(data))
    with pytest.raises(CorruptArtifactError, match="does not match the SHA-256"):
        open_run(store_dir).word_vectors()
    assert cached(run_chain(store_dir, corpus)) == {name: name != "word2vec" for name in STAGES}
    assert outputs(store_dir) == reference


def test_verify_reports_run_records_whose_entries_are_gone(store_dir, capsys):
    shutil.rmtree(open_run(store_dir).path("bow"))
    code, report = verify(capsys, store_dir)
    assert code == 3
    assert {p["kind"] for p in report["problems"]} == {"missing"}
    assert all("stage bow" in p["detail"] for p in report["problems"])
    assert main(["verify", "--artifacts", str(store_dir / "nope")]) == 2


def test_moved_store_loads_and_is_fully_reused(store_dir, corpus, tmp_path):
    reference = outputs(store_dir)
    texts = [p.read_text(encoding="utf-8") for p in store_dir.rglob("*.json")]
    assert texts and not any(str(tmp_path) in t for t in texts)  # no absolute path of this machine

    moved = tmp_path / "elsewhere" / "store"
    moved.parent.mkdir()
    shutil.move(store_dir, moved)
    run = open_run(moved)
    assert run.path("tfidf").parent.parent == moved
    assert run.matrix("tfidf").matrix.shape[0] == 60 and len(run.word_vectors()) > 0
    assert cached(run_chain(moved, corpus)) == {name: True for name in STAGES}
    assert outputs(moved) == reference

    copied = tmp_path / "copied"  # cp -r without times: files are hashed once, still valid
    shutil.copytree(moved, copied, copy_function=shutil.copyfile)
    assert cached(run_chain(copied, corpus)) == {name: True for name in STAGES}


def test_nothing_is_unpickled_when_loading_a_run(store_dir, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle used to load an artifact")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    run = open_run(store_dir)
    assert len(run.tokens()) == 60 and len(run.clean()) == 60
    for stage in ("bow", "ngram", "tfidf"):
        assert run.matrix(stage).matrix.shape[0] == 60
    assert run.transform(["대한민국은 민주공화국이다"], "tfidf").shape[0] == 1
    assert run.similar(run.word_vectors().index_to_key[0], topn=3)


def test_run_records_cannot_point_outside_the_store(store_dir, tmp_path):
    record = store_dir / "runs" / "latest.json"
    summary = json.loads(record.read_text(encoding="utf-8"))
    outside = tmp_path / "outside"
    shutil.copytree(store_dir / "tfidf", outside)
    summary["stages"]["tfidf"]["path"] = "../outside/" + next(outside.iterdir()).name
    record.write_text(json.dumps(summary), encoding="utf-8")
    with pytest.raises(StoreError, match="outside the artifact store"):
        open_run(store_dir).matrix("tfidf")


def test_empty_documents_are_kept_with_their_ids_and_counted(tmp_path, caplog):
    lines = list(law_documents()[:30])
    lines[3] = ""          # empty
    lines[7] = "   \t "    # whitespace only
    lines[12] = "★★★ !!!"  # cleans to nothing
    corpus = write_corpus(tmp_path / "holes.txt", lines)
    with caplog.at_level(logging.WARNING, logger="koprep"):
        summary = run_chain(tmp_path / "artifacts", corpus)
    assert "2 of 30 documents" in caplog.text and "ids 3, 7" in caplog.text
    assert "1 of 30 documents" in caplog.text and "ids 12" in caplog.text
    extra = summary["stages"]["clean"]["extra"]
    assert (extra["empty_documents"], extra["empty_after_clean"]) == (2, 3)
    clean = open_run(tmp_path / "artifacts").clean()
    assert clean["doc_id"].tolist() == [str(i) for i in range(30)]  # no id shifted
    assert clean.loc[clean["doc_id"] == "13", "text"].item() != ""
    tokens = open_run(tmp_path / "artifacts").tokens().set_index("doc_id")["tokens"]
    assert [len(tokens[i]) for i in ("3", "7", "12")] == [0, 0, 0] and len(tokens["4"]) > 0


def test_a_line_separator_inside_a_document_does_not_shift_ids(tmp_path):
    """str.splitlines() would cut at U+2028 / form feed / NEL and shift every later id."""
    from koprep.corpus import CorpusParams, read_corpus

    path = tmp_path / "separators.txt"
    path.write_text("첫째 문서\u2028같은 문서\n둘째\x0c문서\r\n셋째 \x85 문서\n", encoding="utf-8")
    frame = read_corpus(str(path), CorpusParams())
    assert frame["doc_id"].tolist() == ["0", "1", "2"]
    assert frame["text"].tolist() == ["첫째 문서\u2028같은 문서", "둘째\x0c문서", "셋째 \x85 문서"]


@pytest.mark.slow
def test_a_10_mb_document_works(tmp_path):
    """One 10 MB document beside a short one: cleaned, tokenized and counted, with ids intact."""
    import resource
    import time

    from koprep.config import load_config
    from koprep.pipeline.runner import execute
    from koprep.plan import build_plan
    from koprep.store import ArtifactStore

    reviews = " ".join(nsmc(20000)["document"])
    big = (reviews * (10_000_000 // len(reviews.encode()) + 1)).encode()[:10_000_000].decode("utf-8", "ignore")
    corpus = write_corpus(tmp_path / "big.txt", [big, "짧은 문서"])
    store, config = ArtifactStore(tmp_path / "artifacts"), load_config(None, {"run.stages": ["bow"]}, "whitespace")
    started = time.perf_counter()
    plan = build_plan(store, str(corpus), config)
    plan.preflight()
    results = execute(plan)
    tokens, bow = results["tokenize"], results["bow"]
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"10 MB document: clean+tokenize+bow {seconds:.1f} s, peak RSS {peak_mb:.0f} MB")
    frame = pd.read_parquet(tokens.path)
    assert frame["doc_id"].tolist() == ["0", "1"]
    assert len(frame["tokens"][0]) > 500_000 and list(frame["tokens"][1]) == ["짧은", "문서"]
    assert bow.extra["terms"] > 1000


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "analogies file .* does not exist"),
        (b"just some words\n", "holds no analogy items; expected ': section' headers"),
        (": 가족\n아버지 어머니 아들 딸\n".encode("cp949"), "is not UTF-8"),
    ],
)
def test_bad_evaluation_file_exits_2_with_the_reason(store_dir, tmp_path, capsys, content, message):
    path = tmp_path / "analogies.txt"
    if content is not None:
        path.write_bytes(content)
    assert main(["evaluate", "--analogies", str(path), "--artifacts", str(store_dir)]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err
    assert not list(store_dir.glob("evaluate/*"))
