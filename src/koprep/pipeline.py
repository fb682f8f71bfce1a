"""The pipeline's stages as plain functions over the artifact store, with no Prefect in them.

Each `*_stage` function computes its output's fingerprint from its parameters, code version and
upstream fingerprints, returns the stored entry when one is complete, and otherwise computes and
writes it atomically. `koprep.orchestration.flow` wraps each in a Prefect task; tests and other
orchestrators can call them directly.

Artifact layout per stage (all Parquet; `_manifest.json` beside them):
    clean/<fp>/part-NNNNN.parquet       doc_id, text, passthrough columns
    model/<fp>/model.parquet            a trainable tokenizer's learned table (soynlp)
    tokenize/<fp>/part-NNNNN.parquet    doc_id, tokens (list<string>)
    bow|ngram|tfidf/<fp>/               vocabulary.parquet, matrix.parquet, documents.parquet
    phrases/<fp>/phrases.parquet        gensim Phrases collocations (with word2vec.phrases)
    word2vec/<fp>/                      vectors.parquet, vectors.bin (word2vec binary)
    evaluate/<fp>/evaluation.json       `koprep evaluate`'s report
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from koprep import corpus as corpus_io
from koprep.config import PipelineConfig, TokenizeParams
from koprep.stages import clean as clean_logic
from koprep.stages import embed as embed_logic
from koprep.stages import tokenize as tokenize_logic
from koprep.stages import vectorize as vectorize_logic
from koprep.errors import EmptyResultError
from koprep.store import (
    ArtifactStore, CorruptArtifactError, Entry, PendingEntry, StoreError, fault_point, file_sha256, fingerprint,
    library_versions, write_json_atomic,
)
from koprep.tokenizers import get_tokenizer
from koprep.tokenizers.base import Tokenizer, TrainableTokenizer

log = logging.getLogger(__name__)

PART = "part-{:05d}.parquet"
MAX_WORDS_IN_BATCH = 10_000
"""gensim's word2vec reads at most this many tokens of one sentence (gensim.models.word2vec)."""
VECTORIZER_STAGES = ("bow", "ngram", "tfidf")
LIBRARIES = ("koprep", "konlpy", "soynlp", "scikit-learn", "gensim", "pandas", "pyarrow", "numpy", "kiwipiepy", "python-mecab-ko")


@dataclass
class StageResult:
    stage: str
    fingerprint: str
    path: str
    cached: bool
    seconds: float
    rows: int
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "stage"}


def _stage(
    store: ArtifactStore,
    stage: str,
    code_version: str,
    params: Any,
    inputs: dict[str, str],
    compute,
) -> StageResult:
    """Return the cached entry for this fingerprint, or run `compute(pending)` and publish it.
    `compute` writes files into `pending.path` and returns (rows, extra facts for the manifest).

    Computing happens under the entry's lock: a concurrent run that needs the same entry waits,
    then finds it complete and reuses it, so each entry is computed once."""
    started = time.perf_counter()
    fp = fingerprint(stage, code_version, params, inputs)
    entry = store.lookup(stage, fp)
    cached = entry is not None
    if entry is None:
        with store.lock(stage, fp):
            fault_point(f"{stage}.locked")
            entry = store.lookup(stage, fp, warn=False)  # completed by another run while this one waited
            cached = entry is not None
            if entry is None:
                manifest = {
                    "code_version": code_version,
                    "params": params,
                    "inputs": inputs,
                    "libraries": library_versions(*LIBRARIES),
                }
                with store.writing(stage, fp, manifest) as pending:
                    try:
                        rows, extra = compute(pending)
                    except EmptyResultError as exc:
                        raise EmptyResultError(f"the {stage} stage has nothing to compute: {exc}") from None
                    pending.manifest.update(rows=rows, extra=extra)
                entry = store.lookup(stage, fp)
                if entry is None:
                    raise CorruptArtifactError(f"{stage} output {fp} is not readable right after it was written")
    return StageResult(
        stage, fp, str(entry.path), cached, round(time.perf_counter() - started, 3),
        int(entry.manifest["rows"]), dict(entry.manifest.get("extra", {})),
    )


# ------------------------------------------------------------------------------ parts I/O
def arrow_table(frame: pd.DataFrame) -> pa.Table:
    """pandas → Arrow with plain `string` columns (pandas 3 would write `large_string`), so the
    files' schemas are the documented ones whichever pandas wrote them."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema = pa.schema(
        [f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f for f in table.schema]
    )
    return table.cast(schema)


def part_files(path: str | Path) -> list[Path]:
    return sorted(Path(path).glob("part-*.parquet"))


def iter_parts(path: str | Path, columns: list[str] | None = None) -> Iterator[pa.Table]:
    for file in part_files(path):
        yield pq.read_table(file, columns=columns)


class TokenShards:
    """Restartable iteration over a tokenize output, one shard (Parquet part) at a time, so that
    vectorizers and word2vec never hold the whole corpus's token lists in memory. Shards come as
    Arrow list<string> arrays, which the vectorizers and word2vec's reader consume without decoding
    every token to a Python string."""

    def __init__(self, path: str | Path) -> None:
        self.files = part_files(path)

    def __iter__(self) -> Iterator[tuple[list[str], pa.ListArray]]:
        """Each shard's (doc_ids, tokens)."""
        for file in self.files:
            table = pq.read_table(file, columns=["doc_id", "tokens"])
            yield table.column("doc_id").to_pylist(), table.column("tokens").combine_chunks()

    def token_arrays(self) -> Iterator[pa.ListArray]:
        for file in self.files:
            yield pq.read_table(file, columns=["tokens"]).column("tokens").combine_chunks()

    def token_lists(self) -> Iterator[list[list[str]]]:
        for tokens in self.token_arrays():
            yield tokens.to_pylist()


class Sentences:
    """Restartable flat iterable of documents' tokens (what gensim wants), skipping empty documents.
    gensim reads it once per epoch, one shard in memory at a time."""

    def __init__(self, shards: TokenShards) -> None:
        self.shards = shards

    def __iter__(self) -> Iterator[list[str]]:
        for tokens in self.shards.token_lists():
            for doc in tokens:
                if doc:
                    yield doc

    def with_vocabulary(self, keys: list[str]) -> "_VocabularySentences":
        """The same sentences, with each token that is in `keys` given as the very str object in
        `keys`, and every other token as None (see `embed.VocabularySentences`)."""
        return _VocabularySentences(self.shards, keys)


class _VocabularySentences:
    """Restartable. Decodes a shard by looking its tokens up in the vocabulary inside Arrow
    (`index_in`), then taking the vocabulary's own objects: no string is decoded from Parquet."""

    def __init__(self, shards: TokenShards, keys: list[str]) -> None:
        self.shards = shards
        self.value_set = pa.array(keys, pa.string())
        self.objects = np.empty(len(keys) + 1, dtype=object)
        self.objects[: len(keys)] = keys  # the last slot stays None: out of vocabulary

    def __iter__(self) -> Iterator[list[str | None]]:
        out_of_vocabulary = len(self.objects) - 1
        for tokens in self.shards.token_arrays():
            positions = pc.index_in(tokens.flatten(), value_set=self.value_set).fill_null(out_of_vocabulary)
            words = self.objects[positions.to_numpy()].tolist()
            offsets = (tokens.offsets.to_numpy() - tokens.offsets[0].as_py()).tolist()
            for start, end in zip(offsets[:-1], offsets[1:]):
                if end > start:
                    yield words[start:end]


# --------------------------------------------------------------------------------- stages
def preflight(store: ArtifactStore, location: str | None, config: PipelineConfig) -> None:
    """Check up front what would otherwise fail mid-run: the tokenizer backend is installed and its
    options are valid, stopword files and a given model can be read, the artifacts root can be
    written, and the corpus can be read and yields text after cleaning. The cleaned corpus is kept
    for `clean_stage` in this process, so checking it costs no second read; a corpus whose `clean`
    output is already stored was checked when it was made and is not read again."""
    corpus_io.corpus_files(location)
    params = config.tokenize
    tokenizer = get_tokenizer(params.backend, params.options)
    tokenize_logic.TokenFilter.for_backend(params, tokenizer)
    if params.model is not None:
        if not isinstance(tokenizer, TrainableTokenizer):
            raise StoreError(f"tokenize.model is set but backend {params.backend!r} does not use a trained model")
        resolve_model(store, params.model)
    if config.run.fitted_from is not None:
        store.read_run(config.run.fitted_from)
    store.check_writable()
    _, _, fp = _clean_key(location, config)
    if fp not in _checked_corpus and store.lookup("clean", fp) is None:
        _checked_corpus.clear()  # keep at most one corpus in memory
        _checked_corpus[fp] = read_clean_corpus(location, config)


_checked_corpus: dict[str, pd.DataFrame] = {}
"""clean fingerprint → the cleaned corpus `preflight` read, handed to `clean_stage` (same process)."""


def read_clean_corpus(location: str | None, config: PipelineConfig) -> pd.DataFrame:
    """The corpus read and cleaned (doc_id, text, passthrough columns). Documents that come out of
    cleaning empty are kept with their ids and counted, with a warning; if every document does,
    EmptyResultError says which setting to look at."""
    frame = corpus_io.read_corpus(location, config.corpus)
    was_empty = frame["text"].str.strip() == ""
    frame["text"] = clean_logic.clean_texts(frame["text"].tolist(), config.clean)
    frame.attrs["empty_documents"] = int(was_empty.sum())
    empty = frame["text"].str.strip() == ""
    source = corpus_io.describe_location(location)
    if empty.all():
        raise EmptyResultError(
            f"every document of {source} ({len(frame)}) is empty after cleaning, so there is nothing to tokenize. "
            f"Check that corpus.text_column names the text, or keep more characters with [clean] settings "
            f"(e.g. --set clean.keep_hanja=true, clean.keep_chars=...); `koprep clean-preview TEXT` shows each step"
        )
    emptied = empty & ~was_empty
    if emptied.any():
        log.warning(
            "%d of %d documents of %s are empty after cleaning (e.g. ids %s); they are kept, with empty text",
            int(emptied.sum()), len(frame), source, ", ".join(frame.loc[emptied, "doc_id"].head(5)),
        )
    return frame


def _clean_key(location: str | None, config: PipelineConfig) -> tuple[dict[str, Any], dict[str, str], str]:
    inputs = {"corpus": corpus_io.corpus_fingerprint(location, config.corpus)}
    params = {"corpus": config.corpus, "clean": config.clean, "shard_size": config.run.shard_size}
    return params, inputs, fingerprint("clean", clean_logic.VERSION, params, inputs)


def clean_stage(store: ArtifactStore, location: str | None, config: PipelineConfig) -> StageResult:
    params, inputs, fp = _clean_key(location, config)

    def compute(pending: PendingEntry):
        frame = _checked_corpus.pop(fp, None)
        if frame is None:
            frame = read_clean_corpus(location, config)
        fault_point("clean.read")
        empty = int((frame["text"].str.strip() == "").sum())
        size = config.run.shard_size
        for index, start in enumerate(range(0, max(len(frame), 1), size)):
            part = frame.iloc[start : start + size]
            pq.write_table(arrow_table(part), pending.path / PART.format(index))
            fault_point("clean.part-written")
        return len(frame), {
            "source": corpus_io.describe_source(location),
            "documents": len(frame),
            "empty_documents": int(frame.attrs.get("empty_documents", 0)),
            "empty_after_clean": empty,
            "steps": clean_logic.describe(config.clean),
        }

    return _stage(store, "clean", clean_logic.VERSION, params, inputs, compute)


def prepare_tokenizer(
    store: ArtifactStore, params: TokenizeParams, clean: StageResult | None = None
) -> tuple[Tokenizer, tokenize_logic.TokenFilter, str | None]:
    """The backend ready to tokenize, its resolved token filter, and the fingerprint of the trained
    model it uses (trainable backends only): the model named by `params.model`, else one trained on
    the `clean` output (cached as the `model` stage)."""
    tokenizer = get_tokenizer(params.backend, params.options)
    model_fp = None
    if isinstance(tokenizer, TrainableTokenizer):
        if params.model is not None:
            entry = resolve_model(store, params.model)
        elif clean is None:
            raise StoreError(f"backend {params.backend!r} needs a trained model; set tokenize.model")
        else:
            entry = _train_model(store, tokenizer, clean, params)
        tokenizer = tokenizer.with_model(pd.read_parquet(entry.file("model.parquet")))
        model_fp = entry.fingerprint
    return tokenizer, tokenize_logic.TokenFilter.for_backend(params, tokenizer), model_fp


def _train_model(store: ArtifactStore, tokenizer, clean: StageResult, params: TokenizeParams) -> Entry:
    def compute(pending: PendingEntry):
        model = tokenizer.fit(list(_clean_texts(clean.path)))
        pq.write_table(arrow_table(model), pending.path / "model.parquet")
        return len(model), {"backend": params.backend, "trained_on": clean.fingerprint}

    # Keyed by what training depends on only, so a tokenize-only option reuses the trained model.
    result = _stage(
        store, "model", tokenize_logic.VERSION,
        {"backend": params.backend, "fit_version": tokenizer.fit_version()},
        {"clean": clean.fingerprint}, compute,
    )
    return store.open_entry(result.path)


def resolve_model(store: ArtifactStore, reference: str) -> Entry:
    """A model named by an artifact folder (inside the store) or by a run id that trained one."""
    candidate = Path(reference)
    if not candidate.is_absolute() and len(candidate.parts) == 1 and not (store.root / candidate).is_dir():
        run = store.read_run(reference)
        model = run.get("model")
        if not model:
            raise StoreError(f"run {reference!r} used no trained tokenizer model; pass a model folder instead")
        return store.open_entry(model["path"])
    entry = store.open_entry(reference)
    if entry.stage != "model":
        raise StoreError(f"{reference} is a {entry.stage!r} artifact, not a tokenizer model (model/<fingerprint>)")
    return entry


def _clean_texts(path: str) -> Iterator[str]:
    for table in iter_parts(path, ["text"]):
        yield from table.column("text").to_pylist()


def tokenize_stage_params(
    params: TokenizeParams, tokenizer: Tokenizer, token_filter: tokenize_logic.TokenFilter
) -> dict[str, Any]:
    """What the tokenize fingerprint hashes: the backend, its version and the options that affect its
    output (defaults filled in; execution-only options such as okt `threads` and options the chosen
    mode ignores left out), and the resolved token filter. Never run settings (`run.*`)."""
    return {
        "backend": params.backend,
        "backend_version": tokenizer.version(),
        "options": tokenizer.options.affecting_output(),
        "filter": asdict(token_filter),
    }


def tokenize_stage(store: ArtifactStore, clean: StageResult, config: PipelineConfig) -> tuple[StageResult, str | None]:
    """Tokenize the cleaned corpus. Returns the result and, for trainable backends, the model's path."""
    params = config.tokenize
    tokenizer, token_filter, model_fp = prepare_tokenizer(store, params, clean)
    inputs = {"clean": clean.fingerprint}
    model_path = None
    if model_fp is not None:
        inputs["model"] = model_fp
        model_path = str(store.entry_path("model", model_fp))
    stage_params = tokenize_stage_params(params, tokenizer, token_filter)

    def compute(pending: PendingEntry):
        documents = empty = tokens_total = 0
        for index, table in enumerate(iter_parts(clean.path, ["doc_id", "text"])):
            tokens = tokenize_logic.tokenize_texts(tokenizer, table.column("text").to_pylist(), token_filter)
            out = pa.table({"doc_id": table.column("doc_id"), "tokens": pa.array(tokens, type=pa.list_(pa.string()))})
            pq.write_table(out, pending.path / PART.format(index))
            fault_point("tokenize.part-written")
            documents += len(tokens)
            empty += sum(1 for t in tokens if not t)
            tokens_total += sum(len(t) for t in tokens)
        return documents, {
            "backend": params.backend,
            "backend_version": tokenizer.version(),
            "documents": documents,
            "empty_documents": empty,
            "tokens": tokens_total,
            "stopwords": len(token_filter.stopwords),
            "drop_tags": list(token_filter.drop_tags),
        }

    return _stage(store, "tokenize", tokenize_logic.VERSION, stage_params, inputs, compute), model_path


def with_fitted_from(store: ArtifactStore, config: PipelineConfig) -> PipelineConfig:
    """With `run.fitted_from`, take cleaning, tokenization and vectorizer settings from that run, so
    this corpus is processed exactly as the one the vectorizers were fitted on."""
    if config.run.fitted_from is None:
        return config
    source = store.read_run(config.run.fitted_from)
    fitted = PipelineConfig.model_validate(source["config"])
    tokenize = fitted.tokenize
    if source.get("model") and tokenize.model is None:
        tokenize = tokenize.model_copy(update={"model": source["model"]["path"]})
    return config.model_copy(
        update={"clean": fitted.clean, "tokenize": tokenize, **{n: getattr(fitted, n) for n in VECTORIZER_STAGES}}
    )


def _fitted_entry(store: ArtifactStore, config: PipelineConfig, name: str) -> Entry | None:
    if config.run.fitted_from is None:
        return None
    stages = store.read_run(config.run.fitted_from)["stages"]
    if name not in stages:
        raise StoreError(f"run {config.run.fitted_from!r} has no fitted {name!r} vectorizer to apply")
    return store.open_entry(stages[name]["path"])


def vectorize_stage(store: ArtifactStore, name: str, tokens: StageResult, config: PipelineConfig) -> StageResult:
    """Fit (or, with `run.fitted_from`, reuse) a vocabulary shard-wise, then transform shard by shard."""
    params = getattr(config, name)
    inputs = {"tokenize": tokens.fingerprint}
    fitted_entry = _fitted_entry(store, config, name)
    if fitted_entry is not None:
        inputs["fitted"] = fitted_entry.fingerprint

    def compute(pending: PendingEntry):
        shards = TokenShards(tokens.path)
        if fitted_entry is None:
            fitted = vectorize_logic.fit_vocabulary(shards.token_arrays(), params)
        else:
            table = pd.read_parquet(fitted_entry.file("vocabulary.parquet"))
            fitted = vectorize_logic.FittedVocabulary(table, fitted_entry.manifest["extra"]["fitted_documents"], params)
        pq.write_table(arrow_table(fitted.table), pending.path / "vocabulary.parquet")
        fault_point(f"{name}.vocabulary-written")
        doc_ids: list[str] = []
        writer = None
        try:
            for shard_ids, shard_tokens in shards:
                matrix = vectorize_logic.transform(shard_tokens, fitted, params)
                long = arrow_table(vectorize_logic.to_long(matrix, shard_ids))
                if writer is None:
                    writer = pq.ParquetWriter(pending.path / "matrix.parquet", long.schema)
                writer.write_table(long)
                fault_point(f"{name}.matrix-shard-written")
                doc_ids.extend(shard_ids)
        finally:
            if writer is not None:
                writer.close()
        nnz = pq.ParquetFile(pending.path / "matrix.parquet").metadata.num_rows if writer else 0
        documents = pd.DataFrame({"row": np.arange(len(doc_ids), dtype=np.int64), "doc_id": doc_ids})
        pq.write_table(arrow_table(documents), pending.path / "documents.parquet")
        return len(doc_ids), {
            "documents": len(doc_ids),
            "terms": len(fitted.table),
            "nonzeros": nnz,
            "fitted_documents": fitted.n_docs,
            "fitted_on": fitted_entry.fingerprint if fitted_entry else tokens.fingerprint,
        }

    return _stage(store, name, vectorize_logic.VERSION, params, inputs, compute)


PHRASE_SETTINGS = ("phrases_min_count", "phrases_threshold", "phrases_scoring", "phrases_delimiter")


def phrases_stage(store: ArtifactStore, tokens: StageResult, config: PipelineConfig) -> StageResult:
    """gensim Phrases (collocations such as 국민_청원) learned from the tokens, cached as a table."""
    params = config.word2vec
    settings = {name: getattr(params, name) for name in PHRASE_SETTINGS}

    def compute(pending: PendingEntry):
        table = embed_logic.learn_phrases(Sentences(TokenShards(tokens.path)), params)
        pq.write_table(arrow_table(table), pending.path / "phrases.parquet")
        return len(table), {"phrases": len(table)}

    return _stage(store, "phrases", embed_logic.VERSION, settings, {"tokenize": tokens.fingerprint}, compute)


def word_counts(shards: TokenShards) -> embed_logic.WordCounts:
    """Word counts of the token shards, in first-occurrence order, counted by Arrow: what gensim's
    vocabulary scan would compute, without a Python pass over every token."""
    counts: dict[str, int] = {}
    sentences = too_long = 0
    for tokens in shards.token_arrays():
        lengths = pc.list_value_length(tokens)
        sentences += pc.sum(pc.greater(lengths, 0)).as_py() or 0
        too_long += pc.sum(pc.greater(lengths, MAX_WORDS_IN_BATCH)).as_py() or 0
        found = pc.value_counts(tokens.flatten())  # in order of first occurrence
        for word, count in zip(found.field("values").to_pylist(), found.field("counts").to_pylist()):
            counts[word] = counts.get(word, 0) + count
    if too_long:
        log.warning(
            "%d document(s) have more than %d tokens; gensim's word2vec trains on the first %d tokens of each "
            "(split long documents into lines or sentences to train on all of them)",
            too_long, MAX_WORDS_IN_BATCH, MAX_WORDS_IN_BATCH,
        )
    return embed_logic.WordCounts(counts, sentences)


class _Phrased:
    """Restartable: the sentences with a learned phrase table applied on every pass."""

    def __init__(self, sentences: Sentences, table: pd.DataFrame, params) -> None:
        self.sentences, self.table, self.params = sentences, table, params

    def __iter__(self) -> Iterator[list[str]]:
        return embed_logic.apply_phrases(self.sentences, self.table, self.params)


def word2vec_stage(store: ArtifactStore, tokens: StageResult, config: PipelineConfig) -> StageResult:
    """gensim Word2Vec streamed from the token shards (after the cached Phrases step, if enabled)."""
    params = config.word2vec
    inputs = {"tokenize": tokens.fingerprint}
    phrases = phrases_stage(store, tokens, config) if params.phrases else None
    if phrases is not None:
        inputs["phrases"] = phrases.fingerprint

    def compute(pending: PendingEntry):
        shards = TokenShards(tokens.path)
        sentences = Sentences(shards)
        if phrases is None:
            kv = embed_logic.train_word2vec(sentences, params, word_counts(shards))
        else:
            table = pd.read_parquet(Path(phrases.path) / "phrases.parquet")
            kv = embed_logic.train_word2vec(_Phrased(sentences, table, params), params.model_copy(update={"phrases": False}))
        fault_point("word2vec.trained")
        pq.write_table(embed_logic.vectors_table(kv), pending.path / "vectors.parquet")
        fault_point("word2vec.vectors-parquet-written")
        embed_logic.write_word2vec_binary(kv, pending.path / "vectors.bin")
        return len(kv), {"terms": len(kv), "vector_size": kv.vector_size}

    result = _stage(store, "word2vec", embed_logic.VERSION, params, inputs, compute)
    if phrases is not None:
        result.extra["phrases"] = phrases.summary()
    return result


def evaluate_stage(
    store: ArtifactStore, word2vec: Entry, analogies: str | None = None, similarity: str | None = None
) -> StageResult:
    """Evaluate a word2vec output on a Korean analogy set and/or a word-similarity set; the report
    (`evaluation.json`) is cached under the model's and the evaluation files' fingerprints."""
    from koprep.evaluate import EvaluationFileError, evaluate_analogies, evaluate_similarity

    if word2vec.stage != "word2vec":
        raise StoreError(f"{word2vec.path} is a {word2vec.stage!r} artifact, not word2vec vectors")
    files = {"analogies": analogies, "similarity": similarity}
    if not any(files.values()):
        raise EvaluationFileError("nothing to evaluate: pass an analogy file and/or a word-similarity file")
    inputs = {"word2vec": word2vec.fingerprint}
    for kind, path in files.items():
        if path is not None:
            if not Path(path).is_file():
                raise EvaluationFileError(f"{kind} file {path} does not exist")
            inputs[kind] = file_sha256(Path(path))

    def compute(pending: PendingEntry):
        from gensim.models import KeyedVectors

        kv = KeyedVectors.load_word2vec_format(str(word2vec.file("vectors.bin")), binary=True)
        # Paths relative to the store, evaluation files by name and content hash: no absolute path
        # of this machine goes into the artifact.
        report: dict[str, Any] = {"word2vec": store.relative(word2vec.path)}
        headline: dict[str, Any] = {}
        if analogies:
            scores = evaluate_analogies(kv, analogies)
            report["analogies"] = {"file": Path(analogies).name, "sha256": inputs["analogies"], **scores}
            headline.update(analogy_accuracy=scores["overall_accuracy"], analogy_oov_rate=scores["oov_rate"])
        if similarity:
            scores = evaluate_similarity(kv, similarity)
            report["similarity"] = {"file": Path(similarity).name, "sha256": inputs["similarity"], **scores}
            headline.update(similarity_spearman=scores["spearman"], similarity_oov_rate=scores["oov_rate"])
        write_json_atomic(pending.path / "evaluation.json", report)
        return 1, headline

    return _stage(store, "evaluate", "1", {k: v is not None for k, v in files.items()}, inputs, compute)
