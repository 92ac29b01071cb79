"""Submitting a campaign: store the brief, record the campaign, add its partition.

The CLI, the brief-upload sensor and the Launchpad job all go through `submit_brief`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from resources.database import CampaignDatabaseResource
from resources.object_store import ObjectStoreResource, StoredObject
from sparklio_pipelines.brief import Brief, BriefError, parse_brief_bytes
from sparklio_pipelines.brand_kits import brands_dir
from sparklio_pipelines.keys import campaign_key
from sparklio_pipelines.partitions import CAMPAIGN_PARTITION_NAME

MAX_LOGO_BYTES = 5 * 1024 * 1024


def brief_input_key(campaign_id: str) -> str:
    """Where the submitted brief (canonical JSON) lives; the `brief` asset reads it."""
    return campaign_key(campaign_id, "input", "brief.json")


@dataclass(frozen=True)
class Submission:
    brief: Brief
    stored: StoredObject
    partition_added: bool


def _upload_logo(brief: Brief, store: ObjectStoreResource, base_dir: Path | None) -> Brief:
    """A logo given as a local file is uploaded; the brief then names its key.

    Local files are read only from the brands folder (brand kits) or, for a brief given on the
    command line (`base_dir`), from beside the brief. A brief that arrives by upload or from the
    Launchpad cannot make the server read any other file on its disk.
    """
    logo = brief.brand.logo_path
    if not logo or logo.startswith(f"campaigns/{brief.campaign_id}/"):
        return brief
    path = (Path(logo) if Path(logo).is_absolute() else (base_dir or brands_dir()) / logo).resolve()
    allowed = [brands_dir().resolve()] + ([Path(base_dir).resolve()] if base_dir is not None else [])
    if not any(path.is_relative_to(root) for root in allowed):
        raise BriefError([("brand.logo_path", "must be a file in the brands folder or beside the brief, "
                           f"or a key under campaigns/{brief.campaign_id}/")], brief.campaign_id)
    if not path.is_file():
        raise BriefError([("brand.logo_path", f"file not found: {logo}")], brief.campaign_id)
    if path.stat().st_size > MAX_LOGO_BYTES or path.suffix.lower() not in {".png", ".jpg", ".jpeg", ".webp"}:
        raise BriefError([("brand.logo_path", "must be a PNG/JPEG/WebP image of at most 5 MB")], brief.campaign_id)
    key = campaign_key(brief.campaign_id, "input", "logo" + path.suffix.lower())
    store.put_file(key, path)
    return brief.model_copy(update={"brand": brief.brand.model_copy(update={"logo_path": key})})


def store_brief(brief: Brief, store: ObjectStoreResource, base_dir: Path | None = None) -> tuple[Brief, StoredObject]:
    """Put the brief (canonical JSON) where the `brief` asset reads it; idempotent."""
    brief = _upload_logo(brief, store, base_dir)
    stored = store.put_bytes(brief_input_key(brief.campaign_id), brief.canonical_json().encode(), "application/json")
    return brief, stored


def submit_brief(
    raw: bytes,
    name: str,
    *,
    store: ObjectStoreResource,
    db: CampaignDatabaseResource,
    instance,
    base_dir: Path | None = None,
) -> Submission:
    """Validate and store a brief and add its campaign partition. Raises BriefError on a bad brief."""
    brief, stored = store_brief(parse_brief_bytes(raw, name), store, base_dir)
    db.upsert_campaign(brief, stored.sha256)
    added = False
    if not instance.has_dynamic_partition(CAMPAIGN_PARTITION_NAME, brief.campaign_id):
        instance.add_dynamic_partitions(CAMPAIGN_PARTITION_NAME, [brief.campaign_id])
        added = True
    return Submission(brief, stored, added)
