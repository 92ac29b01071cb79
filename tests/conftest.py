"""Shared fixtures: an isolated SPARKLIO_HOME, the embedded Postgres, and a real S3 server."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def sparklio_home():
    """Every test session gets its own state dir; nothing touches the developer's .sparklio.

    Not under pytest's tmp_path: pytest prunes old basetemp dirs, which would pull the
    embedded Postgres's data dir away from under a concurrent session.
    """
    home = Path(tempfile.mkdtemp(prefix="sparklio-test-"))
    os.environ["SPARKLIO_HOME"] = str(home)
    for name in ("SPARKLIO_S3_ENDPOINT", "DATABASE_URL", "DAGSTER_HOME", "OLLAMA_HOST", "COMFYUI_URL"):
        os.environ.pop(name, None)
    # models are a cache, not state: share the repo's so each session does not re-assemble them
    from sparklio_common.settings import REPO_ROOT

    os.environ.setdefault("SPARKLIO_MODELS_DIR", str(REPO_ROOT / ".sparklio" / "models"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_leaked_dagster_instance():
    """Fail the test that leaves a Dagster instance entered (e.g. an unclosed sensor context).

    A leaked instance sets Dagster's defs-state storage for the whole process; once the
    instance is collected, every later Definitions load fails with an instance-weakref error.
    """
    from dagster._core.storage.defs_state.base import DefsStateStorage, _current_storage

    yield
    if DefsStateStorage.get() is not None:
        _current_storage.set(None)  # clear it so later tests are not affected
        pytest.fail("this test left a Dagster instance entered; use `with build_*_context(...) as context:`")


@pytest.fixture(scope="session")
def postgres_dsn(sparklio_home):
    """The embedded Postgres + pgvector (or $SPARKLIO_TEST_DATABASE_URL, e.g. CI's server)."""
    external = os.environ.get("SPARKLIO_TEST_DATABASE_URL")
    if external:
        yield external
        return
    from resources.embedded_postgres import (
        start_embedded_postgres,
        stop_embedded_postgres,
    )

    dsn = start_embedded_postgres()
    yield dsn
    stop_embedded_postgres()


@pytest.fixture()
def campaign_db(postgres_dsn):
    from resources.database import CampaignDatabaseResource

    return CampaignDatabaseResource(database_url=postgres_dsn)


@pytest.fixture(scope="session")
def seaweed():
    from tests.support.seaweedfs import SeaweedS3

    server = SeaweedS3().start()
    yield server
    server.stop()


@pytest.fixture()
def s3_store(seaweed):
    from resources.object_store import S3ObjectStoreResource

    return S3ObjectStoreResource(
        endpoint_url=seaweed.endpoint,
        bucket=f"test-{uuid.uuid4().hex[:12]}",
        access_key_id="test",
        secret_access_key="test",
    )


@pytest.fixture()
def local_store(tmp_path):
    from resources.object_store import LocalObjectStoreResource

    return LocalObjectStoreResource(root=str(tmp_path / "objects"))


@pytest.fixture(params=["local", "s3"])
def any_store(request):
    """The same test against both backends."""
    return request.getfixturevalue(f"{request.param}_store")
