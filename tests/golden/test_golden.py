"""Each golden case run afresh against expected.json, and proof that the comparison catches what it must.

A case fails when a stage's output changed while its code version did not (bump the VERSION of the
stage's module), when a fingerprint changed with the same code version and settings (a key-format
change: every stored entry would be recomputed), when its code version changed (re-record the golden
file on purpose), or when a stage is missing or unexpected. All of a case's problems are reported in
one assertion. Stages whose fingerprints hold a library version other than the recorded one are
skipped, with the reason, rather than failed.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.golden import EXPECTED, load_expected
from tests.golden.cases import CASES, Case, corpus_digest, library_versions, run_case
from tests.golden.compare import compare, skipped_stages
from tests.golden.digest import snapshot

GOLDEN = load_expected()
UPDATE = "python -m tests.golden --update --case {}"


def golden_stages(name: str) -> dict[str, dict[str, Any]]:
    return copy.deepcopy(GOLDEN[name]["stages"])


def check_case(case: Case, tmp_path) -> None:
    expected = GOLDEN.get(case.name)
    if expected is None:
        pytest.fail(f"case {case.name} is not in {EXPECTED.name}: record it with `{UPDATE.format(case.name)}`", pytrace=False)
    if expected["overrides"] != case.overrides:
        pytest.fail(
            f"case {case.name}'s settings {case.overrides} are not the recorded ones {expected['overrides']}: "
            f"re-record it on purpose with `{UPDATE.format(case.name)}`", pytrace=False,
        )
    if corpus_digest(case) != expected["corpus"]:
        pytest.skip(f"case {case.name}'s corpus differs from the recorded one (konlpy's bundled corpus changed?)")
    skipped = skipped_stages(expected["libraries"], library_versions(case), case.libraries)
    store = tmp_path / "store"
    run_case(store, case)
    problems = compare(expected["stages"], snapshot(store), frozenset(skipped))
    if problems:
        pytest.fail(f"golden case {case.name} ({case.overrides}):\n" + "\n".join(f"- {p}" for p in problems), pytrace=False)
    if skipped:
        reasons = sorted(set(skipped.values()))
        pytest.skip(f"case {case.name}: stages {', '.join(sorted(skipped))} not compared: {'; '.join(reasons)}")


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=[pytest.mark.slow] if case.slow else []) for name, case in CASES.items()]
)
def test_golden_case(name: str, tmp_path) -> None:
    check_case(CASES[name], tmp_path)


# --------------------------------------------------------------- the comparison can fail
def test_the_golden_file_records_every_case() -> None:
    assert sorted(GOLDEN) == sorted(CASES), "re-record with `python -m tests.golden --update`"
    for name, case in CASES.items():
        assert sorted(GOLDEN[name]["libraries"]) == sorted(case.libraries)


def test_the_whitespace_case_pins_every_stage_it_runs() -> None:
    assert sorted(GOLDEN["whitespace"]["stages"]) == sorted(
        ["clean-shard", "clean", "tokenize-shard", "tokenize", "bow", "ngram", "tfidf", "chargram", "phrases", "word2vec",
         "fasttext"]
    )
    assert len(GOLDEN["whitespace"]["stages"]["clean-shard"]["fingerprints"]) > 2
    assert "model" in GOLDEN["soynlp-word"]["stages"]


def test_the_golden_file_matches_itself() -> None:
    for name in CASES:
        assert compare(golden_stages(name), golden_stages(name)) == []


def test_an_output_change_without_a_code_version_change_fails() -> None:
    actual = golden_stages("whitespace")
    actual["bow"]["files"]["matrix.parquet"] = "0" * 16
    problems = compare(golden_stages("whitespace"), actual)
    assert len(problems) == 1, problems
    assert "stage bow's output changed but its code version did not: bump VERSION in koprep/stages/vectorize.py" in problems[0]
    assert "matrix.parquet" in problems[0]


def test_a_shard_output_change_blames_the_shard_stage_and_lists_what_follows() -> None:
    actual = golden_stages("whitespace")
    actual["tokenize-shard"]["digest"] = "0" * 16
    actual["tokenize"]["files"]["part-00001.parquet"] = "0" * 16
    actual["bow"]["files"]["matrix.parquet"] = "0" * 16
    problems = compare(golden_stages("whitespace"), actual)
    assert len(problems) == 2, problems
    assert "stage tokenize-shard's output changed but its code version did not: bump VERSION in koprep/stages/tokenize.py" in problems[0]
    assert problems[1] == "also changed, as the changes above make them (upstream keys or data): the outputs of tokenize, bow"


def test_a_code_version_change_asks_for_an_update_on_purpose() -> None:
    expected, actual = golden_stages("whitespace"), golden_stages("whitespace")
    for stage, record in actual.items():  # as bumping clean's VERSION would: new keys all the way down
        if stage.startswith("clean"):
            record["code_version"] = "4"
        if "fingerprints" in record:
            record["fingerprints"] = [fp[::-1] for fp in record["fingerprints"]]
        else:
            record["fingerprint"] = record["fingerprint"][::-1]
    actual["clean"]["files"]["part-00000.parquet"] = "0" * 16
    problems = compare(expected, actual)
    assert problems[0].startswith("stage clean-shard's code version changed (3 → 4): update the golden file on purpose")
    assert problems[1].startswith("stage clean's code version changed (3 → 4)")
    assert "python -m tests.golden --update" in problems[0]
    assert len(problems) == 3 and problems[2].startswith("also changed, as the changes above make them"), problems
    assert "key-format" not in "\n".join(problems)


def test_a_fingerprint_change_with_the_same_code_version_fails() -> None:
    actual = golden_stages("whitespace")
    actual["tfidf"]["fingerprint"] = "f" * 32
    problems = compare(golden_stages("whitespace"), actual)
    assert len(problems) == 1, problems
    assert problems[0].startswith(
        "the fingerprint of stage tfidf changed with the same code version and settings: every stored entry would be "
        "recomputed (a key-format change)"
    )


def test_missing_and_unexpected_stages_fail_by_name() -> None:
    actual = golden_stages("whitespace")
    del actual["phrases"]
    actual["lemmas"] = {"code_version": "1", "fingerprint": "a" * 32, "files": {}}
    problems = compare(golden_stages("whitespace"), actual)
    assert any(p.startswith("stage phrases left no entry in the store") for p in problems), problems
    assert any(p.startswith("unexpected stage lemmas in the store") for p in problems), problems


def test_word2vec_vectors_are_compared_within_a_tolerance() -> None:
    def shifted(by: float) -> dict[str, dict[str, Any]]:
        actual = golden_stages("whitespace")
        sample = actual["word2vec"]["sample"]
        word = sorted(sample)[0]
        sample[word] = " ".join(f"{float(x) + by:.6f}" for x in sample[word].split())
        return actual

    assert compare(golden_stages("whitespace"), shifted(4e-4)) == []
    problems = compare(golden_stages("whitespace"), shifted(4e-3))
    assert len(problems) == 1 and "stage word2vec's output changed" in problems[0], problems
    assert "koprep/stages/embed.py" in problems[0]


def test_a_changed_library_version_skips_the_stages_it_enters() -> None:
    case = CASES["okt"]
    recorded = {"gensim": "0.0.1", "konlpy": GOLDEN["okt"]["libraries"]["konlpy"]}
    skipped = skipped_stages(recorded, {**recorded, "gensim": "9.9"}, case.libraries)
    assert sorted(skipped) == ["fasttext", "phrases", "word2vec"]
    assert "gensim 9.9 is installed, the golden file was made with 0.0.1" in skipped["word2vec"]
    actual = golden_stages("okt")
    actual["word2vec"]["fingerprint"] = "0" * 32
    assert compare(golden_stages("okt"), actual, frozenset(skipped)) == []
    konlpy = skipped_stages(recorded, {**recorded, "konlpy": "9.9"}, case.libraries)
    assert "tokenize" in konlpy and "bow" in konlpy and "clean" not in konlpy
