"""Submitting a campaign: store the brief, record the campaign, add its partition.

The CLI, the brief-upload sensor and the Launchpad job all go through `submit_brief`.
"""

from __future__ import annotations

from pathlib import Path

from resources.object_store import ObjectStoreResource, StoredObject
from sparklio_common.keys import brief_input_key, campaign_key
from sparklio_pipelines.content.brief.brand_kits import brands_dir
from sparklio_pipelines.content.brief.schema import Brief, BriefError

MAX_LOGO_BYTES = 5 * 1024 * 1024
MAX_PHOTO_BYTES = 15 * 1024 * 1024  # style reference and product photos
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


def _upload_input_image(
    brief: Brief, store: ObjectStoreResource, base_dir: Path | None, value: str | None, field: str, stem: str,
    max_bytes: int,
) -> str | None:
    """An input image given as a local file (logo, style reference, product photo) is uploaded to
    `campaigns/<id>/input/<stem>.<ext>`; returns the key the brief then names.

    Local files are read only from the brands folder (brand kits) or, for a brief given on the
    command line (`base_dir`), from beside the brief. A brief that arrives by upload or from the
    Launchpad cannot make the server read any other file on its disk.
    """
    if not value or value.startswith(f"campaigns/{brief.campaign_id}/"):
        return value
    path = (Path(value) if Path(value).is_absolute() else (base_dir or brands_dir()) / value).resolve()
    allowed = [brands_dir().resolve()] + ([Path(base_dir).resolve()] if base_dir is not None else [])
    if not any(path.is_relative_to(root) for root in allowed):
        where = f"must be a file in the brands folder or beside the brief, or a key under campaigns/{brief.campaign_id}/"
        raise BriefError([(field, where)], brief.campaign_id)
    if not path.is_file():
        raise BriefError([(field, f"file not found: {value}")], brief.campaign_id)
    if path.stat().st_size > max_bytes or path.suffix.lower() not in IMAGE_SUFFIXES:
        raise BriefError([(field, f"must be a PNG/JPEG/WebP image of at most {max_bytes // (1024 * 1024)} MB")],
                         brief.campaign_id)
    key = campaign_key(brief.campaign_id, "input", stem + path.suffix.lower())
    store.put_file(key, path)
    return key


def _upload_inputs(brief: Brief, store: ObjectStoreResource, base_dir: Path | None) -> Brief:
    """Upload the brief's local input images; the stored brief names their object keys."""
    brand = brief.brand.model_copy(update={
        "logo_path": _upload_input_image(brief, store, base_dir, brief.brand.logo_path, "brand.logo_path",
                                         "logo", MAX_LOGO_BYTES),
        "style_reference_path": _upload_input_image(
            brief, store, base_dir, brief.brand.style_reference_path, "brand.style_reference_path",
            "style-reference", MAX_PHOTO_BYTES),
    })
    product_photo = _upload_input_image(brief, store, base_dir, brief.product_photo, "product_photo",
                                        "product-photo", MAX_PHOTO_BYTES)
    return brief.model_copy(update={"brand": brand, "product_photo": product_photo})


def store_brief(brief: Brief, store: ObjectStoreResource, base_dir: Path | None = None) -> tuple[Brief, StoredObject]:
    """Put the brief (canonical JSON) where the `brief` asset reads it; idempotent."""
    brief = _upload_inputs(brief, store, base_dir)
    stored = store.put_bytes(brief_input_key(brief.campaign_id), brief.canonical_json().encode(), "application/json")
    return brief, stored
