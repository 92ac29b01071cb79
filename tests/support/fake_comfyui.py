"""A fake ComfyUI server for tests and benchmarks: ComfyUI's real HTTP + websocket API, no GPU.

It speaks what ComfyUI's server.py / execution.py speak: POST /prompt (validated against a table of
node classes, with the same 400 {"error", "node_errors"} body on a bad graph and
{"prompt_id", "number", "node_errors": {}} on success), GET /history/{id}, GET /view,
POST /upload/image -> {"name", "subfolder", "type"}, POST /free, and /ws?clientId= with the
status / execution_start / execution_cached / executing / progress / executed /
execution_success (or execution_error) messages in ComfyUI's order. SaveImage "renders" a PNG of
the latent's size with Pillow; VHS_VideoCombine encodes real frames (mp4 via ffmpeg when present).

Faults for the client's error paths, settable while running: refuse connections, HTTP 500 N times,
hang, malformed JSON, drop the websocket mid-run, a fixed latency per prompt, a node exception.
Every request lands in `request_log`. Loopback only, ephemeral port. A test fixture, never the product.
"""

from __future__ import annotations

import asyncio
import copy
import io
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from PIL import Image, ImageDraw

# --- the node table: required/optional inputs and output types, as the real classes declare them ---

MODEL_LISTS: dict[str, list[str]] = {
    "checkpoints": ["sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors"],
    "controlnet": ["controlnet-canny-sdxl-1.0.safetensors", "control_v11p_sd15_canny.pth"],
    "animatediff_models": ["mm_sd_v15_v2.ckpt", "v3_sd15_mm.ckpt"],
    "depth_anything": ["depth_anything_vitl14.pth", "depth_anything_vitb14.pth", "depth_anything_vits14.pth"],
}
SAMPLERS = ["euler", "euler_ancestral", "heun", "dpm_2", "dpm_2_ancestral", "lms", "dpmpp_2s_ancestral",
            "dpmpp_sde", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_3m_sde", "ddim", "uni_pc", "lcm"]
SCHEDULERS = ["normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "beta"]
IPADAPTER_PRESETS = ["LIGHT - SD1.5 only (low strength)", "STANDARD (medium strength)", "VIT-G (medium strength)",
                     "PLUS (high strength)", "PLUS FACE (portraits)", "FULL FACE - SD1.5 only (portraits stronger)"]
IPADAPTER_WEIGHT_TYPES = ["linear", "ease in", "ease out", "ease in-out", "reverse in-out", "weak input",
                          "weak output", "weak middle", "strong middle", "style transfer", "composition",
                          "strong style transfer", "style and composition", "style transfer precise",
                          "composition precise"]
BETA_SCHEDULES = ["autoselect", "use existing", "sqrt_linear (AnimateDiff)", "linear (AnimateDiff-SDXL)",
                  "linear (HotshotXL/default)", "avg(sqrt_linear,linear)", "lcm avg(sqrt_linear,linear)", "lcm",
                  "lcm >> sqrt_linear", "sqrt", "cosine", "squaredcos_cap_v2"]
FUSE_METHODS = ["pyramid", "flat", "gauss-sigma", "gauss-sigma inverse", "delayed reverse sawtooth",
                "pyramid-sigma", "pyramid-sigma inverse"]
VHS_FORMATS = ["image/gif", "image/webp", "video/h264-mp4", "video/h265-mp4", "video/webm"]

INT64_MAX = 0xFFFFFFFFFFFFFFFF
LOG_KEY = web.RequestKey("log", object)  # the LoggedRequest of the current request


def _int(lo: int | None = None, hi: int | None = None) -> tuple:
    return ("INT", {k: v for k, v in (("min", lo), ("max", hi)) if v is not None})


def _float(lo: float | None = None, hi: float | None = None) -> tuple:
    return ("FLOAT", {k: v for k, v in (("min", lo), ("max", hi)) if v is not None})


@dataclass
class NodeSpec:
    required: dict[str, tuple]
    outputs: tuple[str, ...]
    optional: dict[str, tuple] = field(default_factory=dict)
    output_node: bool = False


# ("COMBO", "<list name>") entries are resolved against the server's model lists at validation time.
NODE_SPECS: dict[str, NodeSpec] = {
    "CheckpointLoaderSimple": NodeSpec({"ckpt_name": ("COMBO", "checkpoints")}, ("MODEL", "CLIP", "VAE")),
    "CLIPTextEncode": NodeSpec({"text": ("STRING", {}), "clip": ("CLIP",)}, ("CONDITIONING",)),
    "EmptyLatentImage": NodeSpec(
        {"width": _int(16, 16384), "height": _int(16, 16384), "batch_size": _int(1, 4096)}, ("LATENT",)),
    "KSampler": NodeSpec({
        "model": ("MODEL",), "seed": _int(0, INT64_MAX), "steps": _int(1, 10000), "cfg": _float(0.0, 100.0),
        "sampler_name": ("COMBO", SAMPLERS), "scheduler": ("COMBO", SCHEDULERS),
        "positive": ("CONDITIONING",), "negative": ("CONDITIONING",), "latent_image": ("LATENT",),
        "denoise": _float(0.0, 1.0)}, ("LATENT",)),
    "VAEDecode": NodeSpec({"samples": ("LATENT",), "vae": ("VAE",)}, ("IMAGE",)),
    "SaveImage": NodeSpec({"images": ("IMAGE",), "filename_prefix": ("STRING", {})}, (), output_node=True),
    "LoadImage": NodeSpec({"image": ("UPLOAD",)}, ("IMAGE", "MASK")),
    "IPAdapterUnifiedLoader": NodeSpec(
        {"model": ("MODEL",), "preset": ("COMBO", IPADAPTER_PRESETS)}, ("MODEL", "IPADAPTER"),
        optional={"ipadapter": ("IPADAPTER",)}),
    "IPAdapter": NodeSpec({
        "model": ("MODEL",), "ipadapter": ("IPADAPTER",), "image": ("IMAGE",), "weight": _float(-1, 3),
        "start_at": _float(0, 1), "end_at": _float(0, 1),
        "weight_type": ("COMBO", ["standard", "prompt is more important", "style transfer"])},
        ("MODEL",), optional={"attn_mask": ("MASK",)}),
    "IPAdapterAdvanced": NodeSpec({
        "model": ("MODEL",), "ipadapter": ("IPADAPTER",), "image": ("IMAGE",), "weight": _float(-1, 5),
        "weight_type": ("COMBO", IPADAPTER_WEIGHT_TYPES),
        "combine_embeds": ("COMBO", ["concat", "add", "subtract", "average", "norm average"]),
        "start_at": _float(0, 1), "end_at": _float(0, 1),
        "embeds_scaling": ("COMBO", ["V only", "K+V", "K+V w/ C penalty", "K+mean(V) w/ C penalty"])},
        ("MODEL",), optional={"image_negative": ("IMAGE",), "attn_mask": ("MASK",), "clip_vision": ("CLIP_VISION",)}),
    "CannyEdgePreprocessor": NodeSpec(
        {"image": ("IMAGE",)}, ("IMAGE",),
        optional={"low_threshold": _int(0, 255), "high_threshold": _int(0, 255), "resolution": _int(64, 16384)}),
    "DepthAnythingPreprocessor": NodeSpec(
        {"image": ("IMAGE",)}, ("IMAGE",),
        optional={"ckpt_name": ("COMBO", "depth_anything"), "resolution": _int(64, 16384)}),
    "ControlNetLoader": NodeSpec({"control_net_name": ("COMBO", "controlnet")}, ("CONTROL_NET",)),
    "ControlNetApplyAdvanced": NodeSpec({
        "positive": ("CONDITIONING",), "negative": ("CONDITIONING",), "control_net": ("CONTROL_NET",),
        "image": ("IMAGE",), "strength": _float(0, 10), "start_percent": _float(0, 1), "end_percent": _float(0, 1)},
        ("CONDITIONING", "CONDITIONING"), optional={"vae": ("VAE",)}),
    "ADE_StandardStaticContextOptions": NodeSpec(
        {"context_length": _int(1, 128), "context_overlap": _int(0, 128)}, ("CONTEXT_OPTIONS",),
        optional={"fuse_method": ("COMBO", FUSE_METHODS), "prev_context": ("CONTEXT_OPTIONS",)}),
    "ADE_AnimateDiffLoaderGen1": NodeSpec(
        {"model": ("MODEL",), "model_name": ("COMBO", "animatediff_models"),
         "beta_schedule": ("COMBO", BETA_SCHEDULES)}, ("MODEL",),
        optional={"context_options": ("CONTEXT_OPTIONS",), "motion_lora": ("MOTION_LORA",),
                  "ad_settings": ("AD_SETTINGS",), "sample_settings": ("SAMPLE_SETTINGS",)}),
    "ADE_UseEvolvedSampling": NodeSpec(
        {"model": ("MODEL",), "beta_schedule": ("COMBO", BETA_SCHEDULES)}, ("MODEL",),
        optional={"m_models": ("M_MODELS",), "context_options": ("CONTEXT_OPTIONS",),
                  "sample_settings": ("SAMPLE_SETTINGS",)}),
    "VHS_VideoCombine": NodeSpec({
        "images": ("IMAGE",), "frame_rate": _float(1, None), "loop_count": _int(0, 100),
        "filename_prefix": ("STRING", {}), "format": ("COMBO", VHS_FORMATS), "pingpong": ("BOOLEAN",),
        "save_output": ("BOOLEAN",)}, ("VHS_FILENAMES",),
        optional={"audio": ("AUDIO",), "meta_batch": ("VHS_BatchManager",), "vae": ("VAE",)}, output_node=True),
    "SaveAnimatedWEBP": NodeSpec({
        "images": ("IMAGE",), "filename_prefix": ("STRING", {}), "fps": _float(0.01, 1000),
        "lossless": ("BOOLEAN",), "quality": _int(0, 100), "method": ("COMBO", ["default", "fastest", "slowest"])},
        (), output_node=True),
}


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    json: Any = None
    form: dict[str, Any] | None = None
    status: int | None = None
    at: float = field(default_factory=time.monotonic)


def _err(kind: str, message: str, details: str, **extra) -> dict:
    return {"type": kind, "message": message, "details": details, "extra_info": extra}


class _Validator:
    """ComfyUI's validate_prompt, over NODE_SPECS instead of the installed node classes."""

    def __init__(self, server: FakeComfyUI, prompt: dict):
        self.server, self.prompt, self.validated = server, prompt, {}

    def run(self) -> tuple[bool, dict | None, list[str], dict]:
        for node_id, node in self.prompt.items():
            if not isinstance(node, dict) or "class_type" not in node:
                title = (node or {}).get("_meta", {}).get("title") if isinstance(node, dict) else None
                return False, _err("missing_node_type",
                                   f"Node '{title or f'ID #{node_id}'}' has no class_type. The workflow may be "
                                   "corrupted or a custom node is missing.", f"Node ID '#{node_id}'",
                                   node_id=node_id, class_type=None, node_title=title), [], {}
            if node["class_type"] not in NODE_SPECS:
                title = node.get("_meta", {}).get("title", node["class_type"])
                return False, _err("missing_node_type",
                                   f"Node '{title}' not found. The custom node may not be installed.",
                                   f"Node ID '#{node_id}'", node_id=node_id, class_type=node["class_type"],
                                   node_title=title), [], {}
        outputs = [nid for nid, n in self.prompt.items() if NODE_SPECS[n["class_type"]].output_node]
        if not outputs:
            return False, _err("prompt_no_outputs", "Prompt has no outputs", ""), [], {}
        good, failures, node_errors = [], [], {}
        for out in outputs:
            ok, reasons = self.node(out)
            if ok:
                good.append(out)
                continue
            failures.append((out, reasons))
            for nid, (valid, errs) in self.validated.items():
                if not valid and errs:
                    entry = node_errors.setdefault(
                        nid, {"errors": errs, "dependent_outputs": [], "class_type": self.prompt[nid]["class_type"]})
                    entry["dependent_outputs"].append(out)
        if not good:
            details = "\n".join(f"{e['message']}: {e['details']}" for _o, errs in failures for e in errs)
            return False, _err("prompt_outputs_failed_validation", "Prompt outputs failed validation", details), \
                [], node_errors
        return True, None, good, node_errors

    def node(self, node_id: str) -> tuple[bool, list[dict]]:
        if node_id in self.validated:
            return self.validated[node_id]
        node = self.prompt[node_id]
        spec = NODE_SPECS[node["class_type"]]
        inputs = node.get("inputs") or {}
        errors: list[dict] = []
        valid = True
        for name, info in [*spec.required.items(), *spec.optional.items()]:
            required = name in spec.required
            if name not in inputs:
                if required:
                    errors.append(_err("required_input_missing", "Required input is missing", name, input_name=name))
                continue
            value = inputs[name]
            kind = info[0]
            if isinstance(value, list):
                if len(value) != 2:
                    errors.append(_err("bad_linked_input",
                                       "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                                       name, input_name=name, received_value=value))
                    continue
                source_id, slot = str(value[0]), value[1]
                if source_id not in self.prompt:
                    errors.append(_err("exception_during_inner_validation", "Exception when validating inner node",
                                       f"'{source_id}'", input_name=name, linked_node=value))
                    continue
                source_spec = NODE_SPECS[self.prompt[source_id]["class_type"]]
                received = source_spec.outputs[slot] if isinstance(slot, int) and slot < len(source_spec.outputs) else None
                if kind not in ("COMBO", "UPLOAD", "STRING", "INT", "FLOAT", "BOOLEAN") and received != kind:
                    errors.append(_err("return_type_mismatch", "Return type mismatch between linked nodes",
                                       f"{name}, received_type({received}) mismatch input_type({kind})",
                                       input_name=name, received_type=received, linked_node=value))
                    continue
                ok, _ = self.node(source_id)
                if not ok:
                    valid = False
                continue
            error = self.value(name, info, value)
            if error:
                errors.append(error)
        result = (valid and not errors, errors)
        self.validated[node_id] = result
        return result

    def value(self, name: str, info: tuple, value: Any) -> dict | None:
        kind = info[0]
        if kind in ("INT", "FLOAT"):
            try:
                number = int(value) if kind == "INT" else float(value)
            except (TypeError, ValueError) as exc:
                return _err("invalid_input_type", f"Failed to convert an input value to a {kind} value",
                            f"{name}, {value}, {exc}", input_name=name, received_value=value)
            limits = info[1]
            if "min" in limits and number < limits["min"]:
                return _err("value_smaller_than_min", f"Value {number} smaller than min of {limits['min']}",
                            name, input_name=name, received_value=value)
            if "max" in limits and number > limits["max"]:
                return _err("value_bigger_than_max", f"Value {number} bigger than max of {limits['max']}",
                            name, input_name=name, received_value=value)
        elif kind == "COMBO":
            options = info[1] if isinstance(info[1], list) else self.server.models.get(info[1], [])
            if value not in options:
                listed = str(options) if len(options) <= 20 else f"(list of length {len(options)})"
                return _err("value_not_in_list", "Value not in list", f"{name}: '{value}' not in {listed}",
                            input_name=name, received_value=value)
        elif kind == "UPLOAD" and self.server.find_file("input", str(value)) is None:
            return _err("custom_validation_failed", "Custom validation failed for node",
                        f"{name} - Invalid image file: {value}", input_name=name, received_value=value)
        return None


class FakeComfyUI:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host, self.port = host, port
        self.models = copy.deepcopy(MODEL_LISTS)
        self.request_log: list[LoggedRequest] = []
        self.uploads: dict[tuple[str, str], bytes] = {}  # (subfolder, name) in the input dir
        self.outputs: dict[tuple[str, str, str], bytes] = {}  # (type, subfolder, name)
        self.history: dict[str, dict] = {}
        self.free_requests: list[dict] = []
        self.executed_prompts: list[dict] = []  # graphs as they ran, for assertions
        # faults, set from the test thread
        self.latency_seconds = 0.0
        self.drop_websocket_after: int | None = None  # progress messages per run before closing the socket
        self.websocket_drops = 0  # sockets closed by that fault
        self.execution_failure: dict | None = None
        self._fail_next: list[tuple[int, int, str | None]] = []  # (count, status, path prefix)
        self._malformed_next: list[tuple[int, str | None]] = []
        self._hang = False
        self._refusing = False
        self._lock = threading.Lock()
        self._number = 0
        self._counters: dict[str, int] = {}
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._queue: asyncio.Queue | None = None
        self._release_hang: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._pending = 0

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeComfyUI:
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="fake-comfyui", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake ComfyUI did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = None

    def __enter__(self) -> FakeComfyUI:  # noqa: PYI034 - start() returns self
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    async def _start(self) -> None:
        self._queue = asyncio.Queue()
        self._release_hang = asyncio.Event()
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        routes = [
            web.get("/ws", self._ws), web.post("/prompt", self._post_prompt), web.get("/prompt", self._get_prompt),
            web.get("/queue", self._get_queue), web.get("/history/{prompt_id}", self._get_history),
            web.get("/history", self._get_all_history), web.get("/view", self._view),
            web.post("/upload/image", self._upload), web.post("/free", self._free),
            web.get("/system_stats", self._system_stats),
        ]
        app.add_routes(routes)
        app.add_routes([web.route(r.method, "/api" + r.path, r.handler) for r in routes])  # ComfyUI mirrors /api/*
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()
        self.port = self._runner.addresses[0][1]
        self._worker = asyncio.get_running_loop().create_task(self._prompt_worker())

    async def _stop(self) -> None:
        self._release_hang.set()
        self._worker.cancel()
        for ws in list(self._sockets.values()):
            await ws.close()
        await self._runner.cleanup()

    def _call(self, coro) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(15)

    # --- faults ------------------------------------------------------------------------------

    def refuse_connections(self, refuse: bool = True) -> None:
        """Stop listening (new connections get ECONNREFUSED) and cut open keep-alive ones; False restores."""
        self._call(self._set_refusing(refuse))

    async def _set_refusing(self, refuse: bool) -> None:
        if refuse and not self._refusing:
            await self._site.stop()
            for conn in list(self._runner.server.connections):
                conn.force_close()
            self._refusing = True
        elif not refuse and self._refusing:
            self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
            await self._site.start()
            self._refusing = False

    def fail_next(self, count: int, status: int = 500, path: str | None = None) -> None:
        """The next `count` HTTP requests (to paths starting with `path`, if given) answer `status`."""
        with self._lock:
            self._fail_next.append((count, status, path))

    def malformed_json_next(self, count: int, path: str | None = None) -> None:
        """The next `count` JSON replies (to paths starting with `path`, if given) are cut off mid-document."""
        with self._lock:
            self._malformed_next.append((count, path))

    def hang(self, on: bool = True) -> None:
        """While on, HTTP requests are accepted but never answered."""
        self._hang = on
        if not on:
            self._loop.call_soon_threadsafe(self._release_hang.set)
        else:
            self._loop.call_soon_threadsafe(self._release_hang.clear)

    def fail_execution(self, node_id: str, exception_type: str = "RuntimeError",
                       exception_message: str = "node failed") -> None:
        """The next prompt raises on `node_id` while executing (execution_error, history status error)."""
        self.execution_failure = {"node_id": str(node_id), "exception_type": exception_type,
                                  "exception_message": exception_message}

    # --- inspection --------------------------------------------------------------------------

    def requests(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.request_log
                    if (method is None or r.method == method) and (path is None or r.path == path)]

    @property
    def free_called(self) -> bool:
        return bool(self.free_requests)

    def clear_log(self) -> None:
        with self._lock:
            self.request_log.clear()

    def find_file(self, folder_type: str, name: str) -> bytes | None:
        subfolder, _, filename = name.rpartition("/")
        if folder_type == "input":
            return self.uploads.get((subfolder, filename))
        return self.outputs.get((folder_type, subfolder, filename))

    # --- HTTP plumbing -----------------------------------------------------------------------

    def _take(self, queue: list, path: str) -> tuple | None:
        with self._lock:
            for i, entry in enumerate(queue):
                count, rest = entry[0], entry[1:]
                target = rest[-1]
                if target is None or path.startswith(target):
                    if count <= 1:
                        queue.pop(i)
                    else:
                        queue[i] = (count - 1, *rest)
                    return rest
        return None

    @web.middleware
    async def _middleware(self, request: web.Request, handler) -> web.StreamResponse:
        path = request.path.removeprefix("/api") if request.path.startswith("/api/") else request.path
        entry = LoggedRequest(request.method, path, dict(request.query))
        if request.content_type == "application/json" and request.can_read_body:
            raw = await request.read()  # cached: the handler reads it again
            try:
                entry.json = json.loads(raw)
            except ValueError:
                entry.json = raw.decode(errors="replace")
        request[LOG_KEY] = entry
        with self._lock:
            self.request_log.append(entry)
        if self._hang and path != "/ws":
            await self._release_hang.wait()
        if path != "/ws":
            failure = self._take(self._fail_next, path)
            if failure:
                entry.status = failure[0]
                return web.Response(status=failure[0], text=f"{failure[0]}: Server got itself in trouble")
        response = await handler(request)
        entry.status = response.status
        is_json = isinstance(response, web.Response) and response.content_type == "application/json"
        if is_json and self._take(self._malformed_next, path):
            body = response.body or b""
            return web.Response(status=response.status, body=bytes(body)[: max(1, len(body) // 2)],
                                content_type="application/json")
        return response

    # --- endpoints ---------------------------------------------------------------------------

    def _queue_info(self) -> dict:
        return {"exec_info": {"queue_remaining": self._pending}}

    async def _get_prompt(self, request: web.Request) -> web.Response:
        return web.json_response(self._queue_info())

    async def _get_queue(self, request: web.Request) -> web.Response:
        return web.json_response({"queue_running": [], "queue_pending": []})

    async def _system_stats(self, request: web.Request) -> web.Response:
        return web.json_response({"system": {"os": "posix", "comfyui_version": "fake"}, "devices": []})

    async def _post_prompt(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": _err("invalid_json", "Invalid JSON body", ""), "node_errors": {}},
                                     status=400)
        if "number" in body:
            number = float(body["number"])
        else:
            number = self._number
            self._number += 1
        if "prompt" not in body:
            return web.json_response({"error": _err("no_prompt", "No prompt provided", "No prompt provided"),
                                      "node_errors": {}}, status=400)
        prompt = body["prompt"]
        prompt_id = str(body.get("prompt_id", uuid.uuid4()))
        valid, error, outputs, node_errors = _Validator(self, prompt).run()
        if not valid:
            return web.json_response({"error": error, "node_errors": node_errors}, status=400)
        extra = dict(body.get("extra_data", {}))
        if "client_id" in body:
            extra["client_id"] = body["client_id"]
        extra["create_time"] = int(time.time() * 1000)
        self._pending += 1
        await self._queue.put((number, prompt_id, prompt, extra, outputs))
        await self._send("status", {"status": self._queue_info()})
        return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": node_errors})

    async def _get_history(self, request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        entry = self.history.get(prompt_id)
        return web.json_response({prompt_id: copy.deepcopy(entry)} if entry else {})

    async def _get_all_history(self, request: web.Request) -> web.Response:
        return web.json_response(copy.deepcopy(self.history))

    async def _view(self, request: web.Request) -> web.Response:
        query = request.rel_url.query
        if "filename" not in query:
            return web.Response(status=404)
        filename = query["filename"]
        if not filename or filename[0] == "/" or ".." in filename or ".." in query.get("subfolder", ""):
            return web.Response(status=400)
        data = self.outputs.get((query.get("type", "output"), query.get("subfolder", ""), filename))
        if data is None and query.get("type") == "input":
            data = self.uploads.get((query.get("subfolder", ""), filename))
        if data is None:
            return web.Response(status=404)
        ext = os.path.splitext(filename)[1].lower()
        ctype = {".png": "image/png", ".webp": "image/webp", ".gif": "image/gif", ".mp4": "video/mp4",
                 ".webm": "video/webm"}.get(ext, "application/octet-stream")
        return web.Response(body=data, content_type=ctype,
                            headers={"Content-Disposition": f'filename="{filename}"'})

    async def _upload(self, request: web.Request) -> web.Response:
        post = await request.post()
        image = post.get("image")
        request[LOG_KEY].form = {k: (v if isinstance(v, str) else f"<file {v.filename}>") for k, v in post.items()}
        if image is None or isinstance(image, str) or not image.filename:
            return web.Response(status=400)
        folder_type = post.get("type") or "input"
        subfolder = post.get("subfolder", "")
        if ".." in subfolder or subfolder.startswith("/") or "/" in image.filename or ".." in image.filename:
            return web.Response(status=400)
        data = image.file.read()
        name = image.filename
        if post.get("overwrite") not in ("true", "1"):
            stem, ext = os.path.splitext(name)
            i = 1
            while (subfolder, name) in self.uploads and self.uploads[(subfolder, name)] != data:
                name = f"{stem} ({i}){ext}"
                i += 1
        self.uploads[(subfolder, name)] = data
        return web.json_response({"name": name, "subfolder": subfolder, "type": folder_type})

    async def _free(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.free_requests.append({"unload_models": bool(body.get("unload_models", False)),
                                   "free_memory": bool(body.get("free_memory", False))})
        return web.Response(status=200)

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.rel_url.query.get("clientId", "") or uuid.uuid4().hex
        self._sockets[sid] = ws
        try:
            await ws.send_json({"type": "status", "data": {"status": self._queue_info(), "sid": sid}})
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            if self._sockets.get(sid) is ws:
                self._sockets.pop(sid, None)
        return ws

    async def _send(self, event: str, data: dict, sid: str | None = None) -> None:
        targets = [self._sockets.get(sid)] if sid else list(self._sockets.values())
        for ws in targets:
            if ws is not None and not ws.closed:
                try:
                    await ws.send_json({"type": event, "data": data})
                except (ConnectionError, RuntimeError):
                    pass

    # --- execution ---------------------------------------------------------------------------

    async def _prompt_worker(self) -> None:
        while True:
            number, prompt_id, prompt, extra, outputs = await self._queue.get()
            try:
                await self._execute(number, prompt_id, prompt, extra, outputs)
            finally:
                self._pending -= 1
                await self._send("status", {"status": self._queue_info()})

    def _order(self, prompt: dict, outputs: list[str]) -> list[str]:
        order: list[str] = []

        def visit(nid: str) -> None:
            if nid in order:
                return
            for value in prompt[nid].get("inputs", {}).values():
                if isinstance(value, list) and len(value) == 2 and str(value[0]) in prompt:
                    visit(str(value[0]))
            order.append(nid)

        for out in outputs:
            visit(out)
        return order

    async def _execute(self, number: float, prompt_id: str, prompt: dict, extra: dict, outputs: list[str]) -> None:
        sid = extra.get("client_id")
        messages: list[list] = []
        self.executed_prompts.append(copy.deepcopy(prompt))

        async def add(event: str, data: dict) -> None:
            data = dict(data, timestamp=int(time.time() * 1000))
            messages.append([event, data])
            await self._send(event, data, sid)

        await add("execution_start", {"prompt_id": prompt_id})
        await add("execution_cached", {"nodes": [], "prompt_id": prompt_id})
        order = self._order(prompt, outputs)
        sampler_steps = sum(int(prompt[n]["inputs"].get("steps", 0)) for n in order
                            if prompt[n]["class_type"] == "KSampler") or 1
        step_delay = self.latency_seconds / sampler_steps
        values: dict[str, Any] = {}
        ui_outputs: dict[str, dict] = {}
        executed: list[str] = []
        progress_sent = 0
        failure, self.execution_failure = self.execution_failure, None
        for nid in order:
            node = prompt[nid]
            await self._send("executing", {"node": nid, "display_node": nid, "prompt_id": prompt_id}, sid)
            if failure and failure["node_id"] == nid:
                await add("execution_error", {
                    "prompt_id": prompt_id, "node_id": nid, "node_type": node["class_type"], "executed": executed,
                    "exception_message": failure["exception_message"], "exception_type": failure["exception_type"],
                    "traceback": ["  File \"execution.py\", line 1, in execute\n"], "current_inputs": {},
                    "current_outputs": {}})
                await self._finish(number, prompt_id, prompt, extra, outputs, {}, messages, "error", sid)
                return
            if node["class_type"] == "KSampler":
                steps = int(node["inputs"]["steps"])
                for step in range(1, steps + 1):
                    if step_delay:
                        await asyncio.sleep(step_delay)
                    await self._send("progress", {"value": step, "max": steps, "prompt_id": prompt_id, "node": nid},
                                     sid)
                    if step == 1 and sid in self._sockets:
                        # A preview frame, as with --preview-method: binary, 4-byte event + 4-byte format.
                        await self._sockets[sid].send_bytes(b"\x00\x00\x00\x01\x00\x00\x00\x01" + b"JPEG")
                    progress_sent += 1
                    if self.drop_websocket_after is not None and progress_sent == self.drop_websocket_after:
                        ws = self._sockets.pop(sid, None) if sid else None
                        if ws is not None:
                            await ws.close()
                            self.websocket_drops += 1
            value, ui = await self._run_node(nid, node, values)
            values[nid] = value
            executed.append(nid)
            if ui:
                ui_outputs[nid] = ui
                await self._send("executed", {"node": nid, "display_node": nid, "output": ui, "prompt_id": prompt_id},
                                 sid)
        if not any(prompt[n]["class_type"] == "KSampler" for n in order) and self.latency_seconds:
            await asyncio.sleep(self.latency_seconds)
        await add("execution_success", {"prompt_id": prompt_id})
        await self._finish(number, prompt_id, prompt, extra, outputs, ui_outputs, messages, "success", sid)

    async def _finish(self, number, prompt_id, prompt, extra, outputs, ui_outputs, messages, status, sid) -> None:
        # As in ComfyUI's prompt_worker: history is written after execution_success is sent,
        # then `executing` with node None marks the end.
        await asyncio.sleep(0.02)
        self.history[prompt_id] = {
            "prompt": [number, prompt_id, prompt, extra, outputs],
            "outputs": ui_outputs,
            "status": {"status_str": status, "completed": status == "success", "messages": messages},
            "meta": {nid: {"node_id": nid, "display_node": nid, "parent_node": None, "real_node_id": nid}
                     for nid in ui_outputs},
        }
        await self._send("executing", {"node": None, "prompt_id": prompt_id}, sid)

    async def _run_node(self, nid: str, node: dict, values: dict) -> tuple[Any, dict | None]:
        cls, inputs = node["class_type"], node["inputs"]

        def linked(name: str) -> Any:
            ref = inputs.get(name)
            return values.get(str(ref[0])) if isinstance(ref, list) else None

        if cls == "EmptyLatentImage":
            return {"w": int(inputs["width"]), "h": int(inputs["height"]), "batch": int(inputs["batch_size"])}, None
        if cls == "CLIPTextEncode":
            return {"text": str(inputs["text"])}, None
        if cls == "KSampler":
            latent = dict(linked("latent_image") or {"w": 512, "h": 512, "batch": 1})
            positive = linked("positive") or {}
            return dict(latent, seed=int(inputs["seed"]), text=positive.get("text", "")), None
        if cls == "ControlNetApplyAdvanced":
            return linked("positive"), None
        if cls == "VAEDecode":
            return linked("samples"), None
        if cls == "LoadImage":
            data = self.find_file("input", str(inputs["image"]))
            with Image.open(io.BytesIO(data)) as img:
                return {"w": img.width, "h": img.height, "batch": 1, "seed": zlib.crc32(data), "text": ""}, None
        if cls in ("CannyEdgePreprocessor", "DepthAnythingPreprocessor"):
            return linked("image"), None
        if cls == "SaveImage":
            images = linked("images")
            files = []
            for i in range(images["batch"]):
                png = await asyncio.get_running_loop().run_in_executor(None, _render_png, images, i)
                files.append(self._store_output(str(inputs["filename_prefix"]), ".png", png, trailing="_"))
            return None, {"images": files}
        if cls == "VHS_VideoCombine":
            images = linked("images")
            fmt, rate = str(inputs["format"]), float(inputs["frame_rate"])
            data, ext = await asyncio.get_running_loop().run_in_executor(None, _encode_clip, images, fmt, rate)
            info = self._store_output(str(inputs["filename_prefix"]), ext, data)
            info.update(format=fmt, frame_rate=rate, workflow=info["filename"].rsplit(".", 1)[0] + ".png",
                        fullpath=f"/fake/output/{info['subfolder']}/{info['filename']}")
            return (True, [info["filename"]]), {"gifs": [info]}
        if cls == "SaveAnimatedWEBP":
            images = linked("images")
            data, _ = await asyncio.get_running_loop().run_in_executor(
                None, _encode_clip, images, "image/webp", float(inputs["fps"]))
            return None, {"images": [self._store_output(str(inputs["filename_prefix"]), ".webp", data, trailing="_")],
                          "animated": [True]}
        return {"class_type": cls}, None  # loaders, adapters, context options: opaque handles

    def _store_output(self, prefix: str, ext: str, data: bytes, trailing: str = "") -> dict:
        subfolder, _, base = prefix.replace("\\", "/").rpartition("/")
        key = f"{subfolder}/{base}"
        self._counters[key] = self._counters.get(key, 0) + 1
        filename = f"{base}_{self._counters[key]:05d}{trailing}{ext}"
        self.outputs[("output", subfolder, filename)] = data
        return {"filename": filename, "subfolder": subfolder, "type": "output"}


def _frame(images: dict, index: int) -> Image.Image:
    """A deterministic stand-in for a sample: a seeded two-colour gradient with a moving disc."""
    w, h, seed = images["w"], images["h"], int(images.get("seed", 0))
    rng = (seed * 2654435761 + zlib.crc32(images.get("text", "").encode())) & 0xFFFFFFFF
    c1 = ((rng >> 0) & 255, (rng >> 8) & 255, (rng >> 16) & 255)
    c2 = (255 - c1[0], 255 - c1[1], (c1[2] + 96) & 255)
    mask = Image.linear_gradient("L").resize((w, h))
    img = Image.composite(Image.new("RGB", (w, h), c1), Image.new("RGB", (w, h), c2), mask)
    draw = ImageDraw.Draw(img)
    r = max(4, min(w, h) // 6)
    cx = int((0.2 + 0.6 * ((index * 7) % 16) / 15) * w) if images["batch"] > 1 else w // 2
    draw.ellipse((cx - r, h // 2 - r, cx + r, h // 2 + r), fill=c2[::-1])
    return img


def _render_png(images: dict, index: int) -> bytes:
    buf = io.BytesIO()
    _frame(images, index).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _encode_clip(images: dict, fmt: str, frame_rate: float) -> tuple[bytes, str]:
    frames = [_frame(images, i) for i in range(images["batch"])]
    ffmpeg = os.environ.get("SPARKLIO_FFMPEG") or shutil.which("ffmpeg")
    if fmt.startswith("video/") and ffmpeg:
        ext = ".webm" if fmt == "video/webm" else ".mp4"
        codec = ["-c:v", "libvpx-vp9"] if ext == ".webm" else ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
        with tempfile.TemporaryDirectory(prefix="fake-comfy-") as tmp:
            out = os.path.join(tmp, f"clip{ext}")
            raw = b"".join(f.tobytes() for f in frames)
            subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                            "-s", f"{images['w']}x{images['h']}", "-r", str(frame_rate), "-i", "-", *codec, out],
                           input=raw, check=True, timeout=120)
            with open(out, "rb") as fh:
                return fh.read(), ext
    buf = io.BytesIO()
    kind = "GIF" if fmt == "image/gif" else "WEBP"
    frames[0].save(buf, format=kind, save_all=True, append_images=frames[1:],
                   duration=int(1000 / frame_rate), loop=0)
    return buf.getvalue(), ".gif" if kind == "GIF" else ".webp"
