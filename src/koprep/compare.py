"""`koprep compare`: which backend and preset suit a labelled corpus, measured.

For each backend × preset the pipeline's stage functions run over the corpus (or their outputs come
from the artifact store), and a LogisticRegression (C=3) is cross-validated on the run's features.
The stage functions are called directly rather than through the Prefect flow: the results are the
same artifacts under the same fingerprints (shared with `koprep run`), but a comparison of several
combinations needs no Prefect server (without one, each flow run in a fresh process starts a
temporary server, 10–25 s) and no flow-run bookkeeping.

Features: the preset's TF-IDF stages (`tfidf`, `chargram`) side by side (`Run.features`); a preset
with neither uses its `ngram` or `bow` counts. The vectorizers are fitted on the whole corpus (they
see no labels); only the classifier is cross-validated, on stratified folds (shuffled, seed 0).
Every combination is recorded as a run (`runs/<run_id>.json`), so its artifacts open with
`open_run(artifacts, run_id)`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from koprep.corpus import CorpusError

CLASSIFIER_C = 3.0
SEED = 0
WEIGHTED_STAGES = ("tfidf", "chargram")
COUNT_STAGES = ("ngram", "bow")


class CompareInputError(CorpusError):
    """The labels cannot be used for a comparison (missing column, one class, too few per fold)."""


@dataclass
class CompareResult:
    backend: str
    preset: str
    accuracy: float
    """Mean accuracy over the folds."""
    macro_f1: float
    std: float
    """Standard deviation of the fold accuracies."""
    docs_per_s: float | None
    """Tokenize throughput when the tokens were computed (from the manifest when they came from the cache)."""
    seconds: float
    """Wall time of this combination: pipeline stages (computed or cached) plus cross-validation."""
    documents: int
    features: list[str]
    n_features: int
    run_id: str
    fold_accuracy: list[float] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return asdict(self)


def feature_stages(stages: Iterable[str]) -> list[str]:
    """The vectorizer stages a classifier uses for a run with these stages."""
    stages = list(stages)
    weighted = [s for s in WEIGHTED_STAGES if s in stages]
    return weighted or [s for s in COUNT_STAGES if s in stages][:1]


def cross_validate_features(matrix, labels: Sequence[Any], folds: int) -> dict[str, Any]:
    """Stratified `folds`-fold cross-validation of LogisticRegression(C=3) on `matrix`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_validate

    scores = cross_validate(
        LogisticRegression(C=CLASSIFIER_C, max_iter=2000), matrix, np.asarray(labels),
        cv=StratifiedKFold(folds, shuffle=True, random_state=SEED), scoring=("accuracy", "f1_macro"),
    )
    return {
        "accuracy": float(scores["test_accuracy"].mean()),
        "macro_f1": float(scores["test_f1_macro"].mean()),
        "std": float(scores["test_accuracy"].std()),
        "fold_accuracy": [float(a) for a in scores["test_accuracy"]],
    }


def folds_for(folds: int) -> Any:
    """The splitter `cross_validate_features` uses, for checking a fold against it."""
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold(folds, shuffle=True, random_state=SEED)


def compare(
    corpus: str | None,
    label_column: str,
    backends: Sequence[str],
    presets: Sequence[str],
    *,
    folds: int = 5,
    artifacts: str = "artifacts",
    config_file: str | None = None,
    overrides: Sequence[str] = (),
    on_result: Callable[[CompareResult], None] | None = None,
) -> list[CompareResult]:
    """Run (or reuse) the pipeline for every preset × backend and cross-validate a classifier on it."""
    from koprep import pipeline
    from koprep.config import load_config
    from koprep.loaders import Run
    from koprep.store import ArtifactStore

    if not backends or not presets:
        raise CompareInputError("name at least one backend and one preset, e.g. --backend mecab --preset classify")
    if folds < 2:
        raise CompareInputError(f"--folds {folds}: cross-validation needs at least 2 folds")
    store = ArtifactStore(artifacts)
    # Every setting is checked before anything runs.
    configs = {
        (preset, backend): load_config(config_file, overrides, backend, preset) for preset in presets for backend in backends
    }
    for config in configs.values():
        pipeline.preflight(store, corpus, config)
        if not feature_stages(config.run.stages):
            raise CompareInputError(
                f"run.stages {list(config.run.stages)} has no vectorizer to classify with; add tfidf or chargram"
            )
    results = []
    for (preset, backend), config in configs.items():
        started = time.perf_counter()
        stages: dict[str, pipeline.StageResult] = {"clean": pipeline.clean_stage(store, corpus, config)}
        labels = _labels(stages["clean"].path, label_column, folds)
        tokens, model_path = pipeline.tokenize_stage(store, stages["clean"], config)
        stages["tokenize"] = tokens
        wanted = feature_stages(config.run.stages)
        for name in wanted:
            if name == "chargram":
                stages[name] = pipeline.chargram_stage(store, stages["clean"], config)
            else:
                stages[name] = pipeline.vectorize_stage(store, name, tokens, config)
        run_id = uuid.uuid4().hex
        summary = {
            "run_id": run_id,
            "corpus": pipeline.corpus_io.describe_source(corpus),
            "backend": config.tokenize.backend,
            "stages": {name: result.summary() for name, result in stages.items()},
            "compare": {"preset": preset, "label_column": label_column},
        }
        if model_path:
            summary["model"] = {"path": model_path}
        summary["config"] = config.model_dump(mode="json")
        store.record_run(run_id, summary)
        features = Run(store, summary).features(wanted)
        y = labels.loc[features.doc_ids].to_numpy()
        scores = cross_validate_features(features.matrix, y, folds)
        result = CompareResult(
            backend=backend, preset=preset, accuracy=scores["accuracy"], macro_f1=scores["macro_f1"], std=scores["std"],
            docs_per_s=_throughput(store, tokens), seconds=round(time.perf_counter() - started, 2),
            documents=len(y), features=wanted, n_features=features.matrix.shape[1], run_id=run_id,
            fold_accuracy=scores["fold_accuracy"],
        )
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def _labels(clean_path: str, column: str, folds: int) -> pd.Series:
    import pyarrow.parquet as pq

    from koprep.pipeline import part_files

    schema_names = pq.read_schema(part_files(clean_path)[0]).names
    if column not in schema_names or column in ("doc_id", "text"):
        others = [c for c in schema_names if c not in ("doc_id", "text")]
        raise CompareInputError(
            f"label column {column!r} is not among the corpus's columns; it has {others or 'none besides the text'} "
            "(use --label-column NAME; plain text files have no label column)"
        )
    labels = pd.read_parquet(clean_path, columns=["doc_id", column]).set_index("doc_id")[column]
    if not pd.api.types.is_numeric_dtype(labels):
        # Text labels are compared without surrounding whitespace ("2   " in ChatbotData.csv is class 2).
        labels = labels.map(lambda value: value.strip() if isinstance(value, str) else value)
    unlabelled = labels.isna() | (labels.astype(str) == "")
    if unlabelled.any():
        missing = labels[unlabelled].index[0]
        raise CompareInputError(f"document {missing!r} has no value in label column {column!r}; every document needs a label")
    counts = labels.value_counts()
    if len(counts) < 2:
        raise CompareInputError(
            f"label column {column!r} has a single value ({counts.index[0]!r}); a classifier needs two or more"
        )
    if counts.min() < folds:
        raise CompareInputError(
            f"label {counts.idxmin()!r} has only {counts.min()} document(s), fewer than --folds {folds}; "
            "lower --folds or use a bigger sample"
        )
    return labels


def _throughput(store, tokens) -> float | None:
    seconds = store.open_entry(tokens.path).manifest.get("compute_seconds")
    if not seconds:
        return None
    return round(tokens.rows / seconds, 1)


TABLE_COLUMNS = ("backend", "preset", "accuracy", "macro_f1", "std", "docs_per_s", "seconds", "features")


def table_header() -> str:
    return f"{'backend':<12} {'preset':<10} {'accuracy':>8} {'macro_f1':>8} {'std':>7} {'docs/s':>9} {'seconds':>8}  features"


def table_row(result: CompareResult) -> str:
    throughput = "n/a" if result.docs_per_s is None else f"{result.docs_per_s:.0f}"
    return (
        f"{result.backend:<12} {result.preset:<10} {result.accuracy:>8.4f} {result.macro_f1:>8.4f} {result.std:>7.4f} "
        f"{throughput:>9} {result.seconds:>8.1f}  {'+'.join(result.features)} ({result.n_features})"
    )


def json_record(results: Sequence[CompareResult]) -> dict[str, Any]:
    keys = ("backend", "preset", "accuracy", "macro_f1", "std", "docs_per_s", "seconds", "documents", "features", "run_id")
    return {"results": [{k: getattr(r, k) for k in keys} for r in results]}
