"""Campaign media for the browser: any stored object under `campaigns/<id>/`, with HTTP Range support so
`<video>` can seek. Local store: read from disk; S3/MinIO: streamed through the Studio (the browser may not
reach the object store), or, with `SPARKLIO_STUDIO_PRESIGNED_MEDIA=1`, a redirect to a presigned URL."""

from __future__ import annotations

import os
import re
from urllib.parse import quote

from fastapi.responses import RedirectResponse, Response, StreamingResponse

from resources.object_store import LocalObjectStoreResource, ObjectStoreResource
from sparklio_common.keys import campaign_key
from sparklio_common.media_types import guess_media_type

CHUNK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(Exception):
    pass


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `Range: bytes=a-b` request; None for the whole object."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None  # multi-range or malformed: RFC 9110 lets a server answer with the whole object
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last) if last else size - 1, size - 1)
    if start >= size or start > end:
        raise RangeNotSatisfiable()
    return start, end


def _local_chunks(path, start: int, length: int):
    with open(path, "rb") as fh:
        fh.seek(start)
        while length > 0:
            block = fh.read(min(CHUNK, length))
            if not block:
                return
            length -= len(block)
            yield block


def media_response(store: ObjectStoreResource, campaign_id: str, path: str, range_header: str | None,
                   download: bool = False) -> Response:
    key = campaign_key(campaign_id, path)  # raises UnsafeKeyError on traversal
    info = store.head(key)
    if info is None:
        return Response("Not found", status_code=404, media_type="text/plain")
    if os.environ.get("SPARKLIO_STUDIO_PRESIGNED_MEDIA") == "1" and not isinstance(store, LocalObjectStoreResource):
        return RedirectResponse(store.url(key, expires_s=3600), status_code=307)
    try:
        span = byte_range(range_header, info.size)
    except RangeNotSatisfiable:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{info.size}"})
    start, end = span or (0, info.size - 1)
    length = max(0, end - start + 1)
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(length), "Cache-Control": "private, max-age=60"}
    if info.etag or info.sha256:
        headers["ETag"] = f'"{info.sha256 or info.etag}"'
    if span:
        headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
    if download:
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(key.rsplit('/', 1)[-1])}"
    if isinstance(store, LocalObjectStoreResource):
        body = _local_chunks(store.root_path / key, start, length) if length else iter([b""])
    else:
        params = {"Bucket": store.bucket, "Key": key}
        if span:
            params["Range"] = f"bytes={start}-{end}"
        stream = store.client.get_object(**params)["Body"]
        body = stream.iter_chunks(CHUNK)
    return StreamingResponse(body, status_code=206 if span else 200, media_type=guess_media_type(key),
                             headers=headers)
