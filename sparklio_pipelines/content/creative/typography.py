"""Type: the brand font, and text blocks fitted to a box (wrapped, shrunk, never clipped)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import ImageDraw, ImageFont

from sparklio_pipelines.content.creative.layout import CreativeError
from sparklio_pipelines.content.fonts import find_font
from sparklio_pipelines.content.text import balanced_wrap, wrap_words

MIN_HEADLINE_PX = 24


@functools.lru_cache(maxsize=8)
def _font_face_index(path: str, prefer: str = "KR") -> int:
    """In a .ttc collection pick the Korean face (Hangul shapes); plain font files have one face."""
    if not path.lower().endswith(".ttc"):
        return 0
    for index in range(12):
        try:
            family, _style = ImageFont.truetype(path, 12, index=index).getname()
        except OSError:
            break
        if prefer in family and "Mono" not in family:
            return index
    return 0


@functools.lru_cache(maxsize=128)
def brand_font(family_or_path: str, px: int, bold: bool = True) -> ImageFont.FreeTypeFont:
    """The brand font at `px` pixels; Noto Sans CJK (Hangul-capable) when the brand's font is missing."""
    path = str(find_font(family_or_path, bold=bold))
    return ImageFont.truetype(path, int(px), index=_font_face_index(path))


@functools.lru_cache(maxsize=65536)  # wrapping re-measures the same prefixes many times
def ink_width(font: ImageFont.FreeTypeFont, text: str) -> int:
    left, _top, right, _bottom = font.getbbox(text, anchor="ls")
    return int(right - min(0, left))


@dataclass
class TextBlock:
    lines: list[str]
    font: ImageFont.FreeTypeFont
    px: int
    line_height: int
    ascent: int  # ink above the first baseline
    descent: int  # ink below the last baseline
    width: int

    @property
    def height(self) -> int:
        return self.ascent + (len(self.lines) - 1) * self.line_height + self.descent


def text_block(lines: list[str], font: ImageFont.FreeTypeFont, px: int, leading: float) -> TextBlock:
    # Font-wide ink extents (tall Latin accents, Hangul, descenders) so boxes never clip any glyph.
    _l, top, _r, bottom = font.getbbox("ÅÉHg한글jy", anchor="ls")
    line_tops = [font.getbbox(line, anchor="ls")[1] for line in lines]
    line_bottoms = [font.getbbox(line, anchor="ls")[3] for line in lines]
    ascent = int(np.ceil(max(-top, -line_tops[0])))
    descent = int(np.ceil(max(bottom, line_bottoms[-1])))
    width = max(ink_width(font, line) for line in lines)
    return TextBlock(lines, font, px, int(round(px * leading)), ascent, descent, width)


def fit_text(
    text: str, font_family: str, max_width: int, max_height: int, max_px: int, min_px: int, leading: float
) -> TextBlock:
    """Largest font size (max_px down to min_px) whose wrapped text fits the box; words are only
    broken mid-word when no size fits otherwise. Raises CreativeError if nothing fits."""
    if not text.strip():
        raise CreativeError("text to place is empty")
    # Keep words whole while the type stays large; below half size, breaking an over-long word
    # (or a long Hangul run without spaces) reads better than shrinking everything further.
    for break_words, floor_px in ((False, max(min_px, max_px // 2)), (True, min_px)):
        px = max_px
        while px >= floor_px:
            font = brand_font(font_family, px)
            measure = functools.partial(ink_width, font)
            lines = wrap_words(text, measure, max_width, break_words=break_words)
            if lines:
                block = text_block(lines, font, px, leading)
                if block.width <= max_width and block.height <= max_height:
                    # Same line count at a narrower measure: same height, evener lines.
                    balanced = balanced_wrap(text, measure, max_width, break_words=break_words) or lines
                    return text_block(balanced, font, px, leading) if len(balanced) == len(lines) else block
            px -= max(1, px // 24)  # ~4% steps: fast, and fine enough visually
    raise CreativeError(
        f"text does not fit a {max_width}x{max_height} px box even at {min_px} px: {text[:60]!r}..."
    )


def draw_block(draw: ImageDraw.ImageDraw, block: TextBlock, x: int, top: int, fill: tuple[int, int, int]) -> None:
    baseline = top + block.ascent
    for line in block.lines:
        left = block.font.getbbox(line, anchor="ls")[0]
        draw.text((x - min(0, left), baseline), line, font=block.font, fill=fill, anchor="ls")
        baseline += block.line_height
