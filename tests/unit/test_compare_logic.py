"""`koprep compare` in the fast tier: a labelled corpus made from konlpy's own law texts (each line
labelled by the document it comes from: the constitution or a bill), whitespace tokens. The plan of
each combination holds only the stages its features need, the labels are checked before anything is
tokenized, and a fold's accuracy is scikit-learn's on the same features. NSMC with mecab is
tests/unit/test_compare.py (slow)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from koprep import compare
from koprep.cli import main
from koprep.config import load_config
from koprep.corpus import CorpusParams, read_corpus
from koprep.loaders import feature_stages, open_run


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> Path:
    frame = read_corpus(None, CorpusParams())
    frame = frame.assign(label=frame["doc_id"].str.split("/").str[0])  # kolaw (the constitution) or kobill
    frame = frame.groupby("label").head(400)
    path = tmp_path_factory.mktemp("laws") / "laws.csv"
    frame[["doc_id", "text", "label"]].to_csv(path, index=False)
    return path


def test_features_are_the_presets_tfidf_stages_else_its_richest_counts():
    assert feature_stages(load_config(preset="classify")) == ["tfidf", "chargram"]
    assert feature_stages(load_config()) == ["tfidf"]
    assert feature_stages(load_config(None, {"run.stages": ["bow", "ngram"]})) == ["ngram"]
    assert feature_stages(load_config(None, {"run.stages": ["bow", "ngram"], "bow.ngram_range": [1, 3]})) == ["bow"]
    assert feature_stages(load_config(None, {"run.stages": ["clean", "tokenize", "word2vec"]})) == []


def test_a_combination_runs_only_the_stages_its_features_need_and_a_fold_is_sklearns(labelled, tmp_path, capsys):
    argv = ["compare", str(labelled), "--label-column", "label", "--backend", "whitespace", "--preset", "classify",
            "--folds", "3", "--artifacts", str(tmp_path)]
    assert main([*argv, "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)["results"]
    assert result["features"] == ["tfidf", "chargram"] and result["documents"] == len(pd.read_csv(labelled))
    assert 0.8 < result["accuracy"] <= 1 and result["docs_per_s"] > 0
    run = open_run(tmp_path, result["run_id"])
    assert list(run.record.stages) == ["clean", "tokenize", "tfidf", "chargram"]  # no bow, ngram or word2vec
    assert run.record.compare == {"preset": "classify", "label_column": "label"}

    features = run.features()
    labels = pd.read_csv(labelled, dtype=str).set_index("doc_id")["label"]
    y = labels.loc[features.doc_ids].to_numpy()
    # The law texts repeat lines (headings, 부칙): duplicates share a fold.
    clusters = compare.duplicate_clusters(run.record.stages["clean"].path, load_config(preset="classify").dedup)
    groups = clusters.loc[features.doc_ids].to_numpy()
    assert result["clusters"] == int(pd.Series(groups).duplicated(keep=False).sum()) > 0
    train, test = next(compare.folds_for(3, groups).split(features.matrix, y, groups))
    assert not set(groups[train]) & set(groups[test])
    direct = LogisticRegression(C=3, max_iter=2000).fit(features.matrix[train], y[train]).score(features.matrix[test], y[test])
    (again,) = compare.compare(str(labelled), "label", ["whitespace"], ["classify"], folds=3, artifacts=str(tmp_path))
    assert again.fold_accuracy[0] == pytest.approx(direct, abs=1e-12)
    assert again.accuracy == pytest.approx(np.mean(again.fold_accuracy)) == pytest.approx(result["accuracy"])
    assert all(stage.cached for stage in open_run(tmp_path, again.run_id).record.stages.values())


def test_a_bad_label_column_stops_before_anything_is_tokenized(labelled, tmp_path, capsys):
    code = main(["compare", str(labelled), "--label-column", "rating", "--backend", "whitespace",
                 "--artifacts", str(tmp_path)])
    assert code == 2
    assert "label column 'rating' is not among the corpus's columns; it has ['label']" in capsys.readouterr().err
    assert (tmp_path / "clean").is_dir() and not (tmp_path / "tokenize").exists()


def test_variants_add_stages_and_settings_beside_the_settings_as_given(labelled, tmp_path):
    """`--variant '+dedup'`: the same combination with the dedup stage, on fewer documents; with
    `--folds-by document` duplicates are split alone and documents sharing a cluster are not counted."""
    results = compare.compare(str(labelled), "label", ["whitespace"], ["topic"], folds=3, artifacts=str(tmp_path),
                              variants=["+dedup", "+dedup;dedup.near=false"], folds_by="document")
    assert [r.variant for r in results] == ["-", "+dedup", "+dedup;dedup.near=false"]
    plain, near, exact = results
    assert plain.folds_by == "document" and plain.clusters == 0
    clean = open_run(tmp_path, plain.run_id).record.stages["clean"].path
    texts = pd.concat(pd.read_parquet(f) for f in sorted(Path(clean).glob("part-*.parquet")))["text"]
    assert exact.documents == plain.documents - int(texts.duplicated().sum())
    assert near.documents < exact.documents
    assert list(open_run(tmp_path, near.run_id).record.stages) == ["clean", "dedup", "tokenize", "tfidf"]
    assert open_run(tmp_path, near.run_id).record.compare["variant"] == "+dedup"


@pytest.mark.parametrize("text, fragment", [
    ("dedup", "neither SECTION.KEY=VALUE nor +STAGE"), ("+nosuch", "unknown stage(s) nosuch"), (";", "changes nothing"),
])
def test_a_bad_variant_is_bad_input(text, fragment):
    with pytest.raises(compare.CompareInputError, match=re.escape(fragment)):
        compare.Variant.parse(text)
    assert compare.Variant.parse("+dedup; dedup.near=0.9") == compare.Variant("+dedup; dedup.near=0.9", ("dedup.near=0.9",), ("dedup",))
