"""The golden cases: fixed corpora and settings, and the one function that runs them.

`run_case` is the only place that calls koprep's pipeline API. Everything else in tests/golden reads
the artifact store folder directly, so a refactor of the pipeline ports `run_case` alone and the
golden file then proves that, for the same corpus and settings, every fingerprint and every file is
unchanged.

Every case reads the embedded default corpus (konlpy's kolaw + kobill, 2,480 lines), which is the
same on every machine and needs no shared corpora: soynlp-word learns ~1,350 words from it, enough
to cover the `model` stage.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

TOKENS_AND_AFTER = ("tokenize-shard", "tokenize", "bow", "ngram", "tfidf", "phrases", "word2vec", "fasttext")
"""The stages whose fingerprints a tokenizer library's version enters: the tokenize key holds the
backend's version, and every stage after it takes the tokenize fingerprint as an input."""
GENSIM_STAGES = ("phrases", "word2vec", "fasttext")


@dataclass(frozen=True)
class Case:
    name: str
    overrides: dict[str, Any]
    """`load_config` overrides (dotted keys); everything else is koprep's defaults."""
    slow: bool
    libraries: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Library → the stages whose fingerprints (and outputs) its installed version enters."""
    location: str | None = None
    """The corpus file; None is the embedded default corpus."""


CASES: dict[str, Case] = {
    case.name: case
    for case in (
        Case(
            "whitespace",
            {
                "tokenize.backend": "whitespace",
                "run.stages": ["clean", "tokenize", "bow", "ngram", "tfidf", "chargram", "word2vec", "fasttext"],
                "run.shard_size": 500,  # five shards of the 2,480 lines
                "word2vec.phrases": True,
                "fasttext.bucket": 20_000,  # a 1.6 MB model.bin
                "fasttext.vector_size": 20,
                "fasttext.epochs": 5,
            },
            slow=False,
            libraries={"gensim": GENSIM_STAGES},
        ),
        Case(
            "okt",
            {"tokenize.backend": "okt"},
            slow=True,  # starts the JVM
            libraries={"gensim": GENSIM_STAGES, "konlpy": TOKENS_AND_AFTER},
        ),
        Case(
            "soynlp-word",
            {"tokenize.backend": "soynlp-word"},
            slow=True,
            libraries={"gensim": GENSIM_STAGES, "soynlp": ("model", *TOKENS_AND_AFTER)},
        ),
    )
}


def run_case(store: Path, case: Case) -> None:
    """Run every stage of `case` into the artifact store at `store`, as a run would (without Prefect),
    through the plan the stage graph gives: clean → [model →] tokenize → bow, ngram, tfidf → chargram
    (when listed) → [phrases →] word2vec → fasttext (when listed)."""
    from koprep.config import load_config
    from koprep.pipeline.runner import execute
    from koprep.plan import build_plan
    from koprep.store import ArtifactStore

    execute(build_plan(ArtifactStore(store), case.location, load_config(None, case.overrides)))


def corpus_digest(case: Case) -> str:
    """A content digest of the case's corpus files (for the default corpus, the files konlpy ships),
    so that a different corpus is told apart from a changed stage."""
    if case.location is None:
        data = resources.files("konlpy") / "data" / "corpus"
        kobill = sorted((entry for entry in (data / "kobill").iterdir() if entry.name.endswith(".txt")),
                        key=lambda entry: entry.name)
        files = [("kolaw/constitution.txt", data / "kolaw" / "constitution.txt")]
        files += [(f"kobill/{entry.name}", entry) for entry in kobill]
    else:
        path = Path(case.location)
        files = [(path.name, path)]
    digest = hashlib.sha256()
    for name, file in files:
        digest.update(name.encode("utf-8") + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def library_versions(case: Case) -> dict[str, str]:
    """The installed versions of the libraries that enter the case's fingerprints."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str] = {}
    for name in case.libraries:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found
