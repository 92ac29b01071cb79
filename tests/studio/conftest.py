"""Studio fixtures: the app in-process over the real Postgres and SeaweedFS S3, submitting runs to a real
Dagster webserver (no daemon here, so runs stay queued and nothing executes)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def dagster_queue(postgres_dsn):
    from tests.support.studio_stack import DagsterStack, studio_env

    stack = DagsterStack(studio_env(), daemon=False).start()
    yield stack
    stack.stop()


@pytest.fixture()
def studio(s3_store, campaign_db, dagster_queue):
    from sparklio_pipelines.defs.resources import embedder_resource
    from sparklio_pipelines.studio.dagster_client import DagsterClient
    from sparklio_pipelines.studio.service import Studio
    from sparklio_pipelines.studio.store import StudioStore

    return Studio(store=s3_store, db=campaign_db, dagster=DagsterClient(dagster_queue.url),
                  studio_db=StudioStore(campaign_db), embedder_factory=embedder_resource)


@pytest.fixture()
def client(studio):
    from fastapi.testclient import TestClient

    from sparklio_pipelines.studio.app import create_app

    with TestClient(create_app(studio, webhooks=False)) as client:
        yield client


@pytest.fixture()
def api(client, studio):
    """The client with an API token, as another app of the team would call."""
    from sparklio_pipelines.studio.auth import create_api_token

    client.headers["Authorization"] = f"Bearer {create_api_token(studio.studio_db, 'tests')}"
    return client
