"""The on-demand `evaluate` stage (`koprep evaluate`): a run's word2vec or fastText vectors scored on a Korean
analogy set and/or a word-similarity set, the report cached under the vectors' and the evaluation
files' fingerprints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from koprep.evaluate import EvaluationFileError, evaluate_analogies, evaluate_similarity
from koprep.pipeline.datasets import ReportFile, WordVectorFiles, holds_word_vectors
from koprep.pipeline.execution import StageResult, stage_result
from koprep.pipeline.graph import GRAPH
from koprep.pipeline.keys import StageKey
from koprep.store import ArtifactStore, Entry, PendingEntry, StoreError, file_sha256


def evaluate_vectors(
    store: ArtifactStore, vectors: Entry, analogies: str | None = None, similarity: str | None = None
) -> StageResult:
    stage = GRAPH["evaluate"]
    if vectors.stage not in stage.inputs:
        raise StoreError(f"{vectors.path} is a {vectors.stage!r} artifact, not word vectors ({', '.join(stage.inputs)})")
    files = {"analogies": analogies, "similarity": similarity}
    if not any(files.values()):
        raise EvaluationFileError("nothing to evaluate: pass an analogy file and/or a word-similarity file")
    inputs = {vectors.stage: vectors.fingerprint}
    for kind, path in files.items():
        if path is not None:
            if not Path(path).is_file():
                raise EvaluationFileError(f"{kind} file {path} does not exist")
            inputs[kind] = file_sha256(Path(path))

    def compute(pending: PendingEntry) -> tuple[int, dict[str, Any]]:
        kv = (holds_word_vectors(vectors) or WordVectorFiles).keyed_vectors(vectors)
        # Paths relative to the store, evaluation files by name and content hash: no absolute path
        # of this machine goes into the artifact.
        report: dict[str, Any] = {vectors.stage: store.relative(vectors.path)}
        headline: dict[str, Any] = {}
        if analogies:
            scores = evaluate_analogies(kv, analogies)
            report["analogies"] = {"file": Path(analogies).name, "sha256": inputs["analogies"], **scores}
            headline.update(analogy_accuracy=scores["overall_accuracy"], analogy_oov_rate=scores["oov_rate"])
        if similarity:
            scores = evaluate_similarity(kv, similarity)
            report["similarity"] = {"file": Path(similarity).name, "sha256": inputs["similarity"], **scores}
            headline.update(similarity_spearman=scores["spearman"], similarity_oov_rate=scores["oov_rate"])
        ReportFile.write(pending, report)
        return 1, headline

    key = StageKey(stage.name, stage.version, {k: v is not None for k, v in files.items()}, inputs)
    return stage_result(store, key, compute)
