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


# ----------------------------------------------------------------------------- the [store] section
@pytest.fixture
def no_configured_options(monkeypatch):
    """Each test starts (and leaves the process) without any configuration's [store] options."""
    from koprep import storage

    monkeypatch.setattr(storage, "_config_layers", ({}, {}))
    monkeypatch.delenv("KOPREP_STORAGE_OPTIONS", raising=False)


@pytest.mark.parametrize(
    "section",
    [
        'secret = "hunter2"',
        'key = "hunter2"',
        'aws_secret_access_key = "hunter2"',
        'token = "hunter2"',
        'client_kwargs = {region_name = "ap-northeast-2", aws_session_token = "hunter2"}',
    ],
)
def test_a_store_section_holding_a_secret_exits_2_and_never_shows_it(tmp_path, monkeypatch, capsys, section,
                                                                     no_configured_options):
    config = tmp_path / "koprep.toml"
    config.write_text(f'[store]\nendpoint_url = "http://127.0.0.1:9"\n{section}\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["status", "--backend", "whitespace", "--config", str(config)]) == EXIT_BAD_INPUT
    stderr = capsys.readouterr().err
    name = section.split(" = ")[0] if "client_kwargs" not in section else "client_kwargs.aws_session_token"
    assert f"store.{name} looks like a credential" in stderr and "AWS_SECRET_ACCESS_KEY" in stderr, stderr
    assert "hunter2" not in stderr and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == [config]  # refused before any store was created


def test_a_secret_given_with_set_store_is_refused_too(no_configured_options):
    from koprep.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="store.secret looks like a credential") as caught:
        load_config(overrides=["store.secret=hunter2"])
    assert "hunter2" not in str(caught.value)


def test_store_options_precedence_command_line_over_environment_over_config_file(tmp_path, monkeypatch,
                                                                               no_configured_options):
    pytest.importorskip("s3fs")
    from koprep.config import load_config
    from koprep.storage import storage_options

    config = tmp_path / "koprep.toml"
    config.write_text('[store]\nendpoint_url = "http://file:9000"\nprofile = "from-file"\n'
                      'client_kwargs = {region_name = "from-file"}\n', encoding="utf-8")
    monkeypatch.setenv("KOPREP_STORAGE_OPTIONS", '{"profile": "from-env", "requester_pays": true}')
    load_config(config, ["store.client_kwargs={region_name = \"from-set\"}"]).store.activate()
    expected = {"endpoint_url": "http://file:9000", "profile": "from-env", "requester_pays": True,
                "client_kwargs": {"region_name": "from-set"}}
    assert storage_options() == expected
    remote = parse_location("s3://bucket/store")
    assert isinstance(remote, RemoteLocation) and dict(remote.options) == expected
    load_config(None).store.activate()  # a configuration without [store]: only the environment's are left
    assert storage_options() == {"profile": "from-env", "requester_pays": True}


def test_store_options_enter_no_fingerprint_no_record_and_no_dump(tmp_path, no_configured_options):
    import json

    from koprep.config import load_config
    from koprep.plan import build_plan

    corpus = tmp_path / "reviews.txt"
    corpus.write_text("배우 연기 정말 좋았다\n스토리 너무 지루했다\n", encoding="utf-8")
    config_file = tmp_path / "koprep.toml"
    config_file.write_text('[store]\nendpoint_url = "http://127.0.0.1:9"\nprofile = "team"\n', encoding="utf-8")
    with_store = load_config(config_file, backend="whitespace")
    without = load_config(None, backend="whitespace")
    assert with_store.store.options == {"endpoint_url": "http://127.0.0.1:9", "profile": "team"}
    assert with_store.model_dump() == without.model_dump() and "127.0.0.1:9" not in repr(with_store)
    store = ArtifactStore(tmp_path / "artifacts")
    planned = {name: stage.fingerprint for name, stage in build_plan(store, str(corpus), with_store).stages.items()}
    assert planned == {name: stage.fingerprint for name, stage in build_plan(store, str(corpus), without).stages.items()}
    # A run record holds config.model_dump(mode="json") (Plan.record): the same with and without [store].
    assert "127.0.0.1:9" not in json.dumps(with_store.model_dump(mode="json"))


def test_only_non_secret_options_are_shown():
    from koprep.storage import public_options

    options = {"endpoint_url": "http://minio:9000", "key": "AKIA", "secret": "hunter2",
               "client_kwargs": {"region_name": "ap-northeast-2", "aws_session_token": "t0k"}}
    assert public_options(options) == {"endpoint_url": "http://minio:9000", "client_kwargs": {"region_name": "ap-northeast-2"}}


def test_only_a_refused_conditional_put_counts_as_a_lost_commit_race():
    """`remote.lost_race` by exception type and status, never by words in a message."""
    from botocore.exceptions import ClientError

    from koprep.remote import lost_race

    def client_error(code: str, status: int) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                           "PutObject")

    assert lost_race(FileExistsError("s3fs: PreconditionFailed on If-None-Match"))
    wrapped = OSError(22, "At least one of the pre-conditions you specified did not hold")
    wrapped.__cause__ = client_error("PreconditionFailed", 412)  # s3fs when the server names no condition
    assert lost_race(wrapped)
    assert not lost_race(OSError(5, "upload failed: 412 parts missing"))  # "412" in a message is not a status
    denied = PermissionError("Access Denied")
    denied.__cause__ = client_error("AccessDenied", 403)
    assert not lost_race(denied)
    assert not lost_race(ConnectionError("PreconditionFailed"))


def test_served_parameters_keep_urls_as_given_and_make_local_paths_absolute(tmp_path, monkeypatch):
    """`koprep serve` makes paths absolute for runs that start elsewhere; a URL is not a path (it once
    became `<cwd>/s3:/bucket/store`)."""
    from koprep.orchestration.parameters import PreprocessParameters

    monkeypatch.chdir(tmp_path)
    served = PreprocessParameters(corpus="s3://bucket/reviews.tsv", artifacts="s3://bucket/store",
                                  backend="whitespace").with_absolute_paths()
    assert (served.corpus, served.artifacts) == ("s3://bucket/reviews.tsv", "s3://bucket/store")
    local = PreprocessParameters(corpus=None, artifacts="artifacts", backend="whitespace").with_absolute_paths()
    assert local.artifacts == str(tmp_path.resolve() / "artifacts")
