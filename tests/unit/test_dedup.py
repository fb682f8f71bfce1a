"""The dedup stage: exact duplicates as pandas finds them, near-duplicates whose true Jaccard
similarity reaches the threshold, and a run that chooses it (drop: later stages never see a
duplicate; mark: every document stays, with its group) while runs that do not choose it keep their
keys."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from koprep.config import ConfigError, load_config
from koprep.errors import exit_code_for
from koprep.pipeline.datasets import MatrixFiles, Parts
from koprep.stages.dedup import DedupParams, find_duplicates, jaccard, shingles
from koprep.store import ArtifactStore
from tests.helpers import NSMC_TRAIN, require
from tests.runs import run_stages

REVIEWS = [
    "아 더빙.. 진짜 짜증나네요 목소리",
    "흠...포스터보고 초딩영화줄....오버연기조차 가볍지 않구나",
    "너무재밓었다그래서보는것을추천한다",
    "교도소 이야기구먼 ..솔직히 재미는 없다..평점 조정",
    "사이몬페그의 익살스런 연기가 돋보였던 영화!스파이더맨에서 늙어보이기만 했던 커스틴 던스트가 너무나도 이뻐보였다",
    "막 걸음마 뗀 3세부터 초등학교 1학년생인 8살용영화.ㅋㅋㅋ...별반개도 아까움.",
    "원작의 긴장감을 제대로 살려내지못했다.",
    "별 반개도 아깝다 욕나온다 이응경 길용우 연기생활이몇년인지..정말 발로해도 그것보단 낫겟다",
    "액션이 없는데도 재미 있는 몇안되는 영화",
    "왜케 평점이 낮은건데? 꽤 볼만한데.. 헐리우드식 화려함에만 너무 길들여져 있나?",
]


def _corpus(tmp_path: Path) -> tuple[Path, list[str]]:
    texts = list(REVIEWS)
    texts.insert(3, REVIEWS[0])  # exact
    texts.insert(6, REVIEWS[4].replace("영화!", "영화! 강추"))  # near: a word more
    texts.append(REVIEWS[7].replace("낫겟다", "낫겠다"))  # near: a typo fixed
    texts.append(REVIEWS[1])  # exact
    path = tmp_path / "reviews.tsv"
    pd.DataFrame({"id": [str(100 + i) for i in range(len(texts))], "document": texts,
                  "label": [i % 2 for i in range(len(texts))]}).to_csv(path, sep="\t", index=False)
    return path, texts


def test_exact_duplicates_are_what_pandas_finds_and_the_first_is_kept():
    texts = ["좋아요", "별로", "좋아요", "", "", "별로", "좋아요 "]
    found = find_duplicates(texts, DedupParams(near=False))
    assert found.duplicate.tolist() == pd.Series(texts).duplicated().tolist()
    assert found.cluster.tolist() == [0, 1, 0, 3, 3, 1, 6]
    assert found.counts() == {"exact": 3, "near": 0, "clusters": 3}


def test_near_duplicates_reach_the_threshold_on_their_true_shingle_sets(tmp_path):
    _, texts = _corpus(tmp_path)
    found = find_duplicates(texts, DedupParams())
    pairs = [(texts[i], texts[c]) for i, (c, k) in enumerate(zip(found.cluster, found.kind)) if k == "near"]
    assert len(pairs) == 2
    assert all(jaccard(shingles(a, 3), shingles(b, 3)) >= 0.8 for a, b in pairs)
    assert {b for _, b in pairs} == {REVIEWS[4], REVIEWS[7]}
    # a stricter threshold than the typo pair's similarity leaves it out
    typo = jaccard(shingles(REVIEWS[7], 3), shingles(REVIEWS[7].replace("낫겟다", "낫겠다"), 3))
    stricter = find_duplicates(texts, DedupParams(near=min(1.0, typo + 0.01)))
    assert stricter.counts()["near"] < 2
    # exact off: identical texts are near-duplicates (Jaccard 1) of the same first document
    assert find_duplicates(texts, DedupParams(exact=False)).counts() == {"exact": 0, "near": 4, "clusters": 4}


@pytest.mark.parametrize("setting", ["dedup.near=1.5", "dedup.near=0", "dedup.near=true", "dedup.mode=keep"])
def test_a_bad_setting_is_refused_before_any_work(setting):
    with pytest.raises(ConfigError, match="dedup") as raised:
        load_config(None, [setting])
    assert exit_code_for(raised.value) == 2


def _run(store: ArtifactStore, corpus: Path, stages: list[str], **settings: object):
    overrides = {"corpus.text_column": "document", "corpus.id_column": "id", "run.stages": stages, **settings}
    return run_stages(store, str(corpus), load_config(None, overrides, "whitespace"))


def test_a_run_with_dedup_drops_duplicates_before_tokens_and_features(tmp_path):
    corpus, texts = _corpus(tmp_path)
    store = ArtifactStore(tmp_path / "store")
    plain = _run(store, corpus, ["tfidf"])
    deduped = _run(store, corpus, ["dedup", "tfidf", "chargram"])
    assert "dedup" not in plain
    assert deduped["dedup"].rows == len(texts) - 4 and deduped["dedup"].extra["dropped"] == 4
    ids = [str(100 + i) for i in range(len(texts))]
    kept = [d for d in ids if d not in {"103", "106", "112", "113"}]
    assert [d for t in Parts.tables(deduped["dedup"].path, ["doc_id"]) for d in t.column("doc_id").to_pylist()] == kept
    for stage in ("tokenize", "tfidf", "chargram"):
        assert deduped[stage].rows == len(REVIEWS)
    for stage in ("tfidf", "chargram"):
        assert MatrixFiles.read(store.open_entry(deduped[stage].path)).doc_ids == kept
    # the clean and tokenize shards are shared; the run without dedup keeps its keys
    assert deduped["clean"].fingerprint == plain["clean"].fingerprint
    assert deduped["tokenize"].fingerprint != plain["tokenize"].fingerprint
    assert store.open_entry(deduped["tokenize"].path).manifest["shards"] == store.open_entry(plain["tokenize"].path).manifest["shards"]
    again = _run(store, corpus, ["tfidf"])
    assert again["tokenize"].fingerprint == plain["tokenize"].fingerprint and again["tokenize"].cached


def test_mark_mode_keeps_every_document_with_its_group(tmp_path):
    corpus, texts = _corpus(tmp_path)
    result = _run(ArtifactStore(tmp_path / "store"), corpus, ["dedup", "bow"], **{"dedup.mode": "mark"})
    assert result["dedup"].rows == result["bow"].rows == len(texts)
    table = pd.concat(pd.read_parquet(f) for f in Parts.part_files(result["dedup"].path))
    marked = table.dropna(subset=["duplicate"])
    assert sorted(marked["duplicate"]) == ["exact", "exact", "near", "near"]
    assert marked.set_index("doc_id")["duplicate_of"].to_dict() == {"103": "100", "106": "105", "112": "109", "113": "101"}


@pytest.mark.slow
def test_exact_duplicates_of_nsmc_train_are_what_pandas_finds_on_the_cleaned_text(tmp_path):
    """All 150,000 NSMC training reviews: the dedup stage's exact count equals pandas' duplicated() on the
    clean stage's very texts, and every near-duplicate it shows has a true shingle Jaccard >= 0.8."""
    corpus = require(NSMC_TRAIN)
    result = run_stages(ArtifactStore(tmp_path / "store"), str(corpus), load_config(None, {
        "corpus.text_column": "document", "corpus.id_column": "id", "run.stages": ["dedup"]}, "whitespace"))
    cleaned = pd.Series(list(Parts.texts(result["clean"].path)))
    found = result["dedup"].extra
    assert len(cleaned) == 150_000
    assert found["exact"] == int(cleaned.duplicated().sum()) > 3_000
    assert found["near"] > 0 and result["dedup"].rows == 150_000 - found["exact"] - found["near"]
    for example in found["examples"]["near"]:
        assert jaccard(shingles(example["text"], 3), shingles(example["original"], 3)) >= 0.8


def test_the_report_and_json_show_what_dedup_removed(tmp_path):
    from koprep import report
    from koprep.runs import RunRecord
    from tests.runs import record_pipeline_run

    corpus, _ = _corpus(tmp_path)
    store = ArtifactStore(tmp_path / "store")
    summary = record_pipeline_run(store, corpus, "run-1", overrides={
        "corpus.text_column": "document", "corpus.id_column": "id", "run.stages": ["dedup", "bow"]})
    assert summary["stages"]["dedup"]["rows"] == len(REVIEWS)
    _, data = report.write_report(store, RunRecord.model_validate(summary))
    page = report.render_html(data)
    assert "Duplicates (drop): 2 exact, 2 near" in page
    assert "113" in page and "101" in page  # an exact duplicate beside the document it repeats
    assert ("duplicates dropped (exact / near)", "2 / 2") in report.statistics(data)
