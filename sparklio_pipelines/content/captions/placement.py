"""Where each caption goes: in the format's caption zone, unless text on screen is in the way.

A cue's box is measured with the caption font the way libass sizes it (an ASS font size is the
font's ascent + descent, not its em), so the same measure lays captions out and checks them.
When the preferred place would share a row with a headline, or with a creative's own headline/CTA
while that creative is the slide, the caption moves to the nearest free place in the safe area; when there
is none, `CaptionLayoutError` names the format, slide and time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from PIL import ImageFont

from sparklio_pipelines.content.captions.cues import Cue
from sparklio_pipelines.content.captions.formats import BOX_BORDER_PX
from sparklio_pipelines.content.creative.typography import brand_font
from sparklio_pipelines.content.video.formats import Box
from sparklio_pipelines.content.video.timeline import (
    ScreenText,
    VideoLayout,
    boxes_overlap,
)

LINE_SPACING = 1.0  # libass puts lines one font size apart
GAP_PX = 16  # between a caption and text it steps aside for
MIN_CAPTION_SCALE = 0.7  # a line too wide for the safe area shrinks, to 70% at most
ALIGN = {"bottom": 2, "middle": 5, "top": 8}  # ASS \an: the anchor is bottom-, middle- or top-centre


def caption_pad(px: int) -> int:
    """The outline (the ASS style's, see formats.to_ass) or the word box around the ink, whichever is wider."""
    return max(max(2, round(px / 16)), BOX_BORDER_PX) + 4


class CaptionLayoutError(ValueError):
    """No place for a caption that keeps clear of the text on screen."""


@dataclass(frozen=True)
class Placement:
    align: int  # ASS \an
    x: int
    y: int
    px: int  # font size for this cue
    box: Box  # the caption's ink box, padded by its outline


@functools.lru_cache(maxsize=16)
def _em_per_size(font_family: str) -> float:
    """libass font size -> PIL pixel size: the size is the font's ascent + descent."""
    face = brand_font(font_family, 1000)
    ascent, descent = face.getmetrics()
    return 1000 / (ascent + descent)


def _face(font_family: str, px: int) -> ImageFont.FreeTypeFont:
    return brand_font(font_family, max(8, round(px * _em_per_size(font_family))))


def caption_box(lines: list[str], font_family: str, px: int, align: int, x: int, y: int, pad: int) -> Box:
    """The box libass fills for `lines` at size `px`, anchored at (x, y) by \\an`align` (2, 5 or 8)."""
    face = _face(font_family, px)
    width = max((face.getlength(line) for line in lines), default=0)
    height = px * (1 + LINE_SPACING * (len(lines) - 1))
    top = {2: y - height, 5: y - height / 2, 8: y}[align]
    return (round(x - width / 2 - pad), round(top - pad), round(x + width / 2 + pad), round(top + height + pad))


def fitted_size(lines: list[str], font_family: str, px: int, max_width: int, pad: int) -> int:
    """`px`, or smaller until the widest line fits `max_width` (never under MIN_CAPTION_SCALE)."""
    face = _face(font_family, px)
    widest = max((face.getlength(line) for line in lines), default=0) + 2 * pad
    if widest <= max_width:
        return px
    return max(round(px * MIN_CAPTION_SCALE), int(px * max_width / widest))


def _candidates(layout: VideoLayout, preferred: str, blockers: list[ScreenText], pad: int) -> list[tuple[int, int]]:
    """(align, y) places to try, best first: the preferred one, then beside each blocking text box,
    then the other standard places. The anchors keep the padded box inside the safe area."""
    sx0, sy0, sx1, sy1 = layout.safe_area
    standard = {"bottom": (2, layout.caption_zone[3] - pad), "top": (8, sy0 + pad), "middle": (5, (sy0 + sy1) // 2)}
    places = [standard[preferred]]
    for text in sorted(blockers, key=lambda t: t.box[1]):
        places += [(2, text.box[1] - GAP_PX - pad), (8, text.box[3] + GAP_PX + pad)]
    places += [standard[name] for name in ("bottom", "top", "middle") if name != preferred]
    return places


def place_cue(cue: Cue, layout: VideoLayout, font_family: str, px: int, pad: int, preferred: str = "bottom") -> Placement:
    sx0, sy0, sx1, sy1 = layout.safe_area
    x = (sx0 + sx1) // 2
    size = fitted_size(cue.lines, font_family, px, sx1 - sx0, pad)
    # A caption never shares a row with on-screen text: beside a CTA button it would read as a second button.
    blockers = [replace(text, box=(sx0, text.box[1], sx1, text.box[3])) for text in layout.texts_during(cue.start, cue.end)]
    for align, y in _candidates(layout, preferred, blockers, pad):
        box = caption_box(cue.lines, font_family, size, align, x, y, pad)
        if box[1] < sy0 or box[3] > sy1:
            continue
        if not any(boxes_overlap(box, text.box) for text in blockers):
            return Placement(align, x, y, size, box)
    slide = layout.slide_at(cue.start)
    raise CaptionLayoutError(
        f"{layout.format}: no room for the caption {cue.text!r} at {cue.start:.1f} s on slide {slide}: "
        "the text on screen fills the safe area"
    )


def place_cues(cues: list[Cue], layout: VideoLayout, font_family: str, px: int, pad: int,
               preferred: str = "bottom") -> list[Placement]:
    return [place_cue(cue, layout, font_family, px, pad, preferred) for cue in cues]


@dataclass(frozen=True)
class Overlap:
    format: str
    slide: int
    time_s: float
    caption: str
    role: str
    text: str

    def describe(self) -> str:
        return (f"{self.format} slide {self.slide} at {self.time_s:.2f} s: caption {self.caption!r} covers the "
                f"{self.role} {self.text!r}")


def overlaps(layout: VideoLayout, captions: list[tuple[float, float, str, Box]], fps: int = 30) -> list[Overlap]:
    """Frame by frame, every caption box (start, end, text, box) that covers a text box on screen;
    one finding per caption and text (its first frame)."""
    found: dict[tuple[int, int], Overlap] = {}
    frames = int(layout.duration_s * fps) + 1
    for frame in range(frames):
        t = frame / fps
        shown = [text for text in layout.texts if text.start_s <= t < text.end_s]
        for number, (start, end, caption, box) in enumerate(captions):
            if not start <= t < end:
                continue
            for text in shown:
                key = (number, layout.texts.index(text))
                if key not in found and boxes_overlap(box, text.box):
                    found[key] = Overlap(layout.format, text.slide, round(t, 3), caption, text.role, text.text)
    return sorted(found.values(), key=lambda o: o.time_s)
