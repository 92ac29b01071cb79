"""Pick each service's backend from the environment. The asset code never changes.

No variable set: the embedded default (local objects, embedded Postgres, PyPI models).
`SPARKLIO_S3_ENDPOINT` selects S3/MinIO; `DATABASE_URL` selects a Postgres server.
Values are passed as `EnvVar`, so secrets never appear in the Dagster UI or in code.
"""

from __future__ import annotations

import os

from dagster import EnvVar

from resources.database import CampaignDatabaseResource
from resources.object_store import LocalObjectStoreResource, ObjectStoreResource, S3ObjectStoreResource


def env_or(name: str, default):
    """`EnvVar(name)` when the variable is set, else the default (EnvVar fails on unset names)."""
    return EnvVar(name) if os.environ.get(name) else default


def object_store_resource() -> ObjectStoreResource:
    if os.environ.get("SPARKLIO_S3_ENDPOINT"):
        return S3ObjectStoreResource(
            endpoint_url=EnvVar("SPARKLIO_S3_ENDPOINT"),
            bucket=env_or("SPARKLIO_S3_BUCKET", "sparklio"),
            access_key_id=env_or("SPARKLIO_S3_ACCESS_KEY_ID", ""),
            secret_access_key=env_or("SPARKLIO_S3_SECRET_ACCESS_KEY", ""),
            region_name=env_or("SPARKLIO_S3_REGION", "us-east-1"),
        )
    return LocalObjectStoreResource(root=env_or("SPARKLIO_OBJECTS_DIR", ""))


def campaign_db_resource() -> CampaignDatabaseResource:
    return CampaignDatabaseResource(database_url=env_or("DATABASE_URL", ""))


def build_resources() -> dict:
    return {
        "object_store": object_store_resource(),
        "campaign_db": campaign_db_resource(),
    }
