"""Background art for creatives: the resource interface and the embedded procedural backend.

The interface: `generate_background` (text to image), `style_from_reference` (art in the look of a
brand reference image), `product_shot` (a scene that keeps a product photo's composition) and,
where `can_animate`, `animate_clip` (a short video clip). Each result records the `workflow` that
made it in `params`.

The embedded backend is NOT a generative model: these package registries carry no diffusion
weights, so `ProceduralArtResource` paints brand-palette mesh gradients, soft shapes and film
grain with numpy + Pillow. Its reference and product versions are plain compositing (a blurred
copy of the reference blended over palette art; the product photo placed, unchanged, on palette
art), and it cannot animate. The diffusion backend (resources/comfyui.py) implements the same
interface with ComfyUI workflows.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
from dataclasses import dataclass, field

import numpy as np
from dagster import ConfigurableResource
from PIL import Image, ImageDraw, ImageFilter, ImageOps, UnidentifiedImageError

HEX_RE = re.compile(r"^#?[0-9a-fA-F]{6}$")
MIN_SIDE, MAX_SIDE = 64, 4096

# Workflow names recorded in ArtResult.params["workflow"] by the embedded backend.
PROCEDURAL_PALETTE = "procedural_palette"
PROCEDURAL_REFERENCE_BLEND = "procedural_reference_blend"
PROCEDURAL_PRODUCT_COMPOSITE = "procedural_product_composite"


class ImageGenerationError(RuntimeError):
    """Background art could not be produced (bad request or backend failure)."""


@dataclass
class ArtResult:
    png: bytes
    width: int
    height: int
    backend: str
    seconds: float
    params: dict = field(default_factory=dict)


@dataclass
class ClipResult:
    """A short generated video clip: encoded bytes plus what it is."""

    video: bytes
    content_type: str
    filename: str
    width: int
    height: int
    frames: int
    frame_rate: float
    backend: str
    seconds: float
    params: dict = field(default_factory=dict)


class ImageGeneratorResource(ConfigurableResource):
    """Produces art for creatives; text is composed on top later, never by the backend.

    Every `ArtResult`/`ClipResult` names the workflow that made it in `params["workflow"]`.
    """

    @property
    def backend_label(self) -> str:
        raise NotImplementedError

    @property
    def can_animate(self) -> bool:
        """True when `animate_clip` makes real clips; the video asset only asks then."""
        return False

    def generate_background(
        self, prompt: str, width: int, height: int, palette: list[str], seed: int
    ) -> ArtResult:
        raise NotImplementedError

    def style_from_reference(
        self, prompt: str, reference_image: bytes, width: int, height: int, seed: int,
        palette: list[str] | None = None, style_weight: float = 0.8,
    ) -> ArtResult:
        """Background art in the look of `reference_image` (PNG/JPEG/WebP bytes)."""
        raise NotImplementedError

    def product_shot(
        self, prompt: str, product_image: bytes, width: int, height: int, seed: int,
        palette: list[str] | None = None, control_strength: float = 0.8,
    ) -> ArtResult:
        """Art that shows the product of `product_image` and keeps the photo's composition."""
        raise NotImplementedError

    def animate_clip(
        self, prompt: str, seed: int, frames: int = 16, frame_rate: int = 8,
        width: int = 512, height: int = 512,
    ) -> ClipResult:
        """A short clip; only called when `can_animate`."""
        raise ImageGenerationError(f"{self.backend_label} cannot make video clips (can_animate is False)")

    def release(self) -> None:
        """Free models/connections held by the backend."""
        raise NotImplementedError


def check_size(width: int, height: int) -> None:
    if not (MIN_SIDE <= int(width) <= MAX_SIDE and MIN_SIDE <= int(height) <= MAX_SIDE):
        raise ImageGenerationError(f"size must be {MIN_SIDE}-{MAX_SIDE} px per side, got {width}x{height}")


def open_rgb(data: bytes, what: str) -> Image.Image:
    """Decode image bytes (any Pillow format) to RGB, or say plainly that they are not an image."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return ImageOps.exif_transpose(img).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageGenerationError(f"{what} is not a readable image: {exc}") from None


def dominant_colors(image: Image.Image, count: int = 3) -> list[str]:
    """The image's most common colours as #RRGGBB, most common first (median-cut on a thumbnail)."""
    small = image.convert("RGB").resize((64, 64), Image.BILINEAR)
    quantized = small.quantize(colors=max(1, count), method=Image.Quantize.MEDIANCUT)
    flat = quantized.getpalette() or []
    counts = sorted(quantized.getcolors() or [], reverse=True)
    return [f"#{flat[3 * i]:02X}{flat[3 * i + 1]:02X}{flat[3 * i + 2]:02X}" for _n, i in counts[:count]]


def product_area(width: int, height: int) -> tuple[float, float, float, float]:
    """(max width, max height, centre x, centre y) for a composited product photo. Creatives put the
    brand row top left and headline + CTA bottom left: tall frames have room above the text, square
    and wide ones on the right."""
    if height >= 1.2 * width:
        return 0.72 * width, 0.4 * height, 0.5 * width, 0.4 * height
    return 0.42 * width, 0.52 * height, 0.7 * width, 0.36 * height


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)  # an intermediate: speed over size
    return buf.getvalue()


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    if not isinstance(color, str) or not HEX_RE.match(color):
        raise ImageGenerationError(f"palette colors must look like #1A2B3C, got {color!r}")
    value = color.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


# --- colour science: mixing in OKLab keeps gradients between brand colours clean, not muddy ---

def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1 / 2.4) - 0.055)


_M1 = np.array([[0.4122214708, 0.5363325363, 0.0514459929],
                [0.2119034982, 0.6806995451, 0.1073969566],
                [0.0883024619, 0.2817188376, 0.6299787005]])
_M2 = np.array([[0.2104542553, 0.7936177850, -0.0040720468],
                [1.9779984951, -2.4285922050, 0.4505937099],
                [0.0259040371, 0.7827717662, -0.8086757660]])
_M2_INV = np.linalg.inv(_M2)
_M1_INV = np.linalg.inv(_M1)


def _srgb_to_oklab(rgb: np.ndarray) -> np.ndarray:
    lms = _srgb_to_linear(rgb) @ _M1.T
    return np.cbrt(lms) @ _M2.T


def _oklab_to_srgb(lab: np.ndarray) -> np.ndarray:
    lms = (lab @ _M2_INV.T) ** 3
    return _linear_to_srgb(lms @ _M1_INV.T)


class ProceduralArtResource(ImageGeneratorResource):
    """Embedded default: deterministic procedural art from the brand palette (no model, no weights).

    Paints a domain-warped mesh gradient of the palette over a dark base, a few soft light
    shapes, a vignette and film grain. Same inputs give the same bytes. The prompt only varies
    the seed here; this renderer does not interpret it. The reference and product versions are
    compositing, named as such in `params["workflow"]`; `can_animate` is False.
    """

    grain: float = 0.022  # std-dev of film grain; also dithers away gradient banding
    blob_count: int = 4
    vignette: float = 0.28  # how much the corners darken, 0..1
    work_scale: int = 8  # gradients are painted at 1/work_scale resolution, then upscaled
    reference_opacity: float = 0.45  # blurred reference over the palette art, at style_weight 1
    reference_blur: float = 0.035  # blur radius / short side: keeps the reference's tones, drops its detail

    @property
    def backend_label(self) -> str:
        return "procedural-palette-v1"

    def release(self) -> None:
        return None  # nothing held

    def _palette_art(self, prompt: str, width: int, height: int, palette: list[str], seed: int,
                     salt: str = "") -> np.ndarray:
        check_size(width, height)
        if not palette:
            raise ImageGenerationError("palette must hold at least one color")
        colors = np.array([hex_to_rgb(c) for c in palette], dtype=np.float64) / 255.0
        key = f"{self.backend_label}|{seed}|{prompt}" + (f"|{salt}" if salt else "")
        rng = np.random.default_rng(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))
        return self._paint(rng, colors, int(width), int(height))

    def _result(self, image: Image.Image, started: float, params: dict) -> ArtResult:
        return ArtResult(
            png=_png(image), width=image.width, height=image.height, backend=self.backend_label,
            seconds=time.perf_counter() - started, params=params,
        )

    def _common_params(self, workflow: str, prompt: str, seed: int, palette: list[str]) -> dict:
        return {
            "workflow": workflow,
            "prompt": prompt,
            "seed": int(seed),
            "palette": [c.upper() if c.startswith("#") else f"#{c.upper()}" for c in palette],
            "grain": self.grain,
            "blob_count": self.blob_count,
            "vignette": self.vignette,
        }

    def generate_background(
        self, prompt: str, width: int, height: int, palette: list[str], seed: int
    ) -> ArtResult:
        started = time.perf_counter()
        rgb = self._palette_art(prompt, width, height, palette, seed)
        params = self._common_params(PROCEDURAL_PALETTE, prompt, seed, palette)
        params["renderer"] = "mesh-gradient+soft-shapes+grain"
        return self._result(Image.fromarray(rgb, "RGB"), started, params)

    def style_from_reference(
        self, prompt: str, reference_image: bytes, width: int, height: int, seed: int,
        palette: list[str] | None = None, style_weight: float = 0.8,
    ) -> ArtResult:
        """Palette art that takes the reference's main colours as extra glows, with a heavily blurred
        copy of the reference blended over it (opacity `reference_opacity` x `style_weight`, clamped
        to 0..1). A colour and tone blend: it does not transfer style the way IPAdapter does."""
        started = time.perf_counter()
        check_size(width, height)
        reference = open_rgb(reference_image, "reference image")
        digest = hashlib.sha256(reference_image).hexdigest()
        ref_colors = dominant_colors(reference, 3)
        brand = [c if c.startswith("#") else f"#{c}" for c in (palette or [])] or ref_colors
        base = brand[:3] if len(brand) >= 3 else [*brand, "#FFFFFF"]  # dark, accent, light: see _paint
        art_palette = [*base, *[c for c in ref_colors if c not in base][:2]]
        width, height = int(width), int(height)
        art = Image.fromarray(self._palette_art(prompt, width, height, art_palette, seed, salt=digest), "RGB")

        # Blur at 1/8 size and upscale: the same soft layer for a fraction of the cost.
        small = (max(8, width // 8), max(8, height // 8))
        radius = max(1.0, self.reference_blur * min(small))
        layer = ImageOps.fit(reference, small, Image.LANCZOS).filter(ImageFilter.GaussianBlur(radius))
        layer = layer.resize((width, height), Image.BICUBIC)
        weight = min(max(float(style_weight), 0.0), 1.0)
        opacity = round(self.reference_opacity * weight, 4)
        blended = Image.blend(art, layer, opacity)

        params = self._common_params(PROCEDURAL_REFERENCE_BLEND, prompt, seed, brand)
        params.update({
            "renderer": "mesh-gradient(palette+reference colours)+blurred-reference-overlay",
            "reference_sha256": digest,
            "reference_colors": ref_colors,
            "style_weight": float(style_weight),
            "reference_opacity": opacity,
        })
        return self._result(blended, started, params)

    def product_shot(
        self, prompt: str, product_image: bytes, width: int, height: int, seed: int,
        palette: list[str] | None = None, control_strength: float = 0.8,
    ) -> ArtResult:
        """Palette art with the product photo placed on it unchanged: fitted whole (never cropped),
        with rounded corners and a soft shadow, where the headline and CTA (bottom left) least cover
        it. The photo's composition is kept exactly; there is no ControlNet here, so
        `control_strength` is only recorded."""
        started = time.perf_counter()
        if not palette:
            raise ImageGenerationError("palette must hold at least one color")
        check_size(width, height)
        photo = open_rgb(product_image, "product photo")
        digest = hashlib.sha256(product_image).hexdigest()
        width, height = int(width), int(height)
        canvas = Image.fromarray(self._palette_art(prompt, width, height, palette, seed, salt=digest), "RGB")

        box_w, box_h, cx, cy = product_area(width, height)
        scale = min(box_w / photo.width, box_h / photo.height)
        pw, ph = max(1, round(photo.width * scale)), max(1, round(photo.height * scale))
        placed = photo.resize((pw, ph), Image.LANCZOS)
        x0 = max(0, min(width - pw, round(cx - pw / 2)))
        y0 = max(0, min(height - ph, round(cy - ph / 2)))
        corner = max(2, round(min(pw, ph) * 0.04))

        shadow = Image.new("L", (width, height), 0)
        drop = max(2, round(min(width, height) * 0.012))
        ImageDraw.Draw(shadow).rounded_rectangle((x0, y0 + drop, x0 + pw - 1, y0 + ph - 1 + drop), corner,
                                                 fill=int(255 * 0.5))
        shadow = shadow.filter(ImageFilter.GaussianBlur(max(2, round(min(width, height) * 0.02))))
        canvas = Image.composite(Image.new("RGB", (width, height), (0, 0, 0)), canvas, shadow)
        mask = Image.new("L", (pw, ph), 0)
        ImageDraw.Draw(mask).rounded_rectangle((0, 0, pw - 1, ph - 1), corner, fill=255)
        canvas.paste(placed, (x0, y0), mask)

        params = self._common_params(PROCEDURAL_PRODUCT_COMPOSITE, prompt, seed, palette)
        params.update({
            "renderer": "mesh-gradient+product-photo-composite(contain-fit, shadow)",
            "product_sha256": digest,
            "product_box": [x0, y0, x0 + pw, y0 + ph],
            "control_strength": float(control_strength),  # recorded only: no ControlNet in this backend
        })
        return self._result(canvas, started, params)

    def _paint(self, rng: np.random.Generator, colors: np.ndarray, width: int, height: int) -> np.ndarray:
        scale = max(1, int(self.work_scale))
        w, h = max(16, width // scale), max(16, height // scale)
        aspect = width / height
        # Coordinates: v in 0..1 top to bottom, u in 0..aspect, so circles stay round.
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
        u = (xs + 0.5) / w * aspect
        v = (ys + 0.5) / h

        lab = _srgb_to_oklab(colors)
        base = lab[0]
        accent = lab[1] if len(lab) > 1 else _shift_hue(lab[0], 0.6, lightness=0.25)
        # Second glow colour stays on-brand: extra palette colours, else a lit-up tint of the base.
        companions = list(lab[3:]) or [_shift_hue(base, 0.0, lightness=0.22)]

        # Base: the dark brand colour, graded from deeper to slightly lifted along a random direction.
        angle = rng.uniform(0, 2 * np.pi)
        t = np.clip((np.cos(angle) * (u / aspect - 0.5) + np.sin(angle) * (v - 0.5)) + 0.5, 0, 1)[..., None]
        deep = base * np.array([0.7, 1.0, 1.0])  # lower OKLab lightness, same hue
        lift = base * np.array([1.25, 1.2, 1.2])
        field_lab = deep * (1 - t) + lift * t

        # Domain warp: makes glows flow like silk instead of perfect circles.
        f1, f2 = rng.uniform(0.8, 2.0, size=2)
        p1, p2 = rng.uniform(0, 2 * np.pi, size=2)
        amp = rng.uniform(0.05, 0.12)
        wu = u + amp * np.sin(f1 * 2 * np.pi * v + p1)
        wv = v + amp * np.sin(f2 * 2 * np.pi * u / aspect + p2)

        # Glows: palette colours added as light in linear RGB (luminous, not muddy like paint
        # mixing). They favour the upper part of the canvas, where headlines usually do not sit.
        linear = _srgb_to_linear(_oklab_to_srgb(field_lab))
        glow_colors = [_srgb_to_linear(_oklab_to_srgb(c)) for c in (accent, *companions)]
        for i in range(max(0, int(self.blob_count))):
            color = glow_colors[0] if i % 2 == 0 else glow_colors[1 + (i // 2) % (len(glow_colors) - 1)]
            cu = rng.uniform(-0.1, aspect + 0.1)
            cv = rng.uniform(-0.2, 0.65)
            radius = rng.uniform(0.12, 0.3) * max(1.0, aspect) ** 0.5
            strength = rng.uniform(0.5, 0.85) * (0.6 if i >= 2 else 1.0)
            d2 = (wu - cu) ** 2 + (wv - cv) ** 2
            alpha = (strength * np.exp(-d2 / (2 * radius * radius)))[..., None]
            linear = linear * (1 - 0.6 * alpha) + color * alpha
        field_lab = _srgb_to_oklab(_linear_to_srgb(linear))

        # Vignette: pulls the eye inwards and darkens corners where platform UI sits.
        r = np.sqrt(((u / aspect) - 0.5) ** 2 + (v - 0.5) ** 2) / np.sqrt(0.5)
        field_lab[..., 0] *= 1 - self.vignette * np.clip(r, 0, 1) ** 2.2

        small = np.clip(_oklab_to_srgb(field_lab) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        # Smooth fields upscale cleanly; 8-bit steps are dithered away by the grain below.
        full = Image.fromarray(small, "RGB").resize((width, height), Image.BICUBIC)

        # Crisp editorial shapes at full resolution: a translucent disc and thin rings.
        light = tuple(int(round(c * 255)) for c in (colors[2] if len(colors) > 2 else (1.0, 1.0, 1.0)))
        full = Image.composite(Image.new("RGB", (width, height), light), full, _shape_mask(rng, width, height))

        # Monochrome film grain from a seeded tile (tiling is invisible in noise, and much cheaper).
        tile = min(512, width, height)
        noise = np.rint(rng.standard_normal((tile, tile), dtype=np.float32) * np.float32(self.grain * 255.0))
        reps = (-(-height // tile), -(-width // tile))
        grain = np.tile(noise.astype(np.int16), reps)[:height, :width]
        pixels = np.asarray(full, dtype=np.int16) + grain[..., None]
        return np.clip(pixels, 0, 255).astype(np.uint8)


def _shift_hue(lab: np.ndarray, turns: float, lightness: float = 0.0) -> np.ndarray:
    """Rotate an OKLab colour's hue by `turns` of a circle; used when the palette is short."""
    a, b = lab[1], lab[2]
    chroma = max(float(np.hypot(a, b)), 0.06)
    hue = float(np.arctan2(b, a)) + turns * np.pi
    return np.array([np.clip(lab[0] + lightness, 0.15, 0.9), chroma * np.cos(hue), chroma * np.sin(hue)])


def _shape_mask(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """Alpha mask (L image) of a large faint disc and one or two thin rings, anti-aliased by 2x supersampling."""
    ss = 2
    mask = Image.new("L", (width * ss, height * ss), 0)
    draw = ImageDraw.Draw(mask)
    side = min(width, height) * ss
    cx, cy = rng.uniform(0.45, 1.05) * width * ss, rng.uniform(-0.05, 0.45) * height * ss
    radius = rng.uniform(0.35, 0.6) * side
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=int(255 * 0.07))
    for k in range(int(rng.integers(1, 3))):
        rr = radius * (1.18 + 0.2 * k) if k else radius * rng.uniform(0.55, 0.8)
        draw.ellipse(
            (cx - rr, cy - rr, cx + rr, cy + rr), outline=int(255 * 0.22), width=max(2, int(side * 0.0022))
        )
    return mask.reduce(ss)
