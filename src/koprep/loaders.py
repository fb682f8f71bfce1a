"""Load a run's artifacts for downstream code: pandas, scipy.sparse and gensim objects.

    from koprep.loaders import open_run
    run = open_run("artifacts")              # the latest run; or open_run("artifacts", RUN_ID)
    tokens = run.tokens()                    # DataFrame: doc_id, tokens
    tfidf = run.matrix("tfidf")              # .matrix (csr_matrix), .vocabulary (DataFrame), .doc_ids
    kv = run.word_vectors()                  # gensim KeyedVectors (word2vec)
    ft = run.word_vectors("fasttext")        # gensim FastTextKeyedVectors: any word, seen or not
    X = run.transform(["새로 들어온 리뷰"], "tfidf")  # new raw texts → the same vectors (csr_matrix)
    features = run.features(["tfidf", "chargram"])  # .matrix: stages side by side, .columns "stage:term", .doc_ids

Every read goes through the artifact store, which refuses incomplete or corrupt entries.
The files are plain Parquet, so `pandas.read_parquet(run.path("tokenize"))` or duckdb's
`read_parquet('.../tokenize/<fp>/part-*.parquet')` work as well. For a store in a bucket
(`open_run("s3://bucket/prefix")`), entries are read through a local cache, and `run.urls(stage)`
lists the stage's objects for reading them in place (docs: "Object storage").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import pandas as pd
import scipy.sparse as sp

from koprep.pipeline.datasets import Matrix, MatrixFiles, holds_word_vectors
from koprep.runs import RunRecord
from koprep.store import ArtifactStore, Entry, StoreError

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

    from koprep.config import PipelineConfig
    from koprep.stages.tokenize import TokenFilter
    from koprep.tokenizers.base import Tokenizer

__all__ = ["Features", "Matrix", "Run", "feature_stages", "open_run"]


@dataclass(frozen=True)
class Features:
    matrix: sp.csr_matrix
    """Rows follow `doc_ids`; columns follow `columns`."""
    columns: list[str]
    """"stage:term" for each column, the stages' vocabularies side by side."""
    doc_ids: list[str]


class Run:
    """One recorded run's artifacts."""

    def __init__(self, store: ArtifactStore, record: RunRecord) -> None:
        self.store = store
        self.record = record
        self.run_id: str = record.run_id
        self._tokenizer: tuple[Tokenizer, TokenFilter] | None = None
        self._vectors: dict[str, KeyedVectors] = {}

    def entry(self, stage: str) -> Entry:
        stages = self.record.stages
        if stage not in stages:
            raise StoreError(f"run {self.run_id} has no {stage!r} stage; it has {sorted(stages)}")
        return self.store.open_entry(stages[stage].path)

    def path(self, stage: str) -> Path:
        """The stage's folder on this machine (for a store in a bucket: its copy in the local cache)."""
        return self.entry(stage).path

    def urls(self, stage: str, pattern: str = "*.parquet") -> list[str]:
        """Where the stage's files matching `pattern` are: object URLs for a store in a bucket (what
        its committed manifest names; read them with pandas, pyarrow, DuckDB or polars and the same
        storage options), local paths otherwise. Sorted by file name (parts in order)."""
        import fnmatch

        entry = self.entry(stage)
        names = sorted(n for n in entry.manifest["files"] if fnmatch.fnmatch(n, pattern))
        mirror = self.store.mirror
        if mirror is None:
            return [str(entry.file(n)) for n in names]
        return [mirror.objects.url(entry.manifest["files"][n]["object"]) for n in names]

    def clean(self) -> pd.DataFrame:
        return pd.read_parquet(self.path("clean"))

    def tokens(self) -> pd.DataFrame:
        return pd.read_parquet(self.path("tokenize"))

    def matrix(self, stage: str = "tfidf") -> Matrix:
        return MatrixFiles.read(self.entry(stage))

    @property
    def config(self) -> PipelineConfig:
        from koprep.config import PipelineConfig

        return PipelineConfig.model_validate(self.record.config)

    def preprocess(self, texts: Sequence[str]) -> list[list[str]]:
        """Clean and tokenize new raw texts exactly as this run did (same steps, backend, options,
        trained model and token filter)."""
        from koprep.pipeline.resolve import ready_tokenizer
        from koprep.stages.clean import clean_texts
        from koprep.stages.tokenize import tokenize_texts

        if self._tokenizer is None:
            model = self.entry("model") if "model" in self.record.stages else None
            self._tokenizer = ready_tokenizer(self.config.tokenize, model)
        tokenizer, token_filter = self._tokenizer
        return tokenize_texts(tokenizer, clean_texts(list(texts), self.config.clean), token_filter)

    def transform(self, texts: Sequence[str], stage: str = "tfidf") -> sp.csr_matrix:
        """Vectorize new raw texts with this run's fitted `stage` vectorizer; equals scikit-learn's
        `transform` of the fitted vectorizer on the same tokens (for `chargram`: on the same
        cleaned texts)."""
        from koprep.stages.clean import clean_texts
        from koprep.stages.vectorize import ChargramParams, FittedVocabulary, transform

        entry = self.entry(stage)
        params = getattr(self.config, stage)
        fitted = FittedVocabulary(MatrixFiles.vocabulary(entry), entry.manifest["extra"]["fitted_documents"], params)
        if isinstance(params, ChargramParams):
            return transform(clean_texts(list(texts), self.config.clean), fitted, params)
        return transform(self.preprocess(texts), fitted, params)

    def features(self, stages: Sequence[str] | None = None) -> Features:
        """The matrices of several vectorizer stages side by side: one csr matrix whose rows follow
        the documents (in corpus order) and whose columns are each stage's vocabulary in turn,
        named "stage:term" (e.g. "tfidf:재밌", "chargram: 재"). By default the stages a classifier
        uses (`feature_stages`: every TF-IDF stage of the run, e.g. tfidf and chargram)."""
        if stages is None:
            stages = feature_stages(self.config)
        if not stages:
            raise ValueError("features() needs at least one vectorizer stage, e.g. ['tfidf', 'chargram']")
        matrices = [self.matrix(stage) for stage in stages]
        doc_ids = matrices[0].doc_ids
        for stage, other in zip(stages[1:], matrices[1:]):
            if other.doc_ids != doc_ids:
                raise StoreError(
                    f"the {stage!r} matrix of run {self.run_id} has other documents than the {stages[0]!r} matrix; "
                    "they must come from the same clean output"
                )
        columns = [f"{stage}:{term}" for stage, m in zip(stages, matrices) for term in m.terms]
        return Features(sp.hstack([m.matrix for m in matrices], format="csr"), columns, doc_ids)

    def word_vectors(self, stage: str = "word2vec") -> KeyedVectors:
        """gensim KeyedVectors of this run's `stage`: "word2vec", or "fasttext" (FastTextKeyedVectors
        that answer any word, in the vocabulary or not, from its subwords)."""
        if stage not in self._vectors:
            entry = self.entry(stage)
            dataset = holds_word_vectors(entry)
            if dataset is None:
                raise StoreError(f"the {stage!r} stage of run {self.run_id} holds no word vectors; use word2vec or fasttext")
            self._vectors[stage] = dataset.keyed_vectors(entry)
        return self._vectors[stage]

    def similar(self, word: str, topn: int = 10, stage: str = "word2vec") -> list[tuple[str, float]]:
        """The `topn` nearest words to `word` by cosine similarity of this run's `stage` vectors."""
        return self.word_vectors(stage).most_similar(self._known(word, stage), topn=topn)

    def similarity(self, first: str, second: str, stage: str = "word2vec") -> float:
        return float(self.word_vectors(stage).similarity(self._known(first, stage), self._known(second, stage)))

    def _known(self, word: str, stage: str) -> str:
        vectors = self.word_vectors(stage)
        if word not in vectors.key_to_index and not _answers_any_word(vectors):
            raise KeyError(
                f"{word!r} is not in the {stage} vocabulary of run {self.run_id} "
                f"(too rare for {stage}.min_count, or split differently by the tokenizer); "
                "fastText (run.stages with \"fasttext\") answers any word"
            )
        return word


def _answers_any_word(vectors: KeyedVectors) -> bool:
    from gensim.models.fasttext import FastTextKeyedVectors

    return isinstance(vectors, FastTextKeyedVectors) and vectors.bucket > 0


def feature_stages(config: PipelineConfig) -> list[str]:
    """The vectorizer stages a classifier uses for a run with this configuration: every TF-IDF one,
    else the count vectorizer with the longest n-grams (`koprep compare` classifies on these)."""
    from koprep.pipeline.resolve import vectorizer_stages
    from koprep.stages.vectorize import TfidfParams

    chosen = [name for name in vectorizer_stages() if name in config.run.stages]
    weighted = [name for name in chosen if isinstance(getattr(config, name), TfidfParams)]
    if weighted or not chosen:
        return weighted
    return [max(chosen, key=lambda name: getattr(config, name).ngram_range[1])]


def open_run(artifacts: str | os.PathLike[str] = "artifacts", run: str = "latest") -> Run:
    store = ArtifactStore(artifacts)
    return Run(store, store.read_run(run))
