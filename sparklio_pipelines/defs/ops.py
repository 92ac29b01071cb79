"""The ops behind the non-asset jobs: registering a campaign from the Launchpad, approving copy.

`launch_campaign_job`'s config is the brief (every field described, every field defaulted). Its step
stores the brief and adds the partition; `launched_campaign_sensor` then runs the campaign.
"""

import datetime as dt

import dagster as dg
from pydantic import Field

from resources.database import CampaignDatabaseResource
from resources.embeddings import EmbedderResource
from resources.object_store import ObjectStoreResource
from sparklio_pipelines.campaigns.approvals import ApprovalError, approve_variant
from sparklio_pipelines.campaigns.briefs import store_brief
from sparklio_pipelines.content.brief.parse import parse_brief_data
from sparklio_pipelines.content.brief.schema import BriefError
from sparklio_pipelines.defs.partitions import CAMPAIGN_PARTITION_NAME

LAUNCHED_TAG = "sparklio/launched_campaign"


class BrandConfig(dg.Config):
    name: str = Field(default="Sparklio Demo", description="Brand name shown on creatives")
    palette: list[str] = Field(default=["#1F2A44", "#F4B942", "#FFFFFF"],
                               description="Hex colors: background (dark) first, accent second, text third")
    font: str = Field(default="Noto Sans CJK KR", description="Font family; must support Hangul for Korean")
    logo_path: str = Field(default="", description="Object key of a logo PNG already in storage (optional)")
    voice_notes: str = Field(default="Friendly, clear, no hype.", description="How the brand sounds")
    banned_words: list[str] = Field(default=[], description="Words the copy must never use")
    required_terms: list[str] = Field(default=[], description="Terms every post must include")


class CampaignBriefConfig(dg.Config):
    campaign_id: str = Field(default="new-campaign", description="Lowercase slug: letters, digits and '-'")
    product: str = Field(default="Sparklio Sample Product", description="What is being promoted")
    audience: str = Field(default="Busy professionals aged 25-40", description="Who the campaign speaks to")
    key_messages: list[str] = Field(default=["Saves you time every day", "Made with care"],
                                    description="1-6 points every channel should carry")
    tone: str = Field(default="warm, confident", description="Tone of voice")
    languages: list[str] = Field(default=["en"], description="Output languages: ko, en, or both")
    channels: list[str] = Field(default=["instagram", "x", "linkedin", "email", "shorts"],
                                description="Any of instagram, x, linkedin, email, shorts")
    call_to_action: str = Field(default="Learn more", description="Button and closing line")
    start_date: str = Field(default_factory=lambda: dt.date.today().isoformat(), description="YYYY-MM-DD")
    end_date: str = Field(default_factory=lambda: (dt.date.today() + dt.timedelta(days=30)).isoformat(),
                          description="YYYY-MM-DD, on or after start_date")
    brand: BrandConfig = Field(default_factory=BrandConfig, description="Brand kit")


@dg.op(description="Validate the brief, store it, record the campaign and add its partition.")
def register_campaign(
    context: dg.OpExecutionContext,
    config: CampaignBriefConfig,
    object_store: ObjectStoreResource,
    campaign_db: CampaignDatabaseResource,
) -> str:
    data = config.model_dump()
    if not data["brand"]["logo_path"]:
        data["brand"]["logo_path"] = None
    try:
        brief = parse_brief_data(data, "launchpad config")
    except BriefError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    brief, stored = store_brief(brief, object_store)
    campaign_db.upsert_campaign(brief, stored.sha256)
    if not context.instance.has_dynamic_partition(CAMPAIGN_PARTITION_NAME, brief.campaign_id):
        context.instance.add_dynamic_partitions(CAMPAIGN_PARTITION_NAME, [brief.campaign_id])
    context.instance.add_run_tags(context.run_id, {LAUNCHED_TAG: brief.campaign_id})
    context.log.info(f"Campaign {brief.campaign_id} registered; its run starts next")
    return brief.campaign_id


class ApprovalConfig(dg.Config):
    campaign_id: str = Field(description="The campaign whose copy you approve")
    language: str = Field(default="en", description="ko or en")
    channel: str = Field(default="instagram", description="instagram, x, linkedin, email or shorts")
    variant: str = Field(default="A", description="The A/B variant label")


@dg.op(description="Store an approved variant in brand memory (pgvector), per brand and language.")
def approve_copy(context: dg.OpExecutionContext, config: ApprovalConfig, object_store: ObjectStoreResource,
                 campaign_db: CampaignDatabaseResource, embedder: EmbedderResource) -> None:
    try:
        text = approve_variant(config.campaign_id, config.language, config.channel, config.variant,
                               store=object_store, db=campaign_db, embedder=embedder)
    except ApprovalError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    context.log.info(f"Approved: {text}")
