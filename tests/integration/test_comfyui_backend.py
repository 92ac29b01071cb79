"""The ComfyUI image backend, through its real HTTP + websocket client, against a fake ComfyUI server.

The fake (tests/support/fake_comfyui.py) speaks ComfyUI's API: it validates each submitted graph
against a node table (so wrong inputs or models get ComfyUI's real node-error body), runs it with
websocket progress, keeps /history, serves /view, and can refuse, fail, hang, garble or drop.
"""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from resources.comfyui import ComfyUIImageResource, diffusion_size, palette_phrase
from resources.comfyui_workflows import (
    WorkflowBindingError,
    bundled_workflows_dir,
    load_workflows,
)
from sparklio_common.errors import PermanentServiceError, TransientServiceError
from tests.support.fake_comfyui import FakeComfyUI

PALETTE = ["#14213D", "#FCA311", "#E5E5E5"]
SMALL = 320 * 320  # generation budget for tests that are not about size: keeps the fake's renders cheap


@pytest.fixture
def fake():
    server = FakeComfyUI().start()
    yield server
    server.stop()


def make_resource(fake: FakeComfyUI, **overrides) -> ComfyUIImageResource:
    config = {
        "url": fake.url, "poll_interval_seconds": 0.05, "request_timeout_seconds": 5.0,
        "connect_timeout_seconds": 2.0, "retry_backoff_seconds": 0.05, "timeout_seconds": 60, "max_pixels": SMALL,
    }
    return ComfyUIImageResource(**{**config, **overrides})


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG"
        return img.size


def executed_nodes(fake: FakeComfyUI, class_type: str) -> list[dict]:
    assert fake.executed_prompts, "the fake ran no prompt"
    return [n for n in fake.executed_prompts[-1].values() if n["class_type"] == class_type]


def workflows_copy(tmp_path: Path) -> Path:
    target = tmp_path / "workflows"
    shutil.copytree(bundled_workflows_dir(), target)
    return target


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


# --- sizes and prompt ------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(1080, 1080), (1080, 1350), (1080, 1920), (1920, 1080), (64, 4096)])
def test_diffusion_size_is_latent_friendly_within_budget(size):
    w, h = diffusion_size(*size, max_pixels=1024 * 1024)
    assert w % 64 == 0 and h % 64 == 0
    assert w * h <= 1024 * 1024
    assert abs(w / h - size[0] / size[1]) / (size[0] / size[1]) < 0.25 or min(w, h) == 64
    assert w * h >= 0.7 * 1024 * 1024 or min(w, h) == 64  # uses the budget, not a thumbnail


def test_palette_becomes_colour_words():
    assert palette_phrase(["#14213D", "#FCA311", "#FFFFFF", "#FFFFFE"]) == "color palette of navy, orange, white"


def test_background_comes_back_at_the_exact_requested_size(fake):
    art = make_resource(fake, max_pixels=1024 * 1024).generate_background(
        "minimal studio backdrop", 1080, 1350, PALETTE, seed=42)

    assert png_size(art.png) == (1080, 1350) and (art.width, art.height) == (1080, 1350)
    assert art.backend == "comfyui:sd_xl_base_1.0"
    latent = executed_nodes(fake, "EmptyLatentImage")[0]["inputs"]
    assert (latent["width"], latent["height"]) == (896, 1088) == tuple(art.params["generated_size"])
    assert executed_nodes(fake, "KSampler")[0]["inputs"]["seed"] == 42
    texts = [n["inputs"]["text"] for n in executed_nodes(fake, "CLIPTextEncode")]
    assert "minimal studio backdrop, color palette of navy, orange, light grey" in texts
    assert any("watermark" in t for t in texts)  # the negative prompt went to the other encoder
    posted = fake.requests("POST", "/prompt")[-1].json
    sockets = fake.requests("GET", "/ws")
    assert sockets and sockets[-1].query["clientId"] == posted["client_id"]
    assert posted["prompt_id"] == art.params["prompt_id"]
    assert fake.requests("GET", "/view")[-1].query["type"] == "output"


# --- bindings ----------------------------------------------------------------------------------


def test_bundled_workflows_load_with_every_binding_checked():
    library = load_workflows()
    assert set(library) == {"txt2img", "ipadapter_style", "controlnet_product", "animatediff_clip"}
    classes = {name: {n["class_type"] for n in wf.graph.values()} for name, wf in library.items()}
    assert {"IPAdapterUnifiedLoader", "IPAdapterAdvanced", "LoadImage"} <= classes["ipadapter_style"]
    assert {"CannyEdgePreprocessor", "ControlNetLoader", "ControlNetApplyAdvanced"} <= classes["controlnet_product"]
    assert {"ADE_AnimateDiffLoaderGen1", "VHS_VideoCombine"} <= classes["animatediff_clip"]
    assert library["ipadapter_style"].params["reference_image"].node == "10"
    filled = library["txt2img"].fill({"seed": 5, "prompt": "x"})
    assert filled["3"]["inputs"]["seed"] == 5 and filled["6"]["inputs"]["text"] == "x"
    assert library["txt2img"].graph["3"]["inputs"]["seed"] == 0  # the template itself is untouched
    with pytest.raises(WorkflowBindingError, match="no binding for \\['sampler'\\]"):
        library["txt2img"].fill({"sampler": "euler"})


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda b: b["txt2img"]["params"]["seed"].update(node="99"), "binding 'seed': node 99 does not exist"),
        (lambda b: b["txt2img"]["params"]["seed"].update(input="sead"), "node 3 (KSampler) has no input 'sead'"),
        (lambda b: b["txt2img"]["params"]["prompt"].update(class_type="CLIPTextEncodeSDXL"),
         "node 6 is CLIPTextEncode, expected CLIPTextEncodeSDXL"),
        (lambda b: b["txt2img"]["params"]["width"].update(node="3", class_type="KSampler", input="model"),
         "input 'model' of node 3 is a link"),
        (lambda b: b["animatediff_clip"]["output"].update(node="9"), "'animatediff_clip'"),
    ],
)
def test_a_binding_that_does_not_match_its_workflow_fails_at_load(tmp_path, fake, change, message):
    root = workflows_copy(tmp_path)
    edit_json(root / "bindings.json", change)
    with pytest.raises(WorkflowBindingError, match=re.escape(message)):
        load_workflows(root)
    # the resource refuses before talking to the server
    with pytest.raises(WorkflowBindingError):
        make_resource(fake, workflows_dir=str(root)).generate_background("x", 256, 256, PALETTE, 1)
    assert fake.requests("POST", "/prompt") == []


def test_a_dangling_link_or_ui_format_export_fails_at_load(tmp_path):
    root = workflows_copy(tmp_path)
    edit_json(root / "txt2img.json", lambda g: g["8"]["inputs"].update(samples=["30", 0]))
    with pytest.raises(WorkflowBindingError, match="node 8 input 'samples' links to missing node '30'"):
        load_workflows(root)
    (root / "txt2img.json").write_text(json.dumps({"nodes": [], "links": [], "version": 0.4}))
    with pytest.raises(WorkflowBindingError, match="Save \\(API\\)"):
        load_workflows(root)


# --- rejected workflows ---------------------------------------------------------------------------


def test_node_errors_name_each_node_class_and_error(tmp_path, fake):
    root = workflows_copy(tmp_path)
    edit_json(root / "txt2img.json", lambda g: g["3"]["inputs"].pop("denoise"))
    resource = make_resource(fake, workflows_dir=str(root), checkpoint="sdxl_missing.safetensors")
    with pytest.raises(PermanentServiceError) as caught:
        resource.generate_background("x", 512, 512, PALETTE, 1)
    message = str(caught.value)
    assert message.startswith("comfyui: workflow 'txt2img' rejected by ComfyUI "
                              "(prompt_outputs_failed_validation: Prompt outputs failed validation)")
    assert "node 4 (CheckpointLoaderSimple): value_not_in_list: Value not in list " \
           "(ckpt_name: 'sdxl_missing.safetensors' not in [" in message
    assert "node 3 (KSampler): required_input_missing: Required input is missing (denoise)" in message
    assert fake.requests("POST", "/prompt")[-1].status == 400
    assert fake.executed_prompts == []


def test_an_uninstalled_custom_node_is_named(tmp_path, fake):
    root = workflows_copy(tmp_path)
    edit_json(root / "txt2img.json", lambda g: g["8"].update(class_type="VAEDecodeTiledPlus"))
    with pytest.raises(PermanentServiceError, match=r"missing_node_type: Node 'VAE Decode' not found\. The custom "
                                                    r"node may not be installed\.\): node 8 \(VAEDecodeTiledPlus\)"):
        make_resource(fake, workflows_dir=str(root)).generate_background("x", 512, 512, PALETTE, 1)


def test_a_node_exception_is_permanent_and_out_of_memory_transient(fake):
    resource = make_resource(fake)
    fake.fail_execution("3", "RuntimeError", "mat1 and mat2 shapes cannot be multiplied")
    with pytest.raises(PermanentServiceError, match=r"failed on node 3 \(KSampler\): RuntimeError: mat1 and mat2"):
        resource.generate_background("x", 512, 512, PALETTE, 1)
    fake.fail_execution("3", "torch.OutOfMemoryError", "CUDA out of memory. Tried to allocate 2.00 GiB")
    with pytest.raises(TransientServiceError, match="CUDA out of memory"):
        resource.generate_background("x", 512, 512, PALETTE, 1)
    assert png_size(resource.generate_background("x", 512, 512, PALETTE, 1).png) == (512, 512)


# --- progress and the websocket --------------------------------------------------------------------


def test_progress_is_logged_from_the_websocket(fake, caplog):
    caplog.set_level(logging.INFO, logger="sparklio.comfyui")
    art = make_resource(fake, steps=20).generate_background("x", 512, 512, PALETTE, 1)
    lines = [r.getMessage() for r in caplog.records if r.name == "sparklio.comfyui"]
    assert any("running node 3 (KSampler)" in line for line in lines)
    steps = [line for line in lines if "node 3 (KSampler) step" in line]
    assert steps[0].endswith("step 1/20") and steps[-1].endswith("step 20/20") and len(steps) == 5
    assert any(line.endswith("execution_success") for line in lines)
    assert art.params["progress_events"] >= 20 + 7  # every sampler step plus each node
    assert art.params["websocket_dropped"] is False


def test_a_dropped_websocket_falls_back_to_polling_history(fake, caplog):
    caplog.set_level(logging.INFO, logger="sparklio.comfyui")
    fake.drop_websocket_after = 3
    fake.latency_seconds = 0.8  # still sampling when the socket goes
    art = make_resource(fake, steps=10).generate_background("x", 640, 480, PALETTE, 3)

    assert png_size(art.png) == (640, 480)
    assert art.params["websocket_dropped"] is True
    assert any("websocket dropped" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    polls = [r for r in fake.requests("GET") if r.path.startswith("/history/")]
    assert len(polls) >= 3 and polls[-1].status == 200
    full_run = 1 + 7 + 10 + 1 + 1  # start, 7 nodes, 10 steps, executed, success
    assert art.params["progress_events"] < full_run - 5  # the rest of the run was not seen on the socket


def test_without_a_websocket_the_job_is_followed_by_polling(fake, monkeypatch):
    resource = make_resource(fake)
    monkeypatch.setattr(type(resource._api()), "open_socket", lambda self, client_id: None)
    art = resource.generate_background("x", 300, 200, PALETTE, 1)
    assert png_size(art.png) == (300, 200) and art.params["websocket_dropped"] is True


# --- transient failures ----------------------------------------------------------------------------


def test_server_errors_are_retried_then_reported_as_transient(fake):
    resource = make_resource(fake, http_retries=2)
    fake.fail_next(2, status=500, path="/prompt")
    assert png_size(resource.generate_background("x", 256, 256, PALETTE, 1).png) == (256, 256)
    assert [r.status for r in fake.requests("POST", "/prompt")] == [500, 500, 200]

    fake.clear_log()
    fake.fail_next(5, status=503, path="/prompt")
    with pytest.raises(TransientServiceError, match="POST /prompt -> HTTP 503"):
        resource.generate_background("x", 256, 256, PALETTE, 1)
    assert len(fake.requests("POST", "/prompt")) == 3


def test_refused_connections_are_transient_and_recover(fake):
    resource = make_resource(fake, http_retries=1)
    assert resource.generate_background("x", 256, 256, PALETTE, 1).width == 256  # a pooled connection exists
    fake.refuse_connections()
    with pytest.raises(TransientServiceError, match="cannot reach"):
        resource.generate_background("x", 256, 256, PALETTE, 1)
    fake.refuse_connections(False)
    assert resource.generate_background("x", 256, 256, PALETTE, 1).width == 256


def test_a_hung_server_times_out_as_transient(fake):
    resource = make_resource(fake, request_timeout_seconds=0.5, http_retries=0)
    fake.hang()
    with pytest.raises(TransientServiceError, match="timed out"):
        resource.generate_background("x", 256, 256, PALETTE, 1)
    fake.hang(False)
    assert resource.generate_background("x", 256, 256, PALETTE, 1).height == 256


def test_malformed_json_is_transient_and_history_reads_are_retried(fake):
    resource = make_resource(fake, http_retries=2)
    fake.malformed_json_next(1, path="/prompt")
    with pytest.raises(TransientServiceError, match="POST /prompt returned malformed JSON"):
        resource.generate_background("x", 256, 256, PALETTE, 1)
    fake.malformed_json_next(2, path="/history")
    assert resource.generate_background("x", 256, 256, PALETTE, 1).width == 256


# --- release ----------------------------------------------------------------------------------------


def test_release_asks_comfyui_to_free_models_and_memory(fake):
    resource = make_resource(fake)
    resource.generate_background("x", 256, 256, PALETTE, 1)
    assert not fake.free_called
    resource.release()
    assert fake.free_requests == [{"unload_models": True, "free_memory": True}]
    assert fake.requests("POST", "/free")[-1].json == {"unload_models": True, "free_memory": True}


def test_release_never_raises_when_the_server_is_gone(fake, caplog):
    resource = make_resource(fake)
    fake.refuse_connections()
    resource.release()  # runs in the asset's `finally`: must not mask the step's outcome
    assert any("/free failed" in r.getMessage() for r in caplog.records)


# --- the other workflows -----------------------------------------------------------------------------


def test_ipadapter_style_uploads_the_reference_and_loads_it(fake):
    reference = io.BytesIO()
    Image.new("RGB", (400, 300), (200, 40, 90)).save(reference, format="JPEG")
    resource = make_resource(fake)
    art = resource.style_from_reference("sneaker on a plinth", reference.getvalue(), 720, 900, seed=9,
                                        palette=PALETTE, style_weight=0.7)

    assert png_size(art.png) == (720, 900)
    upload = fake.requests("POST", "/upload/image")[-1]
    assert upload.form["overwrite"] == "true" and upload.form["type"] == "input"
    assert upload.form["subfolder"] == "sparklio"
    (subfolder, name), stored = next(iter(fake.uploads.items()))
    assert stored[:8] == b"\x89PNG\r\n\x1a\n" and Image.open(io.BytesIO(stored)).size == (400, 300)
    assert executed_nodes(fake, "LoadImage")[0]["inputs"]["image"] == f"{subfolder}/{name}" == art.params["reference_image"]
    adapter = executed_nodes(fake, "IPAdapterAdvanced")[0]["inputs"]
    assert adapter["weight"] == 0.7 and adapter["image"] == ["10", 0]
    assert executed_nodes(fake, "IPAdapterUnifiedLoader")[0]["inputs"]["preset"] == "PLUS (high strength)"
    # the same reference is not stored twice
    resource.style_from_reference("again", reference.getvalue(), 256, 256, seed=1)
    assert len(fake.uploads) == 1


def test_product_shot_keeps_the_photo_through_canny_controlnet(fake):
    photo = io.BytesIO()
    Image.new("RGB", (1000, 500), (250, 250, 250)).save(photo, format="PNG")
    resource = make_resource(fake)
    art = resource.product_shot("bottle on wet stone", photo.getvalue(), 1080, 1080, seed=4, control_strength=0.9)

    assert png_size(art.png) == (1080, 1080)
    stored = next(iter(fake.uploads.values()))
    gen = tuple(art.params["generated_size"])
    assert Image.open(io.BytesIO(stored)).size == gen  # cropped to the latent frame before upload
    apply = executed_nodes(fake, "ControlNetApplyAdvanced")[0]["inputs"]
    assert apply["strength"] == 0.9 and apply["image"] == ["11", 0]
    assert executed_nodes(fake, "ControlNetLoader")[0]["inputs"]["control_net_name"] == resource.controlnet
    assert executed_nodes(fake, "CannyEdgePreprocessor")[0]["inputs"]["image"] == ["10", 0]


def test_animate_clip_returns_the_encoded_video(fake, tmp_path):
    from sparklio_pipelines.content.media import probe

    clip = make_resource(fake).animate_clip("steam rising from coffee", seed=2, frames=12, frame_rate=8)
    assert clip.content_type == "video/mp4" and clip.filename.endswith(".mp4")
    assert (clip.width, clip.height, clip.frames) == (512, 512, 12)
    latent = executed_nodes(fake, "EmptyLatentImage")[0]["inputs"]
    assert latent["batch_size"] == 12
    loader = executed_nodes(fake, "ADE_AnimateDiffLoaderGen1")[0]["inputs"]
    assert loader["model_name"] == "mm_sd_v15_v2.ckpt" and loader["context_options"] == ["20", 0]
    assert executed_nodes(fake, "CheckpointLoaderSimple")[0]["inputs"]["ckpt_name"] == "v1-5-pruned-emaonly.safetensors"

    saved = tmp_path / clip.filename
    saved.write_bytes(clip.video)
    video = next(s for s in probe(saved)["streams"] if s["codec_type"] == "video")
    assert video["codec_name"] == "h264" and (video["width"], video["height"]) == (512, 512)
    assert int(video["nb_frames"]) == 12


# --- selection from the environment ---------------------------------------------------------------


def test_backends_select_comfyui_when_its_url_is_set(fake, monkeypatch):
    from dagster import build_resources

    from resources.image_generation import ProceduralArtResource
    from sparklio_pipelines.defs.resources import image_generator_resource

    assert isinstance(image_generator_resource(), ProceduralArtResource)
    monkeypatch.setenv("COMFYUI_URL", fake.url)
    monkeypatch.setenv("COMFYUI_CHECKPOINT", "v1-5-pruned-emaonly.safetensors")
    monkeypatch.setenv("COMFYUI_TIMEOUT_SECONDS", "120")
    configured = image_generator_resource()
    assert isinstance(configured, ComfyUIImageResource)
    with build_resources({"image_generator": configured}) as resources:
        live = resources.image_generator
        assert live.url == fake.url and live.timeout_seconds == 120
        assert live.backend_label == "comfyui:v1-5-pruned-emaonly"
        art = live.generate_background("x", 256, 256, PALETTE, 1)
        assert png_size(art.png) == (256, 256)
    assert executed_nodes(fake, "CheckpointLoaderSimple")[0]["inputs"]["ckpt_name"] == "v1-5-pruned-emaonly.safetensors"
