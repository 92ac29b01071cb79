"""The one media-type guess, from a key's extension (caption formats and YAML included)."""

from __future__ import annotations

import mimetypes
from pathlib import Path

_EXTRA = {".srt": "application/x-subrip", ".vtt": "text/vtt", ".ass": "text/x-ssa", ".yaml": "application/yaml"}


def guess_media_type(key: str) -> str:
    suffix = Path(key).suffix.lower()
    return _EXTRA.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"
