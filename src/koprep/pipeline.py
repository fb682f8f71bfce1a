"""The pipeline's stages as plain functions over the artifact store, with no Prefect in them.

Each stage's cache key (code version, parameters, inputs, libraries) comes from one `*_key`
function. The `*_stage` functions call it with their upstream results, return the stored entry when
one is complete, and otherwise compute and write it atomically; `koprep.plan` calls the same
functions to know every fingerprint before any work. `koprep.orchestration.flow` wraps each stage in
a Prefect task; tests and other orchestrators can call them directly.

`clean` and `tokenize` work shard by shard (`koprep.shards`: content-defined runs of ~`run.shard_size`
documents whose boundaries stay put when documents are appended or edited). Each shard is an entry
of its own (`clean-shard`, `tokenize-shard`), keyed by its documents' bytes and the settings, so a
changed corpus recomputes only the shards whose documents changed; the stage entry then holds every
shard's part as a hard link, in corpus order, and lists the shard entries in its manifest (`shards`).

Artifact layout per stage (all Parquet; `_manifest.json` beside them):
    clean/<fp>/part-NNNNN.parquet       doc_id, text, passthrough columns (shard NNNNN)
    clean-shard/<fp>/part.parquet       one shard of it
    model/<fp>/model.parquet            a trainable tokenizer's learned table (soynlp)
    tokenize/<fp>/part-NNNNN.parquet    doc_id, tokens (list<string>)
    tokenize-shard/<fp>/part.parquet    one shard of it
    bow|ngram|tfidf/<fp>/               vocabulary.parquet, matrix.parquet, documents.parquet
    chargram/<fp>/                      the same, over character n-grams of the clean texts
    phrases/<fp>/phrases.parquet        gensim Phrases collocations (with word2vec.phrases)
    word2vec/<fp>/                      vectors.parquet, vectors.bin (word2vec binary)
    evaluate/<fp>/evaluation.json       `koprep evaluate`'s report
"""

from __future__ import annotations

import functools
import logging
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from koprep import corpus as corpus_io
from koprep import parallel
from koprep import shards as shards_logic
from koprep.config import PipelineConfig, TokenizeParams
from koprep.progress import ProgressCallback, ProgressCounter
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
SHARD_PART = "part.parquet"
CLEAN_SHARD = "clean-shard"
TOKENIZE_SHARD = "tokenize-shard"
"""The per-shard entries `clean` and `tokenize` are assembled from (one Parquet part each)."""
MAX_WORDS_IN_BATCH = 10_000
"""gensim's word2vec reads at most this many tokens of one sentence (gensim.models.word2vec)."""
VECTORIZER_STAGES = ("bow", "ngram", "tfidf")
TEXT_VECTORIZER_STAGES = ("chargram",)
"""Vectorizers of the cleaned text (character n-grams) rather than of the tokens."""
TOKEN_STAGES = ("tokenize", *VECTORIZER_STAGES, "word2vec")
"""The stages that need the tokenize output: tokenization runs only when one of them is wanted."""
RUN_ORDER = ("clean", "tokenize", *VECTORIZER_STAGES, *TEXT_VECTORIZER_STAGES, "word2vec")
"""The order a run reports its stages in, whichever finished first."""
LIBRARIES = ("koprep", "konlpy", "soynlp", "scikit-learn", "gensim", "pandas", "pyarrow", "numpy", "kiwipiepy", "python-mecab-ko")
DOWNSTREAM = {
    "clean": ("model", "tokenize", *TEXT_VECTORIZER_STAGES),
    "model": ("tokenize",),
    "tokenize": (*VECTORIZER_STAGES, "phrases", "word2vec"),
    "phrases": ("word2vec",),
}
"""Which stages consume each stage's output (`run.force` recomputes these too)."""


@dataclass(frozen=True)
class StageKey:
    """Everything that determines one stage's output. The executing stage and `koprep.plan` both
    build it with the `*_key` functions below, so the plan's fingerprints are the ones a run uses."""

    stage: str
    code_version: str
    params: Any
    inputs: dict[str, str]
    libraries: dict[str, str] = field(default_factory=dict)
    """Versions of the libraries whose algorithms compute the output (gensim for word2vec)."""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.stage, self.code_version, self.params, self.inputs, self.libraries)


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

    @classmethod
    def from_entry(cls, entry: Entry, cached: bool, seconds: float = 0.0) -> "StageResult":
        return cls(
            entry.stage, entry.fingerprint, str(entry.path), cached, round(seconds, 3),
            int(entry.manifest["rows"]), dict(entry.manifest.get("extra", {})),
        )


def _stage(store: ArtifactStore, key: StageKey, compute, *, force: bool = False) -> StageResult:
    """Return the cached entry for this key, or run `compute(pending)` and publish it (with `force`,
    compute and replace a stored entry). `compute` writes files into `pending.path` and returns
    (rows, extra facts for the manifest).

    Computing happens under the entry's lock: a concurrent run that needs the same entry waits,
    then finds it complete and reuses it, so each entry is computed once."""
    started = time.perf_counter()
    entry, cached = _stage_entry(store, key, compute, force=force)
    return StageResult.from_entry(entry, cached, time.perf_counter() - started)


def _stage_entry(store: ArtifactStore, key: StageKey, compute, *, force: bool = False) -> tuple[Entry, bool]:
    """`_stage`'s work: the entry, and whether it came from the store."""
    stage, fp = key.stage, key.fingerprint
    entry = None if force else store.lookup(stage, fp)
    cached = entry is not None
    if entry is None:
        with store.lock(stage, fp):
            fault_point(f"{stage}.locked")
            # completed by another run while this one waited (a forced run recomputes regardless)
            entry = None if force else store.lookup(stage, fp, warn=False)
            cached = entry is not None
            if entry is None:
                manifest = {
                    "code_version": key.code_version,
                    "params": key.params,
                    "inputs": key.inputs,
                    "libraries": library_versions(*LIBRARIES),
                }
                with store.writing(stage, fp, manifest, replace=force) as pending:
                    computing = time.perf_counter()
                    try:
                        rows, extra = compute(pending)
                    except EmptyResultError as exc:
                        raise EmptyResultError(f"the {stage} stage has nothing to compute: {exc}") from None
                    # How long computing took (throughput for `koprep compare` when the entry is reused later).
                    seconds = round(time.perf_counter() - computing, 3)
                    pending.manifest.update(rows=rows, extra=extra, compute_seconds=seconds)
                entry = store.lookup(stage, fp)
                if entry is None:
                    raise CorruptArtifactError(f"{stage} output {fp} is not readable right after it was written")
    return entry, cached


def forced_stages(config: PipelineConfig) -> dict[str, str]:
    """Each stage `run.force` recomputes, mapped to the named stage that causes it: the named
    stages and every stage downstream of them (a recomputed stage whose output is unchanged keeps
    its fingerprint, so its consumers would otherwise still be cache hits)."""
    forced: dict[str, str] = {}
    for named in config.run.force:
        pending = [named]
        while pending:
            stage = pending.pop()
            if stage not in forced:
                forced[stage] = named
                pending.extend(DOWNSTREAM.get(stage, ()))
    return forced


def _forced(stage: str, config: PipelineConfig) -> bool:
    return stage in forced_stages(config)


# ------------------------------------------------------------------------------ stage keys
def clean_key(location: str | None, config: PipelineConfig) -> StageKey:
    return StageKey(
        "clean", clean_logic.VERSION,
        {"corpus": config.corpus, "clean": config.clean, "shard_size": config.run.shard_size},
        {"corpus": corpus_io.corpus_fingerprint(location, config.corpus)},
    )


def clean_shard_key(shard: shards_logic.Shard, config: PipelineConfig) -> StageKey:
    """One shard of the clean stage: its documents' bytes (as read) and the clean settings."""
    return StageKey(CLEAN_SHARD, clean_logic.VERSION, {"clean": config.clean}, {"documents": shard.digest})


def corpus_shards(frame: pd.DataFrame, config: PipelineConfig) -> tuple[list[shards_logic.Shard], list[StageKey]]:
    """The shards of a corpus read as `frame`, and each one's `clean-shard` key."""
    shards = shards_logic.split(frame, config.run.shard_size)
    return shards, [clean_shard_key(shard, config) for shard in shards]


def model_key(clean_fp: str, params: TokenizeParams, tokenizer: Tokenizer) -> StageKey:
    # Keyed by what training depends on only, so a tokenize-only option reuses the trained model.
    return StageKey(
        "model", tokenize_logic.VERSION,
        {"backend": params.backend, "fit_version": tokenizer.fit_version()}, {"clean": clean_fp},
    )


def tokenize_key(clean_fp: str, params: TokenizeParams, tokenizer: Tokenizer, model_fp: str | None) -> StageKey:
    """`tokenizer` is the backend as configured, before any model is loaded: a trained model enters
    the key through its fingerprint (`inputs.model`), which is known before it is trained."""
    inputs = {"clean": clean_fp}
    if model_fp is not None:
        inputs["model"] = model_fp
    token_filter = tokenize_logic.TokenFilter.for_backend(params, tokenizer)
    return StageKey("tokenize", tokenize_logic.VERSION, tokenize_stage_params(params, tokenizer, token_filter), inputs)


def vectorize_key(
    name: str, upstream_name: str, upstream_fp: str, config: PipelineConfig, fitted: Entry | None
) -> StageKey:
    """bow/ngram/tfidf read the tokenize output; chargram reads the clean output."""
    inputs = {upstream_name: upstream_fp}
    if fitted is not None:
        inputs["fitted"] = fitted.fingerprint
    return StageKey(name, vectorize_logic.VERSION, getattr(config, name), inputs)


def _gensim() -> dict[str, str]:
    return library_versions("gensim")


def phrases_key(tokens_fp: str, config: PipelineConfig) -> StageKey:
    settings = {name: getattr(config.word2vec, name) for name in PHRASE_SETTINGS}
    return StageKey("phrases", embed_logic.VERSION, settings, {"tokenize": tokens_fp}, _gensim())


def word2vec_key(tokens_fp: str, config: PipelineConfig, phrases_fp: str | None) -> StageKey:
    inputs = {"tokenize": tokens_fp}
    if phrases_fp is not None:
        inputs["phrases"] = phrases_fp
    return StageKey("word2vec", embed_logic.VERSION, config.word2vec, inputs, _gensim())


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


READ_GROUP_DOCUMENTS = 20_000
"""The stages after tokenize read consecutive shards together, in groups of at least this many
documents: every read has fixed costs (opening a Parquet file, the vectorizers' per-batch n-gram
encoding, word2vec's reader hashing the whole vocabulary for `index_in`), which on ~2,000-document
shards cost more than the work (ngram on 200k NSMC reviews: 2.1-2.3 s in groups of 20,000, 2.9-3.8 s
shard by shard). Groups depend only on the shards, so every pass sees the same ones."""


class _ShardReader:
    """Restartable iteration over a stage's Parquet parts in groups of consecutive shards (see
    READ_GROUP_DOCUMENTS), so that no stage holds the whole corpus in memory. `counter` is advanced
    by one per shard once its group has been used (for progress reports)."""

    def __init__(self, path: str | Path, counter: ProgressCounter | None = None) -> None:
        self.files = part_files(path)
        self.counter = counter

    def _tables(self, columns: list[str]) -> Iterator[pa.Table]:
        group: list[pa.Table] = []
        held = 0
        for file in self.files:
            table = pq.read_table(file, columns=columns)
            group.append(table)
            held += table.num_rows
            if held >= READ_GROUP_DOCUMENTS:
                yield from self._used(group)
                group, held = [], 0
        if group:
            yield from self._used(group)

    def _used(self, group: list[pa.Table]) -> Iterator[pa.Table]:
        yield group[0] if len(group) == 1 else pa.concat_tables(group)
        if self.counter is not None:
            self.counter.advance(len(group))


class TokenShards(_ShardReader):
    """A tokenize output's token lists, as Arrow list<string> arrays, which the vectorizers and
    word2vec's reader consume without decoding every token to a Python string."""

    def __iter__(self) -> Iterator[tuple[list[str], pa.ListArray]]:
        """Each group's (doc_ids, tokens)."""
        for table in self._tables(["doc_id", "tokens"]):
            yield table.column("doc_id").to_pylist(), table.column("tokens").combine_chunks()

    def token_arrays(self) -> Iterator[pa.ListArray]:
        for table in self._tables(["tokens"]):
            yield table.column("tokens").combine_chunks()

    def documents(self) -> Iterator[pa.ListArray]:
        """What bow/ngram/tfidf fit on: each group's token lists."""
        return self.token_arrays()

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
    """Check up front what would otherwise fail mid-run, beyond what building the plan
    (`koprep.plan.build_plan`: settings, backend and options, stopword files, model and run
    references, the corpus's files) already checked: the artifacts root can be written, and the
    corpus can be read and yields text after cleaning. The corpus read, cut into shards and cleaned
    (the shards not in the store yet) is kept for `clean_stage` in this process, so checking it costs
    no second read; a corpus whose `clean` output is already stored was checked when it was made and
    is not read again."""
    store.check_writable()
    fp = clean_key(location, config).fingerprint
    if fp not in _checked_corpus and store.lookup("clean", fp) is None:
        _checked_corpus.clear()  # keep at most one corpus in memory
        _checked_corpus[fp] = read_sharded_corpus(store, location, config)


@dataclass
class ShardedCorpus:
    """A corpus as read, cut into shards (`koprep.shards`), with the cleaned documents of each shard
    whose `clean-shard` entry was not in the store when it was read. The cleaned shards are kept as
    Arrow tables (a few bytes per character, rather than a Python object per value) and the corpus
    as read is not kept, so memory stays near the size of the text."""

    shards: list[shards_logic.Shard]
    keys: list[StageKey]
    """Each shard's `clean-shard` key."""
    cleaned: dict[int, tuple[pa.Table, dict[str, int]]]
    """Shard index → (cleaned documents, `clean_documents` facts), for shards to be written."""
    totals: dict[str, int]
    """documents, empty_documents (before cleaning), empty_after_clean, over every shard."""


_checked_corpus: dict[str, ShardedCorpus] = {}
"""clean fingerprint → the corpus `preflight` read, handed to `clean_stage` (same process)."""


def clean_documents(frame: pd.DataFrame, config: PipelineConfig) -> tuple[pd.DataFrame, dict[str, int], pd.Series]:
    """Documents (doc_id, text, passthrough columns) with their text cleaned; counts of the
    documents, of those empty before cleaning, of those empty after, and of those cleaning emptied;
    and the mask of the emptied ones."""
    was_empty = frame["text"].str.strip() == ""
    frame = frame.copy()
    frame["text"] = clean_logic.clean_texts(frame["text"].tolist(), config.clean)
    empty = frame["text"].str.strip() == ""
    emptied = empty & ~was_empty
    facts = {
        "documents": len(frame),
        "empty_documents": int(was_empty.sum()),
        "empty_after_clean": int(empty.sum()),
        "emptied": int(emptied.sum()),
    }
    return frame, facts, emptied


def read_sharded_corpus(store: ArtifactStore, location: str | None, config: PipelineConfig) -> ShardedCorpus:
    """The corpus read and cut into shards, with the shards not in the store cleaned. Documents
    that come out of cleaning empty are kept with their ids and counted, with a warning; if every
    document does, EmptyResultError says which setting to look at."""
    frame = corpus_io.read_corpus(location, config.corpus)
    shards, keys = corpus_shards(frame, config)
    force = _forced("clean", config)
    cleaned: dict[int, tuple[pa.Table, dict[str, int]]] = {}
    totals = dict.fromkeys(("documents", "empty_documents", "empty_after_clean", "emptied"), 0)
    examples: list[str] = []
    for shard, key in zip(shards, keys):
        entry = None if force else store.lookup(key.stage, key.fingerprint)
        if entry is not None:
            facts = entry.manifest["extra"]
        else:
            part, facts, emptied = clean_documents(frame.iloc[shard.start : shard.stop], config)
            cleaned[shard.index] = (arrow_table(part), facts)
            if len(examples) < 5:
                examples += part.loc[emptied, "doc_id"].head(5 - len(examples)).tolist()
        for name in totals:
            totals[name] += int(facts[name])
    source = corpus_io.describe_location(location)
    if totals["empty_after_clean"] == totals["documents"]:
        raise EmptyResultError(
            f"every document of {source} ({totals['documents']}) is empty after cleaning, so there is nothing to "
            f"tokenize. Check that corpus.text_column names the text, or keep more characters with [clean] settings "
            f"(e.g. --set clean.keep_hanja=true, clean.keep_chars=...); `koprep clean-preview TEXT` shows each step"
        )
    if totals["emptied"]:
        log.warning(
            "%d of %d documents of %s are empty after cleaning%s; they are kept, with empty text",
            totals["emptied"], totals["documents"], source, f" (e.g. ids {', '.join(examples)})" if examples else "",
        )
    return ShardedCorpus(shards, keys, cleaned, totals)


def clean_stage(store: ArtifactStore, location: str | None, config: PipelineConfig) -> StageResult:
    """Clean the corpus shard by shard: each shard is a `clean-shard` entry keyed by its documents'
    bytes and the clean settings, computed only when it is not in the store; the `clean` entry holds
    every shard's part (hard links), in corpus order."""
    key = clean_key(location, config)
    force = _forced("clean", config)

    def compute(pending: PendingEntry):
        corpus = _checked_corpus.pop(key.fingerprint, None) or read_sharded_corpus(store, location, config)
        fault_point("clean.read")
        computed = []
        for shard, shard_key in zip(corpus.shards, corpus.keys):
            write = functools.partial(_write_clean_shard, corpus, shard, location, config)
            entry, cached = _stage_entry(store, shard_key, write, force=force)
            if not cached:
                computed.append(shard.index)
            pending.link(entry, SHARD_PART, PART.format(shard.index))
            fault_point("clean.part-written")
        pending.manifest["shards"] = [shard_key.fingerprint for shard_key in corpus.keys]
        return corpus.totals["documents"], {
            "source": corpus_io.describe_source(location),
            "documents": corpus.totals["documents"],
            "empty_documents": corpus.totals["empty_documents"],
            "empty_after_clean": corpus.totals["empty_after_clean"],
            "steps": clean_logic.describe(config.clean),
            "shards": len(corpus.shards),
            "computed_shards": computed,
        }

    return _stage(store, key, compute, force=force)


def _write_clean_shard(
    corpus: ShardedCorpus, shard: shards_logic.Shard, location: str | None, config: PipelineConfig, pending: PendingEntry
) -> tuple[int, dict[str, int]]:
    found = corpus.cleaned.pop(shard.index, None)
    if found is None:
        # The shard was in the store when the corpus was read, and is gone now (removed meanwhile,
        # or forced): read the corpus again for it.
        frame = corpus_io.read_corpus(location, config.corpus).iloc[shard.start : shard.stop]
        part, facts, _ = clean_documents(frame, config)
        found = (arrow_table(part), facts)
    table, facts = found
    pq.write_table(table, pending.path / SHARD_PART)
    return table.num_rows, facts


def prepare_tokenizer(
    store: ArtifactStore, params: TokenizeParams, clean: StageResult | None = None, config: PipelineConfig | None = None
) -> tuple[Tokenizer, tokenize_logic.TokenFilter, str | None]:
    """The backend ready to tokenize, its resolved token filter, and the fingerprint of the trained
    model it uses (trainable backends only): the model named by `params.model`, else one trained on
    the `clean` output (cached as the `model` stage)."""
    tokenizer = get_tokenizer(params.backend, params.options)
    model = _model_entry(store, tokenizer, params, clean, config)
    if model is not None:
        tokenizer = tokenizer.with_model(pd.read_parquet(model.file("model.parquet")))
    return tokenizer, tokenize_logic.TokenFilter.for_backend(params, tokenizer), model and model.fingerprint


def _model_entry(
    store: ArtifactStore, tokenizer: Tokenizer, params: TokenizeParams, clean: StageResult | None,
    config: PipelineConfig | None = None,
) -> Entry | None:
    """The trained model a trainable backend uses (None for the others): the one `params.model`
    names, else the `model` stage trained on `clean`."""
    if not isinstance(tokenizer, TrainableTokenizer):
        return None
    if params.model is not None:
        return resolve_model(store, params.model)
    if clean is None:
        raise StoreError(f"backend {params.backend!r} needs a trained model; set tokenize.model")

    def compute(pending: PendingEntry):
        model = tokenizer.fit(list(_clean_texts(clean.path)))
        pq.write_table(arrow_table(model), pending.path / "model.parquet")
        return len(model), {"backend": params.backend, "trained_on": clean.fingerprint}

    force = config is not None and _forced("model", config)
    return _stage_entry(store, model_key(clean.fingerprint, params, tokenizer), compute, force=force)[0]


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


ShardRunner = Callable[[list[int]], str]
"""Computes the `tokenize-shard` entries of the given shard indices (`tokenize_shards`, wherever an
orchestrator runs it) and says how, for the run summary."""


def tokenize_stage(
    store: ArtifactStore, clean: StageResult, config: PipelineConfig, on_progress: ProgressCallback | None = None,
    run_shards: ShardRunner | None = None,
) -> tuple[StageResult, str | None]:
    """Tokenize the cleaned corpus shard by shard. Returns the result and, for trainable backends,
    the model's path.

    Each shard's tokens are a `tokenize-shard` entry keyed by its clean shard and the tokenize
    settings; only the shards not in the store are tokenized, by `run_shards` (default: in this
    process, `tokenize_shards`; the flow hands them to its runner), and the `tokenize` entry holds
    every shard's part (hard links) in corpus order. The backend (its JVM, its trained model) is only
    loaded when some shard is tokenized. `on_progress(documents_done, documents)` is called as
    batches of documents are tokenized (in-process only)."""
    params = config.tokenize
    backend = get_tokenizer(params.backend, params.options)
    model = _model_entry(store, backend, params, clean, config)
    model_fp = model and model.fingerprint
    key = tokenize_key(clean.fingerprint, params, backend, model_fp)
    force = _forced("tokenize", config)
    if run_shards is None:
        def run_shards(indices: list[int]) -> str:
            return tokenize_shards(store, clean, config, indices, on_progress)

    def compute(pending: PendingEntry):
        shard_keys = tokenize_shard_keys(store, clean, params, backend, model_fp)
        stored = [None if force else store.lookup(k.stage, k.fingerprint) for k in shard_keys]
        missing = [index for index, entry in enumerate(stored) if entry is None]
        how = run_shards(missing) if missing else "nothing to tokenize"
        totals = dict.fromkeys(("documents", "empty_documents", "tokens"), 0)
        for index, shard_key in enumerate(shard_keys):
            entry = stored[index] or store.lookup(shard_key.stage, shard_key.fingerprint)
            if entry is None:
                raise CorruptArtifactError(f"tokenize shard {index} ({shard_key.fingerprint}) is missing right after it was computed")
            pending.link(entry, SHARD_PART, PART.format(index))
            for name in totals:
                totals[name] += int(entry.manifest["extra"][name])
        pending.manifest["shards"] = [shard_key.fingerprint for shard_key in shard_keys]
        token_filter = tokenize_logic.TokenFilter.for_backend(params, backend)
        return totals["documents"], {
            "backend": params.backend,
            "backend_version": backend.version(),
            **totals,
            "stopwords": len(token_filter.stopwords),
            "drop_tags": list(token_filter.drop_tags),
            "parallel": how,
            "shards": len(shard_keys),
            "computed_shards": missing,
        }

    return _stage(store, key, compute, force=force), None if model is None else str(model.path)


def tokenize_shard_keys(
    store: ArtifactStore, clean: StageResult, params: TokenizeParams, tokenizer: Tokenizer, model_fp: str | None,
) -> list[StageKey]:
    """The `tokenize-shard` key of each shard of the `clean` output, in corpus order."""
    clean_shards = store.open_entry(clean.path).manifest["shards"]
    return [tokenize_shard_key(fp, params, tokenizer, model_fp) for fp in clean_shards]


def tokenize_shard_key(clean_shard_fp: str, params: TokenizeParams, tokenizer: Tokenizer, model_fp: str | None) -> StageKey:
    """One shard of the tokenize stage: the tokenize key with the clean shard as its input."""
    inputs = {CLEAN_SHARD: clean_shard_fp}
    if model_fp is not None:
        inputs["model"] = model_fp
    return replace(tokenize_key(clean_shard_fp, params, tokenizer, model_fp), stage=TOKENIZE_SHARD, inputs=inputs)


def tokenize_shards(
    store: ArtifactStore, clean: StageResult, config: PipelineConfig, indices: list[int],
    on_progress: ProgressCallback | None = None,
) -> str:
    """Tokenize the clean output's shards `indices` in this process, on `run.workers` cores the way
    the backend parallelises best (`koprep.parallel`), and store each as its `tokenize-shard` entry.
    Returns how the work was spread."""
    params = config.tokenize
    backend = get_tokenizer(params.backend, params.options)
    model = _model_entry(store, backend, params, clean, config)
    shard_keys = tokenize_shard_keys(store, clean, params, backend, model and model.fingerprint)
    tokenizer = backend if model is None else backend.with_model(pd.read_parquet(model.file("model.parquet")))
    token_filter = tokenize_logic.TokenFilter.for_backend(params, tokenizer)
    files = part_files(clean.path)
    sizes = [pq.ParquetFile(files[i]).metadata.num_rows for i in indices]
    counter = ProgressCounter(on_progress, sum(sizes))
    doc_ids: deque[pa.ChunkedArray] = deque()

    def shard_texts() -> Iterator[list[str]]:
        for index in indices:
            table = pq.read_table(files[index], columns=["doc_id", "text"])
            doc_ids.append(table.column("doc_id"))
            yield table.column("text").to_pylist()

    how = parallel.plan(tokenizer, config.run.workers or parallel.default_workers(), sum(sizes))
    force = _forced("tokenize", config)
    for index, tokens in zip(indices, parallel.tokenize_shards(tokenizer, token_filter, shard_texts(), how)):
        table = pa.table({"doc_id": doc_ids.popleft(), "tokens": tokens})
        _stage_entry(store, shard_keys[index], functools.partial(_write_tokens_shard, table), force=force)
        fault_point("tokenize.part-written")
        counter.advance(len(tokens))
    counter.finish()
    return str(how)


def _write_tokens_shard(table: pa.Table, pending: PendingEntry) -> tuple[int, dict[str, int]]:
    pq.write_table(table, pending.path / SHARD_PART)
    lengths = pc.list_value_length(table.column("tokens"))
    return table.num_rows, {
        "documents": table.num_rows,
        "empty_documents": pc.sum(pc.equal(lengths, 0)).as_py() or 0,
        "tokens": pc.sum(lengths).as_py() or 0,
    }


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
        update={
            "clean": fitted.clean, "tokenize": tokenize,
            **{n: getattr(fitted, n) for n in VECTORIZER_STAGES + TEXT_VECTORIZER_STAGES},
        }
    )


def fitted_vectorizer(store: ArtifactStore, config: PipelineConfig, name: str) -> Entry | None:
    """With `run.fitted_from`, that run's fitted `name` vectorizer (bow, ngram or tfidf); else None."""
    if config.run.fitted_from is None:
        return None
    stages = store.read_run(config.run.fitted_from)["stages"]
    if name not in stages:
        raise StoreError(f"run {config.run.fitted_from!r} has no fitted {name!r} vectorizer to apply")
    return store.open_entry(stages[name]["path"])


def vectorize_stage(
    store: ArtifactStore, name: str, tokens: StageResult, config: PipelineConfig,
    on_progress: ProgressCallback | None = None,
) -> StageResult:
    """Fit (or, with `run.fitted_from`, reuse) a vocabulary shard-wise, then transform shard by shard.
    `on_progress(shards_done, shards)` counts shard reads: the fitting pass and the transform pass."""
    return _vectorize(store, name, config, ("tokenize", tokens), TokenShards, on_progress)


def chargram_stage(
    store: ArtifactStore, clean: StageResult, config: PipelineConfig, on_progress: ProgressCallback | None = None,
) -> StageResult:
    """TF-IDF over character n-grams of the cleaned text (`[chargram]`), fitted and applied shard by
    shard like the token vectorizers, with the same artifact layout."""
    return _vectorize(store, "chargram", config, ("clean", clean), TextShards, on_progress)


class TextShards(_ShardReader):
    """A clean output's texts."""

    def __iter__(self) -> Iterator[tuple[list[str], list[str]]]:
        """Each group's (doc_ids, texts)."""
        for table in self._tables(["doc_id", "text"]):
            yield table.column("doc_id").to_pylist(), table.column("text").to_pylist()

    def documents(self) -> Iterator[list[str]]:
        """What chargram fits on: each group's texts."""
        for table in self._tables(["text"]):
            yield table.column("text").to_pylist()


def _vectorize(
    store: ArtifactStore, name: str, config: PipelineConfig, upstream: tuple[str, StageResult],
    shard_reader: type[TokenShards] | type[TextShards], on_progress: ProgressCallback | None,
) -> StageResult:
    """One vectorizer stage over the `upstream` (stage name, result): `shard_reader(path, counter)`
    yields each shard's (doc_ids, documents) for transforming, and its `documents()` the documents
    alone for fitting (token arrays, or texts for chargram)."""
    params = getattr(config, name)
    upstream_name, upstream_result = upstream
    fitted_entry = fitted_vectorizer(store, config, name)

    def compute(pending: PendingEntry):
        passes = 1 if fitted_entry is not None else 2
        counter = ProgressCounter(on_progress, passes * len(part_files(upstream_result.path)))
        shards = shard_reader(upstream_result.path, counter)
        if fitted_entry is None:
            # Fitted on these very shards: the transform maps each shard's terms by the fit's own
            # integer maps, without building or looking up n-gram strings a second time.
            shardwise = vectorize_logic.fit_shards(shards.documents(), params)
            fitted = shardwise.vocabulary
        else:
            table = pd.read_parquet(fitted_entry.file("vocabulary.parquet"))
            fitted = vectorize_logic.FittedVocabulary(table, fitted_entry.manifest["extra"]["fitted_documents"], params)
        pq.write_table(arrow_table(fitted.table), pending.path / "vocabulary.parquet")
        fault_point(f"{name}.vocabulary-written")
        doc_ids: list[str] = []
        writer = None
        try:
            for index, (shard_ids, shard_documents) in enumerate(shards):
                if fitted_entry is None:
                    matrix = shardwise.transform_shard(index, shard_documents)
                else:
                    matrix = vectorize_logic.transform(shard_documents, fitted, params)
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
        counter.finish()
        return len(doc_ids), {
            "documents": len(doc_ids),
            "terms": len(fitted.table),
            "nonzeros": nnz,
            "fitted_documents": fitted.n_docs,
            "fitted_on": fitted_entry.fingerprint if fitted_entry else upstream_result.fingerprint,
        }

    key = vectorize_key(name, upstream_name, upstream_result.fingerprint, config, fitted_entry)
    return _stage(store, key, compute, force=_forced(name, config))


PHRASE_SETTINGS = ("phrases_min_count", "phrases_threshold", "phrases_scoring", "phrases_delimiter")


def phrases_stage(store: ArtifactStore, tokens: StageResult, config: PipelineConfig) -> StageResult:
    """gensim Phrases (collocations such as 국민_청원) learned from the tokens, cached as a table."""
    params = config.word2vec

    def compute(pending: PendingEntry):
        table = embed_logic.learn_phrases(Sentences(TokenShards(tokens.path)), params)
        pq.write_table(arrow_table(table), pending.path / "phrases.parquet")
        return len(table), {"phrases": len(table)}

    return _stage(store, phrases_key(tokens.fingerprint, config), compute, force=_forced("phrases", config))


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


def word2vec_stage(
    store: ArtifactStore, tokens: StageResult, config: PipelineConfig, on_progress: ProgressCallback | None = None,
) -> StageResult:
    """gensim Word2Vec streamed from the token shards (after the cached Phrases step, if enabled).
    `on_progress(shards_done, shards)` counts shard reads over the vocabulary pass and every epoch."""
    params = config.word2vec
    phrases = phrases_stage(store, tokens, config) if params.phrases else None

    def compute(pending: PendingEntry):
        counter = ProgressCounter(on_progress, (params.epochs + 1) * len(part_files(tokens.path)))
        shards = TokenShards(tokens.path, counter)
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
        counter.finish()
        return len(kv), {"terms": len(kv), "vector_size": kv.vector_size}

    key = word2vec_key(tokens.fingerprint, config, phrases and phrases.fingerprint)
    return with_phrases(_stage(store, key, compute, force=_forced("word2vec", config)), phrases)


def with_phrases(word2vec: StageResult, phrases: StageResult | None) -> StageResult:
    """The word2vec result as a run reports it: with the Phrases step it trained on, if any."""
    if phrases is not None:
        word2vec.extra["phrases"] = phrases.summary()
    return word2vec


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

    key = StageKey("evaluate", "1", {k: v is not None for k, v in files.items()}, inputs)
    return _stage(store, key, compute)


def run_summary(
    run_id: str, location: str | None, config: PipelineConfig, stages: dict[str, StageResult], model_path: str | None
) -> dict[str, Any]:
    """What `runs/<run_id>.json` records about a run, whether the flow ran it or it was answered
    from the store."""
    summary: dict[str, Any] = {
        "run_id": run_id,
        "corpus": corpus_io.describe_source(location),
        "backend": config.tokenize.backend,
        "stages": {name: stages[name].summary() for name in RUN_ORDER if name in stages},
    }
    if model_path:
        summary["model"] = {"path": model_path}
    summary["config"] = config.model_dump(mode="json")
    return summary
