"""Approving copy: a marketer marks a variant as on-brand, and brand memory learns it.

From the Launchpad: run `approve_copy_job` with the campaign, language, channel and variant.
From a shell: `sparklio copy approve CAMPAIGN LANGUAGE CHANNEL [VARIANT]`.
"""

import json

import dagster as dg
from pydantic import Field

from resources.database import CampaignDatabaseResource
from resources.embeddings import EmbedderResource
from resources.object_store import ObjectStoreResource
from sparklio_pipelines.defs.assets.copy import channel_key
from sparklio_pipelines.campaigns.brand_memory import approve
from sparklio_pipelines.content.brief.schema import Brief
from sparklio_pipelines.campaigns.briefs import brief_input_key
from sparklio_pipelines.content.copy.schemas import CopyDeck


class ApprovalError(ValueError):
    """The variant to approve does not exist."""


def approve_variant(campaign_id: str, language: str, channel: str, variant: str, *, store: ObjectStoreResource,
                    db: CampaignDatabaseResource, embedder: EmbedderResource) -> str:
    """Store the variant's text and embedding as approved copy; returns the text."""
    from sparklio_pipelines.content.quality import main_text

    brief = Brief.model_validate_json(store.get_bytes(brief_input_key(campaign_id)))
    key = channel_key(campaign_id, language, channel)
    if not store.exists(key):
        raise ApprovalError(f"no {channel} copy in {language} for campaign {campaign_id!r} ({key})")
    variants = json.loads(store.get_bytes(key))
    deck = CopyDeck.model_validate({"campaign_id": campaign_id, "model": "", "seed": 0,
                                    "languages": {language: {channel: variants}}})
    chosen = next((v for v in deck.languages[language][channel] if v.variant == variant), None)
    if chosen is None:
        labels = [v.variant for v in deck.languages[language][channel]]
        raise ApprovalError(f"no variant {variant!r} (have {labels})")
    text = main_text(chosen)
    approve(text, brief=brief, language=language, db=db, embedder=embedder)
    return text


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


@dg.job(description="Approve a copy variant: it becomes a few-shot example for the brand's future copy.")
def approve_copy_job():
    approve_copy()
