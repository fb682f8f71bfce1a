"""konlpy Okt: a dictionary-based morphological analyser for standard and informal text.

Modes: `morphs` (every morpheme with its tag, like `Okt.morphs` but keeping tags for filtering),
`nouns` (`Okt.nouns`), `pos` (like morphs, restricted to `keep_tags`). `stem` (하였다 → 하다) and
`norm` (그랰ㅋㅋ → 그래ㅋㅋ) are Okt's own options.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Literal, Sequence

from pydantic import model_validator

from koprep.tokenizers.base import BackendOptionError, BackendOptions, Tagged, options_key
from koprep.tokenizers.jvm import DEFAULT_MAX_HEAP_MB, ensure_jvm, python_heap_frozen
from koprep.tokenizers.userdict import NOUN_TAGS, UserDictionary

if TYPE_CHECKING:
    from konlpy.tag import Okt

OKT_DEFAULT_DROP_TAGS = ("Josa", "Eomi", "Punctuation")
"""Okt `pos()` tags are whole words; these are particles, endings and punctuation."""

_okt: Okt | None = None
_okt_lock = threading.Lock()
_THREAD_CHUNK = 32
"""Texts a thread takes at once: one task per text costs more in the pool than in Okt for short reviews."""


_added_nouns: frozenset[str] = frozenset()
"""The user-dictionary nouns added to this process's open-korean-text dictionary (it has no removal)."""


def add_user_nouns(nouns: frozenset[str]) -> None:
    """Make this process's Okt analyse with exactly `nouns` added to open-korean-text's noun dictionary
    (`OpenKoreanTextProcessorJava.addNounsToDictionary`, cf. konlpy#249). The dictionary is the JVM's
    and words cannot be taken out again, so a process that added one set of words refuses another
    (with or without a dictionary) rather than tokenize with the wrong one."""
    global _added_nouns
    with _okt_lock:
        if nouns == _added_nouns:
            return
        if not _added_nouns.issubset(nouns):
            raise BackendOptionError(
                "okt: this process already added other user-dictionary nouns to open-korean-text's dictionary, which "
                "is process-wide and keeps them; run each user dictionary (or none) in its own process"
            )
        import jpype

        processor = jpype.JClass("org.openkoreantext.processor.OpenKoreanTextProcessorJava")
        words = jpype.java.util.ArrayList()
        for noun in sorted(nouns - _added_nouns):
            words.add(noun)
        processor.addNounsToDictionary(words)
        _added_nouns = nouns


def shared_okt(max_heap_mb: int = DEFAULT_MAX_HEAP_MB) -> Okt:
    """The process's single Okt instance (Okt is thread-safe through JPype); `max_heap_mb` sizes the
    JVM's heap if this starts it."""
    global _okt
    with _okt_lock:
        if _okt is None:
            from konlpy.tag import Okt

            _okt = Okt(jvmpath=ensure_jvm(max_heap_mb))
        return _okt


class OktTokenizer:
    name = "okt"
    default_drop_tags = OKT_DEFAULT_DROP_TAGS
    parallelism = "own"
    """Threads on the process's one JVM: JPype releases the GIL inside Java, and one JVM shares its
    JIT-compiled code and heap, where a JVM per spawned process compiles Okt again (koprep.parallel)."""

    class Options(BackendOptions):
        execution_only = frozenset({"threads", "max_heap_mb"})

        mode: Literal["morphs", "nouns", "pos"] = "morphs"
        stem: bool = True
        """Not used in `nouns` mode (`Okt.nouns` analyses without stemming)."""
        norm: bool = True
        """Not used in `nouns` mode (`Okt.nouns` analyses without normalising)."""
        keep_tags: tuple[str, ...] = ("Noun", "Verb", "Adjective")
        """Only used in `pos` mode."""
        threads: int = 2
        """Texts are analysed on this many threads; JPype releases the GIL inside Java. Does not change output.
        In the pipeline `run.workers` decides unless this is set explicitly."""
        max_heap_mb: int = DEFAULT_MAX_HEAP_MB
        """The JVM's maximum heap in MiB (`-Xmx`, konlpy#199), for the process whose JVM this backend
        starts. A document that exhausts it is quarantined (`run.supervise`). Does not change output."""

        def ignored(self) -> frozenset[str]:
            if self.mode == "nouns":
                return frozenset({"stem", "norm", "keep_tags"})
            return frozenset() if self.mode == "pos" else frozenset({"keep_tags"})

        @model_validator(mode="after")
        def _check(self) -> "OktTokenizer.Options":
            if self.threads < 1:
                raise ValueError("threads must be >= 1")
            if self.max_heap_mb < 64:
                raise ValueError("max_heap_mb must be >= 64 (Okt's dictionaries need about that much)")
            return self

    user_dictionary_tags = NOUN_TAGS
    """open-korean-text takes user words into its noun dictionary only."""

    def __init__(self, **options: object) -> None:
        self.options = self.Options(**options)
        self.user_nouns: frozenset[str] = frozenset()

    def with_user_dictionary(self, dictionary: UserDictionary | None) -> "OktTokenizer":
        """This tokenizer with `dictionary`'s nouns in open-korean-text's noun dictionary."""
        applied = type(self)(**self.options.model_dump(exclude_unset=True))
        applied.user_nouns = frozenset() if dictionary is None else frozenset(w.word for w in dictionary.words)
        return applied

    def version(self) -> str:
        from importlib.metadata import version

        return f"konlpy-{version('konlpy')}:okt:{options_key(self.options.affecting_output())}"

    def with_workers(self, workers: int) -> "OktTokenizer":
        """This tokenizer on `workers` threads, unless `threads` was given explicitly (it overrides)."""
        if "threads" in self.options.model_fields_set:
            return self
        applied = type(self)(**{**self.options.model_dump(), "threads": workers})
        applied.user_nouns = self.user_nouns
        return applied

    def _one(self, text: str) -> Tagged:
        if not text.strip():
            return []
        o = self.options
        okt = shared_okt(o.max_heap_mb)
        if o.mode == "nouns":
            return [(noun, "Noun") for noun in okt.nouns(text) if noun.strip()]
        pairs = okt.pos(text, norm=o.norm, stem=o.stem)
        if o.mode == "pos":
            pairs = [(token, tag) for token, tag in pairs if tag in o.keep_tags]
        return [(token, tag) for token, tag in pairs if token.strip()]

    def tokenize(self, texts: Sequence[str]) -> list[Tagged]:
        shared_okt(self.options.max_heap_mb)  # start the JVM on this thread before fanning out
        add_user_nouns(self.user_nouns)
        with python_heap_frozen():
            if self.options.threads == 1 or len(texts) < 2 * _THREAD_CHUNK:
                return [self._one(text) for text in texts]
            chunks = [texts[start : start + _THREAD_CHUNK] for start in range(0, len(texts), _THREAD_CHUNK)]
            with ThreadPoolExecutor(self.options.threads) as pool:
                return [tagged for chunk in pool.map(self._many, chunks) for tagged in chunk]

    def _many(self, texts: Sequence[str]) -> list[Tagged]:
        return [self._one(text) for text in texts]
