"""soynlp: unsupervised tokenizers that learn their vocabulary from the corpus itself.

Following soynlp's own split, `fit` runs an extractor over the corpus and returns what it learned
as a plain table (the pipeline stores it as Parquet), and `with_model` builds a soynlp tokenizer
from that table. A table fitted on one corpus can tokenize another without refitting.

soynlp reads a corpus as sentences. A document may hold several, separated by two spaces (the
DoublespaceLineCorpus convention) or line breaks, and `fit` splits documents there (WordExtractor's
branching entropy looks across the words of one sentence); tokenizing works eojeol by eojeol, so
sentence boundaries do not matter there.

- soynlp-noun: `LRNounExtractor_v2.train_extract` learns nouns (term, score, frequency). Tokens
  come from soynlp's `NounLMatchTokenizer`: in every eojeol, the longest known noun that starts the
  eojeol, then the longest known noun starting where it ended, and so on (knowing 영화 and 배우 but
  not 영화배우: 영화배우가 → 영화, 배우); with `compose_compound` the chain is one token (영화배우),
  otherwise one token per noun. An eojeol that does not start with a known noun gives nothing.
  Tag: "Noun".
- soynlp-word: `WordExtractor.train` + `extract` gives per-subword statistics; `score` chooses the
  word score (below), and soynlp's `LTokenizer` (split each eojeol into its best-scoring L part
  and the rest R) or `MaxScoreTokenizer` (repeatedly cut out the best-scoring subword) consumes the
  dict {term: score}. Tag: "" (soynlp has no POS tags).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from importlib.metadata import version as dist_version
from typing import Any, ClassVar, Iterable, Literal, Sequence

import pandas as pd
from pydantic import model_validator

from koprep.errors import EmptyResultError
from koprep.tokenizers.base import BackendOptionError, BackendOptions, Tagged, options_key
from koprep.tokenizers.userdict import NOUN_TAGS, SEJONG_TAGS, UserDictionary, Word

_SENTENCE_BREAK = re.compile(r"\n|\s{2,}")


class NotFittedError(RuntimeError):
    """A trainable backend was asked to tokenize before it was given a model."""


def split_sentences(documents: Iterable[str]) -> list[str]:
    """Documents → sentences, cut at two or more spaces (soynlp's DoublespaceLineCorpus) and at line breaks."""
    return [s for doc in documents for s in (p.strip() for p in _SENTENCE_BREAK.split(doc)) if s]


def model_digest(model: pd.DataFrame, columns: Sequence[str]) -> str:
    """A short content hash of the model table (as plain JSON, so it does not depend on pandas'
    hashing or dtypes), so that `version()` changes when the model does."""
    content = json.dumps([model[column].tolist() for column in columns], ensure_ascii=False)
    return hashlib.sha256(content.encode()).hexdigest()[:16]


class _SoynlpBackend:
    """fit / with_model / tokenize plumbing shared by both soynlp backends."""

    name: ClassVar[str]
    tag: ClassVar[str]
    parallelism: ClassVar[str] = "processes"
    """Pure Python: spawned worker processes, each with a copy of the model (koprep.parallel)."""
    model_columns: ClassVar[tuple[str, ...]]
    """Columns `with_model` needs; `fit` may return more (for inspection)."""
    Options: ClassVar[type[BackendOptions]]
    tokenize_only_options: ClassVar[frozenset[str]]
    """Options that change how a model is applied but not what `fit` learns (kept out of fit_version)."""

    user_dictionary_tags: ClassVar[frozenset[str]] = SEJONG_TAGS

    def __init__(self, **options: object) -> None:
        self.options = self.Options(**options)
        self._model: pd.DataFrame | None = None
        self._tokenizer: Any = None  # a soynlp tokenizer (an untyped library) once given a model
        self._user_words: tuple[Word, ...] = ()

    def with_user_dictionary(self, dictionary: UserDictionary | None) -> "_SoynlpBackend":
        """This backend with `dictionary`'s words seeded into every model it is given (`with_model`),
        scored above every learned word so the tokenizer keeps them whole. (A dictionary's score
        column is Kiwi's `add_user_word` score, a log-probability: it has no meaning on soynlp's
        cohesion scale, so it is not used here.)"""
        applied = type(self)(**self.options.model_dump())
        applied._user_words = () if dictionary is None else dictionary.words
        return applied

    def _seeded(self, model: pd.DataFrame) -> pd.DataFrame:
        if not self._user_words:
            return model
        learned = model[~model["term"].isin([w.word for w in self._user_words])]
        seeds = pd.DataFrame({"term": [w.word for w in self._user_words]})
        if "score" in self.model_columns:
            top = float(learned["score"].max()) + 1.0 if len(learned) else 1.0
            seeds["score"] = top
        return pd.concat([learned, seeds], ignore_index=True)

    def fit(self, texts: Sequence[str]) -> pd.DataFrame:
        sentences = split_sentences(texts)
        if not sentences:
            raise EmptyResultError(f"{self.name}: cannot fit on a corpus with no text; give it the cleaned documents")
        model = self._learn(sentences)
        if model.empty:
            raise EmptyResultError(
                f"{self.name} learned nothing from {len(sentences)} sentences: soynlp needs thousands of sentences "
                "(or lower thresholds such as min_noun_frequency / min_frequency); for a small corpus use another "
                "backend (`koprep backends`)"
            )
        return model.sort_values("term", kind="stable", ignore_index=True)

    def with_model(self, model: pd.DataFrame) -> "_SoynlpBackend":
        missing = [c for c in self.model_columns if c not in model.columns]
        if missing:
            raise BackendOptionError(
                f"{self.name}: model table lacks columns {missing} (it has {list(model.columns)}); "
                f"pass a table returned by {type(self).__name__}.fit"
            )
        fitted = type(self)(**self.options.model_dump())
        fitted._user_words = self._user_words
        fitted._model = self._seeded(model[list(self.model_columns)]).sort_values("term", kind="stable", ignore_index=True)
        fitted._tokenizer = fitted._build_tokenizer(fitted._model)
        return fitted

    def fit_version(self) -> str:
        training = {k: v for k, v in self.options.affecting_output().items() if k not in self.tokenize_only_options}
        return self._key(training)

    def version(self) -> str:
        model = "unfitted" if self._model is None else f"model-{model_digest(self._model, self.model_columns)}"
        return f"{self._key(self.options.affecting_output())}:{model}"

    def _key(self, options: dict[str, object]) -> str:
        return f"soynlp-{dist_version('soynlp')}:{self.name}:{options_key(options)}"

    def tokenize(self, texts: Sequence[str]) -> list[Tagged]:
        if self._tokenizer is None:
            raise NotFittedError(
                f"{self.name} learns its vocabulary from the corpus: call fit(texts) first and tokenize with "
                "the tokenizer that with_model(model) returns"
            )
        return [[(token, self.tag) for token in self._tokens(text)] for text in texts]

    def _learn(self, sentences: list[str]) -> pd.DataFrame:
        raise NotImplementedError

    def _build_tokenizer(self, model: pd.DataFrame) -> Any:
        raise NotImplementedError

    def _tokens(self, text: str) -> list[str]:
        raise NotImplementedError


class SoynlpNounTokenizer(_SoynlpBackend):
    name = "soynlp-noun"
    tag = "Noun"
    user_dictionary_tags = NOUN_TAGS
    default_drop_tags: tuple[str, ...] = ()
    model_columns = ("term",)
    tokenize_only_options = frozenset({"compose_compound"})
    options: Options

    class Options(BackendOptions):
        """LRNounExtractor_v2's options, with its defaults."""

        min_noun_score: float = 0.3
        min_noun_frequency: int = 1
        min_eojeol_frequency: int = 1
        max_left_length: int = 10
        max_right_length: int = 9
        min_num_of_features: int = 1
        max_frequency_when_noun_is_eojeol: int = 30
        extract_compound: bool = True
        compose_compound: bool = True
        """Tokenizing: a chain of nouns at the start of an eojeol is one token (영화배우) or several."""

    def _learn(self, sentences: list[str]) -> pd.DataFrame:
        from soynlp.noun import LRNounExtractor_v2

        o = self.options
        extractor = LRNounExtractor_v2(
            max_left_length=o.max_left_length,
            max_right_length=o.max_right_length,
            min_num_of_features=o.min_num_of_features,
            max_frequency_when_noun_is_eojeol=o.max_frequency_when_noun_is_eojeol,
            extract_compound=o.extract_compound,
            verbose=False,
        )
        nouns = extractor.train_extract(
            sentences,
            min_noun_score=o.min_noun_score,
            min_noun_frequency=o.min_noun_frequency,
            min_eojeol_frequency=o.min_eojeol_frequency,
        )
        return pd.DataFrame(
            {
                "term": pd.Series(list(nouns), dtype="string"),
                "score": pd.Series([s.score for s in nouns.values()], dtype="float64"),
                "frequency": pd.Series([s.frequency for s in nouns.values()], dtype="int64"),
            }
        )

    def _build_tokenizer(self, model: pd.DataFrame) -> Any:
        from soynlp.tokenizer import NounLMatchTokenizer

        return NounLMatchTokenizer(set(model["term"].tolist()))

    def _tokens(self, text: str) -> list[str]:
        return self._tokenizer.tokenize(text, compose_compound=self.options.compose_compound)


WordScore = Literal["cohesion", "branching_entropy", "cohesion*entropy"]


def word_score(kind: WordScore, cohesion_forward: float, right_branching_entropy: float) -> float:
    """cohesion: P(word | its first char)^(1/(len-1)), high when the characters stick together;
    branching_entropy: entropy of what follows the word, high at a word boundary;
    cohesion*entropy: cohesion_forward * exp(right_branching_entropy), soynlp's tutorial score."""
    if kind == "cohesion":
        return cohesion_forward
    if kind == "branching_entropy":
        return right_branching_entropy
    return cohesion_forward * math.exp(right_branching_entropy)


class SoynlpWordTokenizer(_SoynlpBackend):
    name = "soynlp-word"
    tag = ""
    default_drop_tags: tuple[str, ...] = ()
    model_columns = ("term", "score")
    tokenize_only_options = frozenset({"tokenizer", "remove_r", "tolerance"})
    options: Options

    class Options(BackendOptions):
        """WordExtractor's options (with its defaults), the score, and the tokenizer that consumes it."""

        min_frequency: int = 5
        max_left_length: int = 10
        """Also MaxScoreTokenizer's longest subword."""
        max_right_length: int = 6
        min_cohesion_forward: float = 0.05
        min_right_branching_entropy: float = 0.0
        score: WordScore = "cohesion"
        tokenizer: Literal["ltokenizer", "maxscore"] = "ltokenizer"
        remove_r: bool = False
        """ltokenizer only: keep just each eojeol's L part (the word, without its particle/ending)."""
        tolerance: float = 0.0
        """ltokenizer only: among L parts scoring within this of the best, take the longest."""

        def ignored(self) -> frozenset[str]:
            return frozenset({"remove_r", "tolerance"}) if self.tokenizer == "maxscore" else frozenset()

        @model_validator(mode="after")
        def _check(self) -> "SoynlpWordTokenizer.Options":
            if self.tokenizer == "maxscore" and (self.remove_r or self.tolerance):
                raise ValueError(
                    "remove_r and tolerance are LTokenizer options; drop them or use tokenizer='ltokenizer'"
                )
            if self.tolerance < 0:
                raise ValueError("tolerance must be >= 0")
            return self

    def _learn(self, sentences: list[str]) -> pd.DataFrame:
        from soynlp.word import WordExtractor

        o = self.options
        extractor = WordExtractor(
            max_left_length=o.max_left_length,
            max_right_length=o.max_right_length,
            min_frequency=o.min_frequency,
            min_cohesion_forward=o.min_cohesion_forward,
            min_right_branching_entropy=o.min_right_branching_entropy,
            verbose_points=0,
        )
        extractor.train(sentences)
        words = extractor.extract()
        cohesion = [float(s.cohesion_forward) for s in words.values()]
        entropy = [float(s.right_branching_entropy) + 0.0 for s in words.values()]  # + 0.0: no -0.0
        return pd.DataFrame(
            {
                "term": pd.Series(list(words), dtype="string"),
                "score": pd.Series([word_score(o.score, c, e) for c, e in zip(cohesion, entropy)], dtype="float64"),
                "cohesion_forward": pd.Series(cohesion, dtype="float64"),
                "right_branching_entropy": pd.Series(entropy, dtype="float64"),
                "frequency": pd.Series([s.leftside_frequency for s in words.values()], dtype="int64"),
            }
        )

    def _build_tokenizer(self, model: pd.DataFrame) -> Any:
        from soynlp.tokenizer import LTokenizer, MaxScoreTokenizer

        scores = dict(zip(model["term"].tolist(), model["score"].astype("float64").tolist()))
        if self.options.tokenizer == "maxscore":
            return MaxScoreTokenizer(scores=scores, max_length=self.options.max_left_length)
        return LTokenizer(scores=scores)

    def _tokens(self, text: str) -> list[str]:
        if self.options.tokenizer == "maxscore":
            return self._tokenizer.tokenize(text)
        return self._tokenizer.tokenize(text, tolerance=self.options.tolerance, remove_r=self.options.remove_r)
