"""Helpers every campaign asset shares: metadata for the UI, publishing, the cached path."""

from __future__ import annotations

import base64

import dagster as dg
from dagster import AssetExecutionContext, Backoff, Jitter, MetadataValue, RetryPolicy

from resources.database import CampaignDatabaseResource, OutputRecord
from resources.object_store import ObjectStoreResource
from sparklio_common.keys import deck_key
from sparklio_pipelines.campaigns.manifest import cached_outputs, publish_outputs
from sparklio_pipelines.content.copy.schemas import CopyDeck
from sparklio_pipelines.defs.links import browser_url, review_links
from sparklio_pipelines.defs.partitions import campaign_partitions
from sparklio_pipelines.defs.retries import retry_delay_seconds, retry_transient_only

CAMPAIGN_GROUP = "campaign"
GPU_POOL = "gpu"
GPU_QUEUE = "gpu"  # the Celery queue the GPU boxes' workers read
CELERY_QUEUE_TAG = "dagster-celery/queue"  # dagster-celery routes a step by this op tag


def gpu_step() -> dict:
    """Asset arguments for a step that needs the GPU: the one-at-a-time `gpu` pool and, when steps run
    on Celery, the `gpu` queue. One place says both, so they never disagree."""
    return {"pool": GPU_POOL, "op_tags": {CELERY_QUEUE_TAG: GPU_QUEUE}}

# Steps that call a service (LLM, image backend, S3, Postgres) retry with backoff and jitter.
# Only transient errors reach this policy: each step body runs under `retry_transient_only`.
SERVICE_RETRY = RetryPolicy(
    # 5 retries at 2 s doubling wait ~1 min in all: a Mac mini restart (Postgres, MinIO back within a minute)
    # is ridden out inside the step, since a step failure is not retried as a whole run
    max_retries=5, delay=retry_delay_seconds(), backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)


def campaign_asset(*, gpu: bool = False, **asset_args):
    """A campaign asset: one partition per campaign, in the campaign group; transient errors retried with
    backoff, every other error failing at once (`retry_transient_only`). `gpu=True`: see `gpu_step`."""
    return service_asset(partitions_def=campaign_partitions, group_name=CAMPAIGN_GROUP, gpu=gpu, **asset_args)


def service_asset(*, gpu: bool = False, **asset_args):
    """An asset whose step calls services: the retry policy and `retry_transient_only` around its body."""

    def decorate(fn):
        return dg.asset(retry_policy=SERVICE_RETRY, **(gpu_step() if gpu else {}), **asset_args)(retry_transient_only(fn))

    return decorate


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
    from sparklio_common.keys import manifest_key

    return {
        "cached": True,
        "outputs": outputs_table(store, records),
        "output_count": len(records),
        "manifest": MetadataValue.path(manifest_key(campaign_id)),
        **review_links(campaign_id),
    }


def load_deck(store: ObjectStoreResource, campaign_id: str) -> CopyDeck:
    """The campaign's published copy deck."""
    return CopyDeck.model_validate_json(store.get_bytes(deck_key(campaign_id)))
