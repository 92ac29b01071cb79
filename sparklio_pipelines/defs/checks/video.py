"""Video checks: duration, size and audio; loudness."""

import tempfile
from pathlib import Path

import dagster as dg

from resources.database import CampaignDatabaseResource
from resources.object_store import ObjectStoreResource
from sparklio_common.keys import video_key
from sparklio_pipelines.content import quality
from sparklio_pipelines.content.media import probe, summarize
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


def judge_video_format(
    campaign_id: str, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    problems, facts = [], {}
    for language, key in videos(campaign_db, campaign_id).items():
        facts[language] = summarize(probe(object_store.url(key)))
        problems += [f"{key}: {p}" for p in quality.video_problems(facts[language])]
    if not facts:
        problems.append("no video found")
    return result(problems, facts=dg.MetadataValue.json(facts))


@dg.asset_check(
    asset=video, blocking=True, description="15-30 s, 1080x1920, with an audio stream.", retry_policy=SERVICE_RETRY
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
