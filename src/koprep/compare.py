"""`koprep compare`: which backend and preset suit a labelled corpus, measured.

For each backend × preset the plan of a run limited to the features' stages is built and carried
out in this process (`koprep.pipeline.runner.run_and_record`; outputs already in the artifact store
are reused), and a LogisticRegression (C=3) is cross-validated on the run's features. The stages run
in process rather than through the Prefect flow: the results are the same artifacts under the same
fingerprints (shared with `koprep run`), but a comparison of several combinations needs no Prefect
server (without one, each flow run in a fresh process starts a temporary server, 10–25 s) and no
flow-run bookkeeping.

Features: the preset's weighted vectorizers (TF-IDF: `tfidf`, `chargram`) side by side
(`Run.features`); a preset with neither uses its richest counts (the count vectorizer with the
longest n-grams: `ngram` by default, else `bow`). The vectorizers are fitted on the whole corpus (they
see no labels); only the classifier is cross-validated, on stratified folds (shuffled, seed 0).
Every combination is recorded as a run (`runs/<run_id>.json`), so its artifacts open with
`open_run(artifacts, run_id)`. `run.fitted_from` is refused: it would apply one fitted run's
settings to every combination.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import pandas as pd

from koprep.corpus import CorpusError

if TYPE_CHECKING:
    import scipy.sparse as sp

    from koprep.plan import Plan
    from koprep.runs import RunRecord
    from koprep.store import ArtifactStore

CLASSIFIER_C = 3.0
SEED = 0


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


def cross_validate_features(
    matrix: sp.spmatrix | np.ndarray, labels: Sequence[Any] | np.ndarray, folds: int
) -> dict[str, Any]:
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
    from koprep.config import load_config
    from koprep.loaders import Run, feature_stages
    from koprep.pipeline.runner import execute, run_and_record
    from koprep.plan import build_plan
    from koprep.store import ArtifactStore

    if not backends or not presets:
        raise CompareInputError("name at least one backend and one preset, e.g. --backend mecab --preset classify")
    if folds < 2:
        raise CompareInputError(f"--folds {folds}: cross-validation needs at least 2 folds")
    # The [store] options, before the store is opened: the same for every combination (no preset or backend sets them).
    load_config(config_file, overrides).store.activate()
    store = ArtifactStore(artifacts)
    # Every setting and reference is checked, and every combination planned, before anything runs.
    plans: dict[tuple[str, str], tuple[Plan, list[str]]] = {}
    for preset in presets:
        for backend in backends:
            config = load_config(config_file, overrides, backend, preset)
            if config.run.fitted_from is not None:
                raise CompareInputError(
                    "run.fitted_from cannot be compared: it applies one fitted run's cleaning, backend and vectorizers "
                    "to every combination. Compare on the corpus itself, then apply the chosen settings with "
                    "`koprep run TEST_CORPUS --set run.fitted_from=RUN_ID`"
                )
            wanted = feature_stages(config)
            if not wanted:
                raise CompareInputError(
                    f"run.stages {list(config.run.stages)} has no vectorizer to classify with; add tfidf or chargram"
                )
            plan = build_plan(store, corpus, config.with_run_stages(wanted))
            plan.preflight()
            plans[(preset, backend)] = (plan, wanted)
    results = []
    for (preset, backend), (plan, wanted) in plans.items():
        started = time.perf_counter()
        # The labels are checked on the clean output before anything is tokenized.
        labels = _labels(execute(plan.upto("clean"))["clean"].path, label_column, folds)
        record = run_and_record(plan, checked=True, compare={"preset": preset, "label_column": label_column})
        features = Run(store, record).features(wanted)
        y = labels.loc[features.doc_ids].to_numpy()
        scores = cross_validate_features(features.matrix, y, folds)
        result = CompareResult(
            backend=backend, preset=preset, accuracy=scores["accuracy"], macro_f1=scores["macro_f1"], std=scores["std"],
            docs_per_s=_throughput(store, record), seconds=round(time.perf_counter() - started, 2),
            documents=len(y), features=wanted, n_features=features.matrix.shape[1], run_id=record.run_id,
            fold_accuracy=scores["fold_accuracy"],
        )
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def _labels(clean_path: str, column: str, folds: int) -> pd.Series:
    from koprep.pipeline.datasets import Parts

    schema_names = Parts.schema(clean_path).names
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


def _throughput(store: ArtifactStore, record: RunRecord) -> float | None:
    """Tokenize throughput when the tokens were computed (from the manifest when they came from the cache)."""
    tokens = record.stages.get("tokenize")
    if tokens is None:
        return None
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
