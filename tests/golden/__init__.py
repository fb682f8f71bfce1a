"""Golden test of the pipeline's stages: fingerprints and outputs pinned on small fixed cases.

It fails when a stage's output changes while its code version does not (a forgotten `VERSION` bump
would silently serve stale results from the cache), and lets a refactor prove that, for the same
corpus and settings, every fingerprint and every file is unchanged.

    cases.py     the cases and `run_case`, the only code that calls koprep's API
    digest.py    what a run leaves in the store, read from the folder: digests of every entry
    compare.py   the golden snapshot against a new one, as messages that say what to do
    expected.json  the golden data: `python -m tests.golden --update [--case NAME]` rewrites it

Each case's record holds its settings, a digest of its corpus, the installed versions of the
libraries that enter its fingerprints, and each stage's snapshot.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.golden.cases import Case, corpus_digest, library_versions, run_case
from tests.golden.digest import snapshot

EXPECTED = Path(__file__).with_name("expected.json")


def record_case(case: Case, store: Path) -> dict[str, Any]:
    """Run `case` into the (empty) store folder `store` and describe what it left there."""
    run_case(store, case)
    return {
        "overrides": case.overrides,
        "corpus": corpus_digest(case),
        "libraries": library_versions(case),
        "stages": snapshot(store),
    }


def load_expected() -> dict[str, Any]:
    return json.loads(EXPECTED.read_text(encoding="utf-8")) if EXPECTED.exists() else {}


def update(cases: list[Case]) -> dict[str, float]:
    """Re-record `cases` in expected.json (the other cases are kept); each case's seconds."""
    expected = load_expected()
    seconds: dict[str, float] = {}
    for case in cases:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"golden-{case.name}-") as folder:
            expected[case.name] = record_case(case, Path(folder))
        seconds[case.name] = round(time.perf_counter() - started, 1)
    text = json.dumps(expected, indent=1, sort_keys=True, ensure_ascii=False)
    EXPECTED.write_text(text + "\n", encoding="utf-8")
    return seconds
