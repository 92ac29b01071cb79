"""Caption checks: coverage of the speech measured on the audio, cue rules, match with the script, and
captions clear of the text on screen in every format."""

import json
import tempfile
from pathlib import Path

import dagster as dg

from resources.database import CampaignDatabaseResource
from resources.object_store import ObjectStoreResource
from sparklio_common.keys import caption_key, screen_text_key, stems_key
from sparklio_common.model_io import Word
from sparklio_pipelines.content import quality
from sparklio_pipelines.content.captions.formats import parse_ass_events
from sparklio_pipelines.content.captions.metrics import (
    cue_problems,
    speech_coverage,
    voiced_intervals,
    word_error_rate,
)
from sparklio_pipelines.content.captions.placement import (
    caption_box,
    caption_pad,
    overlaps,
)
from sparklio_pipelines.content.video.timeline import VideoLayout
from sparklio_pipelines.defs.assets.captions import captions
from sparklio_pipelines.defs.assets.common import SERVICE_RETRY, load_deck
from sparklio_pipelines.defs.checks.common import (
    WARN,
    campaign_of,
    load_brief,
    result,
)
from sparklio_pipelines.defs.checks.video import format_videos, videos
from sparklio_pipelines.defs.retries import retry_transient_only


def caption_sets(store: ObjectStoreResource, db: CampaignDatabaseResource, campaign_id: str):
    """(language, cues, script, source video key) for each captioned language."""
    deck = load_deck(store, campaign_id)
    for language, video_key in videos(db, campaign_id).items():
        srt = store.get_bytes(caption_key(campaign_id, language, "srt")).decode()
        script = deck.languages[language]["shorts"][0].script
        yield language, quality.parse_srt(srt), script, video_key


def judge_captions_cover_speech(
    campaign_id: str, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    problems, coverage = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for language, cues, _, video_key in caption_sets(object_store, campaign_db, campaign_id):
            # the voice alone where the render kept it (stems): under a music bed the mix is never silent
            stems = stems_key(campaign_id, language)
            if object_store.exists(stems):
                intervals = voiced_intervals(object_store.download(stems, Path(tmp) / f"{language}.wav"), channel=0)
            else:
                intervals = voiced_intervals(object_store.download(video_key, Path(tmp) / f"{language}.mp4"))
            speech = [Word("", a, b, 1.0) for a, b in intervals]
            coverage[language] = round(speech_coverage(speech, cues), 3)
            if coverage[language] < 0.9:
                problems.append(f"{language}: captions cover {coverage[language]:.0%} of the speech, need 90%")
    return result(problems, coverage=dg.MetadataValue.json(coverage))


@dg.asset_check(
    asset=captions,
    blocking=True,
    description="Captions are on screen for >= 90% of the speech.",
    retry_policy=SERVICE_RETRY,
)
@retry_transient_only
def captions_cover_speech(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    return judge_captions_cover_speech(campaign_of(context), object_store, campaign_db)


def judge_captions_cue_rules(
    campaign_id: str, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    problems = []
    for language, cues, _, _ in caption_sets(object_store, campaign_db, campaign_id):
        problems += [f"{language}: {p}" for p in cue_problems(cues, language)]
    return result(problems, WARN)


@dg.asset_check(
    asset=captions,
    blocking=False,
    description="Cue rules: <= 2 lines, line length, no overlaps, reading speed.",
    retry_policy=SERVICE_RETRY,
)
@retry_transient_only
def captions_cue_rules(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    return judge_captions_cue_rules(campaign_of(context), object_store, campaign_db)


def judge_captions_match_script(
    campaign_id: str, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    problems, rates = [], {}
    for language, cues, script, _ in caption_sets(object_store, campaign_db, campaign_id):
        rates[language] = round(word_error_rate(script, " ".join(c.text for c in cues), language), 3)
        if rates[language] > 0.2:
            problems.append(f"{language}: word error rate {rates[language]:.2f} against the script")
    return result(problems, WARN, wer=dg.MetadataValue.json(rates))


@dg.asset_check(
    asset=captions,
    blocking=False,
    description="Caption text matches the voiceover script (WER <= 0.2).",
    retry_policy=SERVICE_RETRY,
)
@retry_transient_only
def captions_match_script(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    return judge_captions_match_script(campaign_of(context), object_store, campaign_db)


def caption_boxes(ass_text: str, layout: VideoLayout, font_family: str) -> list[tuple[float, float, str, tuple]]:
    """(start, end, text, box) of every caption event, measured as libass draws it."""
    boxes = []
    for event in parse_ass_events(ass_text):
        if event.pos is None or event.align is None:  # an unpinned event: libass puts it bottom-centre
            sx0, _, sx1, _ = layout.safe_area
            align, (x, y) = 2, ((sx0 + sx1) // 2, layout.caption_zone[3])
        else:
            align, (x, y) = event.align, event.pos
        px = event.size or layout.caption_px
        box = caption_box(event.lines, font_family, px, align, x, y, caption_pad(px))
        boxes.append((event.start, event.end, " ".join(event.lines), box))
    return boxes


def judge_captions_clear_of_text(
    campaign_id: str, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    """Frame by frame, in every format, no caption box covers a headline or a creative's text."""
    problems, checked = [], {}
    font_family = load_brief(object_store, campaign_id).brand.font
    for language, name in format_videos(campaign_db, campaign_id):
        layout = VideoLayout.from_dict(json.loads(object_store.get_bytes(screen_text_key(campaign_id, language, name))))
        ass = object_store.get_bytes(caption_key(campaign_id, language, "ass", name)).decode("utf-8")
        found = overlaps(layout, caption_boxes(ass, layout, font_family))
        checked[f"{language} {name}"] = len(found)
        problems += [f"{language} {overlap.describe()}" for overlap in found]
    if not checked:
        problems.append("no captioned format found")
    return result(problems, overlaps=dg.MetadataValue.json(checked))


@dg.asset_check(
    asset=captions,
    blocking=True,
    description="In every format, frame by frame, captions never cover a headline or a creative's headline/CTA.",
    retry_policy=SERVICE_RETRY,
)
@retry_transient_only
def captions_clear_of_text(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    return judge_captions_clear_of_text(campaign_of(context), object_store, campaign_db)
