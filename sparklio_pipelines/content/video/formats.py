"""Video formats: a cut for every channel, each with its own layout (safe area, headline zone, caption zone).

9:16 keeps clear of the Shorts/Reels/TikTok interface: the profile bar on top, the caption and
buttons along the bottom ~20%, and the action buttons down the right ~15%.
"""

from __future__ import annotations

from dataclasses import dataclass

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)


@dataclass(frozen=True)
class VideoFormat:
    name: str  # "9x16": used in object keys
    size: tuple[int, int]
    safe_area: Box  # where text may go
    headline_zone: Box  # headlines on art slides are centred in it, from its top
    caption_zone: Box  # captions go here unless on-screen text is in the way
    headline_px: int  # largest headline size; shrinks to MIN_HEADLINE_PX to fit
    caption_px: int
    creative: str  # the creative size (content/creative/layout.py) shown as the last slide
    slide_art: str = "story"  # the SLIDE_ART shape its moving slides are painted in

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    @property
    def label(self) -> str:
        return self.name.replace("x", ":")


MIN_HEADLINE_PX = 40


def _format(name: str, size: tuple[int, int], *, top: float, bottom: float, right: float, margin: float,
            headline_px: int, caption_px: int, headline_h: float, caption_h: float, creative: str,
            slide_art: str = "story") -> VideoFormat:
    width, height = size
    x0, x1 = round(margin * width), round(width - max(margin, right) * width)
    y0, y1 = round(top * height), round(height - bottom * height)
    safe = (x0, y0, x1, y1)
    headline = (x0, y0, x1, y0 + round(headline_h * height))
    caption = (x0, y1 - round(caption_h * height), x1, y1)
    return VideoFormat(name, size, safe, headline, caption, headline_px, caption_px, creative, slide_art)


FORMATS: dict[str, VideoFormat] = {
    # 1080x1920: top 14% (profile bar), bottom 20% and right 15% (platform buttons) stay clear.
    "9x16": _format("9x16", (1080, 1920), top=0.14, bottom=0.20, right=0.15, margin=0.05, headline_px=76,
                    caption_px=64, headline_h=0.22, caption_h=0.16, creative="story"),
    "1x1": _format("1x1", (1080, 1080), top=0.07, bottom=0.07, right=0.06, margin=0.06, headline_px=64,
                   caption_px=50, headline_h=0.28, caption_h=0.22, creative="square"),
    "16x9": _format("16x9", (1920, 1080), top=0.07, bottom=0.07, right=0.06, margin=0.06, headline_px=68,
                    caption_px=54, headline_h=0.28, caption_h=0.22, creative="landscape",
                    slide_art="wide"),
}
# The shapes slide art is painted in. 16:9 gets its own: portrait art cover-fitted to 1920 wide is
# a 607 px band blown up ~1.8x, visibly soft. 1:1 is the 9:16's centre, so portrait art serves it.
SLIDE_ART: dict[str, tuple[int, int]] = {"story": (1080, 1920), "wide": (1920, 1080)}
SLIDE_COUNT = 3  # art slides the video moves through before its closing creative
PRIMARY_FORMAT = "9x16"
# Which formats each channel is posted in: Shorts/Reels are vertical; LinkedIn and X feeds favour 1:1 and 16:9.
CHANNEL_FORMATS: dict[str, tuple[str, ...]] = {
    "shorts": ("9x16",),
    "instagram": ("9x16",),
    "linkedin": ("1x1", "16x9"),
    "x": ("1x1", "16x9"),
    "email": (),
}


def formats_for_channels(channels: list[str]) -> list[VideoFormat]:
    """The brief's formats, 9:16 always first (it is the one every caption and check starts from)."""
    names = {PRIMARY_FORMAT}
    for channel in channels:
        names.update(CHANNEL_FORMATS.get(channel, ()))
    return [FORMATS[name] for name in FORMATS if name in names]


def slide_art(formats: list[VideoFormat]) -> list[tuple[str, tuple[int, int], int]]:
    """The art the formats' slides need, as (name, size, slide number): story-1..3, and wide-1..3 for a
    16:9 cut."""
    shapes = dict.fromkeys(fmt.slide_art for fmt in formats)
    return [(f"{shape}-{n}", SLIDE_ART[shape], n) for shape in shapes for n in range(1, SLIDE_COUNT + 1)]


def slide_art_keys(fmt: VideoFormat, art: dict[str, str]) -> list[str]:
    """The object keys of `fmt`'s slide art in the image step's output; portrait art where its own shape
    was not painted (an image output from before wide art)."""
    shape = fmt.slide_art if f"{fmt.slide_art}-1" in art else "story"
    return [art[f"{shape}-{n}"] for n in range(1, SLIDE_COUNT + 1)]
