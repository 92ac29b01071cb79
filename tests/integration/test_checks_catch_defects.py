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


def plant_story_captions(store, db, campaign_id, cue_y: int | None):
    """The 9:16 video's screen text (the story creative as slide 4 from 11.4 s, its headline and CTA low
    in the frame) and an ASS whose last cue is pinned at `cue_y` (None: laid out by place_cues)."""
    from sparklio_common.keys import caption_key, screen_text_key, video_key
    from sparklio_common.model_io import Word
    from sparklio_pipelines.content.captions.cues import Cue
    from sparklio_pipelines.content.captions.formats import to_ass
    from sparklio_pipelines.content.captions.placement import (
        Placement,
        caption_pad,
        place_cues,
    )
    from sparklio_pipelines.content.video.formats import FORMATS
    from sparklio_pipelines.content.video.timeline import ScreenText, VideoLayout

    fmt = FORMATS["9x16"]
    layout = VideoLayout(format="9x16", size=fmt.size, safe_area=fmt.safe_area, caption_zone=fmt.caption_zone,
                         caption_px=fmt.caption_px, duration_s=15.0, slide_starts_s=[0.0, 4.0, 8.0, 11.7], texts=[
                             ScreenText(4, "headline", "Warm and nutty", (65, 1000, 1015, 1340), 11.4, 15.0),
                             ScreenText(4, "cta", "Buy now", (65, 1380, 600, 1536), 11.4, 15.0)])
    cues = [Cue(0, 1.0, 3.0, ["Hanbit barley tea"], [Word("Hanbit", 1.0, 1.5, 1), Word("barley", 1.5, 2.0, 1),
                                                      Word("tea", 2.0, 2.6, 1)]),
            Cue(1, 12.0, 14.0, ["Buy it today"], [Word("Buy", 12.0, 12.5, 1), Word("it", 12.5, 12.8, 1),
                                                   Word("today", 12.8, 13.6, 1)])]
    pad = caption_pad(fmt.caption_px)
    placed = place_cues(cues, layout, "Noto Sans CJK KR", fmt.caption_px, pad)
    if cue_y is not None:
        placed[1] = Placement(2, placed[1].x, cue_y, fmt.caption_px, placed[1].box)
    key = video_key(campaign_id, "en")
    db.replace_outputs(campaign_id, "video", [
        OutputRecord(key, "video", "0" * 64, 1, "video/mp4", language="en", channel="shorts")], None, "x")
    store.put_bytes(screen_text_key(campaign_id, "en"), json.dumps(layout.to_dict()).encode())
    store.put_bytes(caption_key(campaign_id, "en", "ass"),
                    to_ass(cues, font_size=fmt.caption_px, placements=placed).encode())


def test_caption_over_the_creatives_text_is_caught(planted, local_store, campaign_db):
    plant_story_captions(local_store, campaign_db, planted, cue_y=1500)  # the bottom: on the CTA
    found = run_checks(["captions_clear_of_text"], planted, local_store, campaign_db)["captions_clear_of_text"]
    problems = json.dumps(found.metadata["problems"].value)
    assert not found.passed and "9x16 slide 4 at 12.00 s" in problems and "Buy it today" in problems


def test_captions_laid_out_clear_of_text_pass(planted, local_store, campaign_db):
    plant_story_captions(local_store, campaign_db, planted, cue_y=None)
    found = run_checks(["captions_clear_of_text"], planted, local_store, campaign_db)["captions_clear_of_text"]
    assert found.passed, found.metadata["problems"].value


def test_music_as_loud_as_the_voice_is_caught(planted, local_store, campaign_db, tmp_path):
    from sparklio_common.keys import stems_key, video_key

    video, stems = tmp_path / "video.mp4", tmp_path / "stems.wav"
    voice = "0.3*sin(2*PI*200*t)*lt(mod(t\\,2)\\,1.2)"
    subprocess.run([ffmpeg_bin(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=c=black:s=1080x1920:d=16",
                    "-f", "lavfi", "-i", f"aevalsrc={voice}|0.3*sin(2*PI*330*t):d=16:s=16000", "-map", "0:v",
                    "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    str(video)], check=True)
    subprocess.run([ffmpeg_bin(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"aevalsrc={voice}|0.3*sin(2*PI*330*t):d=16:s=16000", str(stems)], check=True)
    stored = local_store.put_file(video_key(planted, "en"), video)
    local_store.put_file(stems_key(planted, "en"), stems)
    campaign_db.replace_outputs(planted, "video", [OutputRecord(stored.key, "video", stored.sha256, stored.size,
                                                                "video/mp4", language="en", channel="shorts")], None, "x")
    found = run_checks(["video_mix"], planted, local_store, campaign_db)["video_mix"]
    problems = json.dumps(found.metadata["problems"].value)
    assert not found.passed and "over the music, need 10 dB" in problems and "dBTP" not in problems
