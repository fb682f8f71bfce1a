"""Store roots and corpora given as URLs: what is refused before anything is written (fast: no server)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from koprep.cli import main
from koprep.errors import EXIT_BAD_INPUT
from koprep.loaders import open_run
from koprep.storage import LocationError, RemoteLocation, parse_location, redact
from koprep.store import ArtifactStore

KOPREP = str(Path(sys.executable).with_name("koprep"))


@pytest.mark.parametrize(
    ("value", "fragments"),
    [
        ("s3:/bucket/store", ["not a valid URL", "s3://bucket/store"]),
        ("s3:bucket", ["not a valid URL", "s3://bucket"]),
        ("gs://bucket/store", ["gcsfs"]),  # no gcsfs installed here: the package to install is named
        ("az://container/store", ["adlfs"]),
        ("nosuchscheme://bucket/store", ["not a storage URL scheme"]),
        ("s3://", ["names no bucket"]),
    ],
)
def test_a_url_koprep_cannot_use_exits_2_and_leaves_no_local_folder(tmp_path, monkeypatch, capsys, value, fragments):
    pytest.importorskip("fsspec")
    monkeypatch.chdir(tmp_path)
    # `run` for the typos of the issue (koprep run --artifacts s3:... once wrote a local folder "s3:"); `ls` for the rest
    command = ["run", "--backend", "whitespace"] if "//" not in value else ["ls"]
    assert main([*command, "--artifacts", value]) == EXIT_BAD_INPUT
    stderr = capsys.readouterr().err
    assert all(fragment in stderr for fragment in fragments), stderr
    assert "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []  # never a folder named "s3:" (or anything else)


def test_open_run_and_the_store_refuse_a_url_typo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LocationError, match="s3://bucket/store"):
        open_run("s3:/bucket/store")
    with pytest.raises(LocationError, match="not a valid URL"):
        ArtifactStore("s3:bucket")
    assert list(tmp_path.iterdir()) == []


def test_corpus_url_typo_is_refused(tmp_path):
    result = subprocess.run([KOPREP, "run", "s3:bucket/reviews.tsv", "--artifacts", str(tmp_path / "a")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == EXIT_BAD_INPUT and "s3://bucket/reviews.tsv" in result.stderr, result.stderr


def test_local_paths_stay_local():
    assert parse_location("artifacts") == Path("artifacts")
    assert parse_location("file:///tmp/store") == Path("/tmp/store")
    assert parse_location("./s3:odd") == Path("s3:odd")
    remote = parse_location("s3://bucket/prefix/")
    assert isinstance(remote, RemoteLocation) and remote.url == "s3://bucket/prefix"


def test_secrets_never_shown():
    assert redact("https://user:hunter2@host/p?X-Amz-Signature=abc&part=1") == "https://***@host/p?X-Amz-Signature=***&part=1"
    with pytest.raises(LocationError) as caught:
        parse_location("s3://AKIA:hunter2@bucket/store")
    assert "hunter2" not in str(caught.value)


def test_koprep_artifacts_environment_variable_names_the_store(tmp_path):
    result = subprocess.run([KOPREP, "ls"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "KOPREP_ARTIFACTS": "s3:typo"})
    assert result.returncode == EXIT_BAD_INPUT and "s3://typo" in result.stderr
