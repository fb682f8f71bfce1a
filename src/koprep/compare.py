"""`koprep compare`: which backend and preset suit a labelled corpus, measured.

For each backend × preset × variant the plan of a run limited to the features' stages is built and carried
out in this process (`koprep.pipeline.runner.run_and_record`; outputs already in the artifact store
are reused), and a LogisticRegression (C=3) is cross-validated on the run's features. The stages run
in process rather than through the Prefect flow: the results are the same artifacts under the same
fingerprints (shared with `koprep run`), but a comparison of several combinations needs no Prefect
server (without one, each flow run in a fresh process starts a temporary server, several seconds) and no
flow-run bookkeeping.

Features: the preset's weighted vectorizers (TF-IDF: `tfidf`, `chargram`) side by side
(`Run.features`); a preset with neither uses its richest counts (the count vectorizer with the
longest n-grams: `ngram` by default, else `bow`). The vectorizers are fitted on the whole corpus (they
see no labels); only the classifier is cross-validated, on stratified folds (shuffled, seed 0).

Folds keep every duplicate cluster whole (`folds_by="cluster"`, the default): the exact and near
duplicates of the cleaned texts, found as the dedup stage finds them with the `[dedup]` settings
(`koprep.stages.dedup`), share a fold, so no review is tested against its own copy in training
(StratifiedGroupKFold; with no duplicates the folds are StratifiedKFold's). `folds_by="document"`
splits documents alone.

Variants (`--variant`) compare settings beside backends and presets: each is one more combination,
`SETTING=VALUE` pairs and `+STAGE` (a run stage to add, e.g. `+dedup`) separated by `;`, e.g.
`--variant '+dedup' --variant '+dedup;dedup.near=false' --variant 'tokenize.user_dictionary=words.tsv'`.
The settings as given (no variant) are always the first combination.
Every combination is recorded as a run (`runs/<run_id>.json`), so its artifacts open with
`open_run(artifacts, run_id)`. `run.fitted_from` is refused: it would apply one fitted run's
settings to every combination.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal, Sequence

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


FoldsBy = Literal["cluster", "document"]
BASELINE = "-"
"""The variant label of the settings as given."""


@dataclass(frozen=True)
class Variant:
    """One `--variant`: settings and run stages added to every backend × preset."""

    label: str
    overrides: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Variant:
        overrides: list[str] = []
        stages: list[str] = []
        for part in (p.strip() for p in text.split(";")):
            if part.startswith("+") and part[1:]:
                stages.append(part[1:])
            elif "=" in part:
                overrides.append(part)
            elif part:
                raise CompareInputError(
                    f"--variant {text!r}: {part!r} is neither SECTION.KEY=VALUE nor +STAGE; separate several with ';', "
                    "e.g. --variant '+dedup;dedup.near=0.9'"
                )
        if not overrides and not stages:
            raise CompareInputError(f"--variant {text!r} changes nothing; give e.g. '+dedup' or 'dedup.near=0.9'")
        from koprep.pipeline.graph import GRAPH

        unknown = [name for name in stages if name not in GRAPH.run_stages()]
        if unknown:
            raise CompareInputError(
                f"--variant {text!r}: unknown stage(s) {', '.join(unknown)}; +STAGE takes one of {', '.join(GRAPH.run_stages())}"
            )
        return cls(text.strip(), tuple(overrides), tuple(stages))


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
    variant: str = BASELINE
    folds_by: str = "cluster"
    clusters: int = 0
    """Documents that share their fold with a duplicate (0 with folds_by="document")."""

    def record(self) -> dict[str, Any]:
        return asdict(self)


def cross_validate_features(
    matrix: sp.spmatrix | np.ndarray, labels: Sequence[Any] | np.ndarray, folds: int, groups: np.ndarray | None = None
) -> dict[str, Any]:
    """Stratified `folds`-fold cross-validation of LogisticRegression(C=3) on `matrix`, keeping each
    of `groups` (duplicate clusters) inside one fold when given."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_validate

    splitter = folds_for(folds, groups)
    scores = cross_validate(
        LogisticRegression(C=CLASSIFIER_C, max_iter=2000), matrix, np.asarray(labels),
        groups=None if isinstance(splitter, StratifiedKFold) else groups, cv=splitter, scoring=("accuracy", "f1_macro"),
    )
    return {
        "accuracy": float(scores["test_accuracy"].mean()),
        "macro_f1": float(scores["test_f1_macro"].mean()),
        "std": float(scores["test_accuracy"].std()),
        "fold_accuracy": [float(a) for a in scores["test_accuracy"]],
    }


def folds_for(folds: int, groups: np.ndarray | None = None) -> Any:
    """The splitter `cross_validate_features` uses, for checking a fold against it: StratifiedKFold,
    or StratifiedGroupKFold when some documents share a group (split(X, y, groups) then)."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    if groups is None or len(np.unique(groups)) == len(groups):
        return StratifiedKFold(folds, shuffle=True, random_state=SEED)
    return StratifiedGroupKFold(folds, shuffle=True, random_state=SEED)


def duplicate_clusters(clean_path: str, params: Any) -> pd.Series:
    """Each document's duplicate cluster (the doc_id of its group's first document), by doc_id, as
    the dedup stage finds them on the cleaned texts with `params` (`[dedup]`)."""
    from koprep.pipeline.datasets import Parts
    from koprep.stages import dedup as dedup_logic

    table = pd.concat(t.to_pandas() for t in Parts.tables(clean_path, ["doc_id", "text"]))
    found = dedup_logic.find_duplicates(table["text"].tolist(), params)
    ids = table["doc_id"].to_numpy()
    return pd.Series(ids[found.cluster], index=ids)


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
    variants: Sequence[str] = (),
    folds_by: FoldsBy = "cluster",
) -> list[CompareResult]:
    """Run (or reuse) the pipeline for every variant × preset × backend and cross-validate a classifier on it."""
    from koprep.config import load_config
    from koprep.loaders import Run, feature_stages
    from koprep.pipeline.runner import execute, run_and_record
    from koprep.plan import build_plan
    from koprep.store import ArtifactStore

    if not backends or not presets:
        raise CompareInputError("name at least one backend and one preset, e.g. --backend mecab --preset classify")
    if folds < 2:
        raise CompareInputError(f"--folds {folds}: cross-validation needs at least 2 folds")
    if folds_by not in ("cluster", "document"):
        raise CompareInputError(f"--folds-by {folds_by!r}: choose cluster or document")
    # The [store] options, before the store is opened: the same for every combination (no preset or backend sets them).
    load_config(config_file, overrides).store.activate()
    store = ArtifactStore(artifacts)
    # Every setting and reference is checked, and every combination planned, before anything runs.
    plans: dict[tuple[str, str, str], tuple[Plan, list[str]]] = {}
    for variant in [Variant(BASELINE), *map(Variant.parse, variants)]:
        for preset in presets:
            for backend in backends:
                config = load_config(config_file, [*overrides, *variant.overrides], backend, preset)
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
                plan = build_plan(store, corpus, config.with_run_stages([*variant.stages, *wanted] if variant.stages else wanted))
                plan.preflight()
                plans[(variant.label, preset, backend)] = (plan, wanted)
    results = []
    clusters: dict[tuple[str, str], pd.Series] = {}
    for (variant_label, preset, backend), (plan, wanted) in plans.items():
        started = time.perf_counter()
        # The labels are checked on the clean output before anything is tokenized.
        clean = execute(plan.upto("clean"))["clean"]
        labels = _labels(clean.path, label_column, folds)
        facts = {"preset": preset, "label_column": label_column}
        if variant_label != BASELINE:
            facts["variant"] = variant_label
        record = run_and_record(plan, checked=True, compare=facts)
        features = Run(store, record).features(wanted)
        y = labels.loc[features.doc_ids].to_numpy()
        groups = None
        if folds_by == "cluster":
            key = (clean.fingerprint, plan.config.dedup.model_dump_json())
            if key not in clusters:
                clusters[key] = duplicate_clusters(clean.path, plan.config.dedup)
            groups = clusters[key].loc[features.doc_ids].to_numpy()
        scores = cross_validate_features(features.matrix, y, folds, groups)
        result = CompareResult(
            backend=backend, preset=preset, accuracy=scores["accuracy"], macro_f1=scores["macro_f1"], std=scores["std"],
            docs_per_s=_throughput(store, record), seconds=round(time.perf_counter() - started, 2),
            documents=len(y), features=wanted, n_features=features.matrix.shape[1], run_id=record.run_id,
            fold_accuracy=scores["fold_accuracy"], variant=variant_label, folds_by=folds_by,
            clusters=0 if groups is None else int(pd.Series(groups).duplicated(keep=False).sum()),
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
    variant = "" if result.variant == BASELINE else f"  variant {result.variant}"
    return (
        f"{result.backend:<12} {result.preset:<10} {result.accuracy:>8.4f} {result.macro_f1:>8.4f} {result.std:>7.4f} "
        f"{throughput:>9} {result.seconds:>8.1f}  {'+'.join(result.features)} ({result.n_features}){variant}"
    )


def json_record(results: Sequence[CompareResult]) -> dict[str, Any]:
    keys = (
        "backend", "preset", "accuracy", "macro_f1", "std", "docs_per_s", "seconds", "documents", "features", "run_id",
        "variant", "folds_by", "clusters",
    )
    return {"results": [{k: getattr(r, k) for k in keys} for r in results]}
