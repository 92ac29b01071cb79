"""Copy checks: channel limits, brand rules, language, near-duplicates of earlier copy."""

import dagster as dg

from resources.database import CampaignDatabaseResource
from resources.embeddings import EmbedderResource
from resources.object_store import ObjectStoreResource
from sparklio_pipelines.campaigns.brand_memory import near_duplicates
from sparklio_pipelines.content import quality
from sparklio_pipelines.content.copy.claims import claims_problems
from sparklio_pipelines.defs.assets.common import SERVICE_RETRY, load_deck
from sparklio_pipelines.defs.assets.copy import copy
from sparklio_pipelines.defs.checks.common import (
    ERROR,
    WARN,
    campaign_of,
    load_brief,
    result,
)
from sparklio_pipelines.defs.retries import retry_transient_only


def judge_copy_channel_limits(campaign_id: str, object_store: ObjectStoreResource) -> dg.AssetCheckResult:
    return result(quality.copy_limit_problems(load_deck(object_store, campaign_id)))


@dg.asset_check(
    asset=copy,
    blocking=True,
    description="Every channel limit: lengths, script words, headlines.",
    retry_policy=SERVICE_RETRY,
)
@retry_transient_only
def copy_channel_limits(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStoreResource
) -> dg.AssetCheckResult:
    return judge_copy_channel_limits(campaign_of(context), object_store)


def judge_copy_banned_words(campaign_id: str, object_store: ObjectStoreResource) -> dg.AssetCheckResult:
    deck, brief = load_deck(object_store, campaign_id), load_brief(object_store, campaign_id)
    return result(quality.banned_word_problems(deck, brief))


@dg.asset_check(
    asset=copy,
    blocking=True,
    description="No banned word (case-insensitive, Hangul aware).",
    retry_policy=SERVICE_RETRY,
)
@retry_transient_only
def copy_banned_words(context: dg.AssetCheckExecutionContext, object_store: ObjectStoreResource) -> dg.AssetCheckResult:
    return judge_copy_banned_words(campaign_of(context), object_store)


def judge_copy_claims_supported(campaign_id: str, object_store: ObjectStoreResource) -> dg.AssetCheckResult:
    deck, brief = load_deck(object_store, campaign_id), load_brief(object_store, campaign_id)
    return result(claims_problems(deck, brief))


@dg.asset_check(
    asset=copy,
    blocking=True,
    description="No claim the brief does not support: figures with their units, superlatives, health and"
    " certification claims, guarantees (the claim and the variant are named).",
    retry_policy=SERVICE_RETRY,
)
@retry_transient_only
def copy_claims_supported(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStoreResource
) -> dg.AssetCheckResult:
    return judge_copy_claims_supported(campaign_of(context), object_store)


def judge_copy_required_terms(campaign_id: str, object_store: ObjectStoreResource) -> dg.AssetCheckResult:
    deck, brief = load_deck(object_store, campaign_id), load_brief(object_store, campaign_id)
    return result(quality.required_term_problems(deck, brief))


@dg.asset_check(
    asset=copy, blocking=True, description="Every post carries the brand's required terms.", retry_policy=SERVICE_RETRY
)
@retry_transient_only
def copy_required_terms(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStoreResource
) -> dg.AssetCheckResult:
    return judge_copy_required_terms(campaign_of(context), object_store)


def judge_copy_hashtag_count(campaign_id: str, object_store: ObjectStoreResource) -> dg.AssetCheckResult:
    return result(quality.hashtag_problems(load_deck(object_store, campaign_id)))


@dg.asset_check(asset=copy, blocking=True, description="At most 30 hashtags per post.", retry_policy=SERVICE_RETRY)
@retry_transient_only
def copy_hashtag_count(
    context: dg.AssetCheckExecutionContext, object_store: ObjectStoreResource
) -> dg.AssetCheckResult:
    return judge_copy_hashtag_count(campaign_of(context), object_store)


def judge_copy_language(campaign_id: str, object_store: ObjectStoreResource) -> dg.AssetCheckResult:
    deck = load_deck(object_store, campaign_id)
    # An instruct model was re-asked until the language was right, so a wrong one blocks; the tiny
    # embedded base model is only warned about (its copy falls back to the brief's own words anyway).
    return result(quality.language_problems(deck), ERROR if deck.strategy == "chat" else WARN,
                  writing_strategy=deck.strategy)


@dg.asset_check(
    asset=copy,
    blocking=True,  # blocks only at ERROR severity: copy from an instruct model
    description="Copy is in the requested language (Hangul ratio for ko); blocking for an instruct model.",
    retry_policy=SERVICE_RETRY,
)
@retry_transient_only
def copy_language(context: dg.AssetCheckExecutionContext, object_store: ObjectStoreResource) -> dg.AssetCheckResult:
    return judge_copy_language(campaign_of(context), object_store)


def judge_copy_not_near_duplicate(
    campaign_id: str,
    object_store: ObjectStoreResource,
    campaign_db: CampaignDatabaseResource,
    embedder: EmbedderResource,
    run_id: str = "",
) -> dg.AssetCheckResult:
    problems = near_duplicates(
        load_deck(object_store, campaign_id),
        load_brief(object_store, campaign_id),
        db=campaign_db,
        embedder=embedder,
        run_id=run_id,
    )
    return result(problems, WARN, embedding_model=embedder.model_label)


@dg.asset_check(
    asset=copy,
    blocking=False,
    description="No line is a near-duplicate (cosine >= 0.95) of earlier copy for the brand.",
    retry_policy=SERVICE_RETRY,
)
@retry_transient_only
def copy_not_near_duplicate(
    context: dg.AssetCheckExecutionContext,
    object_store: ObjectStoreResource,
    campaign_db: CampaignDatabaseResource,
    embedder: EmbedderResource,
) -> dg.AssetCheckResult:
    return judge_copy_not_near_duplicate(
        campaign_of(context), object_store, campaign_db, embedder, run_id=context.run.run_id
    )
