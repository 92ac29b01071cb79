"""Font lookup: every text we render (creatives, headlines, captions) must handle Hangul."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

# Debian's fonts-noto-cjk; one file covers Latin and Hangul.
KNOWN_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
DEFAULT_FAMILY = "Noto Sans CJK KR"


@functools.lru_cache(maxsize=32)
def find_font(family_or_path: str = DEFAULT_FAMILY, bold: bool = True) -> Path:
    """A font file for a family name or path that can draw Hangul; falls back to Noto Sans CJK."""
    candidate = Path(family_or_path)
    if candidate.suffix.lower() in {".ttf", ".otf", ".ttc"} and candidate.is_file():
        return candidate
    pattern = f"{family_or_path}:lang=ko" + (":weight=bold" if bold else "")
    try:
        out = subprocess.run(["fc-match", "-f", "%{file}", pattern], capture_output=True, text=True, timeout=10)
        matched = Path(out.stdout.strip())
        if out.returncode == 0 and matched.is_file():
            return matched
    except (OSError, subprocess.TimeoutExpired):
        pass
    for path in KNOWN_CJK_FONTS if bold else reversed(KNOWN_CJK_FONTS):
        if Path(path).is_file():
            return Path(path)
    raise FileNotFoundError("no Hangul-capable font found: install Debian's fonts-noto-cjk")
