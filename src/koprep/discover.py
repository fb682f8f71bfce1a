"""`koprep discover`: candidate new words found in a corpus that a backend splits today.

The corpus is cleaned as a run cleans it (the `clean` entry is taken from the artifact store or
computed into it). An extractor proposes words from the corpus's own statistics:

    soynlp   soynlp's LRNounExtractor_v2 (nouns from the left/right structure of eojeols; needs
             thousands of documents)
    kiwi     Kiwi's `extract_words` (branching entropy), every candidate, known words too

Each candidate that occurs at least `min_count` times is looked up in its first example documents
tokenized by the chosen backend (with the run's user dictionary, if any): a candidate the backend
never gives as one token there is *split today*. The split candidates, ranked by frequency ×
extractor score, are written as a user dictionary file to review (`tokenize.user_dictionary`):
each entry a line `word<TAB>NNG` after a comment with its rank, frequency, score and an example.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Literal, Sequence

from koprep.errors import BadInputError

Extractor = Literal["soynlp", "kiwi"]
EXAMPLES = 3
"""Example documents kept per candidate (also those its split check tokenizes)."""
DEFAULT_TAG = "NNG"
NOT_NEW_WORD = ("J", "E", "XS", "VC", "MM", "NNB", "Josa", "Eomi", "PreEomi", "Suffix", "Determiner")
"""Tags (by prefix, each part of a merged tag such as VV+EP) that mark a candidate as an inflected
form or a missing space rather than a new word: a particle, an ending, a suffix, the copula, a
determiner or a dependent noun among its pieces (배우+들, 말+이, 아닌+듯, 이+영화, 영화+중)."""


class DiscoverInputError(BadInputError):
    """discover cannot run with these arguments; the message says what to change."""


@dataclass
class Candidate:
    word: str
    frequency: int
    score: float
    split: bool = False
    """The backend gives the word as one token in none of its examples."""
    tokens: list[str] = field(default_factory=list)
    """How the backend tokenized the word in its first example (the tokens that overlap it)."""
    examples: list[str] = field(default_factory=list)

    @property
    def rank_value(self) -> float:
        return self.frequency * self.score


def extract(texts: Sequence[str], extractor: Extractor, min_count: int) -> dict[str, tuple[int, float]]:
    """word → (frequency, score) of the extractor's candidates of two or more characters."""
    if extractor == "kiwi":
        from kiwipiepy import Kiwi

        # Every candidate, known words too (lm_filter=False): the split check below decides, as for
        # soynlp's. Kiwi's own thread pool: with num_workers=0, extract_words crashes the process
        # (a segmentation fault, kiwipiepy 0.24.1).
        found = Kiwi().extract_words(list(texts), min_cnt=min_count, lm_filter=False)
        return {word: (int(freq), float(score)) for word, score, freq, _ in found if _wordlike(word)}
    from soynlp.noun import LRNounExtractor_v2

    from koprep.tokenizers.soynlp import split_sentences

    nouns = LRNounExtractor_v2(verbose=False).train_extract(split_sentences(texts), min_noun_frequency=min_count)
    return {word: (int(s.frequency), float(s.score)) for word, s in nouns.items() if _wordlike(word)}


def _wordlike(word: str) -> bool:
    """Two or more characters, Hangul syllables or letters: no digits (10점 is not a dictionary word)
    and no bare jamo (ㅋㅋ, ㄷㄷ are not words a dictionary adds)."""
    return len(word) >= 2 and all(c.isalpha() and not "\u3131" <= c <= "\u318e" for c in word)


def with_examples(texts: Sequence[str], scores: dict[str, tuple[int, float]], examples: int = EXAMPLES) -> list[Candidate]:
    """The candidates with the first documents where an eojeol starts with them."""
    found = {word: Candidate(word, freq, score) for word, (freq, score) in scores.items()}
    longest = max((len(w) for w in found), default=0)
    for text in texts:
        for eojeol in text.split():
            for length in range(2, min(longest, len(eojeol)) + 1):
                candidate = found.get(eojeol[:length])
                if candidate is not None and len(candidate.examples) < examples and (
                    not candidate.examples or candidate.examples[-1] != text
                ):
                    candidate.examples.append(text)
    return [c for c in found.values() if c.examples]


def check_split(candidates: list[Candidate], tokenize: Callable[[list[str]], list[list[tuple[str, str]]]]) -> None:
    """Mark each candidate the backend splits in every one of its examples into two or more pieces:
    a new word cut into known ones (본방+사수, 역대+급). A word split with a particle, an ending or a
    suffix among its pieces (배우+들, 말+이: `INFLECTION`) is an inflected form, not a new word, and
    is not marked."""
    documents = [text for c in candidates for text in c.examples]
    tokenized = tokenize(documents)
    position = 0
    for candidate in candidates:
        tagged = tokenized[position : position + len(candidate.examples)]
        position += len(candidate.examples)
        pieces = _pieces(tagged[0], candidate.word)
        candidate.tokens = [t for t, _ in pieces]
        candidate.split = (
            all(candidate.word not in {t for t, _ in document} for document in tagged)
            and len(pieces) >= 2
            and not any(part.startswith(NOT_NEW_WORD) for _, tag in pieces for part in tag.split("+"))
        )


def _pieces(tagged: list[tuple[str, str]], word: str) -> list[tuple[str, str]]:
    """The consecutive tokens that spell `word` exactly, where it first occurs; [] when none do (a
    token that runs past the word's end, or a lemma that is not its surface)."""
    for start, (token, _) in enumerate(tagged):
        if not token or not word.startswith(token):
            continue
        spelled, pieces = "", []
        for piece, tag in tagged[start:]:
            if not word.startswith(spelled + piece):
                break
            spelled += piece
            pieces.append((piece, tag))
            if spelled == word:
                return pieces
    return []


def rank(candidates: list[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: (-c.rank_value, c.word))


def dictionary_text(candidates: Sequence[Candidate], corpus: str, backend: str, extractor: str) -> str:
    """The split candidates as a user dictionary file to review."""
    lines = [
        f"# koprep discover: words {extractor} found in {corpus} that {backend} splits today, ranked by frequency x score.",
        "# Review, change the tag where it is not a common noun (NNP for names), delete what is not a word,",
        "# then use it: --set tokenize.user_dictionary=THIS_FILE",
    ]
    for number, c in enumerate(candidates, start=1):
        example = c.examples[0].replace("\n", " ")[:80]
        lines.append(f"# {number}. {c.frequency} times, score {c.score:.2f}, {backend}: {' + '.join(c.tokens)} | {example}")
        lines.append(f"{c.word}\t{DEFAULT_TAG}")
    return "\n".join(lines) + "\n"


def record(candidates: Sequence[Candidate], checked: int, **facts: object) -> dict[str, object]:
    return {**facts, "candidates": checked, "split": len(candidates),
            "words": [{**asdict(c), "rank": i + 1} for i, c in enumerate(candidates)]}
