"""Links a browser can open, for the Dagster UI's asset metadata: the campaign's Studio review page and
its outputs served by the Studio (`SPARKLIO_STUDIO_URL`). Without a Studio address the object store's own
URL is kept (presigned on S3; a file path on the embedded default). No web-framework imports here: the
code location uses this module."""

from __future__ import annotations

import os
from urllib.parse import quote

from sparklio_common.keys import UnsafeKeyError


def studio_url() -> str:
    return (os.environ.get("SPARKLIO_STUDIO_URL") or "").rstrip("/")


def media_path(key: str) -> str:
    """The Studio path of a stored object (`campaigns/<id>/...` only)."""
    parts = key.split("/")
    if len(parts) < 3 or parts[0] != "campaigns":
        raise UnsafeKeyError(f"not a campaign object: {key!r}")
    return "/media/" + "/".join(quote(p) for p in parts[1:])


def browser_url(store, key: str, expires_s: int = 3600) -> str:
    base = studio_url()
    if base and key.startswith("campaigns/"):
        return base + media_path(key)
    return store.url(key, expires_s=expires_s)


def review_links(campaign_id: str) -> dict:
    """Metadata entries linking a campaign's asset to its Studio review page (none without a Studio address)."""
    from dagster import MetadataValue

    base = studio_url()
    return {"studio_review": MetadataValue.url(f"{base}/campaigns/{quote(campaign_id)}")} if base else {}
