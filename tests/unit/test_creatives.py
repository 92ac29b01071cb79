"""Composed creatives and procedural background art, tested on real pixels, real fonts."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from resources.image_generation import (
    ArtResult,
    ImageGenerationError,
    ProceduralArtResource,
)
from sparklio_pipelines.content.brief.parse import parse_brief_data
from sparklio_pipelines.content.brief.schema import CHANNELS, BrandKit
from sparklio_pipelines.content.creative.color import (
    contrast_ratio,
    measure_text_contrast,
)
from sparklio_pipelines.content.creative.composition import (
    compose_creative,
    thumbnail_png,
)
from sparklio_pipelines.content.creative.layout import (
    CHANNEL_SIZES,
    CREATIVE_SIZES,
    CreativeError,
    CreativeLayout,
    TextBox,
)
from sparklio_pipelines.content.creative.typography import brand_font

EN_BRAND = BrandKit(name="Lumi", palette=["#1F2A44", "#F4B942", "#FFFFFF"])
KO_BRAND = BrandKit(name="한빛", palette=["#2E3B2F", "#E9C46A", "#FFFDF5"])
LONG_EN = (
    "Brighter-looking skin in fourteen days with fifteen percent stabilized vitamin C, hyaluronic acid "
    "and a fragrance-free formula gentle enough for every single morning routine, even "
    "Supercalifragilisticexpialidociouslyextraordinarilylongword mornings"
)
LONG_KO = "국내산유기농보리로정성껏만든고소한맛의한빛보리차는카페인없이하루종일편하게마실수있습니다 티백 하나로 1리터, 간편한 준비"


def png_of(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def flat_png(color: str, size: tuple[int, int] = (640, 480)) -> bytes:
    return png_of(Image.new("RGB", size, color))


def logo_png() -> bytes:
    logo = Image.new("RGBA", (200, 120), (0, 0, 0, 0))
    ImageDraw.Draw(logo).rounded_rectangle((0, 0, 199, 119), radius=30, fill=(230, 57, 70, 255))
    return png_of(logo)


@pytest.fixture(scope="module")
def art() -> ProceduralArtResource:
    return ProceduralArtResource()


@pytest.fixture(scope="module")
def dark_background(art: ProceduralArtResource) -> bytes:
    return art.generate_background("launch", 720, 720, EN_BRAND.palette, seed=11).png


def inside(inner: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    return outer[0] <= inner[0] < inner[2] <= outer[2] and outer[1] <= inner[1] < inner[3] <= outer[3]


def assert_text_fits(layout: CreativeLayout, brand: BrandKit) -> None:
    width, height = layout.size
    for text in layout.texts:
        assert inside(text.box, layout.safe_area), (text.role, text.box, layout.safe_area)
        assert inside(text.box, (0, 0, width, height))
        # No character lost to wrapping (only whitespace at line breaks may go).
        assert "".join("".join(text.lines).split()) == "".join(text.text.split())
        # Every line's real ink fits the box at the font size used: nothing clipped.
        font = brand_font(brand.font, text.font_px)
        box_w, box_h = text.box[2] - text.box[0], text.box[3] - text.box[1]
        for line in text.lines:
            left, top, right, bottom = font.getbbox(line, anchor="ls")
            assert right - min(0, left) <= box_w
        assert text.font_px * (len(text.lines) - 1) < box_h


# --- sizes and layout ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CREATIVE_SIZES))
def test_every_size_is_exact_and_text_fits(name: str, dark_background: bytes) -> None:
    size = CREATIVE_SIZES[name]
    png, layout = compose_creative(dark_background, size, "Brighter-looking skin in 14 days", "Shop now", EN_BRAND)
    assert Image.open(io.BytesIO(png)).size == size
    assert layout.size == size
    assert [t.role for t in layout.texts] == ["brand", "headline", "cta"]
    assert_text_fits(layout, EN_BRAND)
    if name == "story":  # clear of the platform UI bands at top and bottom
        assert layout.safe_area[1] >= 0.14 * size[1] and layout.safe_area[3] <= 0.80 * size[1]


def test_an_english_creative_shows_the_brand_name_written_in_english(dark_background: bytes) -> None:
    brief = parse_brief_data({
        "campaign_id": "names", "product": "보리차", "audience": "직장인", "key_messages": ["고소한 맛"],
        "tone": "warm", "languages": ["ko", "en"], "channels": ["x"], "call_to_action": "구매",
        "start_date": "2026-01-01", "end_date": "2026-02-01", "brand": "hanbit",
    })
    _png, english = compose_creative(dark_background, CREATIVE_SIZES["square"], "Nutty barley tea", "Shop now",
                                     brief.localized("en").brand)
    _png, korean = compose_creative(dark_background, CREATIVE_SIZES["square"], "고소한 보리차", "구매",
                                    brief.localized("ko").brand)
    assert next(t.text for t in english.texts if t.role == "brand") == "Hanbit"
    assert next(t.text for t in korean.texts if t.role == "brand") == "한빛"


def test_every_channel_maps_to_known_sizes() -> None:
    assert set(CHANNEL_SIZES) == set(CHANNELS)
    assert all(name in CREATIVE_SIZES for names in CHANNEL_SIZES.values() for name in names)
    assert "story" in CHANNEL_SIZES["shorts"]


@pytest.mark.parametrize(
    "headline, brand, size",
    [(LONG_EN, EN_BRAND, CREATIVE_SIZES["story"]), (LONG_KO, KO_BRAND, CREATIVE_SIZES["landscape"])],
    ids=["english-story", "korean-landscape"],
)
def test_long_headlines_wrap_and_are_never_clipped(headline: str, brand: BrandKit, size, dark_background: bytes) -> None:
    png, layout = compose_creative(dark_background, size, headline, "지금 구매하기", brand)
    head = next(t for t in layout.texts if t.role == "headline")
    assert len(head.lines) >= 4
    assert head.font_px >= 24
    assert_text_fits(layout, brand)
    # The ink is really drawn inside the box: many text-coloured pixels there.
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    x0, y0, x1, y1 = head.box
    fg = np.array([int(head.fg_hex[i : i + 2], 16) for i in (1, 3, 5)])
    ink = (np.abs(pixels[y0:y1, x0:x1] - fg).sum(axis=-1) < 30).mean()
    assert 0.08 < ink < 0.6


def test_korean_run_without_spaces_breaks_per_character(dark_background: bytes) -> None:
    run = "가나다라마바사아자차카타파하" * 8  # no spaces at all
    _png, layout = compose_creative(dark_background, CREATIVE_SIZES["square"], run, "구매", KO_BRAND)
    head = next(t for t in layout.texts if t.role == "headline")
    assert len(head.lines) > 1 and "".join(head.lines) == run
    assert_text_fits(layout, KO_BRAND)


def test_text_that_cannot_fit_raises_clear_error(dark_background: bytes) -> None:
    with pytest.raises(CreativeError, match="does not fit"):
        compose_creative(dark_background, (400, 400), "word " * 400, "Go", EN_BRAND)


# --- Hangul -----------------------------------------------------------------------------------------

def glyph_mask(text: str) -> np.ndarray:
    font = brand_font(KO_BRAND.font, 64)
    image = Image.new("L", (96, 96), 0)
    ImageDraw.Draw(image).text((10, 80), text, font=font, fill=255, anchor="ls")
    return np.asarray(image) > 127


def test_hangul_renders_real_glyphs() -> None:
    han, geul = glyph_mask("한"), glyph_mask("글")
    notdef = glyph_mask("\U0010fffd")  # private-use, not in any font: draws .notdef (or nothing)
    assert han.sum() > 300 and geul.sum() > 300
    assert (han != geul).sum() > 200
    assert (han != notdef).sum() > 200 and (geul != notdef).sum() > 200


# --- contrast ---------------------------------------------------------------------------------------

def test_contrast_ratio_matches_wcag() -> None:
    assert contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast_ratio((119, 119, 119), (255, 255, 255)) == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio((40, 40, 40), (40, 40, 40)) == 1.0


@pytest.mark.parametrize(
    "palette, background",
    [
        (["#F5F0E6", "#D8C3A5", "#FFFFFF"], "light"),  # white brand text on light art
        (["#F5F0E6", "#1D3557", "#333333"], "dark"),  # dark brand text on dark art
        (["#1F2A44", "#F4B942", "#FFFFFF"], "noise"),  # busy black/white art
    ],
)
def test_text_contrast_is_at_least_aa_where_art_would_fail(palette: list[str], background: str) -> None:
    brand = BrandKit(name="Lumi", palette=palette)
    if background == "noise":
        rng = np.random.default_rng(3)
        noise = (rng.random((270, 270)) > 0.5).astype(np.uint8) * 255
        art_png = png_of(Image.fromarray(np.stack([noise] * 3, axis=-1)).resize((1080, 1080), Image.NEAREST))
    else:
        art_png = flat_png("#F4F1EA" if background == "light" else "#141414")
    text_rgb = tuple(int(palette[2][i : i + 2], 16) for i in (1, 3, 5))
    art_rgb = (244, 241, 234) if background == "light" else (20, 20, 20)
    if background != "noise":
        assert contrast_ratio(text_rgb, art_rgb) < 4.5  # without a scrim this would fail

    png, layout = compose_creative(art_png, CREATIVE_SIZES["portrait"], "Fragrance-free, gentle daily", "Shop", brand)
    assert all(t.contrast >= 4.5 for t in layout.texts), [(t.role, t.contrast) for t in layout.texts]
    measured = measure_text_contrast(png, layout)
    assert len(measured) == len(layout.texts)
    assert min(measured) >= 4.5, measured


def test_measure_text_contrast_flags_poor_contrast() -> None:
    image = Image.new("RGB", (400, 200), (235, 235, 235))
    font = brand_font("Noto Sans CJK KR", 48)
    ImageDraw.Draw(image).text((20, 120), "Pale 한빛", font=font, fill=(255, 255, 255), anchor="ls")
    layout = CreativeLayout(
        size=(400, 200),
        safe_area=(0, 0, 400, 200),
        texts=[TextBox("headline", "Pale 한빛", (10, 60, 390, 150), 48, ["Pale 한빛"], "#FFFFFF", "#EBEBEB", 1.2)],
    )
    assert measure_text_contrast(png_of(image), layout)[0] < 1.5


# --- logo, serialisation, thumbnail ----------------------------------------------------------------

def test_logo_box_present_iff_logo_given(dark_background: bytes) -> None:
    size = CREATIVE_SIZES["square"]
    png, with_logo = compose_creative(dark_background, size, "Hello", "Shop", EN_BRAND, logo_png=logo_png())
    _png, without = compose_creative(dark_background, size, "Hello", "Shop", EN_BRAND)
    assert without.logo_box is None
    assert with_logo.logo_box is not None and inside(with_logo.logo_box, with_logo.safe_area)
    x0, y0, x1, y1 = with_logo.logo_box
    centre = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))[(y0 + y1) // 2, (x0 + x1) // 2]
    assert np.abs(centre.astype(int) - (230, 57, 70)).sum() < 20  # the logo's own colour is there
    brand_box = next(t.box for t in with_logo.texts if t.role == "brand")
    assert brand_box[0] >= x1  # name sits beside the logo, not on it


def test_layout_is_json_serialisable_and_round_trips(dark_background: bytes) -> None:
    png, layout = compose_creative(dark_background, CREATIVE_SIZES["landscape"], "Hello", "Shop", EN_BRAND)
    data = json.loads(json.dumps(layout.to_dict()))
    assert data["size"] == [1920, 1080] and data["logo_box"] is None
    assert {t["role"] for t in data["texts"]} == {"brand", "headline", "cta"}
    assert measure_text_contrast(png, data) == measure_text_contrast(png, layout)


def test_thumbnail_keeps_aspect_within_max_side(dark_background: bytes) -> None:
    png, _layout = compose_creative(dark_background, CREATIVE_SIZES["story"], "Hello", "Shop", EN_BRAND)
    thumb = Image.open(io.BytesIO(thumbnail_png(png, max_side=256)))
    assert thumb.size == (144, 256)


def test_unreadable_background_is_a_clear_error() -> None:
    with pytest.raises(CreativeError, match="background is not a readable image"):
        compose_creative(b"not a png", (1080, 1080), "Hello", "Shop", EN_BRAND)


# --- procedural art ---------------------------------------------------------------------------------

def test_procedural_art_is_deterministic_per_seed(art: ProceduralArtResource) -> None:
    first = art.generate_background("autumn tea", 640, 360, KO_BRAND.palette, seed=5)
    again = art.generate_background("autumn tea", 640, 360, KO_BRAND.palette, seed=5)
    other = art.generate_background("autumn tea", 640, 360, KO_BRAND.palette, seed=6)
    assert isinstance(first, ArtResult)
    assert first.png == again.png
    a = np.asarray(Image.open(io.BytesIO(first.png)), dtype=float)
    b = np.asarray(Image.open(io.BytesIO(other.png)), dtype=float)
    assert np.abs(a - b).mean() > 5  # visibly different art, not just different grain
    assert (first.width, first.height) == (640, 360) and a.shape == (360, 640, 3)
    assert first.backend == art.backend_label == "procedural-palette-v1"
    assert first.params["seed"] == 5


def test_procedural_art_uses_the_brand_palette(art: ProceduralArtResource) -> None:
    result = art.generate_background("x", 400, 400, ["#0B1320", "#E63946", "#F1FAEE"], seed=2)
    pixels = np.asarray(Image.open(io.BytesIO(result.png)).convert("RGB"), dtype=float).reshape(-1, 3)
    # Mostly dark navy base, with some red accent glow.
    assert np.median(pixels.sum(axis=1)) < 3 * 140
    reddish = (pixels[:, 0] > pixels[:, 1] + 40) & (pixels[:, 0] > pixels[:, 2] + 30)
    assert reddish.mean() > 0.02


def test_procedural_art_rejects_bad_requests(art: ProceduralArtResource) -> None:
    with pytest.raises(ImageGenerationError, match="palette"):
        art.generate_background("x", 400, 400, ["red"], seed=1)
    with pytest.raises(ImageGenerationError, match="size"):
        art.generate_background("x", 10, 400, ["#000000"], seed=1)
    art.release()  # no-op for the embedded backend, must not raise
