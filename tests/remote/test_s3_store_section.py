"""A config's `[store]` section on the moto server: its endpoint reaches the bucket for the store and
the corpus, `--set store.*` wins over KOPREP_STORAGE_OPTIONS, and the options reach no record."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import nsmc
from tests.remote.conftest import SECRET
from tests.robust.chain import SMALL, write_corpus

pytestmark = pytest.mark.slow
KOPREP = str(Path(sys.executable).with_name("koprep"))
SETTINGS = [arg for key, value in SMALL.items() for arg in ("--set", f"{key}={value}")]


def test_store_section_endpoint_reaches_the_bucket_and_enters_no_record(s3, prefect_server, tmp_path):
    corpus = write_corpus(tmp_path / "reviews.txt", nsmc(200)["document"].tolist())
    s3.fs.put(str(corpus), f"{s3.name}/corpora/reviews.txt")
    config = tmp_path / "koprep.toml"
    config.write_text(f'[store]\nendpoint_url = "{s3.endpoint}"\n', encoding="utf-8")
    # The endpoint only in [store]: credentials from the standard chain (the environment), no AWS_ENDPOINT_URL.
    env = {**s3.env, "AWS_ENDPOINT_URL": "", "PREFECT_API_URL": prefect_server["url"],
           "KOPREP_ARTIFACTS": s3.url("store")}
    args = [s3.url("corpora", "reviews.txt"), "--backend", "whitespace", "--config", str(config), "--json", *SETTINGS]

    def koprep(*command: str, extra_env: dict[str, str] | None = None) -> dict:
        result = subprocess.run([KOPREP, *command], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                                env={**env, **(extra_env or {})})
        assert result.returncode == 0, (command, result.stderr[-2000:])
        assert SECRET not in result.stdout + result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])

    status = koprep("status", *args)
    assert status["storage_options"] == {"endpoint_url": s3.endpoint} and not status["up_to_date"]
    # Command line > environment: KOPREP_STORAGE_OPTIONS names a closed endpoint, --set store.* the server.
    wrong = {"KOPREP_STORAGE_OPTIONS": json.dumps({"endpoint_url": "http://127.0.0.1:9"})}
    run = koprep("run", *args, "--set", f"store.endpoint_url={s3.endpoint}", extra_env=wrong)
    assert set(run["stages"]) >= {"clean", "tokenize", "bow"}
    record = s3.fs.cat_file(f"{s3.name}/store/runs/{run['run_id']}.json").decode()
    assert s3.endpoint not in record and '"store"' not in record
    assert koprep("status", *args)["up_to_date"]

    # The commands over a stored run take the store's options from --config too (no AWS_ENDPOINT_URL:
    # without --config they would go to AWS itself; a closed endpoint in the environment shows it fast).
    closed = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    listed = koprep("ls", "--config", str(config), "--json", extra_env=closed)
    assert {entry["stage"] for entry in listed["entries"]} >= {"clean", "tokenize", "bow"}
    assert run["run_id"] in {r["run_id"] for r in listed["runs"]}
    assert koprep("verify", "--config", str(config), "--json", extra_env=closed)["problems"] == []
    shown = koprep("show", "bow", "--config", str(config), "--json", extra_env=closed)
    assert shown["run_id"] == run["run_id"] and shown["stages"]["bow"]["terms"] > 0
    without = subprocess.run([KOPREP, "ls", "--json"], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                             env={**env, **closed})
    assert without.returncode == 2 and "127.0.0.1:9" in without.stderr and "Traceback" not in without.stderr
