"""Tier 3: each asset check catches a planted defect in stored outputs (local store + embedded Postgres)."""

import io
import json
import subprocess
from types import SimpleNamespace

import pytest
from PIL import Image, ImageDraw

from resources.database import OutputRecord
from resources.embeddings import MiniLMEmbedderResource
from sparklio_common.keys import campaign_key, deck_key, layouts_key
from sparklio_pipelines.campaigns.briefs import store_brief
from sparklio_pipelines.content.brief.parse import parse_brief_data
from sparklio_pipelines.content.fonts import find_font
from sparklio_pipelines.content.media import ffmpeg_bin
from tests.support.checks import judge

BRIEF = {
    "product": "한빛 보리차", "audience": "직장인", "key_messages": ["고소한 맛"], "tone": "따뜻한",
    "languages": ["ko", "en"], "channels": ["instagram", "x"], "call_to_action": "구매하기",
    "start_date": "2026-01-01", "end_date": "2026-12-31",
    "brand": {"name": "한빛", "banned_words": ["최고"], "required_terms": ["한빛"]},
}
SCRIPT_EN = " ".join(["Hanbit barley tea is warm and nutty."] * 6)
SCRIPT_KO = "한빛 보리차는 고소하고 따뜻해요. " * 6


def deck(x_text: str = "한빛 보리차, 고소한 하루의 시작.", ko_caption: str = "한빛 보리차로 따뜻한 하루를 시작해요.") -> dict:
    def shorts(script, headlines):
        return [{"channel": "shorts", "variant": "A", "script": script, "headlines": headlines}]

    return {
        "campaign_id": "x", "model": "test", "seed": 0,
        "banned_words": {"ko": ["최고"], "en": ["최고"]}, "required_terms": {"ko": ["한빛"], "en": ["한빛"]},
        "languages": {
            "ko": {
                "instagram": [{"channel": "instagram", "variant": "A", "caption": ko_caption, "hashtags": ["#한빛"]}],
                "x": [{"channel": "x", "variant": "A", "text": x_text}],
                "shorts": shorts(SCRIPT_KO, ["한빛 보리차", "고소한 맛", "지금 구매"]),
            },
            "en": {
                "instagram": [{"channel": "instagram", "variant": "A", "caption": "Hanbit tea, warm and nutty. 한빛",
                               "hashtags": ["#Hanbit"]}],
                "x": [{"channel": "x", "variant": "A", "text": "Hanbit barley tea: warm, nutty. 한빛"}],
                "shorts": shorts(SCRIPT_EN + " 한빛", ["Warm", "Nutty", "Buy now"]),
            },
        },
    }


@pytest.fixture()
def planted(local_store, campaign_db, request):
    campaign_id = "defect-" + request.node.name.split("_", 2)[-1][:30].replace("_", "-")
    brief = parse_brief_data({**BRIEF, "campaign_id": campaign_id})
    _, stored = store_brief(brief, local_store)
    campaign_db.upsert_campaign(brief, stored.sha256)
    return campaign_id


def run_checks(names, campaign_id, store, db) -> dict:
    """Each named check's logic, exactly as its asset check runs it, on the planted outputs."""
    res = SimpleNamespace(object_store=store, campaign_db=db, embedder=MiniLMEmbedderResource(), run_id="test")
    return {name: judge(name, campaign_id, res) for name in names}


def put_deck(store, campaign_id, data):
    store.put_bytes(deck_key(campaign_id), json.dumps({**data, "campaign_id": campaign_id}, ensure_ascii=False).encode())


def test_over_long_x_post_is_caught(planted, local_store, campaign_db):
    put_deck(local_store, planted, deck(x_text="한빛 " + "가" * 300))
    found = run_checks(["copy_channel_limits"], planted, local_store, campaign_db)["copy_channel_limits"]
    assert not found.passed and "ko/x/A/text" in json.dumps(found.metadata["problems"].value, ensure_ascii=False)


def test_korean_banned_word_is_caught(planted, local_store, campaign_db):
    put_deck(local_store, planted, deck(ko_caption="한빛 보리차는 최고의 선택!"))
    found = run_checks(["copy_banned_words"], planted, local_store, campaign_db)["copy_banned_words"]
    problems = json.dumps(found.metadata["problems"].value, ensure_ascii=False)
    assert not found.passed and "ko/instagram/A" in problems and "최고" in problems


def test_unsupported_claim_is_caught_and_named(planted, local_store, campaign_db):
    put_deck(local_store, planted, deck(x_text="한빛 보리차, 100% 유기농 무첨가 보리차."))
    found = run_checks(["copy_claims_supported"], planted, local_store, campaign_db)["copy_claims_supported"]
    problems = json.dumps(found.metadata["problems"].value, ensure_ascii=False)
    assert not found.passed and "ko/x/A/text" in problems and "무첨가" in problems


def test_clean_copy_passes(planted, local_store, campaign_db):
    put_deck(local_store, planted, deck())
    found = run_checks(["copy_channel_limits", "copy_banned_words", "copy_hashtag_count", "copy_claims_supported"],
                       planted, local_store, campaign_db)
    assert all(e.passed for e in found.values()), {k: e.metadata for k, e in found.items()}


def test_low_contrast_text_is_caught(planted, local_store, campaign_db):
    from PIL import ImageFont

    img = Image.new("RGB", (1080, 1080), "#FFFFFF")
    ImageDraw.Draw(img).text((100, 800), "Pale headline", fill="#DDDDDD", font=ImageFont.truetype(str(find_font()), 80))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    key = campaign_key(planted, "image", "en", "square-1080x1080.png")
    stored = local_store.put_bytes(key, buf.getvalue())
    layout = {"size": [1080, 1080], "safe_area": [64, 64, 1016, 1016], "logo_box": None, "texts": [
        {"role": "headline", "text": "Pale headline", "box": [90, 790, 700, 910], "font_px": 80, "lines": ["Pale headline"],
         "fg_hex": "#DDDDDD", "bg_hex": "#FFFFFF", "contrast": 1.4}]}
    layouts = local_store.put_bytes(layouts_key(planted), json.dumps({"en": {"square": layout}}).encode())
    campaign_db.replace_outputs(planted, "image", [
        OutputRecord(key, "image", stored.sha256, stored.size, "image/png", language="en", channel="instagram"),
        OutputRecord(layouts.key, "image", layouts.sha256, layouts.size, "application/json"),
    ], None, "planted")
    found = run_checks(["image_text_contrast", "image_sizes"], planted, local_store, campaign_db)
    assert not found["image_text_contrast"].passed
    assert "headline contrast" in json.dumps(found["image_text_contrast"].metadata["problems"].value)
    assert found["image_sizes"].passed


def test_silent_video_is_caught(planted, local_store, campaign_db, tmp_path):
    silent = tmp_path / "silent.mp4"
    subprocess.run([ffmpeg_bin(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=c=black:s=1080x1920:d=16",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(silent)], check=True)
    key = campaign_key(planted, "video", "en", "video.mp4")
    stored = local_store.put_file(key, silent)
    campaign_db.replace_outputs(planted, "video", [
        OutputRecord(key, "video", stored.sha256, stored.size, "video/mp4", language="en", channel="shorts")], None, "x")
    found = run_checks(["video_format"], planted, local_store, campaign_db)["video_format"]
    assert not found.passed and "no audio stream" in json.dumps(found.metadata["problems"].value)


def test_overlapping_cues_are_caught(planted, local_store, campaign_db, tmp_path):
    put_deck(local_store, planted, deck())
    key = campaign_key(planted, "video", "en", "video.mp4")
    campaign_db.replace_outputs(planted, "video", [
        OutputRecord(key, "video", "0" * 64, 1, "video/mp4", language="en", channel="shorts")], None, "x")
    srt = ("1\n00:00:01,000 --> 00:00:03,500\nHanbit barley tea is warm\n\n"
           "2\n00:00:03,000 --> 00:00:05,000\nand nutty.\n")
    local_store.put_bytes(campaign_key(planted, "captions", "en", "captions.srt"), srt.encode())
    found = run_checks(["captions_cue_rules"], planted, local_store, campaign_db)["captions_cue_rules"]
    assert not found.passed and "overlaps" in json.dumps(found.metadata["problems"].value)
