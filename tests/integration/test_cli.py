"""Tier 3: the `sparklio` command line as an operator runs it on a production node: S3 and a Postgres
server chosen by the environment (SeaweedFS and the embedded Postgres here), every value an `EnvVar`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from sparklio_common.settings import REPO_ROOT
from tests.support.briefs import sample_brief

SPARKLIO = str(Path(sys.executable).with_name("sparklio"))


@pytest.fixture()
def production_env(tmp_path, seaweed, postgres_dsn):
    bucket = f"cli-{uuid.uuid4().hex[:10]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARKLIO_", "DAGSTER_"))}
    env |= {
        "SPARKLIO_HOME": str(tmp_path / "home"),
        "SPARKLIO_MODELS_DIR": os.environ["SPARKLIO_MODELS_DIR"],
        "SPARKLIO_S3_ENDPOINT": seaweed.endpoint,
        "SPARKLIO_S3_BUCKET": bucket,
        "SPARKLIO_S3_ACCESS_KEY_ID": "test",
        "SPARKLIO_S3_SECRET_ACCESS_KEY": "test",
        "DATABASE_URL": postgres_dsn,
    }
    return env


def sparklio(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SPARKLIO, *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


def test_campaign_add_list_and_archive_on_s3_and_a_postgres_server(production_env, tmp_path, campaign_db):
    from resources.object_store import S3ObjectStoreResource

    campaign_id = f"cli-{uuid.uuid4().hex[:8]}"
    brief = tmp_path / "brief.yaml"
    brief.write_bytes(sample_brief(campaign_id, short=False))

    added = sparklio(production_env, "campaign", "add", str(brief))
    assert added.returncode == 0, added.stderr
    assert f"Campaign {campaign_id} added; brief stored at campaigns/{campaign_id}/input/brief.json" in added.stdout
    store = S3ObjectStoreResource(endpoint_url=production_env["SPARKLIO_S3_ENDPOINT"],
                                  bucket=production_env["SPARKLIO_S3_BUCKET"], access_key_id="test",
                                  secret_access_key="test")
    assert json.loads(store.get_bytes(f"campaigns/{campaign_id}/input/brief.json"))["campaign_id"] == campaign_id
    assert campaign_db.get_campaign(campaign_id)["status"] == "active"

    archived = sparklio(production_env, "campaign", "archive", campaign_id)
    assert archived.returncode == 0, archived.stderr
    listed = [json.loads(line) for line in sparklio(production_env, "campaign", "list").stdout.splitlines()]
    assert {"campaign_id": campaign_id, "status": "archived"}.items() <= next(
        row for row in listed if row["campaign_id"] == campaign_id).items()


def test_a_bad_brief_is_refused_by_name_without_a_traceback(production_env, tmp_path):
    brief = tmp_path / "bad.yaml"
    brief.write_text("campaign_id: ../x\nproduct: Tea\n")
    result = sparklio(production_env, "campaign", "add", str(brief))
    assert result.returncode == 1
    assert "campaign_id: must be a lowercase slug" in result.stderr
    assert "Traceback" not in result.stderr
