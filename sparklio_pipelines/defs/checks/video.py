"""Video checks: duration, size and audio of every format; loudness; the voice over the music bed."""

import tempfile
from pathlib import Path

import dagster as dg

from resources.database import CampaignDatabaseResource
from resources.object_store import ObjectStoreResource
from sparklio_common.keys import stems_key, video_key
from sparklio_pipelines.content import quality
from sparklio_pipelines.content.media import probe, summarize
from sparklio_pipelines.content.video.audio import judge_stems, measure_loudness
from sparklio_pipelines.content.video.formats import FORMATS
from sparklio_pipelines.content.video.mix import LOUDNESS_LUFS, MAX_FADE_S
from sparklio_pipelines.defs.assets.common import SERVICE_RETRY
from sparklio_pipelines.defs.assets.video import video
from sparklio_pipelines.defs.checks.common import WARN, campaign_of, result
from sparklio_pipelines.defs.retries import retry_transient_only


def videos(db: CampaignDatabaseResource, campaign_id: str) -> dict[str, str]:
    """Each language's finished video; not the other .mp4 the asset stores (ComfyUI's opening clip)."""
    return {
        rec.language: rec.key
        for rec in db.outputs(campaign_id, "video")
        if rec.language and rec.key == video_key(campaign_id, rec.language)
    }


def format_videos(db: CampaignDatabaseResource, campaign_id: str) -> dict[tuple[str, str], str]:
    """(language, format) -> key of every format's finished video."""
    records = [rec for rec in db.outputs(campaign_id, "video") if rec.language]
    stored = {rec.key for rec in records}
    return {
        (language, name): video_key(campaign_id, language, name)
        for language in sorted({r.language for r in records})
        for name in FORMATS
        if video_key(campaign_id, language, name) in stored
    }


def judge_video_format(
    campaign_id: str, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    problems, facts = [], {}
    for (language, name), key in sorted(format_videos(campaign_db, campaign_id).items()):
        facts[f"{language} {name}"] = summarize(probe(object_store.url(key)))
        problems += [f"{key}: {p}" for p in quality.video_problems(facts[f"{language} {name}"], FORMATS[name].size)]
    if not facts:
        problems.append("no video found")
    return result(problems, facts=dg.MetadataValue.json(facts))


@dg.asset_check(
    asset=video,
    blocking=True,
    description="Every format: 15-30 s, its size (1080x1920, 1080x1080, 1920x1080), an audio stream.",
    retry_policy=SERVICE_RETRY,
)
@retry_transient_only
def video_format(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    return judge_video_format(campaign_of(context), object_store, campaign_db)


def judge_video_loudness(
    campaign_id: str, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    problems, measured = [], {}
    low, high = quality.LOUDNESS_RANGE_LUFS
    with tempfile.TemporaryDirectory() as tmp:
        for language, key in videos(campaign_db, campaign_id).items():
            lufs = quality.integrated_loudness(object_store.download(key, Path(tmp) / f"{language}.mp4"))
            measured[language] = lufs
            if not low <= lufs <= high:
                problems.append(f"{key}: {lufs:.1f} LUFS, want {low:.0f}..{high:.0f}")
    return result(problems, WARN, lufs=dg.MetadataValue.json(measured))


@dg.asset_check(
    asset=video,
    blocking=False,
    description="Integrated loudness within -20..-12 LUFS (EBU R128).",
    retry_policy=SERVICE_RETRY,
)
@retry_transient_only
def video_loudness(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    return judge_video_loudness(campaign_of(context), object_store, campaign_db)


TRUE_PEAK_LIMIT_DBTP = -1.0
LOUDNESS_TOLERANCE_LU = 1.0


def judge_video_mix(
    campaign_id: str, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    """-14 LUFS integrated (+-1 LU) and true peak <= -1 dBTP; with a music bed, the voice >= 10 dB over
    it on every voiced span and the bed audible in the pauses, measured on the stems that were mixed."""
    problems, measured = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for language, key in videos(campaign_db, campaign_id).items():
            loudness = measure_loudness(object_store.download(key, Path(tmp) / f"{language}.mp4"))
            facts = {"integrated_lufs": loudness.integrated_lufs, "true_peak_dbtp": loudness.true_peak_dbtp}
            if abs(loudness.integrated_lufs - LOUDNESS_LUFS) > LOUDNESS_TOLERANCE_LU:
                problems.append(f"{key}: {loudness.integrated_lufs:.1f} LUFS integrated, want {LOUDNESS_LUFS:.0f}")
            if loudness.true_peak_dbtp > TRUE_PEAK_LIMIT_DBTP:
                problems.append(
                    f"{key}: true peak {loudness.true_peak_dbtp:.1f} dBTP, limit {TRUE_PEAK_LIMIT_DBTP:.0f}"
                )
            if object_store.exists(stems_key(campaign_id, language)):
                stems = object_store.download(stems_key(campaign_id, language), Path(tmp) / f"{language}-stems.wav")
                report = judge_stems(stems, fade_s=MAX_FADE_S)
                facts.update(
                    voice_over_bed_min_db=report.min_margin_db, voiced_spans=len(report.spans), pauses=report.pauses
                )
                problems += [f"{language}: {p}" for p in report.problems]
            else:
                facts["music"] = "none"
            measured[language] = facts
    return result(problems, mix=dg.MetadataValue.json(measured))


@dg.asset_check(
    asset=video,
    blocking=True,
    description="Mix at -14 LUFS, true peak <= -1 dBTP; voice >= 10 dB over the music on every voiced span, "
    "music audible in the pauses.",
    retry_policy=SERVICE_RETRY,
)
@retry_transient_only
def video_mix(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    return judge_video_mix(campaign_of(context), object_store, campaign_db)
