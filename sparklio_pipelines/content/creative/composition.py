"""Composed creatives: background art + headline + CTA button + logo/brand name, per channel size.

Text is laid out to fit (wrapped, shrunk, never clipped) inside a safe area, and every text
box is guaranteed WCAG AA contrast (>= 4.5:1) against the pixels actually behind it: we
measure them and add a soft scrim or switch the text colour when the art is too close.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from sparklio_pipelines.content.brief.schema import BrandKit
from sparklio_pipelines.content.creative.color import (
    MIN_CONTRAST,
    TARGET_CONTRAST,
    apply_scrim,
    choose_text_treatment,
    contrast_ratio,
    hex_to_rgb,
    measure_box,
    required_scrim_alpha,
    rgb_to_hex,
    scrim_for,
    to_u8,
)
from sparklio_pipelines.content.creative.layout import (
    Box,
    CreativeError,
    CreativeLayout,
    TextBox,
    cover_crop,
    pad_box,
    safe_area,
)
from sparklio_pipelines.content.creative.typography import (
    MIN_HEADLINE_PX,
    TextBlock,
    draw_block,
    fit_text,
)


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
    plans: list[tuple[str, str, TextBlock, Box, int]] = []  # role, text, block, box, draw-x

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
        box = pad_box((x, top, x + name_block.width, top + name_block.height), pad, bounds)
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
    head_box = pad_box((head_x, head_top, head_x + head_block.width, head_top + head_block.height), head_pad, bounds)
    plans.append(("headline", headline, head_block, head_box, head_x))
    bar_box = (sx0 + head_pad, head_box[1] - gap // 2 - accent_bar_h, sx0 + head_pad + int(unit * 0.09), head_box[1] - gap // 2)

    # 4. Contrast: scrim behind brand row and headline where the art is too close to the text colour.
    treatments: dict[str, tuple[int, int, int]] = {}
    for role, _text, _block_, box, _x in plans:
        fg, scrim, alpha = choose_text_treatment(canvas, box, brand)
        # Scrims run to the nearest image edges (top shade for the brand row, bottom/left shade
        # for headline + button) so they read as lighting, not as a pasted panel.
        feather = int(unit * (0.2 if role == "headline" else 0.12))
        if role == "headline":
            scrim_box = (0 if landscape else box[0], box[1], box[2], height)
        else:  # brand row: a corner shade from the top-left
            scrim_box = (0, 0, box[2], box[3])
        apply_scrim(canvas, scrim_box, scrim, alpha, feather, full_width=role == "headline" and not landscape)
        treatments[role] = fg
    # The later scrim may have touched an earlier box; re-check and reinforce if needed.
    for role, _text, _block_, box, _x in plans:
        fg = treatments[role]
        _hex, worst = measure_box(canvas, box, fg)
        if worst < TARGET_CONTRAST:
            scrim = scrim_for(fg, brand)
            alpha = required_scrim_alpha(canvas[box[1]:box[3], box[0]:box[2]], fg, scrim)
            if alpha is None:
                raise CreativeError(f"cannot reach 4.5:1 contrast for the {role}")
            apply_scrim(canvas, box, scrim, alpha, int(unit * 0.05), full_width=False)

    image = Image.fromarray(to_u8(canvas), "RGB")
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
    cta_box = pad_box((cta_x, cta_top, cta_x + cta_block.width, cta_top + cta_block.height), max(2, pad_y // 2), button)
    plans.append(("cta", cta, cta_block, cta_box, cta_x))
    treatments["cta"] = cta_fg

    final = np.asarray(image, dtype=np.float32)
    for role, text, block, box, x in plans:
        fg = treatments[role]
        bg_hex, worst = measure_box(final, box, fg)
        if worst < MIN_CONTRAST:
            raise CreativeError(f"{role} contrast {worst:.2f} is below 4.5:1")  # a bug, not bad input
        top = box[1] + (box[3] - box[1] - block.height) // 2
        draw_block(draw, block, x, top, fg)
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


def thumbnail_png(png: bytes, max_side: int = 256) -> bytes:
    """A small PNG preview (for Dagster UI metadata)."""
    image = Image.open(io.BytesIO(png))
    image = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
    image.thumbnail((max_side, max_side), Image.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
