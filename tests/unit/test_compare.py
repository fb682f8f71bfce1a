"""`koprep compare` on 600 labelled NSMC reviews with the whitespace and mecab backends: its JSON
matches its table, the numbers are sane, and a fold's accuracy is scikit-learn's on the same features."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from koprep import compare
from koprep.cli import main
from koprep.loaders import open_run
from tests.helpers import nsmc, write_nsmc

pytestmark = pytest.mark.slow  # NSMC reviews, mecab


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    path = tmp_path_factory.mktemp("compare") / "nsmc600.tsv"
    write_nsmc(path, 600)
    return path


@pytest.fixture(scope="module")
def compared(labelled, tmp_path_factory):
    artifacts = tmp_path_factory.mktemp("artifacts")
    argv = ["compare", str(labelled), "--label-column", "label", "--backend", "whitespace,mecab",
            "--preset", "classify,topic", "--folds", "3", "--artifacts", str(artifacts)]
    return artifacts, argv


def _table(lines: list[str]) -> list[dict]:
    header, *rows = lines
    assert header.split()[:7] == ["backend", "preset", "accuracy", "macro_f1", "std", "docs/s", "seconds"]
    parsed = []
    for row in rows:
        backend, preset, accuracy, macro_f1, std, docs_per_s, seconds, *_ = row.split()
        parsed.append({"backend": backend, "preset": preset, "accuracy": float(accuracy), "macro_f1": float(macro_f1),
                       "std": float(std), "docs_per_s": docs_per_s, "seconds": float(seconds)})
    return parsed


def test_compare_table_and_json_agree(compared, capsys):
    artifacts, argv = compared
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    record = json.loads(lines[-1])
    table = _table(lines[:-1])
    results = record["results"]
    assert [(r["backend"], r["preset"]) for r in results] == [
        ("whitespace", "classify"), ("mecab", "classify"), ("whitespace", "topic"), ("mecab", "topic"),
    ]
    assert len(table) == len(results)
    for row, result in zip(table, results):
        assert (row["backend"], row["preset"]) == (result["backend"], result["preset"])
        for key in ("accuracy", "macro_f1", "std"):
            assert row[key] == pytest.approx(result[key], abs=5e-5)
        assert float(row["docs_per_s"]) == pytest.approx(result["docs_per_s"], abs=0.5)
        assert 0.5 < result["accuracy"] < 1 and 0.5 < result["macro_f1"] < 1 and 0 <= result["std"] < 0.1
        assert result["docs_per_s"] > 0 and result["documents"] == 600
    by_key = {(r["backend"], r["preset"]): r for r in results}
    assert by_key[("mecab", "classify")]["features"] == ["tfidf", "chargram"]
    assert by_key[("mecab", "topic")]["features"] == ["tfidf"]

    # Second time: every stage comes from the cache, the scores are the same, and --json prints only JSON.
    assert main([*argv, "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    again = json.loads(out[0])["results"]
    for first, second in zip(results, again):
        assert first["accuracy"] == second["accuracy"] and first["docs_per_s"] == second["docs_per_s"]
        run = open_run(artifacts, second["run_id"])
        assert all(stage.cached for stage in run.record.stages.values())


def test_a_fold_equals_sklearn_on_the_same_features(labelled, tmp_path):
    results = compare.compare(str(labelled), "label", ["mecab"], ["classify"], folds=4, artifacts=str(tmp_path))
    (result,) = results
    features = open_run(tmp_path, result.run_id).features(["tfidf", "chargram"])
    frame = nsmc(600).set_index("id")
    y = frame.loc[features.doc_ids, "label"].to_numpy()
    run = open_run(tmp_path, result.run_id)
    groups = compare.duplicate_clusters(run.record.stages["clean"].path, run.config.dedup).loc[features.doc_ids].to_numpy()
    train, test = next(compare.folds_for(4, groups).split(features.matrix, y, groups))
    direct = LogisticRegression(C=3, max_iter=2000).fit(features.matrix[train], y[train]).score(features.matrix[test], y[test])
    assert result.fold_accuracy[0] == pytest.approx(direct, abs=1e-12)
    assert result.accuracy == pytest.approx(np.mean(result.fold_accuracy))


def test_bad_label_column_and_folds_are_bad_input(labelled, tmp_path, capsys):
    base = ["compare", str(labelled), "--backend", "whitespace", "--artifacts", str(tmp_path)]
    assert main([*base, "--label-column", "rating"]) == 2
    assert "label column 'rating' is not among the corpus's columns; it has ['label']" in capsys.readouterr().err
    assert main([*base, "--label-column", "label", "--folds", "1"]) == 2
    assert "at least 2 folds" in capsys.readouterr().err


def test_text_labels_are_stripped_and_one_class_is_refused(tmp_path, capsys):
    frame = nsmc(120)
    frame["label"] = frame["label"].map({"0": "neg", "1": "pos"})
    frame.loc[frame.index[0], "label"] = frame["label"].iloc[0] + "   "  # as ChatbotData.csv's "2   "
    corpus = tmp_path / "labelled.csv"
    frame.to_csv(corpus, index=False)
    (result,) = compare.compare(str(corpus), "label", ["whitespace"], ["classify"], folds=2, artifacts=str(tmp_path / "a"))
    assert result.documents == 120 and 0 < result.accuracy < 1

    frame["label"] = "pos"
    frame.to_csv(corpus, index=False)
    argv = ["compare", str(corpus), "--label-column", "label", "--backend", "whitespace", "--artifacts", str(tmp_path / "a")]
    assert main(argv) == 2
    assert "has a single value ('pos')" in capsys.readouterr().err
