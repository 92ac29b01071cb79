"""Creative sizes, safe areas and the measured layout a creative records (for checks and the video)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from PIL import Image, ImageOps

CREATIVE_SIZES: dict[str, tuple[int, int]] = {
    "square": (1080, 1080),
    "portrait": (1080, 1350),
    "story": (1080, 1920),
    "landscape": (1920, 1080),
}
# Which creative sizes each channel needs (feed posts, stories/shorts, link cards/headers).
CHANNEL_SIZES: dict[str, tuple[str, ...]] = {
    "instagram": ("square", "portrait", "story"),
    "shorts": ("story",),
    "x": ("landscape",),
    "linkedin": ("landscape",),
    "email": ("landscape",),
}

MARGIN_FRACTION = 0.06
# 9:16 story/shorts: platform UI (profile bar on top; caption, buttons at the bottom) covers these bands.
STORY_TOP_BAND, STORY_BOTTOM_BAND = 0.14, 0.20


class CreativeError(ValueError):
    """A creative could not be composed (bad input or text that cannot fit legibly)."""


Box = tuple[int, int, int, int]


@dataclass
class TextBox:
    role: str  # headline | cta | brand
    text: str
    box: Box  # x0, y0, x1, y1 (exclusive); the text's ink plus a small padding
    font_px: int
    lines: list[str]
    fg_hex: str
    bg_hex: str  # median colour measured behind the text
    contrast: float  # worst case over every pixel behind the text box


@dataclass
class CreativeLayout:
    size: tuple[int, int]
    safe_area: Box
    texts: list[TextBox] = field(default_factory=list)
    logo_box: Box | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["size"] = list(self.size)
        data["safe_area"] = list(self.safe_area)
        data["logo_box"] = list(self.logo_box) if self.logo_box else None
        for text in data["texts"]:
            text["box"] = list(text["box"])
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "CreativeLayout":
        texts = [TextBox(**{**t, "box": tuple(t["box"])}) for t in data["texts"]]
        logo = data.get("logo_box")
        return cls(
            size=tuple(data["size"]),
            safe_area=tuple(data["safe_area"]),
            texts=texts,
            logo_box=tuple(logo) if logo else None,
        )


def safe_area(size: tuple[int, int]) -> Box:
    """Where text and logo may go: 6% margins; 9:16 also keeps clear of platform UI bands."""
    width, height = size
    margin = int(round(MARGIN_FRACTION * min(width, height)))
    top = bottom = margin
    if height / width >= 1.7:
        top = max(margin, int(round(STORY_TOP_BAND * height)))
        bottom = max(margin, int(round(STORY_BOTTOM_BAND * height)))
    return (margin, top, width - margin, height - bottom)


def cover_crop(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale to cover `size` and centre-crop to exactly it."""
    return ImageOps.fit(image.convert("RGB"), size, method=Image.LANCZOS, centering=(0.5, 0.5))


def pad_box(box: Box, pad: int, bounds: Box) -> Box:
    x0, y0, x1, y1 = box
    bx0, by0, bx1, by1 = bounds
    return (max(bx0, x0 - pad), max(by0, y0 - pad), min(bx1, x1 + pad), min(by1, y1 + pad))
