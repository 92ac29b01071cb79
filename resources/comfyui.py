"""ComfyUI image backend: SDXL/SD1.5 workflows on the GPU desktop, driven over ComfyUI's HTTP + websocket API.

Workflows are version-controlled API-format JSON (sparklio_pipelines/workflows/comfyui/), filled
through a binding table (resources.comfyui_workflows). Images are generated at a diffusion-friendly
size (multiples of 64 near the target aspect, within `max_pixels`) and then resized/cropped to the
exact requested size with Pillow, so every creative gets the pixels it asked for.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import threading
import time
from pathlib import PurePosixPath
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError
from pydantic import Field, PrivateAttr

from resources.comfyui_client import ComfyUIClient, Progress, RunResult, output_files
from resources.comfyui_workflows import (
    BoundWorkflow,
    WorkflowBindingError,
    load_workflows,
)
from resources.image_generation import (
    MAX_SIDE,
    MIN_SIDE,
    ArtResult,
    ClipResult,
    ImageGenerationError,
    ImageGeneratorResource,
    hex_to_rgb,
)
from sparklio_common.errors import (
    PermanentServiceError,
    ServiceError,
    TransientServiceError,
)

log = logging.getLogger("sparklio.comfyui")

SEED_MASK = (1 << 64) - 1  # KSampler seeds are unsigned 64-bit
LATENT_MULTIPLE = 64
CONTENT_TYPES = {".mp4": "video/mp4", ".webm": "video/webm", ".webp": "image/webp", ".gif": "image/gif", ".png": "image/png"}

# Diffusion models do not read hex codes: brand colours go into the prompt as plain names.
COLOR_NAMES = {
    "black": (0, 0, 0), "charcoal": (54, 69, 79), "slate grey": (112, 128, 144), "silver": (192, 192, 192),
    "light grey": (211, 211, 211), "white": (255, 255, 255), "cream": (255, 248, 220), "beige": (222, 202, 170), "sand": (194, 178, 128),
    "brown": (123, 74, 38), "terracotta": (204, 78, 52), "red": (200, 30, 40), "crimson": (153, 0, 31),
    "coral": (255, 127, 80), "orange": (245, 130, 32), "gold": (212, 175, 55), "yellow": (250, 218, 60),
    "olive": (128, 128, 0), "lime green": (150, 210, 60), "green": (40, 150, 70), "forest green": (24, 80, 45),
    "teal": (0, 128, 128), "turquoise": (64, 210, 200), "sky blue": (120, 190, 235), "blue": (30, 90, 200),
    "navy": (20, 30, 80), "indigo": (75, 40, 130), "purple": (128, 60, 170), "lavender": (190, 170, 230),
    "magenta": (220, 40, 150), "pink": (245, 160, 190), "blush": (240, 200, 200), "burgundy": (110, 20, 40),
}


def color_name(hex_color: str) -> str:
    r, g, b = hex_to_rgb(hex_color)

    def distance(rgb: tuple[int, int, int]) -> float:
        # "redmean" weighting: cheap and closer to perceived difference than plain RGB distance
        rm = (r + rgb[0]) / 2
        dr, dg, db = r - rgb[0], g - rgb[1], b - rgb[2]
        return (2 + rm / 256) * dr * dr + 4 * dg * dg + (2 + (255 - rm) / 256) * db * db

    return min(COLOR_NAMES, key=lambda name: distance(COLOR_NAMES[name]))


def palette_phrase(palette: list[str]) -> str:
    names = list(dict.fromkeys(color_name(c) for c in palette))
    return f"color palette of {', '.join(names)}" if names else ""


def diffusion_size(width: int, height: int, max_pixels: int, multiple: int = LATENT_MULTIPLE) -> tuple[int, int]:
    """Multiples of `multiple` with the target's aspect ratio and at most `max_pixels` pixels."""
    aspect = width / height
    h = math.sqrt(max_pixels / aspect)
    w = h * aspect
    return max(multiple, int(w // multiple) * multiple), max(multiple, int(h // multiple) * multiple)


def fit_exact(image_bytes: bytes, width: int, height: int) -> bytes:
    """Scale to cover (width, height) and centre-crop: exact size, no distortion, PNG out."""
    with Image.open(io.BytesIO(image_bytes)) as img:
        img = img.convert("RGB")
        if img.size != (width, height):
            img = ImageOps.fit(img, (width, height), Image.LANCZOS, centering=(0.5, 0.5))
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=1)  # an intermediate: speed over size
        return buf.getvalue()


def _as_png(data: bytes, what: str, size: tuple[int, int] | None = None) -> bytes:
    try:
        with Image.open(io.BytesIO(data)) as img:
            img = img.convert("RGB")
            if size:
                img = ImageOps.fit(img, size, Image.LANCZOS)
            buf = io.BytesIO()
            img.save(buf, format="PNG")
            return buf.getvalue()
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageGenerationError(f"{what} is not a readable image: {exc}") from None


def _check_size(width: int, height: int) -> None:
    if not (MIN_SIDE <= int(width) <= MAX_SIDE and MIN_SIDE <= int(height) <= MAX_SIDE):
        raise ImageGenerationError(f"size must be {MIN_SIDE}-{MAX_SIDE} px per side, got {width}x{height}")


class _ProgressLog:
    """Logs node changes and sampler steps at ~25% marks: enough to follow a long job, not a flood."""

    def __init__(self, workflow: str):
        self.workflow = workflow
        self.last_quarter: dict[str | None, int] = {}

    def __call__(self, p: Progress) -> None:
        if p.event == "executing":
            log.info("comfyui %s [%s]: running node %s (%s)", self.workflow, p.prompt_id[:8], p.node, p.class_type)
        elif p.event == "progress" and p.max:
            quarter = int(4 * (p.value or 0) / p.max)
            if quarter > self.last_quarter.get(p.node, -1):
                self.last_quarter[p.node] = quarter
                log.info(
                    "comfyui %s [%s]: node %s (%s) step %s/%s",
                    self.workflow, p.prompt_id[:8], p.node, p.class_type, p.value, p.max,
                )
        elif p.event == "queued" and p.value:
            log.info("comfyui %s [%s]: %s job(s) in the ComfyUI queue", self.workflow, p.prompt_id[:8], p.value)
        elif p.event == "polling":
            log.info("comfyui %s [%s]: still running (polling /history)", self.workflow, p.prompt_id[:8])
        elif p.event in ("execution_start", "execution_success"):
            log.info("comfyui %s [%s]: %s", self.workflow, p.prompt_id[:8], p.event)


class ComfyUIImageResource(ImageGeneratorResource):
    """Background art, brand-style images, product shots and short clips from a ComfyUI server."""

    url: str = Field(description="ComfyUI base URL, e.g. http://desktop:8188 (COMFYUI_URL).")
    checkpoint: str = Field(default="sd_xl_base_1.0.safetensors", description="Image checkpoint (SDXL or SD1.5).")
    animation_checkpoint: str = Field(
        default="v1-5-pruned-emaonly.safetensors", description="SD1.5 checkpoint for AnimateDiff clips."
    )
    motion_module: str = Field(default="mm_sd_v15_v2.ckpt", description="AnimateDiff SD1.5 motion module.")
    controlnet: str = Field(default="controlnet-canny-sdxl-1.0.safetensors", description="Canny ControlNet model.")
    ipadapter_preset: str = Field(default="PLUS (high strength)", description="IPAdapterUnifiedLoader preset.")
    negative_prompt: str = "text, letters, words, watermark, logo, signature, blurry, lowres, jpeg artifacts, deformed"
    steps: int = 28
    max_pixels: int = Field(default=1024 * 1024, description="Generation budget: ~1 MP suits SDXL.")
    animation_max_pixels: int = Field(default=512 * 512, description="AnimateDiff (SD1.5) frame budget.")
    timeout_seconds: int = Field(default=900, description="Whole job: queue wait + sampling + download.")
    request_timeout_seconds: float = 30.0
    connect_timeout_seconds: float = 5.0
    http_retries: int = 2
    retry_backoff_seconds: float = 0.5
    poll_interval_seconds: float = 1.0
    workflows_dir: str = Field(default="", description="Override dir for workflows + bindings.json; empty = bundled.")

    _client: ComfyUIClient | None = PrivateAttr(default=None)
    _workflows: dict[str, BoundWorkflow] | None = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def backend_label(self) -> str:
        return f"comfyui:{PurePosixPath(self.checkpoint).stem}"

    @property
    def can_animate(self) -> bool:
        return True  # AnimateDiff (SD1.5 motion module) through the animatediff_clip workflow

    def setup_for_execution(self, context) -> None:
        self.workflows()  # a binding that no longer matches its workflow fails the run at start

    def workflows(self) -> dict[str, BoundWorkflow]:
        with self._lock:
            if self._workflows is None:
                self._workflows = load_workflows(self.workflows_dir or None)
            return self._workflows

    def _workflow(self, name: str) -> BoundWorkflow:
        library = self.workflows()
        if name not in library:
            raise WorkflowBindingError(f"no workflow {name!r} in bindings.json (have: {sorted(library)})")
        return library[name]

    def _api(self) -> ComfyUIClient:
        with self._lock:
            if self._client is None:
                self._client = ComfyUIClient(
                    self.url,
                    request_timeout=self.request_timeout_seconds,
                    connect_timeout=self.connect_timeout_seconds,
                    http_retries=self.http_retries,
                    retry_backoff=self.retry_backoff_seconds,
                    poll_interval=self.poll_interval_seconds,
                )
            return self._client

    def release(self) -> None:
        """Ask ComfyUI to unload models and free VRAM (the desktop also runs Ollama), then drop the session."""
        with self._lock:
            client, self._client = self._client, None
        client = client or (ComfyUIClient(
            self.url, request_timeout=self.request_timeout_seconds, connect_timeout=self.connect_timeout_seconds,
            http_retries=0,
        ) if self.url else None)
        if client is None:
            return
        try:
            client.free()
            log.info("comfyui: asked %s to unload models and free memory", self.url)
        except ServiceError as exc:
            # release() runs in `finally`: never mask the step's own outcome with a cleanup failure
            log.warning("comfyui: /free failed (%s); VRAM stays allocated until ComfyUI evicts it", exc)
        finally:
            client.close()

    # --- running a workflow ----------------------------------------------------------------

    def _run(self, name: str, values: dict[str, Any]) -> tuple[BoundWorkflow, RunResult, dict, bytes]:
        workflow = self._workflow(name)
        graph = workflow.fill(values)
        api = self._api()
        log.info("comfyui %s: queueing on %s", name, self.url)
        run = api.run(name, graph, timeout=float(self.timeout_seconds), on_progress=_ProgressLog(name))
        files = output_files(run.history, workflow.output.node)
        if not files:
            raise PermanentServiceError(
                "comfyui",
                f"workflow {name!r} finished but output node {workflow.output.node} "
                f"({workflow.output.class_type}) saved no file",
            )
        first = files[0]
        data = api.view(first["filename"], first.get("subfolder", ""), first.get("type", "output"))
        log.info(
            "comfyui %s [%s]: done in %.1fs, %d progress events%s",
            name, run.prompt_id[:8], run.seconds, run.progress_events,
            " (websocket dropped; finished by polling /history)" if run.websocket_dropped else "",
        )
        return workflow, run, first, data

    def _upload(self, data: bytes, kind: str, size: tuple[int, int] | None = None) -> str:
        png = _as_png(data, f"{kind} image", size)
        name = f"{kind}-{hashlib.sha256(png).hexdigest()[:16]}.png"  # same bytes, same name: no duplicates
        return self._api().upload_image(png, name)

    def _image_params(self, width: int, height: int, seed: int) -> tuple[int, int, dict[str, Any]]:
        gen_w, gen_h = diffusion_size(int(width), int(height), self.max_pixels)
        return gen_w, gen_h, {
            "checkpoint": self.checkpoint, "negative_prompt": self.negative_prompt,
            "width": gen_w, "height": gen_h, "seed": int(seed) & SEED_MASK, "steps": int(self.steps),
        }

    def _art_result(self, name: str, prompt: str, full_prompt: str, width: int, height: int,
                    seed: int, values: dict, started: float, extra: dict | None = None) -> ArtResult:
        _workflow, run, info, data = self._run(name, values)
        try:
            png = fit_exact(data, int(width), int(height))
        except (UnidentifiedImageError, OSError) as exc:
            raise TransientServiceError("comfyui", f"output {info.get('filename')} is not a readable image: {exc}") from None
        return ArtResult(
            png=png,
            width=int(width),
            height=int(height),
            backend=self.backend_label,
            seconds=time.perf_counter() - started,
            params={
                "workflow": name,
                "prompt": prompt,
                "full_prompt": full_prompt,
                "negative_prompt": self.negative_prompt,
                "seed": int(seed),
                "checkpoint": self.checkpoint,
                "generated_size": [values["width"], values["height"]],
                "steps": int(self.steps),
                "prompt_id": run.prompt_id,
                "server_seconds": round(run.seconds, 3),
                "progress_events": run.progress_events,
                "websocket_dropped": run.websocket_dropped,
                "node_seconds": {node: round(sec, 3) for node, sec in run.node_seconds.items()},
                "output_file": info.get("filename"),
                **(extra or {}),
            },
        )

    # --- public API ------------------------------------------------------------------------

    def generate_background(
        self, prompt: str, width: int, height: int, palette: list[str], seed: int
    ) -> ArtResult:
        started = time.perf_counter()
        _check_size(width, height)
        full_prompt = ", ".join(p for p in (prompt, palette_phrase(palette)) if p)
        _w, _h, values = self._image_params(width, height, seed)
        values["prompt"] = full_prompt
        return self._art_result("txt2img", prompt, full_prompt, width, height, seed, values, started,
                                {"palette": list(palette)})

    def style_from_reference(
        self, prompt: str, reference_image: bytes, width: int, height: int, seed: int,
        palette: list[str] | None = None, style_weight: float = 0.8,
    ) -> ArtResult:
        """An image in the brand's look: IPAdapter takes style from `reference_image` (any Pillow format)."""
        started = time.perf_counter()
        _check_size(width, height)
        full_prompt = ", ".join(p for p in (prompt, palette_phrase(palette or [])) if p)
        _w, _h, values = self._image_params(width, height, seed)
        uploaded = self._upload(reference_image, "reference")
        values.update(prompt=full_prompt, reference_image=uploaded, ipadapter_preset=self.ipadapter_preset,
                      style_weight=float(style_weight))
        return self._art_result("ipadapter_style", prompt, full_prompt, width, height, seed, values, started,
                                {"reference_image": uploaded, "style_weight": float(style_weight),
                                 "ipadapter_preset": self.ipadapter_preset})

    def product_shot(
        self, prompt: str, product_image: bytes, width: int, height: int, seed: int,
        palette: list[str] | None = None, control_strength: float = 0.8,
    ) -> ArtResult:
        """A new scene around the product that keeps the photo's composition (Canny edges -> ControlNet)."""
        started = time.perf_counter()
        _check_size(width, height)
        full_prompt = ", ".join(p for p in (prompt, palette_phrase(palette or [])) if p)
        gen_w, gen_h, values = self._image_params(width, height, seed)
        # Crop the photo to the generation frame first, so edges map 1:1 onto the latent.
        uploaded = self._upload(product_image, "product", size=(gen_w, gen_h))
        values.update(prompt=full_prompt, product_image=uploaded, controlnet=self.controlnet,
                      control_strength=float(control_strength), edge_resolution=min(gen_w, gen_h))
        return self._art_result("controlnet_product", prompt, full_prompt, width, height, seed, values, started,
                                {"product_image": uploaded, "controlnet": self.controlnet,
                                 "control_strength": float(control_strength)})

    def animate_clip(
        self, prompt: str, seed: int, frames: int = 16, frame_rate: int = 8,
        width: int = 512, height: int = 512,
    ) -> ClipResult:
        """A short AnimateDiff (SD1.5 motion module) clip, encoded by VHS_VideoCombine on the server.

        The clip comes back at the diffusion size nearest the requested aspect (video is not
        resampled here); `width`/`height` on the result say what it is.
        """
        started = time.perf_counter()
        _check_size(width, height)
        if not 1 <= int(frames) <= 256:
            raise ImageGenerationError(f"frames must be 1-256, got {frames}")
        gen_w, gen_h = diffusion_size(int(width), int(height), self.animation_max_pixels)
        values = {
            "checkpoint": self.animation_checkpoint, "motion_module": self.motion_module,
            "prompt": prompt, "negative_prompt": self.negative_prompt,
            "width": gen_w, "height": gen_h, "frames": int(frames), "frame_rate": int(frame_rate),
            "context_length": min(16, int(frames)), "seed": int(seed) & SEED_MASK,
        }
        _workflow, run, info, data = self._run("animatediff_clip", values)
        filename = str(info["filename"])
        suffix = PurePosixPath(filename).suffix.lower()
        return ClipResult(
            video=data,
            content_type=CONTENT_TYPES.get(suffix, info.get("format") or "application/octet-stream"),
            filename=filename,
            width=gen_w,
            height=gen_h,
            frames=int(frames),
            frame_rate=float(info.get("frame_rate") or frame_rate),
            backend=f"comfyui-animatediff:{PurePosixPath(self.motion_module).stem}",
            seconds=time.perf_counter() - started,
            params={
                "workflow": "animatediff_clip", "prompt": prompt, "seed": int(seed),
                "checkpoint": self.animation_checkpoint, "motion_module": self.motion_module,
                "requested_size": [int(width), int(height)], "prompt_id": run.prompt_id,
                "server_seconds": round(run.seconds, 3), "websocket_dropped": run.websocket_dropped,
            },
        )
