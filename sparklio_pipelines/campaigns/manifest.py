"""The campaign manifest: `campaigns/<campaign>/manifest.json`, rebuilt from Postgres after every asset.

Postgres holds one row per stored output; the manifest is a view of those rows, so it always
lists exactly what the assets committed. Objects an asset no longer produces are deleted.
"""

from __future__ import annotations

import hashlib
import json

from resources.database import CampaignDatabaseResource, OutputRecord
from resources.object_store import ObjectStoreResource, StoredObject
from sparklio_common.keys import manifest_key

MANIFEST_VERSION = 1





def fingerprint(*parts: object) -> str:
    """A stable hash of an asset's inputs (JSON-able parts)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def output_record(
    stored: StoredObject, asset: str, *, language: str | None = None, channel: str | None = None,
    variant: str | None = None,
) -> OutputRecord:
    return OutputRecord(
        key=stored.key, asset=asset, sha256=stored.sha256, bytes=stored.size, media_type=stored.media_type,
        language=language, channel=channel, variant=variant,
    )


def build_manifest(campaign_id: str, records: list[OutputRecord]) -> dict:
    return {
        "manifest_version": MANIFEST_VERSION,
        "campaign_id": campaign_id,
        "outputs": [rec.to_dict() for rec in sorted(records, key=lambda r: r.key)],
    }


def write_manifest(store: ObjectStoreResource, db: CampaignDatabaseResource, campaign_id: str) -> StoredObject:
    manifest = build_manifest(campaign_id, db.outputs(campaign_id))
    body = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode()
    return store.put_bytes(manifest_key(campaign_id), body, "application/json")


def publish_outputs(
    store: ObjectStoreResource,
    db: CampaignDatabaseResource,
    campaign_id: str,
    asset: str,
    records: list[OutputRecord],
    *,
    input_fingerprint: str,
    run_id: str | None,
) -> StoredObject:
    """Record an asset's outputs, drop the ones it no longer makes, and rewrite the manifest."""
    stale = db.replace_outputs(campaign_id, asset, records, run_id, input_fingerprint)
    for key in stale:
        store.delete(key)
    return write_manifest(store, db, campaign_id)


def cached_outputs(
    store: ObjectStoreResource, db: CampaignDatabaseResource, campaign_id: str, asset: str, input_fingerprint: str
) -> list[OutputRecord] | None:
    """The asset's outputs if it already ran on these exact inputs and every object is intact."""
    if db.fingerprint(campaign_id, asset) != input_fingerprint:
        return None
    records = db.outputs(campaign_id, asset)
    if not records:
        return None
    for rec in records:
        info = store.head(rec.key)
        if info is None or info.size != rec.bytes or (info.sha256 and info.sha256 != rec.sha256):
            return None
    # A run that committed these rows but lost S3 before its manifest write comes back here on retry:
    # rewrite the manifest from Postgres, or it would miss them for good. Unchanged bytes are not re-put.
    write_manifest(store, db, campaign_id)
    return records
