"""Shared test data access: the real corpora beside the checkout (../shared/corpora)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
CORPORA = REPO.parent / "shared" / "corpora"
NSMC_TRAIN = CORPORA / "nsmc" / "ratings_train.txt"
NSMC_TEST = CORPORA / "nsmc" / "ratings_test.txt"
PETITIONS = CORPORA / "petitions"
CHATBOT = CORPORA / "chatbot" / "ChatbotData.csv"
W2V_EVAL = CORPORA / "word2vec_eval"

fast_test: str | None = None
"""The node id of the running test when it is not marked slow (set by tests/conftest.py)."""


def require(path: Path) -> Path:
    """`path` in the shared corpora; skips the test when the corpora are not beside the checkout.
    Only slow tests may read them: the fast tier runs without."""
    if fast_test is not None:
        pytest.fail(f"{fast_test} reads the shared corpora ({path.name}): mark it slow or use inline text", pytrace=False)
    if not path.exists():
        pytest.skip(f"shared corpus {path} is not available beside the checkout")
    return path


def nsmc(n: int, split: str = "train") -> pd.DataFrame:
    path = require(NSMC_TRAIN if split == "train" else NSMC_TEST)
    return pd.read_csv(path, sep="\t", quoting=3, dtype=str, keep_default_na=False, nrows=n)


def write_nsmc(path: Path, n: int, split: str = "train") -> Path:
    """The first `n` NSMC reviews as a TSV corpus file at `path` (as koprep reads NSMC)."""
    nsmc(n, split).to_csv(path, sep="\t", index=False, quoting=3)
    return path


def install_plugin(site: Path, monkeypatch: pytest.MonkeyPatch, module: str, source: str, distribution: str,
                   entry_points: str) -> None:
    """A tokenizer plug-in as pip would leave it: `module`.py and a dist-info with entry_points.txt in
    `site`, put on sys.path, with the backend registry reset so its entry points are read again."""
    import textwrap

    from koprep.tokenizers import registry

    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    dist_info = site / f"{distribution.replace('-', '_')}-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(entry_points)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(registry, "_registry", dict(registry._BUILTIN))
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
