"""Fixtures for the fault-injection suite: its own SeaweedFS (the S3 scenarios kill it), the fake GPU
services, and the product's environment pointed at them.

The product's retry policy reads `SPARKLIO_RETRY_DELAY_SECONDS` when the assets are imported; the
suite imports them under a short delay so a scenario that uses every retry waits ~1.4 s, not ~14 s.
The policy is otherwise the product's (3 retries, exponential backoff, jitter).
"""

from __future__ import annotations

import os
import sys
import uuid

import pytest

from sparklio_common.settings import RETRY_DELAY_ENV

FAULT_RETRY_DELAY_S = "0.2"

if "sparklio_pipelines.defs.assets.common" not in sys.modules:
    _previous = os.environ.get(RETRY_DELAY_ENV)
    os.environ[RETRY_DELAY_ENV] = FAULT_RETRY_DELAY_S
    try:
        pass
    finally:
        if _previous is None:
            os.environ.pop(RETRY_DELAY_ENV, None)
        else:
            os.environ[RETRY_DELAY_ENV] = _previous


@pytest.fixture(scope="session")
def fault_s3():
    """A SeaweedFS of the suite's own: the S3 scenarios kill and restart it, other tests keep theirs."""
    from tests.support.seaweedfs import SeaweedS3

    server = SeaweedS3().start()
    yield server
    server.stop()


@pytest.fixture()
def ollama():
    from tests.support.fake_copywriter import Copywriter
    from tests.support.fake_ollama import FakeOllama

    server = FakeOllama(responder=Copywriter()).start()
    yield server
    server.stop()


@pytest.fixture()
def comfyui():
    from tests.support.fake_comfyui import FakeComfyUI

    server = FakeComfyUI().start()
    yield server
    server.stop()


@pytest.fixture()
def product_env(monkeypatch, fault_s3, postgres_dsn, ollama, comfyui, request):
    """The variables production sets, pointing at this suite's servers; one bucket per scenario."""
    from sparklio_pipelines.defs.assets.common import SERVICE_RETRY

    bucket = f"faults-{request.node.name.removeprefix('test_').replace('_', '-')[:30]}-{uuid.uuid4().hex[:6]}"
    values = {
        "OLLAMA_HOST": ollama.url,
        "SPARKLIO_OLLAMA_TIMEOUT_SECONDS": "10",
        "COMFYUI_URL": comfyui.url,
        "COMFYUI_TIMEOUT_SECONDS": "120",
        "SPARKLIO_S3_ENDPOINT": fault_s3.endpoint,
        "SPARKLIO_S3_BUCKET": bucket,
        "SPARKLIO_S3_ACCESS_KEY_ID": "test",
        "SPARKLIO_S3_SECRET_ACCESS_KEY": "test",
        "DATABASE_URL": postgres_dsn,
        RETRY_DELAY_ENV: str(SERVICE_RETRY.delay),  # child processes get the policy this process has
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture()
def scenario_io(product_env):
    """The store and database as the test sees them (the runs build their own from the environment)."""
    from resources.database import CampaignDatabaseResource
    from resources.object_store import S3ObjectStoreResource

    store = S3ObjectStoreResource(endpoint_url=product_env["SPARKLIO_S3_ENDPOINT"],
                                  bucket=product_env["SPARKLIO_S3_BUCKET"], access_key_id="test",
                                  secret_access_key="test")
    db = CampaignDatabaseResource(database_url=product_env["DATABASE_URL"])
    return store, db
