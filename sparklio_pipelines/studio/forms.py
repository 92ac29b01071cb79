"""The new-campaign form's pieces: uploads checked by content, brand kits offered by name, nested fields."""

from __future__ import annotations

import io

from sparklio_common.keys import sanitize_name
from sparklio_pipelines.campaigns.briefs import MAX_PHOTO_BYTES
from sparklio_pipelines.content.brief.brand_kits import brands_dir
from sparklio_pipelines.studio.errors import StudioError

IMAGE_FORMATS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}


def image_extension(field: str, filename: str, data: bytes) -> str:
    """The upload's extension from its content (PNG/JPEG/WebP, at most 15 MB); StudioError otherwise."""
    from PIL import Image, UnidentifiedImageError

    limit_mb = MAX_PHOTO_BYTES // (1024 * 1024)
    if len(data) > MAX_PHOTO_BYTES:
        raise StudioError([(field, f"{sanitize_name(filename)} is {len(data) / 1e6:.1f} MB; at most {limit_mb} MB")], 413)
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            image.verify()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        kind = None
    if kind not in IMAGE_FORMATS:
        raise StudioError([(field, f"{sanitize_name(filename)} is not a PNG, JPEG or WebP image")])
    return IMAGE_FORMATS[kind]


def brand_kit_names() -> list[str]:
    return sorted(p.stem for p in brands_dir().glob("*.yaml"))


def set_path(data: dict, dotted: str, value) -> None:
    head, _, rest = dotted.partition(".")
    if rest:
        set_path(data.setdefault(head, {}), rest, value)
    else:
        data[head] = value
