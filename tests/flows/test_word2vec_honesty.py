"""word2vec on the README's first command (the default corpus, kolaw + kobill, with okt): the
vectors train (their neighbours differ), the diagnostic stored with them says so, and the report and
`koprep show` warn in plain words when they do not (gensim's fixed 5 epochs on this corpus)."""

from __future__ import annotations

import numpy as np
import pytest

from koprep import inspection, report
from koprep.cli.results import show_lines
from koprep.pipeline.datasets import WordVectorFiles
from koprep.runs import RunRecord
from koprep.stages.embed import auto_epochs
from koprep.store import ArtifactStore
from tests.runs import record_pipeline_run

pytestmark = pytest.mark.slow  # okt starts a JVM


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> ArtifactStore:
    return ArtifactStore(tmp_path_factory.mktemp("store"))


def _run(store: ArtifactStore, run_id: str, overrides: dict | None = None) -> RunRecord:
    return RunRecord.model_validate(record_pipeline_run(store, None, run_id, backend="okt", overrides=overrides))


def test_default_run_gives_meaningful_neighbours_and_says_how_it_trained(store):
    record = _run(store, "default")
    entry = store.open_entry(record.stages["word2vec"].path)
    vectors = inspection.word_vectors(entry).vectors
    # The measure, computed here from the stored vectors, not from the diagnostic.
    top = vectors.index_to_key[:50]
    mean_cosine = float(np.mean([s for w in top for _, s in vectors.most_similar(w, topn=5)]))
    assert mean_cosine <= 0.9
    diagnostic = WordVectorFiles.diagnostic(entry)
    assert diagnostic["neighbour_cosine"]["mean"] == pytest.approx(mean_cosine, abs=1e-3)
    tokens = record_tokens(store, record)
    assert diagnostic["corpus_tokens"] == tokens and diagnostic["epochs"] == auto_epochs(tokens) > 5
    assert len(diagnostic["loss_per_epoch"]) == diagnostic["epochs"]
    assert diagnostic["loss_per_epoch"][-1] < diagnostic["loss_per_epoch"][0] / 2
    assert 0.9 < diagnostic["coverage"] < 1 and not diagnostic["degenerate"]
    assert entry.manifest["extra"]["epochs"] == diagnostic["epochs"]
    page = report.render_html(report.report_data(store, record))
    assert "word2vec-warning" not in page and "corpus tokens in its vocabulary" in page


def record_tokens(store: ArtifactStore, record: RunRecord) -> int:
    return int(store.open_entry(record.stages["tokenize"].path).manifest["extra"]["tokens"])


def test_five_epochs_on_the_default_corpus_are_reported_as_degenerate(store):
    record = _run(store, "five-epochs", {"word2vec.epochs": 5})
    default = _run(store, "default-again")
    assert record.stages["tokenize"].fingerprint == default.stages["tokenize"].fingerprint
    assert record.stages["word2vec"].fingerprint != default.stages["word2vec"].fingerprint  # epochs are in the key
    assert default.stages["word2vec"].cached
    details = inspection.show(store, "five-epochs", "word2vec")["stages"]["word2vec"]
    assert details["diagnostic"]["degenerate"] and details["diagnostic"]["neighbour_cosine"]["mean"] > 0.9
    lines = show_lines("word2vec", details)
    assert lines[2].startswith("  WARNING: word2vec vectors look degenerate") and "word2vec.epochs, now 5" in lines[2]
    page = report.render_html(report.report_data(store, record))
    assert 'id="word2vec-warning"' in page and "look degenerate" in page
