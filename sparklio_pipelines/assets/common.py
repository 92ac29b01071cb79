"""Helpers every campaign asset shares: metadata for the UI, publishing, the cached path."""

from __future__ import annotations

import base64

from dagster import AssetExecutionContext, Backoff, Jitter, MetadataValue, RetryPolicy

from resources.database import CampaignDatabaseResource, OutputRecord
from resources.object_store import ObjectStoreResource
from sparklio_pipelines.manifest import cached_outputs, publish_outputs
from sparklio_pipelines.retries import retry_delay_seconds
from sparklio_pipelines.studio.studio_links import browser_url, review_links

CAMPAIGN_GROUP = "campaign"

# Steps that call a service (LLM, image backend, S3, Postgres) retry with backoff and jitter.
# Only transient errors reach this policy: each step body runs under `retry_transient_only`.
SERVICE_RETRY = RetryPolicy(
    max_retries=3, delay=retry_delay_seconds(), backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)


def thumbnail_markdown(png: bytes, alt: str = "thumbnail") -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def outputs_table(store: ObjectStoreResource, records: list[OutputRecord]) -> MetadataValue:
    rows = ["| output | size | link |", "|---|---|---|"]
    for rec in records:
        rows.append(f"| `{rec.key}` | {rec.bytes:,} B | [open]({browser_url(store, rec.key)}) |")
    return MetadataValue.md("\n".join(rows))


def publish(
    context: AssetExecutionContext,
    store: ObjectStoreResource,
    db: CampaignDatabaseResource,
    asset: str,
    records: list[OutputRecord],
    input_fingerprint: str,
) -> dict:
    """Commit the asset's outputs to Postgres and the manifest; returns metadata for the UI."""
    campaign_id = context.partition_key
    manifest = publish_outputs(
        store, db, campaign_id, asset, records, input_fingerprint=input_fingerprint, run_id=context.run_id
    )
    return {
        "cached": False,
        "outputs": outputs_table(store, records),
        "output_count": len(records),
        "manifest": MetadataValue.path(manifest.key),
        "manifest_url": MetadataValue.url(browser_url(store, manifest.key)),
        **review_links(campaign_id),
    }


def find_cached(
    context: AssetExecutionContext,
    store: ObjectStoreResource,
    db: CampaignDatabaseResource,
    asset: str,
    input_fingerprint: str,
) -> list[OutputRecord] | None:
    records = cached_outputs(store, db, context.partition_key, asset, input_fingerprint)
    if records is not None:
        context.log.info(f"{asset}: inputs unchanged and all {len(records)} outputs intact; reporting cached")
    return records


def cached_metadata(store: ObjectStoreResource, records: list[OutputRecord], campaign_id: str) -> dict:
    from sparklio_pipelines.manifest import manifest_key

    return {
        "cached": True,
        "outputs": outputs_table(store, records),
        "output_count": len(records),
        "manifest": MetadataValue.path(manifest_key(campaign_id)),
        **review_links(campaign_id),
    }
