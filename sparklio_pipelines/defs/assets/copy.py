"""`copy`: per-channel, per-language copy with A/B variants, every channel limit enforced."""

import json
from collections import Counter

import dagster as dg

from resources.database import CampaignDatabaseResource
from resources.embeddings import EmbedderResource
from resources.llm import LLMResource
from resources.object_store import ObjectStoreResource
from sparklio_common.keys import channel_key, deck_key
from sparklio_pipelines.campaigns.brand_memory import approved_examples
from sparklio_pipelines.campaigns.manifest import fingerprint, output_record
from sparklio_pipelines.content.brief.schema import Brief
from sparklio_pipelines.content.copy.generate import generate_copy, replace_channels
from sparklio_pipelines.content.copy.limits import limit_problems
from sparklio_pipelines.content.copy.schemas import CopyDeck
from sparklio_pipelines.content.quality import iter_variants
from sparklio_pipelines.defs.assets.common import (
    cached_metadata,
    campaign_asset,
    find_cached,
    load_deck,
    publish,
)

COPY_SEED_TAG = "sparklio/copy_seed"  # the refresh schedule sets a new one for fresh A/B variants
COPY_CHANNELS_TAG = "sparklio/copy_channels"  # "x,email": write these channels anew, keep the others' copy
VARIANTS_PER_CHANNEL = 2


def copy_markdown(deck: CopyDeck) -> str:
    """The copy itself, readable in the asset's metadata panel."""
    lines = []
    for language, channels in deck.languages.items():
        lines.append(f"### {language}")
        for channel, variants in channels.items():
            for variant in variants:
                body = variant.copy_fields()
                text = " / ".join(" ".join(v) if isinstance(v, list) else str(v) for v in body.values())
                lines.append(f"- **{channel} {variant.variant}**: {text}")
    return "\n".join(lines)


@campaign_asset(
    kinds={"json"},
    gpu=True,
    description="Channel copy (Instagram, X, LinkedIn, email, shorts script) in each brief language, A/B variants.",
)
def copy(
    context: dg.AssetExecutionContext,
    brief: dict,
    llm: LLMResource,
    embedder: EmbedderResource,
    object_store: ObjectStoreResource,
    campaign_db: CampaignDatabaseResource,
) -> dg.Output[dict]:
    parsed = Brief.model_validate(brief)
    campaign_id = context.partition_key
    seed = int(context.run.tags.get(COPY_SEED_TAG, "0"))
    only_channels = [c for c in context.run.tags.get(COPY_CHANNELS_TAG, "").split(",") if c]
    examples = approved_examples(parsed, campaign_db, embedder)  # brand memory: approved lines as few-shot
    inputs = fingerprint(parsed.canonical_json(), seed, llm.model_label, VARIANTS_PER_CHANNEL, examples,
                         *(["channels", *only_channels] if only_channels else []))

    cached = find_cached(context, object_store, campaign_db, "copy", inputs)
    if cached is not None:
        deck = load_deck(object_store, campaign_id)
        return dg.Output(deck.model_dump(mode="json"), metadata={
            **cached_metadata(object_store, cached, campaign_id), "copy": dg.MetadataValue.md(copy_markdown(deck)),
        })

    # the published deck the new channels go into; none before the campaign's first copy run
    published = only_channels and object_store.exists(deck_key(campaign_id))
    stored = load_deck(object_store, campaign_id) if published else None
    try:
        deck = generate_copy(parsed, llm, variants=VARIANTS_PER_CHANNEL, seed=seed, approved_examples=examples,
                             log=context.log.info, only_channels=only_channels if stored else None)
    finally:
        llm.release()  # give the model's memory back before the next GPU step
    if stored is not None:
        deck = replace_channels(stored, deck)
        context.log.info(f"wrote {', '.join(only_channels)} anew; the other channels keep their copy")
    problems = limit_problems(deck)
    if problems:  # the generator trims; this is the last guard before anything is stored
        raise dg.Failure(description="Copy exceeds channel limits", metadata={"problems": problems}, allow_retries=False)

    records = []
    for language, channels in deck.languages.items():
        for channel, variants in channels.items():
            body = json.dumps([v.model_dump(mode="json") for v in variants], ensure_ascii=False, indent=2)
            stored = object_store.put_bytes(channel_key(campaign_id, language, channel), body.encode(), "application/json")
            records.append(output_record(stored, "copy", language=language, channel=channel))
    stored = object_store.put_bytes(deck_key(campaign_id), deck.model_dump_json(indent=2).encode(), "application/json")
    records.append(output_record(stored, "copy"))

    calls = deck.calls
    metadata = publish(context, object_store, campaign_db, "copy", records, inputs)
    metadata.update({
        "copy": dg.MetadataValue.md(copy_markdown(deck)),
        "model": deck.model,
        "seed": seed,
        "few_shot_examples": dg.MetadataValue.json(examples),
        "llm_calls": len(calls),
        "prompt_tokens": sum(c.prompt_tokens for c in calls),
        "output_tokens": sum(c.output_tokens for c in calls),
        "model_seconds": deck.total_seconds,
        "calls": dg.MetadataValue.json([c.model_dump() for c in calls]),
        # replies sent back for a claim the brief does not state; none of them is in the deck
        "claims_refused": len(deck.refused_claims),
        "claims_refused_by_kind": dg.MetadataValue.json(dict(Counter(c.kind for c in deck.refused_claims))),
        "writing_strategy": deck.strategy,
    })
    if deck.strategy == "chat":
        metadata.update({
            "final_model": deck.final_model or "",
            "reasks": len(deck.reasks),
            "reasks_by_rule": dg.MetadataValue.json(dict(Counter(r.rule for r in deck.reasks))),
            # variants the model never got right: written from the brief's own words instead
            "fallbacks": len(deck.fallbacks),
            "fallback_variants": dg.MetadataValue.json([f.model_dump() for f in deck.fallbacks]),
            "polished_variants": sum(1 for _l, _c, v in iter_variants(deck) if v.polished_by),
            "translated_variants": sum(1 for _l, _c, v in iter_variants(deck) if v.translated_by),
        })
    return dg.Output(deck.model_dump(mode="json"), metadata=metadata)
