"""`brief`: the validated brief stored for the campaign partition."""


import dagster as dg

from resources.database import CampaignDatabaseResource
from resources.object_store import ObjectStoreError, ObjectStoreResource, StoredObject
from sparklio_common.errors import is_transient
from sparklio_common.keys import brief_input_key
from sparklio_common.media_types import guess_media_type
from sparklio_pipelines.campaigns.manifest import fingerprint, output_record
from sparklio_pipelines.content.brief.parse import parse_brief_bytes
from sparklio_pipelines.content.brief.schema import BriefError
from sparklio_pipelines.defs.assets.common import (
    cached_metadata,
    campaign_asset,
    find_cached,
    publish,
)


@campaign_asset(
    kinds={"json"},
    description="The campaign brief, loaded from the object store and validated.",

)
def brief(
    context: dg.AssetExecutionContext, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.Output[dict]:
    campaign_id = context.partition_key
    key = brief_input_key(campaign_id)
    try:
        raw = object_store.get_bytes(key)
    except ObjectStoreError as exc:
        if is_transient(exc):
            raise  # the store is down, not the brief missing: let the retry policy have it
        raise dg.Failure(
            description=f"No brief stored for campaign {campaign_id!r}. Add it with `sparklio campaign add FILE`.",
            metadata={"expected_key": key, "error": str(exc)},
            allow_retries=False,
        ) from None
    try:
        parsed = parse_brief_bytes(raw, key)
    except BriefError as exc:
        raise dg.Failure(description=str(exc), metadata={"key": key}, allow_retries=False) from None
    if parsed.campaign_id != campaign_id:
        raise dg.Failure(
            description=f"Brief at {key} is for campaign {parsed.campaign_id!r}, not {campaign_id!r}",
            allow_retries=False,
        )

    stored = object_store.head(key)
    digest = stored.sha256 or fingerprint(raw.decode())
    campaign_db.upsert_campaign(parsed, digest)
    summary = {
        "product": parsed.product,
        "languages": ", ".join(parsed.languages),
        "channels": ", ".join(parsed.channels),
        "dates": f"{parsed.start_date} → {parsed.end_date}",
        "brief": dg.MetadataValue.json(parsed.model_dump(mode="json")),
    }
    cached = find_cached(context, object_store, campaign_db, "brief", digest)
    if cached is not None:
        metadata = cached_metadata(object_store, cached, campaign_id)
    else:
        records = [output_record(StoredObject(key, digest, len(raw), "application/json", cached=True), "brief")]
        # the input images uploaded with the brief belong to the campaign: the manifest lists them
        for image in (parsed.brand.logo_path, parsed.brand.style_reference_path, parsed.product_photo):
            if image and image.startswith(f"campaigns/{campaign_id}/") and (info := object_store.head(image)):
                records.append(output_record(
                    StoredObject(image, info.sha256 or "", info.size, guess_media_type(image), True), "brief"))
        metadata = publish(context, object_store, campaign_db, "brief", records, digest)
    return dg.Output(parsed.model_dump(mode="json"), metadata={**summary, **metadata})
