"""The `image` and `video` assets on the ComfyUI backend, through the real client, against the fake ComfyUI.

A brand kit's style reference makes the art come from the IPAdapter workflow; a brief's product
photo makes one creative set a ControlNet product shot; the video's first slide is an AnimateDiff
clip. Every GPU step ends with POST /free. The fake (tests/support/fake_comfyui.py) logs every
request, so the tests read what the assets really sent. Input images are made here, in tmp_path.
"""

from __future__ import annotations

import io
import json
import subprocess

import dagster as dg
import numpy as np
import pytest
from PIL import Image, ImageDraw

from resources.comfyui import ComfyUIImageResource
from resources.image_generation import ProceduralArtResource
from resources.music import ProceduralMusicResource
from resources.speech import LocalSpeechResource
from sparklio_common.keys import layouts_key
from sparklio_pipelines.campaigns.briefs import store_brief
from sparklio_pipelines.content.brief.parse import parse_brief_data
from sparklio_pipelines.content.brief.schema import BriefError
from sparklio_pipelines.content.creative.layout import CREATIVE_SIZES
from sparklio_pipelines.content.media import ffmpeg_bin, probe, summarize
from sparklio_pipelines.defs.assets.image import image as image_asset
from sparklio_pipelines.defs.assets.video import video as video_asset
from sparklio_pipelines.defs.partitions import CAMPAIGN_PARTITION_NAME
from tests.support.fake_comfyui import FakeComfyUI

ART_NAMES = [*CREATIVE_SIZES, "story-1", "story-2", "story-3"]
IPADAPTER_NODES = {"10": "LoadImage", "11": "IPAdapterUnifiedLoader", "12": "IPAdapterAdvanced"}
CONTROLNET_NODES = {"10": "LoadImage", "11": "CannyEdgePreprocessor", "12": "ControlNetLoader",
                    "13": "ControlNetApplyAdvanced"}
ANIMATEDIFF_NODES = {"20": "ADE_StandardStaticContextOptions", "21": "ADE_AnimateDiffLoaderGen1",
                     "22": "VHS_VideoCombine"}
TXT2IMG_NODES = {"3", "4", "5", "6", "7", "8", "9"}
SCRIPT = "한빛 보리차는 고소하고 따뜻합니다. 카페인이 없어서 밤에도 편안하게 마실 수 있어요. 오늘 한 잔 어떠세요?"
COPY = {"seed": 7, "languages": {"ko": {"shorts": [{
    "script": SCRIPT, "headlines": ["고소한 보리 향", "카페인 없이 편안하게", "오늘 한 잔"]}]}}}


def brief_data(campaign_id: str, **extra) -> dict:
    return {
        "campaign_id": campaign_id, "product": "Hanbit barley tea", "audience": "office workers",
        "key_messages": ["Roasted barley, no caffeine"], "tone": "warm", "languages": ["ko"],
        "channels": ["instagram", "shorts"], "call_to_action": "지금 주문", "start_date": "2026-11-01",
        "end_date": "2026-12-01", **extra,
    }


def save_image(path, color, accent, size=(120, 90), fmt="PNG"):
    """A tiny test image made here: two colour blocks, so a copy of it can be recognised."""
    img = Image.new("RGB", size, color)
    ImageDraw.Draw(img).rectangle((size[0] // 2, 0, size[0], size[1]), fill=accent)
    img.save(path, format=fmt)
    return path


@pytest.fixture
def fake():
    server = FakeComfyUI().start()
    yield server
    server.stop()


@pytest.fixture
def comfyui(fake) -> ComfyUIImageResource:
    return ComfyUIImageResource(url=fake.url, poll_interval_seconds=0.05, request_timeout_seconds=10.0,
                                retry_backoff_seconds=0.05, timeout_seconds=120, max_pixels=256 * 256, steps=4)


@pytest.fixture
def brands(tmp_path, monkeypatch):
    folder = tmp_path / "brands"
    folder.mkdir()
    monkeypatch.setenv("SPARKLIO_BRANDS_DIR", str(folder))
    return folder


def write_kit(brands, reference_name: str | None) -> None:
    lines = ['name: Hanbit', 'palette: ["#2E3B2F", "#E9C46A", "#FFFDF5"]']
    if reference_name:
        lines.append(f"style_reference: {reference_name}")
    (brands / "testkit.yaml").write_text("\n".join(lines) + "\n")


def submitted(data: dict, store, db, base_dir=None):
    """What `sparklio campaign add` does before a run: store the brief (uploading its images), record it."""
    brief, stored = store_brief(parse_brief_data(data), store, base_dir)
    db.upsert_campaign(brief, stored.sha256)
    return brief


def run_asset(asset, campaign_id: str, **inputs) -> dg.Output:
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(CAMPAIGN_PARTITION_NAME, [campaign_id])
    with dg.build_asset_context(partition_key=campaign_id, instance=instance) as context:
        return asset(context, **inputs)


def run_image(brief, comfyui, store, db) -> dg.Output:
    return run_asset(image_asset, brief.campaign_id, brief=brief.model_dump(mode="json"), copy=COPY,
                     image_generator=comfyui, object_store=store, campaign_db=db)


def log_index(fake: FakeComfyUI, method: str, path: str) -> list[int]:
    return [i for i, r in enumerate(fake.requests()) if r.method == method and r.path == path]


def prompt_graphs(fake: FakeComfyUI) -> list[dict]:
    return [r.json["prompt"] for r in fake.requests("POST", "/prompt")]


def has_nodes(graph: dict, nodes: dict[str, str]) -> bool:
    return all(graph.get(node, {}).get("class_type") == cls for node, cls in nodes.items())


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


# --- style reference: IPAdapter ----------------------------------------------------------------------


def test_brand_kit_reference_makes_the_art_from_the_ipadapter_workflow(fake, comfyui, brands, local_store,
                                                                       campaign_db):
    reference = save_image(brands / "look.png", (200, 30, 40), (245, 130, 32))
    write_kit(brands, "look.png")
    brief = submitted(brief_data("kit-style", brand="testkit"), local_store, campaign_db)
    assert brief.brand.style_reference_path == "campaigns/kit-style/input/style-reference.png"

    out = run_image(brief, comfyui, local_store, campaign_db)

    uploads, prompts, frees = (log_index(fake, "POST", p) for p in ("/upload/image", "/prompt", "/free"))
    assert len(prompts) == len(ART_NAMES) and uploads and uploads[0] < prompts[0]
    assert len(frees) == 1 and frees[0] > prompts[-1]  # the model is released when the GPU work ends
    assert fake.free_requests == [{"unload_models": True, "free_memory": True}]
    (subfolder, name), uploaded = next(iter(fake.uploads.items()))
    assert np.array_equal(decoded(uploaded), decoded(reference.read_bytes()))  # the kit's reference, as sent
    for graph in prompt_graphs(fake):
        assert has_nodes(graph, IPADAPTER_NODES)
        assert graph["10"]["inputs"]["image"] == f"{subfolder}/{name}"
        assert graph["12"]["inputs"]["image"] == ["10", 0] and graph["3"]["inputs"]["model"] == ["12", 0]
    workflows = out.metadata["art_workflows"].value
    assert workflows == {n: "ipadapter_style" for n in ART_NAMES}
    assert out.metadata["style_reference"].value == brief.brand.style_reference_path
    assert set(out.value["creatives"]["ko"]) == set(CREATIVE_SIZES)
    assert Image.open(io.BytesIO(local_store.get_bytes(out.value["art"]["story"]))).size == (1080, 1920)


def test_a_new_reference_under_the_same_key_is_not_served_from_cache(fake, comfyui, brands, local_store,
                                                                      campaign_db):
    look = brands / "look.png"
    save_image(look, (200, 30, 40), (245, 130, 32))
    write_kit(brands, "look.png")
    first_brief = submitted(brief_data("kit-recache", brand="testkit"), local_store, campaign_db)
    assert run_image(first_brief, comfyui, local_store, campaign_db).metadata["cached"].value is False

    again = run_image(first_brief, comfyui, local_store, campaign_db)
    assert again.metadata["cached"].value is True and len(fake.requests("POST", "/prompt")) == len(ART_NAMES)

    save_image(look, (20, 60, 160), (120, 190, 235))  # the brand swaps its reference image
    second_brief = submitted(brief_data("kit-recache", brand="testkit"), local_store, campaign_db)
    assert second_brief.canonical_json() == first_brief.canonical_json()  # same brief text, new bytes behind it
    fake.clear_log()
    redone = run_image(second_brief, comfyui, local_store, campaign_db)
    assert redone.metadata["cached"].value is False
    assert len(fake.requests("POST", "/prompt")) == len(ART_NAMES)
    assert len(fake.uploads) == 2  # the new reference went to ComfyUI under its own content name


# --- product photo: ControlNet -----------------------------------------------------------------------


def test_brief_product_photo_makes_one_creative_set_a_controlnet_product_shot(fake, comfyui, tmp_path,
                                                                              local_store, campaign_db):
    folder = tmp_path / "brief-folder"
    folder.mkdir()
    photo = save_image(folder / "bottle.jpg", (250, 250, 250), (20, 20, 20), size=(200, 300), fmt="JPEG")
    data = brief_data("product-shot", product_photo="bottle.jpg",
                      brand={"name": "Hanbit", "palette": ["#2E3B2F", "#E9C46A", "#FFFDF5"]})
    brief = submitted(data, local_store, campaign_db, base_dir=folder)  # a CLI brief: the photo sits beside it
    assert brief.product_photo == "campaigns/product-shot/input/product-photo.jpg"
    assert local_store.get_bytes(brief.product_photo) == photo.read_bytes()

    out = run_image(brief, comfyui, local_store, campaign_db)

    graphs = prompt_graphs(fake)
    product = [g for g in graphs if has_nodes(g, CONTROLNET_NODES)]
    assert len(product) == 1 and len(graphs) == len(ART_NAMES)
    assert all(set(g) == TXT2IMG_NODES for g in graphs if g is not product[0])  # the rest: plain txt2img
    assert not any(has_nodes(g, IPADAPTER_NODES) for g in graphs)
    latent = product[0]["5"]["inputs"]
    assert latent["width"] == latent["height"]  # the instagram square is the product set
    assert "Hanbit barley tea, product photography" in product[0]["6"]["inputs"]["text"]
    uploads, prompts, frees = (log_index(fake, "POST", p) for p in ("/upload/image", "/prompt", "/free"))
    product_prompt = prompts[next(i for i, g in enumerate(graphs) if g is product[0])]
    assert len(uploads) == 1 and uploads[0] < product_prompt
    assert len(frees) == 1 and frees[0] > prompts[-1]
    (_sub, _name), uploaded = next(iter(fake.uploads.items()))
    assert Image.open(io.BytesIO(uploaded)).size == (latent["width"], latent["height"])  # cropped to the frame
    workflows = out.metadata["art_workflows"].value
    assert workflows == {**{n: "txt2img" for n in ART_NAMES}, "square": "controlnet_product"}
    assert out.metadata["product_set"].value == "square"
    assert out.metadata["art_provenance"].value["square"]["product_image"].startswith("sparklio/product-")


# --- video: AnimateDiff -----------------------------------------------------------------------------


def frame_at(path, seconds: float, size=(108, 192)) -> np.ndarray:
    raw = subprocess.run(
        [ffmpeg_bin(), "-v", "error", "-ss", f"{seconds}", "-i", str(path), "-frames:v", "1", "-vf",
         f"scale={size[0]}:{size[1]}:force_original_aspect_ratio=increase,crop={size[0]}:{size[1]}",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True, timeout=120).stdout
    return np.frombuffer(raw, np.uint8).reshape(size[1], size[0], 3).astype(np.int16)


def test_video_first_slide_is_an_animatediff_clip_and_the_model_is_freed(fake, comfyui, tmp_path, local_store,
                                                                         campaign_db):
    brief = submitted(brief_data("clip-video"), local_store, campaign_db)
    # What `image` hands the video (its art and story creative), painted here to keep the test short.
    painter = ProceduralArtResource()
    image_out = {"art": {}, "creatives": {"ko": {}}}
    for i, name in enumerate(["story-1", "story-2", "story-3", "creative"]):
        png = painter.generate_background(name, 1080, 1920, brief.brand.palette, seed=i).png
        key = local_store.put_bytes(f"campaigns/clip-video/image/art/{name}.png", png, "image/png").key
        if name == "creative":
            image_out["creatives"]["ko"]["story"] = key
        else:
            image_out["art"][name] = key
    story_layout = {"ko": {"story": {"size": [1080, 1920], "texts": []}}}  # the creative's text boxes: none here
    local_store.put_bytes(layouts_key(brief.campaign_id), json.dumps(story_layout).encode())

    out = run_asset(video_asset, brief.campaign_id, brief=brief.model_dump(mode="json"), copy=COPY,
                    image=image_out, speech=LocalSpeechResource(), music=ProceduralMusicResource(),
                    image_generator=comfyui,
                    object_store=local_store, campaign_db=campaign_db)

    graphs = prompt_graphs(fake)
    assert len(graphs) == 1 and has_nodes(graphs[0], ANIMATEDIFF_NODES)
    assert graphs[0]["22"]["inputs"]["format"] == "video/h264-mp4"
    assert graphs[0]["5"]["inputs"]["batch_size"] == 16  # frames
    prompts, frees = log_index(fake, "POST", "/prompt"), log_index(fake, "POST", "/free")
    assert len(frees) == 1 and frees[0] > prompts[0]
    clip_facts = out.metadata["opening_clip"].value
    assert out.metadata["first_slide"].value == clip_facts["workflow"] == "animatediff_clip"
    recorded = {r.key for r in campaign_db.outputs(brief.campaign_id, "video")}
    assert clip_facts["key"] == "campaigns/clip-video/video/clip/opening-clip.mp4" and clip_facts["key"] in recorded

    video = tmp_path / "out.mp4"
    local_store.download(out.value["videos"]["ko"], video)
    facts = summarize(probe(video))
    assert (facts["width"], facts["height"]) == (1080, 1920)
    assert 15 <= facts["duration_s"] <= 30 and facts["has_audio"]
    # The opening seconds show the clip, not the still art it replaced (the lower part: no headline there).
    clip = tmp_path / "clip.mp4"
    local_store.download(clip_facts["key"], clip)
    opening = frame_at(video, 0.2)[80:]
    from_clip = frame_at(clip, 0.0)[80:]
    art = tmp_path / "story-1.png"
    local_store.download(image_out["art"]["story-1"], art)
    from_art = frame_at(art, 0.0)[80:]
    assert np.abs(opening - from_clip).mean() < 20 < np.abs(opening - from_art).mean()

    # The video checks judge the finished video, not the 2 s clip stored beside it.
    from types import SimpleNamespace

    from tests.support.checks import judge

    res = SimpleNamespace(object_store=local_store, campaign_db=campaign_db, run_id="test")
    for name in ("video_format", "video_loudness", "video_mix"):
        checked = judge(name, brief.campaign_id, res)
        assert checked.passed, (name, checked.metadata["problems"])
    assert set(judge("video_format", brief.campaign_id, res).metadata["facts"].value) == {"ko 9x16"}


# --- where input images may come from ----------------------------------------------------------------


def test_reference_and_product_photo_are_read_only_from_allowed_folders(brands, tmp_path, local_store):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    secret = save_image(elsewhere / "secret.png", (1, 2, 3), (4, 5, 6))
    palette = {"name": "t", "palette": ["#112233", "#F4B942"]}
    cases = [
        (brief_data("paths", brand={**palette, "style_reference_path": str(secret)}), "brand.style_reference_path"),
        (brief_data("paths", product_photo=str(secret), brand=palette), "product_photo"),
        (brief_data("paths", product_photo="campaigns/other/input/product-photo.png", brand=palette),
         "product_photo"),
        (brief_data("paths", product_photo="missing.png", brand=palette), "product_photo"),
    ]
    for data, field in cases:
        with pytest.raises(BriefError) as caught:
            store_brief(parse_brief_data(data), local_store)  # no base_dir: an uploaded or Launchpad brief
        assert field in str(caught.value)
    with pytest.raises(BriefError, match="product_photo: must not contain '..'"):
        parse_brief_data(brief_data("paths", product_photo="../../etc/passwd.png"))
    (brands / "bad.yaml").write_text('palette: ["#112233", "#F4B942"]\nstyle_reference: ../secret.png\n')
    with pytest.raises(BriefError, match="style_reference: must be a file name relative to the brands folder"):
        parse_brief_data(brief_data("paths", brand="bad"))
    assert not local_store.exists("campaigns/paths/input/style-reference.png")
    assert not local_store.exists("campaigns/paths/input/product-photo.png")
