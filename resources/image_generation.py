"""Background art for creatives: the resource interface and the embedded procedural backend.

The embedded backend is NOT a generative model: these package registries carry no diffusion
weights, so `ProceduralArtResource` paints brand-palette mesh gradients, soft shapes and film
grain with numpy + Pillow. A diffusion backend (ComfyUI) will subclass `ImageGeneratorResource`
with the same interface.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
from dataclasses import dataclass, field

import numpy as np
from dagster import ConfigurableResource
from PIL import Image, ImageDraw

HEX_RE = re.compile(r"^#?[0-9a-fA-F]{6}$")
MIN_SIDE, MAX_SIDE = 64, 4096


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


class ImageGeneratorResource(ConfigurableResource):
    """Produces a background image for a creative; text is composed on top later, never by the backend."""

    @property
    def backend_label(self) -> str:
        raise NotImplementedError

    def generate_background(
        self, prompt: str, width: int, height: int, palette: list[str], seed: int
    ) -> ArtResult:
        raise NotImplementedError

    def release(self) -> None:
        """Free models/connections held by the backend."""
        raise NotImplementedError


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
    shapes, a vignette and film grain. Same (prompt, size, palette, seed) gives the same bytes.
    The prompt only varies the seed here; this renderer does not interpret it.
    """

    grain: float = 0.022  # std-dev of film grain; also dithers away gradient banding
    blob_count: int = 4
    vignette: float = 0.28  # how much the corners darken, 0..1
    work_scale: int = 8  # gradients are painted at 1/work_scale resolution, then upscaled

    @property
    def backend_label(self) -> str:
        return "procedural-palette-v1"

    def release(self) -> None:
        return None  # nothing held

    def generate_background(
        self, prompt: str, width: int, height: int, palette: list[str], seed: int
    ) -> ArtResult:
        started = time.perf_counter()
        if not (MIN_SIDE <= int(width) <= MAX_SIDE and MIN_SIDE <= int(height) <= MAX_SIDE):
            raise ImageGenerationError(f"size must be {MIN_SIDE}-{MAX_SIDE} px per side, got {width}x{height}")
        if not palette:
            raise ImageGenerationError("palette must hold at least one color")
        colors = np.array([hex_to_rgb(c) for c in palette], dtype=np.float64) / 255.0
        mixed_seed = int.from_bytes(
            hashlib.sha256(f"{self.backend_label}|{seed}|{prompt}".encode()).digest()[:8], "big"
        )
        rng = np.random.default_rng(mixed_seed)
        rgb = self._paint(rng, colors, int(width), int(height))
        image = Image.fromarray(rgb, "RGB")
        buf = io.BytesIO()
        image.save(buf, format="PNG", compress_level=1)  # an intermediate: speed over size
        return ArtResult(
            png=buf.getvalue(),
            width=int(width),
            height=int(height),
            backend=self.backend_label,
            seconds=time.perf_counter() - started,
            params={
                "prompt": prompt,
                "seed": int(seed),
                "palette": [c.upper() if c.startswith("#") else f"#{c.upper()}" for c in palette],
                "grain": self.grain,
                "blob_count": self.blob_count,
                "vignette": self.vignette,
                "renderer": "mesh-gradient+soft-shapes+grain",
            },
        )

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
