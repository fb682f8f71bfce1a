"""The fast tier's guard (tests/conftest.py) fails a test that is not marked slow and reaches for the
shared corpora, the Prefect server or the JVM; checked in a child pytest run."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.helpers import REPO

GUARDED = '''
import pytest

from tests.helpers import NSMC_TRAIN, require


def test_reads_the_corpora():
    require(NSMC_TRAIN)


def test_uses_the_server(prefect_server):
    pass


def test_starts_the_jvm():
    from koprep.tokenizers.jvm import ensure_jvm

    ensure_jvm()
'''


@pytest.mark.slow  # its probe starts a JVM (in the child process)
def test_fast_tests_that_need_corpora_server_or_jvm_fail(tmp_path):
    module = REPO / "tests" / "unit" / f"test_zz_guard_probe_{tmp_path.name}.py"
    module.write_text(textwrap.dedent(GUARDED), encoding="utf-8")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(module)],
            cwd=REPO, capture_output=True, text=True, timeout=300,
        )
    finally:
        module.unlink()
    out = result.stdout
    assert result.returncode == 1, out
    assert "reads the shared corpora (ratings_train.txt): mark it slow" in out
    assert "uses the prefect_server fixture: mark it slow" in out
    assert "started the JVM: mark it slow" in out
    assert "3 failed" in out or ("2 failed" in out and "1 error" in out), out
