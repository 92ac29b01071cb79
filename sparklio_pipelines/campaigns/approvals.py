"""Approving copy: a marketer marks a variant as on-brand, and brand memory learns it.

From the Studio, the Launchpad (`approve_copy_job`) or a shell: `sparklio copy approve CAMPAIGN LANGUAGE CHANNEL [VARIANT]`.
"""

import json

from resources.database import CampaignDatabaseResource
from resources.embeddings import EmbedderResource
from resources.object_store import ObjectStoreResource
from sparklio_common.keys import brief_input_key, channel_key
from sparklio_pipelines.campaigns.brand_memory import approve
from sparklio_pipelines.content.brief.schema import Brief
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
