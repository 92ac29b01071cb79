"""Colour and contrast: WCAG luminance, the scrim or text colour that keeps every text box at
>= 4.5:1 against the pixels actually behind it, and re-measuring contrast from final pixels."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from sparklio_pipelines.content.brief.schema import BrandKit
from sparklio_pipelines.content.creative.layout import (
    Box,
    CreativeError,
    CreativeLayout,
)

MIN_CONTRAST = 4.5  # WCAG 2.x AA, normal text
TARGET_CONTRAST = 4.8  # aim a little higher so re-measuring from final pixels stays above AA
MAX_LIGHT_SCRIM = 0.4  # above this opacity a scrim starts to look like a grey veil


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


def to_u8(pixels: np.ndarray) -> np.ndarray:
    # float32 bounds: np.clip with Python ints takes a ~30x slower path
    return np.clip(pixels.astype(np.float32, copy=False) + np.float32(0.5), np.float32(0), np.float32(255)).astype(np.uint8)


def _luminance_u8(pixels: np.ndarray) -> np.ndarray:
    """Relative luminance of pixels as they will be stored (rounded to 8 bits); table lookups, fast."""
    q = to_u8(pixels)
    return _LUM_LUT[0][q[..., 0]] + _LUM_LUT[1][q[..., 1]] + _LUM_LUT[2][q[..., 2]]


def contrast_ratio(rgb_a: tuple[int, int, int], rgb_b: tuple[int, int, int]) -> float:
    """WCAG contrast ratio, 1.0 (same) to 21.0 (black on white)."""
    la, lb = float(_luminance(np.array(rgb_a))), float(_luminance(np.array(rgb_b)))
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def _contrasts(fg_lum: float, bg_lum: np.ndarray) -> np.ndarray:
    hi, lo = np.maximum(fg_lum, bg_lum), np.minimum(fg_lum, bg_lum)
    return (hi + 0.05) / (lo + 0.05)


def _candidate_text_colors(brand: BrandKit) -> list[tuple[int, int, int]]:
    palette = [hex_to_rgb(c) for c in brand.palette]
    preferred = palette[2] if len(palette) > 2 else (255, 255, 255)
    return [preferred, (255, 255, 255), (17, 17, 17)]


def scrim_for(fg: tuple[int, int, int], brand: BrandKit) -> tuple[int, int, int]:
    """Scrim colour: the brand's dark colour when it contrasts well with the text, else black/white."""
    dark = hex_to_rgb(brand.palette[0])
    if contrast_ratio(fg, dark) >= TARGET_CONTRAST + 2:
        return dark
    white, black = (255, 255, 255), (0, 0, 0)
    return white if contrast_ratio(fg, white) > contrast_ratio(fg, black) else black


def required_scrim_alpha(region: np.ndarray, fg: tuple[int, int, int], scrim: tuple[int, int, int]) -> float | None:
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


def choose_text_treatment(
    canvas: np.ndarray, box: Box, brand: BrandKit
) -> tuple[tuple[int, int, int], tuple[int, int, int], float]:
    """(text colour, scrim colour, scrim opacity) for text in `box`. Keeps the brand's text colour
    while a light scrim (<= 40%) suffices; otherwise takes whichever colour needs the least scrim
    (dark text on light art reads better than a heavy grey veil)."""
    x0, y0, x1, y1 = box
    region = canvas[y0:y1, x0:x1]
    options = []
    for fg in _candidate_text_colors(brand):
        scrim = scrim_for(fg, brand)
        alpha = required_scrim_alpha(region, fg, scrim)
        if alpha is None:
            continue
        if not options and alpha <= MAX_LIGHT_SCRIM and fg == _candidate_text_colors(brand)[0]:
            return fg, scrim, alpha
        options.append((fg, scrim, alpha))
    if not options:
        raise CreativeError("no text colour reaches 4.5:1 contrast even on an opaque scrim")
    return min(options, key=lambda option: option[2])  # stable: ties keep the brand colour


def apply_scrim(canvas: np.ndarray, box: Box, scrim: tuple[int, int, int], alpha: float, feather: int, full_width: bool) -> None:
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


def measure_box(canvas: np.ndarray, box: Box, fg: tuple[int, int, int]) -> tuple[str, float]:
    x0, y0, x1, y1 = box
    region = canvas[y0:y1, x0:x1].reshape(-1, 3)
    worst = float(_contrasts(float(_luminance(np.array(fg))), _luminance_u8(region)).min())
    return rgb_to_hex(np.median(region, axis=0)), round(worst, 2)


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
