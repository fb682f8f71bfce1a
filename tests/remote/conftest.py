"""A real S3-compatible HTTP server for the object-store tests: moto in server mode (as s3fs's own
test suite runs it), started once per session on 127.0.0.1 in its own process. koprep reaches it
through s3fs and the standard AWS environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY), exactly as it would reach S3 or MinIO: nothing in-process is mocked.

`s3` gives each test a fresh bucket, that environment (with a recognisable secret key, so tests can
check it is written nowhere) and its own local cache folder (KOPREP_CACHE_DIR), as a fresh machine.
`denying_s3_server` runs a second server with authentication on, which refuses every key.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.helpers import free_port, stop_process_group, wait_until_serving

SECRET = "koprepTestSecretKey0123456789abcdefXYZ"
ACCESS_KEY = "KOPREPTESTACCESSKEY"


def _start_moto(log_path: Path, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = open(log_path, "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **(extra_env or {})},
    )
    wait_until_serving(server, f"{endpoint}/moto-api/", log_path, "moto server", 60)
    return server, endpoint


SERVER_LOGS: dict[str, Path] = {}
"""Each started server's log by endpoint: one line per request it received (tests count requests there)."""


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[str]:
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    server, endpoint = _start_moto(log_path)
    SERVER_LOGS[endpoint] = log_path
    try:
        yield endpoint
    finally:
        stop_process_group(server)


@pytest.fixture(scope="session")
def denying_s3_server(tmp_path_factory) -> Iterator[str]:
    """moto with IAM authentication on from the first request: no key exists, every request is refused."""
    server, endpoint = _start_moto(tmp_path_factory.mktemp("moto-auth") / "moto.log", {"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
    try:
        yield endpoint
    finally:
        stop_process_group(server)


@dataclass
class Bucket:
    name: str
    endpoint: str
    env: dict[str, str]
    """The whole environment a koprep process on this 'machine' gets (os.environ plus AWS and cache)."""
    cache: Path

    def url(self, *parts: str) -> str:
        return "s3://" + "/".join([self.name, *parts])

    @property
    def fs(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem(key=ACCESS_KEY, secret=SECRET, endpoint_url=self.endpoint, skip_instance_cache=True)

    def requests(self) -> list[str]:
        """The requests the server has received for this bucket so far ("GET /bucket/key" ...), oldest first."""
        lines = SERVER_LOGS[self.endpoint].read_text(errors="replace").splitlines()
        return [line.split('"')[1].rsplit(" ", 1)[0] for line in lines
                if line.count('"') >= 2 and f" /{self.name}" in line.split('"')[1]]

    def machine(self, cache: Path) -> dict[str, str]:
        """The environment of another machine: same bucket and credentials, its own empty cache."""
        return {**self.env, "KOPREP_CACHE_DIR": str(cache)}


@pytest.fixture
def s3(s3_server, tmp_path, monkeypatch) -> Bucket:
    from koprep import storage

    aws = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_ENDPOINT_URL": s3_server,
        "AWS_DEFAULT_REGION": "us-east-1", "KOPREP_CACHE_DIR": str(tmp_path / "cache"),
    }
    for key, value in aws.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "KOPREP_STORAGE_OPTIONS", "KOPREP_ARTIFACTS"):
        monkeypatch.delenv(key, raising=False)
    storage._filesystems.clear()
    bucket = Bucket(f"koprep-{uuid.uuid4().hex[:10]}", s3_server, dict(os.environ), tmp_path / "cache")
    bucket.fs.mkdir(bucket.name)
    return bucket
