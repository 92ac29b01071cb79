"""The embedded backend's reference and product versions: plain compositing, tested on real pixels.

`ProceduralArtResource` has no model: `style_from_reference` blends a blurred copy of the reference
over palette art (with the reference's colours as extra glows) and `product_shot` places the product
photo, unchanged, on palette art. Both say so in `params["workflow"]`; the backend cannot animate.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from resources.image_generation import (
    PROCEDURAL_PALETTE,
    PROCEDURAL_PRODUCT_COMPOSITE,
    PROCEDURAL_REFERENCE_BLEND,
    ImageGenerationError,
    ProceduralArtResource,
    dominant_colors,
)
from sparklio_pipelines.content.brief.parse import parse_brief_data
from sparklio_pipelines.defs.assets.image import product_set_for

NAVY = ["#14213D", "#FCA311", "#E5E5E5"]


def png_of(image: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as img:
        assert img.format == "PNG"
        return np.asarray(img.convert("RGB"), dtype=np.float64)


def red_reference() -> bytes:
    """A warm red/orange reference (JPEG, as a photographer would send it)."""
    img = Image.new("RGB", (160, 120), (200, 30, 40))
    ImageDraw.Draw(img).rectangle((80, 0, 159, 119), fill=(245, 130, 32))
    return png_of(img, "JPEG")


def product_photo() -> bytes:
    """A 'product' with structure a composite must keep: white card, black bottle, green cap."""
    img = Image.new("RGB", (300, 400), (250, 250, 250))
    draw = ImageDraw.Draw(img)
    draw.rectangle((110, 120, 190, 380), fill=(20, 20, 20))
    draw.rectangle((125, 60, 175, 120), fill=(30, 160, 70))
    return png_of(img)


@pytest.fixture(scope="module")
def art() -> ProceduralArtResource:
    return ProceduralArtResource()


# --- style from a reference --------------------------------------------------------------------------


def test_reference_blend_takes_the_references_colours(art):
    plain = art.generate_background("tea", 360, 640, NAVY, seed=3)
    styled = art.style_from_reference("tea", red_reference(), 360, 640, seed=3, palette=NAVY)

    assert (styled.width, styled.height) == (360, 640) and pixels(styled.png).shape == (640, 360, 3)
    assert plain.params["workflow"] == PROCEDURAL_PALETTE
    assert styled.params["workflow"] == PROCEDURAL_REFERENCE_BLEND
    assert styled.backend == "procedural-palette-v1"
    assert styled.params["reference_sha256"] == hashlib.sha256(red_reference()).hexdigest()
    found = [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in styled.params["reference_colors"]]
    for wanted in ((200, 30, 40), (245, 130, 32)):  # JPEG shifts them by a few levels
        assert min(max(abs(a - b) for a, b in zip(wanted, c)) for c in found) <= 6, (wanted, found)
    a, b = pixels(plain.png), pixels(styled.png)
    redness_plain, redness_styled = (float((p[..., 0] - p[..., 2]).mean()) for p in (a, b))
    assert redness_styled > redness_plain + 25  # a navy palette turned visibly warm by the red reference


def test_style_weight_sets_how_much_of_the_reference_shows(art):
    reference = red_reference()
    layer = np.asarray(Image.open(io.BytesIO(reference)).convert("RGB").resize((360, 360)), dtype=np.float64)
    distance = {}
    for weight in (0.0, 0.5, 1.0):
        result = art.style_from_reference("x", reference, 360, 360, seed=1, palette=NAVY, style_weight=weight)
        assert result.params["reference_opacity"] == pytest.approx(art.reference_opacity * weight)
        distance[weight] = np.abs(pixels(result.png) - layer).mean()
    assert distance[0.0] > distance[0.5] > distance[1.0]


def test_reference_blend_is_deterministic_and_changes_with_the_reference(art):
    first = art.style_from_reference("x", red_reference(), 320, 320, seed=8, palette=NAVY)
    again = art.style_from_reference("x", red_reference(), 320, 320, seed=8, palette=NAVY)
    blue = png_of(Image.new("RGB", (64, 64), (30, 90, 200)))
    other = art.style_from_reference("x", blue, 320, 320, seed=8, palette=NAVY)
    assert first.png == again.png
    assert np.abs(pixels(first.png) - pixels(other.png)).mean() > 10


def test_reference_blend_without_a_palette_paints_from_the_reference(art):
    result = art.style_from_reference("x", red_reference(), 256, 256, seed=2)
    assert result.params["palette"][:2] == dominant_colors(Image.open(io.BytesIO(red_reference())), 3)[:2]


# --- product shot ------------------------------------------------------------------------------------


def test_product_photo_is_placed_whole_and_unchanged(art):
    photo = product_photo()
    shot = art.product_shot("bottle", photo, 1080, 1080, seed=4, palette=NAVY, control_strength=0.9)

    assert shot.params["workflow"] == PROCEDURAL_PRODUCT_COMPOSITE
    assert shot.params["product_sha256"] == hashlib.sha256(photo).hexdigest()
    assert shot.params["control_strength"] == 0.9
    x0, y0, x1, y1 = shot.params["product_box"]
    assert (x1 - x0) / (y1 - y0) == pytest.approx(300 / 400, abs=0.01)  # whole photo: not cropped
    assert y1 - y0 == round(0.52 * 1080)  # as large as fits
    assert (x0 + x1) / 2 > 0.65 * 1080  # on the right: the headline and CTA are left-aligned
    assert y0 + (y1 - y0) / 2 < 1080 / 2  # above the middle: the headline and CTA sit at the bottom
    out = pixels(shot.png)
    expected = np.asarray(Image.open(io.BytesIO(photo)).convert("RGB").resize((x1 - x0, y1 - y0), Image.LANCZOS),
                          dtype=np.float64)
    inset = 12  # leave the rounded corners out
    diff = np.abs(out[y0 + inset:y1 - inset, x0 + inset:x1 - inset] - expected[inset:-inset, inset:-inset])
    assert diff.mean() < 1.0  # the photo's own pixels, composition intact
    corners = np.concatenate([out[:40, :40], out[-40:, -40:]]).reshape(-1, 3)
    assert corners.mean() < 110  # the frame around it is the dark palette art, not the white photo


def test_product_shot_is_deterministic_and_follows_the_photo(art):
    photo = product_photo()
    first = art.product_shot("bottle", photo, 640, 360, seed=4, palette=NAVY)
    again = art.product_shot("bottle", photo, 640, 360, seed=4, palette=NAVY)
    wide = png_of(Image.new("RGB", (800, 200), (200, 30, 40)))
    other = art.product_shot("bottle", wide, 640, 360, seed=4, palette=NAVY)
    assert first.png == again.png
    assert first.params["product_box"] != other.params["product_box"]
    x0, y0, x1, y1 = other.params["product_box"]
    assert x1 - x0 == round(0.42 * 640) and (x1 - x0) / (y1 - y0) == pytest.approx(4, abs=0.1)
    tall = art.product_shot("bottle", photo, 1080, 1920, seed=4, palette=NAVY).params["product_box"]
    assert abs((tall[0] + tall[2]) / 2 - 540) <= 1 and tall[3] < 1920 * 0.62  # centred, above the text


def test_bad_inputs_are_named(art):
    with pytest.raises(ImageGenerationError, match="product photo is not a readable image"):
        art.product_shot("x", b"<html>not an image</html>", 400, 400, seed=1, palette=NAVY)
    with pytest.raises(ImageGenerationError, match="reference image is not a readable image"):
        art.style_from_reference("x", b"\x89PNG\r\n\x1a\ntruncated", 400, 400, seed=1, palette=NAVY)
    with pytest.raises(ImageGenerationError, match="palette"):
        art.product_shot("x", product_photo(), 400, 400, seed=1)
    with pytest.raises(ImageGenerationError, match="size"):
        art.style_from_reference("x", red_reference(), 10, 400, seed=1, palette=NAVY)


# --- animation ---------------------------------------------------------------------------------------


def test_embedded_backend_says_it_cannot_animate(art):
    from resources.comfyui import ComfyUIImageResource

    assert art.can_animate is False
    with pytest.raises(ImageGenerationError, match="procedural-palette-v1 cannot make video clips"):
        art.animate_clip("steam", seed=1)
    assert ComfyUIImageResource(url="http://127.0.0.1:1").can_animate is True  # no request made


# --- which creative set shows the product --------------------------------------------------------------


@pytest.mark.parametrize("channels, expected", [
    (["instagram", "shorts"], "square"), (["x", "shorts"], "landscape"), (["shorts"], "story"),
    (["email", "instagram"], "square"),
])
def test_product_set_follows_the_briefs_channels(channels, expected):
    brief = parse_brief_data({
        "campaign_id": "p", "product": "Tea", "audience": "All", "key_messages": ["Warm"], "tone": "calm",
        "languages": ["en"], "channels": channels, "call_to_action": "Buy",
        "start_date": "2026-11-01", "end_date": "2026-12-01",
    })
    assert product_set_for(brief) == expected
