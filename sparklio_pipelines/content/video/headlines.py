"""On-screen headlines of the video: wrapped and shrunk to their zone, never cut."""

from __future__ import annotations

from pathlib import Path

from PIL import ImageFont

from sparklio_pipelines.content.media import MediaError
from sparklio_pipelines.content.text import balanced_wrap
from sparklio_pipelines.content.video.formats import MIN_HEADLINE_PX

HEADLINE_SIZE = 76
HEADLINE_MAX_WIDTH = 920
HEADLINE_LEADING = 1.45
HEADLINE_BOX_PAD = 18  # drawtext boxborderw
HEADLINE_FADE_S = 0.3


class HeadlineFitError(MediaError):
    """A headline that does not fit its zone even at the smallest size: shorten it (it is never cut)."""


def wrap_headline(text: str, font: Path, max_width: int = HEADLINE_MAX_WIDTH, *, max_px: int = HEADLINE_SIZE,
                  min_px: int = MIN_HEADLINE_PX, max_height: int | None = None) -> tuple[list[str], int]:
    """Lines and font size of a headline: never cut. The largest size whose word-wrap (eojeol for
    Korean) fits `max_width` (and `max_height`), words kept whole; at the smallest size a word wider
    than the line breaks. Raises HeadlineFitError, naming the headline, when nothing fits."""
    if not text.split():
        return [], max_px
    attempts = [(px, False) for px in range(max_px, min_px - 1, -4)] + [(min_px, True)]
    for px, break_words in attempts:
        face = ImageFont.truetype(str(font), px)
        lines = balanced_wrap(text, face.getlength, max_width, break_words=break_words, precision=8)
        if lines and (max_height is None or headline_height(len(lines), px) <= max_height):
            return lines, px
    raise HeadlineFitError(
        f"headline {text!r} does not fit the {max_width}x{max_height or 0} px headline zone even at {min_px} px: "
        "shorten it (headlines are never cut)"
    )


def headline_height(lines: int, px: int) -> int:
    return int(px * HEADLINE_LEADING) * (lines - 1) + int(px * 1.2) + 2 * HEADLINE_BOX_PAD
