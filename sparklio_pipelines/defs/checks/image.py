"""Creative checks: exact sizes, text contrast measured on pixels, safe area, logo."""

import json

import dagster as dg

from resources.database import CampaignDatabaseResource
from resources.object_store import ObjectStoreResource
from sparklio_common.keys import layouts_key
from sparklio_pipelines.content import quality
from sparklio_pipelines.content.creative.color import (
    MIN_CONTRAST,
    measure_text_contrast,
)
from sparklio_pipelines.content.creative.layout import CREATIVE_SIZES
from sparklio_pipelines.defs.assets.common import SERVICE_RETRY
from sparklio_pipelines.defs.assets.image import image
from sparklio_pipelines.defs.checks.common import WARN, campaign_of, load_brief, result
from sparklio_pipelines.defs.retries import retry_transient_only


def creatives(store: ObjectStoreResource, db: CampaignDatabaseResource, campaign_id: str):
    layouts = json.loads(store.get_bytes(layouts_key(campaign_id)))
    for rec in db.outputs(campaign_id, "image"):
        if rec.language:
            size_name = rec.key.rsplit("/", 1)[-1].split("-")[0]
            yield rec.key, store.get_bytes(rec.key), layouts[rec.language][size_name], size_name


def judge_image_sizes(
    campaign_id: str, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    problems, count = [], 0
    for key, png, _, size_name in creatives(object_store, campaign_db, campaign_id):
        count += 1
        actual = quality.image_size(png)
        if actual != CREATIVE_SIZES[size_name]:
            problems.append(f"{key}: {actual[0]}x{actual[1]}, need {CREATIVE_SIZES[size_name]}")
    if count == 0:
        problems.append("no creatives found")
    return result(problems, creatives_checked=count)


@dg.asset_check(
    asset=image, blocking=True, description="Every creative has its channel size exactly.", retry_policy=SERVICE_RETRY
)
@retry_transient_only
def image_sizes(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    return judge_image_sizes(campaign_of(context), object_store, campaign_db)


def judge_image_text_contrast(
    campaign_id: str, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    problems, lowest = [], None
    for key, png, layout, _ in creatives(object_store, campaign_db, campaign_id):
        for text, ratio in zip(layout["texts"], measure_text_contrast(png, layout)):
            lowest = ratio if lowest is None else min(lowest, ratio)
            if ratio < MIN_CONTRAST:
                problems.append(f"{key}: {text['role']} contrast {ratio:.2f}:1 < {MIN_CONTRAST}:1")
    return result(problems, lowest_contrast=round(lowest or 0.0, 2))


@dg.asset_check(
    asset=image,
    blocking=True,
    description="Text contrast meets WCAG AA (4.5:1), measured on pixels.",
    retry_policy=SERVICE_RETRY,
)
@retry_transient_only
def image_text_contrast(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    return judge_image_text_contrast(campaign_of(context), object_store, campaign_db)


def judge_image_text_in_safe_area(
    campaign_id: str, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    problems = []
    for key, _, layout, _ in creatives(object_store, campaign_db, campaign_id):
        problems += quality.safe_area_problems(layout, key)
    return result(problems)


@dg.asset_check(asset=image, blocking=True, description="All text inside the safe area.", retry_policy=SERVICE_RETRY)
@retry_transient_only
def image_text_in_safe_area(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    return judge_image_text_in_safe_area(campaign_of(context), object_store, campaign_db)


def judge_image_logo_present(
    campaign_id: str, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    if not load_brief(object_store, campaign_id).brand.logo_path:
        return result([], WARN, note="brand kit has no logo")
    problems = [
        f"{key}: no logo"
        for key, _, layout, _ in creatives(object_store, campaign_db, campaign_id)
        if not layout.get("logo_box")
    ]
    return result(problems, WARN)


@dg.asset_check(
    asset=image,
    blocking=False,
    description="The logo is on every creative when the brand kit has one.",
    retry_policy=SERVICE_RETRY,
)
@retry_transient_only
def image_logo_present(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.AssetCheckResult:
    return judge_image_logo_present(campaign_of(context), object_store, campaign_db)
