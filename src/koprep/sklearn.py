"""`KoprepVectorizer`: koprep as a scikit-learn transformer, for `Pipeline`, `cross_val_score` and
`GridSearchCV`.

    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from koprep.sklearn import KoprepVectorizer

    model = make_pipeline(KoprepVectorizer(backend="mecab", preset="classify"), LogisticRegression(max_iter=1000))
    search = GridSearchCV(model, {"koprepvectorizer__preset": ["classify", "search"],
                                  "logisticregression__C": [1, 10]}, cv=3, n_jobs=2)
    search.fit(texts, labels)

`fit(texts)` runs koprep on the texts (cleaning, the backend, the chosen vectorizers) through the
artifact store at `artifacts`, exactly as `koprep run` would on a corpus file holding them, and
`transform(texts)` applies the fitted vocabularies to other texts as `run.fitted_from` does (on the
texts it was fitted on, it returns the fitted matrices). Both go through the store, so fitting or
transforming the same texts with the same settings again is a cache hit on every stage: a second,
identical grid search only reads Parquet. The estimator holds only its parameters and the id of
its run, so it pickles to joblib's worker processes, where each builds its own backend (a Kiwi or
MeCab object cannot be pickled).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from koprep.errors import BadInputError


class KoprepVectorizer(TransformerMixin, BaseEstimator):
    """Texts → koprep's feature matrix (csr, float64), columns named "stage:term".

    Parameters (all validated at `fit`, in one place, as scikit-learn does):

    backend    the tokenizer backend (okt, kiwi, mecab, soynlp-noun, soynlp-word, whitespace);
               None: koprep's default or the preset's
    preset     a koprep preset (classify, search, topic) or None
    features   the vectorizer stages whose matrices are stacked side by side, e.g.
               ["tfidf", "chargram"]; None: the run's classifier features (its TF-IDF stages)
    artifacts  the artifact store (a folder) the runs are cached in
    set        other settings as {"dotted.key": value}, e.g. {"tfidf.min_df": 3}
    """

    def __init__(
        self,
        backend: str | None = None,
        preset: str | None = None,
        features: Sequence[str] | None = None,
        artifacts: str = "artifacts",
        set: Mapping[str, Any] | None = None,  # noqa: A002 - the name `koprep run --set` uses
    ) -> None:
        self.backend = backend
        self.preset = preset
        self.features = features
        self.artifacts = artifacts
        self.set = set

    # ---------------------------------------------------------------------------- sklearn API
    def fit(self, X: Sequence[str], y: Any = None) -> KoprepVectorizer:
        self._fit(X)
        return self

    def fit_transform(self, X: Sequence[str], y: Any = None, **fit_params: Any) -> sp.csr_matrix:
        return self._fit(X)

    def transform(self, X: Sequence[str]) -> sp.csr_matrix:
        check_is_fitted(self, "run_id_")
        texts = _texts(X)
        if _digest(texts) == self.fitted_texts_:
            return self._features(self.run_id_)[0]
        config = _with_setting(self._config(), "run.fitted_from", self.run_id_)
        return self._features(self._run(texts, config))[0]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []
        return tags

    # ------------------------------------------------------------------------------- koprep
    def _fit(self, X: Sequence[str]) -> sp.csr_matrix:
        texts = _texts(X)
        run_id = self._run(texts, self._config())
        matrix, names = self._features(run_id)
        self.run_id_ = run_id
        self.fitted_texts_ = _digest(texts)
        self.feature_names_out_ = np.asarray(names, dtype=object)
        self.n_features_out_ = len(names)
        return matrix

    def _config(self) -> Any:
        """The run's settings from the parameters; the one place they are validated."""
        from koprep.config import load_config
        from koprep.loaders import feature_stages
        from koprep.pipeline.resolve import vectorizer_stages

        settings = dict(self.set or {})
        if not isinstance(self.set, (Mapping, type(None))):
            raise BadInputError(f"set must be a mapping of dotted settings, e.g. {{'tfidf.min_df': 3}}, not {self.set!r}")
        config = load_config(None, settings, self.backend, self.preset)
        stages = list(self.features) if self.features is not None else feature_stages(config)
        unknown = [name for name in stages if name not in vectorizer_stages()]
        if not stages or unknown:
            raise BadInputError(
                f"features must name vectorizer stages ({', '.join(vectorizer_stages())}); got {list(stages)!r}"
            )
        return config.with_run_stages(stages)

    def _stages(self) -> list[str]:
        return list(self._config().run.stages)

    def _run(self, texts: list[str], config: Any) -> str:
        """Run koprep on `texts` with `config` in this process (every stage cached in the store);
        returns the run's id, which names the texts and the settings, so an identical run reuses
        its record."""
        from koprep.pipeline.runner import run_and_record
        from koprep.plan import build_plan
        from koprep.store import ArtifactStore

        run_id = "sklearn-" + hashlib.sha256(
            (_digest(texts) + config.model_dump_json()).encode("utf-8")
        ).hexdigest()[:24]
        store = ArtifactStore(self.artifacts)
        with tempfile.TemporaryDirectory(prefix="koprep-sklearn-") as folder:
            corpus = Path(folder) / "texts.parquet"
            ids = [str(i) for i in range(len(texts))]
            pq.write_table(pa.table({"doc_id": pa.array(ids, pa.string()), "text": pa.array(texts, pa.string())}), corpus)
            run_and_record(build_plan(store, str(corpus), config), run_id=run_id)
        return run_id

    def _features(self, run_id: str) -> tuple[sp.csr_matrix, list[str]]:
        """The run's feature matrix, rows in input order, and its column names."""
        from koprep.store import ArtifactStore

        store = ArtifactStore(self.artifacts)
        stages = tuple(self._stages())
        record = store.read_run(run_id)
        matrix, columns = _stored_features(str(store.root), run_id, stages, tuple(record.stages[s].fingerprint for s in stages))
        return matrix.copy(), list(columns)


@lru_cache(maxsize=32)
def _stored_features(root: str, run_id: str, stages: tuple[str, ...], fingerprints: tuple[str, ...]) -> tuple[sp.csr_matrix, tuple[str, ...]]:
    """The features of `run_id`'s vectorizer entries, read once per process: an entry never changes
    once written, and `fingerprints` (part of the key) name the entries, so a search that fits and
    transforms the same texts again, in the same worker, reads each matrix once. The run id is
    used to read, the fingerprints to key."""
    from koprep.loaders import open_run

    features = open_run(root, run_id).features(list(stages))
    order = np.argsort(np.asarray(features.doc_ids, dtype=np.int64), kind="stable")  # ids are row numbers
    return sp.csr_matrix(features.matrix[order], dtype=np.float64), tuple(features.columns)


def _texts(X: Any) -> list[str]:
    if isinstance(X, str) or not hasattr(X, "__iter__"):
        raise BadInputError("KoprepVectorizer takes an iterable of texts (one str per document), not a single string")
    texts = X.tolist() if isinstance(X, (np.ndarray, pd.Series)) else list(X)
    bad = next((t for t in texts if not isinstance(t, str)), None)
    if bad is not None:
        raise BadInputError(f"KoprepVectorizer takes texts (str); got a {type(bad).__name__}: {bad!r}")
    if not texts:
        raise BadInputError("KoprepVectorizer needs at least one text")
    return texts


def _digest(texts: list[str]) -> str:
    return hashlib.sha256(json.dumps(texts, ensure_ascii=False).encode("utf-8")).hexdigest()


def _with_setting(config: Any, dotted: str, value: Any) -> Any:
    section, key = dotted.split(".")
    return config.model_copy(update={section: getattr(config, section).model_copy(update={key: value})})
