"""`campaign_bundle`: every output of a campaign plus its manifest, in one zip to hand over."""

import json
import tempfile
import zipfile
from pathlib import Path

import dagster as dg

from resources.database import CampaignDatabaseResource
from resources.object_store import ObjectStoreResource
from sparklio_common.keys import bundle_key, campaign_key
from sparklio_pipelines.campaigns.manifest import (
    build_manifest,
    fingerprint,
    output_record,
)
from sparklio_pipelines.defs.assets.common import (
    cached_metadata,
    campaign_asset,
    find_cached,
    publish,
)
from sparklio_pipelines.defs.links import browser_url

BUNDLE_ASSET = "campaign_bundle"





@campaign_asset(
    kinds={"zip"},
    deps=["brief", "copy", "image", "video", "captions"],
    description="campaigns/<campaign>/bundle.zip: every output plus the manifest, with a download link.",
)
def campaign_bundle(
    context: dg.AssetExecutionContext, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.MaterializeResult:
    campaign_id = context.partition_key
    records = [r for r in campaign_db.outputs(campaign_id) if r.asset != BUNDLE_ASSET]
    manifest = build_manifest(campaign_id, records)
    inputs = fingerprint(manifest)
    cached = find_cached(context, object_store, campaign_db, BUNDLE_ASSET, inputs)
    if cached is not None:
        return dg.MaterializeResult(metadata={
            **cached_metadata(object_store, cached, campaign_id),
            "bundle_url": dg.MetadataValue.url(browser_url(object_store, bundle_key(campaign_id))),
        })

    prefix = campaign_key(campaign_id) + "/"
    with tempfile.TemporaryDirectory(prefix="sparklio-bundle-") as tmp:
        zip_path = Path(tmp) / "bundle.zip"
        with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            for rec in records:
                local = object_store.download(rec.key, Path(tmp) / "item")
                # media is already compressed; deflating it again only costs time
                kind = zipfile.ZIP_STORED if rec.media_type.startswith(("video/", "image/")) else zipfile.ZIP_DEFLATED
                bundle.write(local, rec.key.removeprefix(prefix), compress_type=kind)
            bundle.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True))
        stored = object_store.put_file(bundle_key(campaign_id), zip_path, "application/zip")
    metadata = publish(context, object_store, campaign_db, BUNDLE_ASSET, [output_record(stored, BUNDLE_ASSET)], inputs)
    metadata.update({
        "bundle_url": dg.MetadataValue.url(browser_url(object_store, stored.key, expires_s=7 * 24 * 3600)),
        "files": len(records) + 1,
        "bundle_bytes": stored.size,
    })
    return dg.MaterializeResult(metadata=metadata)
