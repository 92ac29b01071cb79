"""Composed creatives: background art + headline + CTA button + logo/brand name, per channel size.

Text is laid out to fit (wrapped, shrunk, never clipped) inside a safe area, and every text
box is guaranteed WCAG AA contrast (>= 4.5:1) against the pixels actually behind it: we
measure them and add a soft scrim or switch the text colour when the art is too close.
"""

from __future__ import annotations

import functools
import io
from dataclasses import asdict, dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from sparklio_pipelines.content.brief.schema import BrandKit
from sparklio_pipelines.content.fonts import find_font

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

MIN_CONTRAST = 4.5  # WCAG 2.x AA, normal text
TARGET_CONTRAST = 4.8  # aim a little higher so re-measuring from final pixels stays above AA
MAX_LIGHT_SCRIM = 0.4  # above this opacity a scrim starts to look like a grey veil
MARGIN_FRACTION = 0.06
# 9:16 story/shorts: platform UI (profile bar on top; caption, buttons at the bottom) covers these bands.
STORY_TOP_BAND, STORY_BOTTOM_BAND = 0.14, 0.20
MIN_HEADLINE_PX = 24
NO_BREAK_START = set(".,!?;:)]}%…·、。，！？」』）〕")  # never start a wrapped line with these


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


# --- colour -----------------------------------------------------------------------------------

def hex_to_rgb(color: str) -> tuple[int, int, int]:
    value = color.lstrip("#")
    if len(value) != 6:
        raise CreativeError(f"colors must look like #1A2B3C, got {color!r}")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def rgb_to_hex(rgb: tuple[int, int, int] | np.ndarray) -> str:
    r, g, b = (int(round(float(c))) for c in rgb)
    return f"#{r:02X}{g:02X}{b:02X}"


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG relative luminance of sRGB values in 0..255 (any leading shape, last axis = RGB)."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin @ np.array([0.2126, 0.7152, 0.0722])


_LINEAR_LUT = np.array(
    [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in np.arange(256) / 255.0]
)
_LUM_LUT = np.stack([_LINEAR_LUT * 0.2126, _LINEAR_LUT * 0.7152, _LINEAR_LUT * 0.0722])


def _to_u8(pixels: np.ndarray) -> np.ndarray:
    # float32 bounds: np.clip with Python ints takes a ~30x slower path
    return np.clip(pixels.astype(np.float32, copy=False) + np.float32(0.5), np.float32(0), np.float32(255)).astype(np.uint8)


def _luminance_u8(pixels: np.ndarray) -> np.ndarray:
    """Relative luminance of pixels as they will be stored (rounded to 8 bits); table lookups, fast."""
    q = _to_u8(pixels)
    return _LUM_LUT[0][q[..., 0]] + _LUM_LUT[1][q[..., 1]] + _LUM_LUT[2][q[..., 2]]


def contrast_ratio(rgb_a: tuple[int, int, int], rgb_b: tuple[int, int, int]) -> float:
    """WCAG contrast ratio, 1.0 (same) to 21.0 (black on white)."""
    la, lb = float(_luminance(np.array(rgb_a))), float(_luminance(np.array(rgb_b)))
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def _contrasts(fg_lum: float, bg_lum: np.ndarray) -> np.ndarray:
    hi, lo = np.maximum(fg_lum, bg_lum), np.minimum(fg_lum, bg_lum)
    return (hi + 0.05) / (lo + 0.05)


# --- fonts and wrapping -----------------------------------------------------------------------

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
def _ink_width(font: ImageFont.FreeTypeFont, text: str) -> int:
    left, _top, right, _bottom = font.getbbox(text, anchor="ls")
    return int(right - min(0, left))


def _split_chars(word: str) -> list[str]:
    """Break a word into characters, keeping closing punctuation with the character before it."""
    pieces: list[str] = []
    for ch in word:
        if pieces and ch in NO_BREAK_START:
            pieces[-1] += ch
        else:
            pieces.append(ch)
    return pieces


def wrap_text(text: str, font: ImageFont.FreeTypeFont, max_width: int, break_words: bool) -> list[str] | None:
    """Greedy wrap at spaces; with `break_words`, over-long words (or Hangul runs) break per character.

    Returns None when some word cannot fit without breaking and `break_words` is False.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split():
            candidate = f"{current} {word}" if current else word
            if _ink_width(font, candidate) <= max_width:
                current = candidate
                continue
            if current:
                lines.append(current)
                current = ""
            if _ink_width(font, word) <= max_width:
                current = word
                continue
            if not break_words:
                return None
            for piece in _split_chars(word):
                if _ink_width(font, current + piece) <= max_width:
                    current += piece
                else:
                    if not current:  # a single character wider than the box
                        return None
                    lines.append(current)
                    current = piece
        if current:
            lines.append(current)
    return lines


def _balanced_wrap(text: str, font: ImageFont.FreeTypeFont, max_width: int, break_words: bool) -> list[str] | None:
    """Like `wrap_text`, then narrows the measure while the line count holds, so lines even out
    (no one-word last line)."""
    lines = wrap_text(text, font, max_width, break_words)
    if not lines or len(lines) == 1:
        return lines
    lo, hi = max_width // 2, max_width
    best = lines
    while hi - lo > 4:
        mid = (lo + hi) // 2
        trial = wrap_text(text, font, mid, break_words)
        if trial is not None and len(trial) == len(lines):
            best, hi = trial, mid
        else:
            lo = mid
    return best


@dataclass
class _TextBlock:
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


def _block(lines: list[str], font: ImageFont.FreeTypeFont, px: int, leading: float) -> _TextBlock:
    # Font-wide ink extents (tall Latin accents, Hangul, descenders) so boxes never clip any glyph.
    _l, top, _r, bottom = font.getbbox("ÅÉHg한글jy", anchor="ls")
    line_tops = [font.getbbox(line, anchor="ls")[1] for line in lines]
    line_bottoms = [font.getbbox(line, anchor="ls")[3] for line in lines]
    ascent = int(np.ceil(max(-top, -line_tops[0])))
    descent = int(np.ceil(max(bottom, line_bottoms[-1])))
    width = max(_ink_width(font, line) for line in lines)
    return _TextBlock(lines, font, px, int(round(px * leading)), ascent, descent, width)


def fit_text(
    text: str, font_family: str, max_width: int, max_height: int, max_px: int, min_px: int, leading: float
) -> _TextBlock:
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
            lines = wrap_text(text, font, max_width, break_words)
            if lines:
                block = _block(lines, font, px, leading)
                if block.width <= max_width and block.height <= max_height:
                    # Same line count at a narrower measure: same height, evener lines.
                    balanced = _balanced_wrap(text, font, max_width, break_words) or lines
                    return _block(balanced, font, px, leading) if len(balanced) == len(lines) else block
            px -= max(1, px // 24)  # ~4% steps: fast, and fine enough visually
    raise CreativeError(
        f"text does not fit a {max_width}x{max_height} px box even at {min_px} px: {text[:60]!r}..."
    )


# --- geometry ---------------------------------------------------------------------------------

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


def _pad(box: Box, pad: int, bounds: Box) -> Box:
    x0, y0, x1, y1 = box
    bx0, by0, bx1, by1 = bounds
    return (max(bx0, x0 - pad), max(by0, y0 - pad), min(bx1, x1 + pad), min(by1, y1 + pad))


# --- contrast guarantee -----------------------------------------------------------------------

def _candidate_text_colors(brand: BrandKit) -> list[tuple[int, int, int]]:
    palette = [hex_to_rgb(c) for c in brand.palette]
    preferred = palette[2] if len(palette) > 2 else (255, 255, 255)
    return [preferred, (255, 255, 255), (17, 17, 17)]


def _scrim_for(fg: tuple[int, int, int], brand: BrandKit) -> tuple[int, int, int]:
    """Scrim colour: the brand's dark colour when it contrasts well with the text, else black/white."""
    dark = hex_to_rgb(brand.palette[0])
    if contrast_ratio(fg, dark) >= TARGET_CONTRAST + 2:
        return dark
    white, black = (255, 255, 255), (0, 0, 0)
    return white if contrast_ratio(fg, white) > contrast_ratio(fg, black) else black


def _required_scrim_alpha(region: np.ndarray, fg: tuple[int, int, int], scrim: tuple[int, int, int]) -> float | None:
    """Smallest scrim opacity (in 5% steps) making every pixel of `region` contrast >= TARGET with
    `fg`; None if even an opaque scrim fails. Binary search; every returned value is verified."""
    fg_lum = float(_luminance(np.array(fg)))
    pixels = region.reshape(-1, 3).astype(np.float32)
    scrim_arr = np.array(scrim, dtype=np.float32)

    def passes(step: int) -> bool:
        alpha = np.float32(step / 20)
        blended = pixels * (1 - alpha) + scrim_arr * alpha
        return bool(_contrasts(fg_lum, _luminance_u8(blended)).min() >= TARGET_CONTRAST)

    if passes(0):
        return 0.0
    if not passes(20):
        return None
    lo, hi = 0, 20  # lo fails, hi passes
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if passes(mid):
            hi = mid
        else:
            lo = mid
    return hi / 20


def _choose_text_treatment(
    canvas: np.ndarray, box: Box, brand: BrandKit
) -> tuple[tuple[int, int, int], tuple[int, int, int], float]:
    """(text colour, scrim colour, scrim opacity) for text in `box`. Keeps the brand's text colour
    while a light scrim (<= 40%) suffices; otherwise takes whichever colour needs the least scrim
    (dark text on light art reads better than a heavy grey veil)."""
    x0, y0, x1, y1 = box
    region = canvas[y0:y1, x0:x1]
    options = []
    for fg in _candidate_text_colors(brand):
        scrim = _scrim_for(fg, brand)
        alpha = _required_scrim_alpha(region, fg, scrim)
        if alpha is None:
            continue
        if not options and alpha <= MAX_LIGHT_SCRIM and fg == _candidate_text_colors(brand)[0]:
            return fg, scrim, alpha
        options.append((fg, scrim, alpha))
    if not options:
        raise CreativeError("no text colour reaches 4.5:1 contrast even on an opaque scrim")
    return min(options, key=lambda option: option[2])  # stable: ties keep the brand colour


def _apply_scrim(canvas: np.ndarray, box: Box, scrim: tuple[int, int, int], alpha: float, feather: int, full_width: bool) -> None:
    """Darken/lighten behind `box`: exactly `alpha` over the box, fading out over `feather` px
    around it (a soft gradient, not a hard panel)."""
    if alpha <= 0:
        return
    height, width = canvas.shape[:2]
    x0, y0, x1, y1 = box
    # Only the rows/columns within `feather` of the box change; work on that window.
    wy0, wy1 = max(0, y0 - feather), min(height, y1 + feather)
    wx0, wx1 = (0, width) if full_width else (max(0, x0 - feather), min(width, x1 + feather))
    ys = np.arange(wy0, wy1, dtype=np.float32)
    dy = np.maximum(np.maximum(y0 - ys, ys - (y1 - 1)), 0)  # distance outside the box; 0 inside
    if full_width:
        weight = np.clip(1 - dy / max(1, feather), 0, 1)[:, None] * np.ones((1, wx1 - wx0), np.float32)
    else:
        xs = np.arange(wx0, wx1, dtype=np.float32)
        dx = np.maximum(np.maximum(x0 - xs, xs - (x1 - 1)), 0)
        dist = np.sqrt(dy[:, None] ** 2 + dx[None, :] ** 2)
        weight = np.clip(1 - dist / max(1, feather), 0, 1)
    weight = weight * weight * (3 - 2 * weight)  # smoothstep: no visible edge where the fade ends
    a = (np.float32(alpha) * weight)[..., None]
    window = canvas[wy0:wy1, wx0:wx1]
    window *= 1 - a
    window += np.array(scrim, np.float32) * a


def _measure_box(canvas: np.ndarray, box: Box, fg: tuple[int, int, int]) -> tuple[str, float]:
    x0, y0, x1, y1 = box
    region = canvas[y0:y1, x0:x1].reshape(-1, 3)
    worst = float(_contrasts(float(_luminance(np.array(fg))), _luminance_u8(region)).min())
    return rgb_to_hex(np.median(region, axis=0)), round(worst, 2)


# --- composing --------------------------------------------------------------------------------

def _draw_block(draw: ImageDraw.ImageDraw, block: _TextBlock, x: int, top: int, fill: tuple[int, int, int]) -> None:
    baseline = top + block.ascent
    for line in block.lines:
        left = block.font.getbbox(line, anchor="ls")[0]
        draw.text((x - min(0, left), baseline), line, font=block.font, fill=fill, anchor="ls")
        baseline += block.line_height


def _load_logo(logo_png: bytes) -> Image.Image:
    try:
        logo = Image.open(io.BytesIO(logo_png))
        logo.load()
    except Exception as exc:  # Pillow raises many types for bad bytes
        raise CreativeError(f"logo is not a readable image: {exc}") from None
    return logo.convert("RGBA")


def compose_creative(
    background_png: bytes,
    size: tuple[int, int],
    headline: str,
    cta: str,
    brand: BrandKit,
    logo_png: bytes | None = None,
) -> tuple[bytes, CreativeLayout]:
    """Background cover-cropped to `size`, with brand row (logo + name) on top, headline and CTA
    button at the bottom of the safe area. Returns PNG bytes and the measured layout."""
    width, height = int(size[0]), int(size[1])
    if width < 320 or height < 320:
        raise CreativeError(f"creative size must be at least 320x320, got {width}x{height}")
    try:
        background = Image.open(io.BytesIO(background_png))
        background.load()
    except Exception as exc:
        raise CreativeError(f"background is not a readable image: {exc}") from None

    canvas = np.asarray(cover_crop(background, (width, height)), dtype=np.float32).copy()
    bounds: Box = (0, 0, width, height)
    safe = safe_area((width, height))
    sx0, sy0, sx1, sy1 = safe
    safe_w, safe_h = sx1 - sx0, sy1 - sy0
    unit = min(width, height)  # type scale follows the short side
    landscape = width > height * 1.3
    palette = [hex_to_rgb(c) for c in brand.palette]
    accent = palette[1] if len(palette) > 1 else palette[0]
    layout = CreativeLayout(size=(width, height), safe_area=safe)
    plans: list[tuple[str, str, _TextBlock, Box, int]] = []  # role, text, block, box, draw-x

    # 1. Brand row: logo then name, top-left of the safe area.
    row_h = int(round(unit * 0.075))
    cursor_x = sx0
    logo_img = None
    if logo_png is not None:
        logo_img = _load_logo(logo_png)
        scale = min(row_h / logo_img.height, (safe_w * 0.35) / logo_img.width)
        lw, lh = max(1, int(logo_img.width * scale)), max(1, int(logo_img.height * scale))
        logo_img = logo_img.resize((lw, lh), Image.LANCZOS)
        ly = sy0 + (row_h - lh) // 2
        layout.logo_box = (sx0, ly, sx0 + lw, ly + lh)
        cursor_x = sx0 + lw + int(unit * 0.025)
    if brand.name:
        pad = max(4, int(unit * 0.008))
        name_block = fit_text(
            brand.name, brand.font, sx1 - cursor_x - 2 * pad, row_h - 2 * pad,
            max_px=int(unit * 0.038), min_px=16, leading=1.15,
        )
        top = sy0 + (row_h - name_block.height) // 2
        x = cursor_x + pad
        box = _pad((x, top, x + name_block.width, top + name_block.height), pad, bounds)
        plans.append(("brand", brand.name, name_block, box, x))

    # 2. CTA button, bottom-left of the safe area.
    cta_px = int(unit * 0.036)
    pad_x, pad_y = int(cta_px * 1.1), int(cta_px * 0.7)
    cta_block = fit_text(
        cta, brand.font, safe_w - 2 * pad_x, int(safe_h * 0.18), max_px=cta_px, min_px=16, leading=1.2
    )
    button = (sx0, sy1 - cta_block.height - 2 * pad_y, sx0 + cta_block.width + 2 * pad_x, sy1)

    # 3. Headline above the CTA, filling what is left (capped so it stays a headline, not a wall).
    gap = int(unit * 0.04)
    accent_bar_h = max(4, int(unit * 0.008))
    head_pad = max(6, int(unit * 0.012))
    top_limit = sy0 + row_h + gap + accent_bar_h + gap
    max_head_h = min(button[1] - gap - top_limit, int(safe_h * (0.5 if landscape else 0.55))) - 2 * head_pad
    max_head_w = int(safe_w * (0.62 if landscape else 1.0)) - 2 * head_pad
    head_block = fit_text(
        headline, brand.font, max_head_w, max_head_h,
        max_px=int(unit * (0.095 if landscape else 0.088)), min_px=MIN_HEADLINE_PX, leading=1.16,
    )
    head_top = button[1] - gap - head_pad - head_block.height
    head_x = sx0 + head_pad
    head_box = _pad((head_x, head_top, head_x + head_block.width, head_top + head_block.height), head_pad, bounds)
    plans.append(("headline", headline, head_block, head_box, head_x))
    bar_box = (sx0 + head_pad, head_box[1] - gap // 2 - accent_bar_h, sx0 + head_pad + int(unit * 0.09), head_box[1] - gap // 2)

    # 4. Contrast: scrim behind brand row and headline where the art is too close to the text colour.
    treatments: dict[str, tuple[int, int, int]] = {}
    for role, _text, _block_, box, _x in plans:
        fg, scrim, alpha = _choose_text_treatment(canvas, box, brand)
        # Scrims run to the nearest image edges (top shade for the brand row, bottom/left shade
        # for headline + button) so they read as lighting, not as a pasted panel.
        feather = int(unit * (0.2 if role == "headline" else 0.12))
        if role == "headline":
            scrim_box = (0 if landscape else box[0], box[1], box[2], height)
        else:  # brand row: a corner shade from the top-left
            scrim_box = (0, 0, box[2], box[3])
        _apply_scrim(canvas, scrim_box, scrim, alpha, feather, full_width=role == "headline" and not landscape)
        treatments[role] = fg
    # The later scrim may have touched an earlier box; re-check and reinforce if needed.
    for role, _text, _block_, box, _x in plans:
        fg = treatments[role]
        _hex, worst = _measure_box(canvas, box, fg)
        if worst < TARGET_CONTRAST:
            scrim = _scrim_for(fg, brand)
            alpha = _required_scrim_alpha(canvas[box[1]:box[3], box[0]:box[2]], fg, scrim)
            if alpha is None:
                raise CreativeError(f"cannot reach 4.5:1 contrast for the {role}")
            _apply_scrim(canvas, box, scrim, alpha, int(unit * 0.05), full_width=False)

    image = Image.fromarray(_to_u8(canvas), "RGB")
    draw = ImageDraw.Draw(image)

    # 5. Draw: accent bar, button, texts (measuring backgrounds just before the ink goes down).
    radius = (button[3] - button[1]) // 2
    draw.rounded_rectangle((bar_box[0], bar_box[1], bar_box[2] - 1, bar_box[3] - 1), radius=accent_bar_h // 2, fill=accent)
    draw.rounded_rectangle((button[0], button[1], button[2] - 1, button[3] - 1), radius=radius, fill=accent)
    cta_fg = max(
        [palette[0], *([palette[2]] if len(palette) > 2 else []), (17, 17, 17), (255, 255, 255)],
        key=lambda c: (contrast_ratio(c, accent) >= TARGET_CONTRAST + 1, c == palette[0], contrast_ratio(c, accent)),
    )
    cta_x = button[0] + pad_x
    cta_top = button[1] + pad_y
    cta_box = _pad((cta_x, cta_top, cta_x + cta_block.width, cta_top + cta_block.height), max(2, pad_y // 2), button)
    plans.append(("cta", cta, cta_block, cta_box, cta_x))
    treatments["cta"] = cta_fg

    final = np.asarray(image, dtype=np.float32)
    for role, text, block, box, x in plans:
        fg = treatments[role]
        bg_hex, worst = _measure_box(final, box, fg)
        if worst < MIN_CONTRAST:
            raise CreativeError(f"{role} contrast {worst:.2f} is below 4.5:1")  # a bug, not bad input
        top = box[1] + (box[3] - box[1] - block.height) // 2
        _draw_block(draw, block, x, top, fg)
        layout.texts.append(
            TextBox(role=role, text=text, box=box, font_px=block.px, lines=list(block.lines),
                    fg_hex=rgb_to_hex(fg), bg_hex=bg_hex, contrast=worst)
        )
    if logo_img is not None and layout.logo_box is not None:
        image.paste(logo_img, layout.logo_box[:2], logo_img)

    order = {"brand": 0, "headline": 1, "cta": 2}
    layout.texts.sort(key=lambda t: order[t.role])
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=3)
    return buf.getvalue(), layout


# --- checks and previews ------------------------------------------------------------------------

def measure_text_contrast(png: bytes, layout: CreativeLayout | dict) -> list[float]:
    """Re-measure each text box's contrast from the final pixels (one value per `layout.texts`).

    Inside a box, pixels nearer the text colour than the background (glyphs and their
    anti-aliased edges, dilated by 2 px) are set aside; the rest is what the text sits on.
    The value is the 1st-percentile contrast of those pixels against the text colour.
    """
    if isinstance(layout, dict):
        layout = CreativeLayout.from_dict(layout)
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float32)
    results: list[float] = []
    for text in layout.texts:
        x0, y0, x1, y1 = text.box
        region = pixels[y0:y1, x0:x1]
        fg = np.array(hex_to_rgb(text.fg_hex), dtype=np.float32)
        dist_fg = np.linalg.norm(region - fg, axis=-1)
        far = region[dist_fg > 60]
        if far.size == 0:  # everything looks like the text colour: the text is invisible
            results.append(1.0)
            continue
        bg = np.median(far, axis=0)
        glyph = dist_fg < np.linalg.norm(region - bg, axis=-1)
        glyph = _dilate(glyph, 2)
        behind = region[~glyph]
        if behind.size == 0 or glyph.mean() > 0.8:
            results.append(round(contrast_ratio(tuple(fg), tuple(bg)), 2))
            continue
        contrasts = _contrasts(float(_luminance(fg)), _luminance_u8(behind))
        results.append(round(float(np.percentile(contrasts, 1)), 2))
    return results


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    out = mask.copy()
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            shifted = np.zeros_like(mask)
            ys = slice(max(0, dy), mask.shape[0] + min(0, dy))
            yd = slice(max(0, -dy), mask.shape[0] + min(0, -dy))
            xs = slice(max(0, dx), mask.shape[1] + min(0, dx))
            xd = slice(max(0, -dx), mask.shape[1] + min(0, -dx))
            shifted[ys, xs] = mask[yd, xd]
            out |= shifted
    return out


def thumbnail_png(png: bytes, max_side: int = 256) -> bytes:
    """A small PNG preview (for Dagster UI metadata)."""
    image = Image.open(io.BytesIO(png))
    image = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
    image.thumbnail((max_side, max_side), Image.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
