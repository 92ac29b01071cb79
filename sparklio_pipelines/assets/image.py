"""`image`: background art plus composed creatives in every channel size, per language."""

import json

import dagster as dg

from resources.database import CampaignDatabaseResource
from resources.image_generation import ImageGeneratorResource
from resources.object_store import ObjectStoreResource
from sparklio_pipelines.assets.common import (
    CAMPAIGN_GROUP, SERVICE_RETRY, cached_metadata, find_cached, publish, thumbnail_markdown,
)
from sparklio_pipelines.brief import Brief
from sparklio_pipelines.creatives import CHANNEL_SIZES, CREATIVE_SIZES, compose_creative, thumbnail_png
from sparklio_pipelines.keys import campaign_key
from sparklio_pipelines.manifest import fingerprint, output_record
from sparklio_pipelines.partitions import campaign_partitions
from sparklio_pipelines.retries import retry_transient_only

VIDEO_ART_SLIDES = 3  # extra 9:16 backgrounds the video cuts between


def layouts_key(campaign_id: str) -> str:
    """Where each creative's text boxes, colors and safe area are recorded, for the image checks."""
    return campaign_key(campaign_id, "image", "layouts.json")


def art_prompt(brief: Brief) -> str:
    """What a diffusion backend is asked for; text is always composed on top, never generated."""
    return (
        f"{brief.product}, {brief.key_messages[0]}, {brief.tone} mood, clean commercial photography, "
        "soft light, negative space for text, no text, no letters"
    )


def headline_for(copy_deck: dict, language: str) -> str:
    shorts = copy_deck["languages"][language]["shorts"][0]
    return shorts["headlines"][0]


@dg.asset(
    partitions_def=campaign_partitions,
    group_name=CAMPAIGN_GROUP,
    kinds={"png"},
    pool="gpu",
    retry_policy=SERVICE_RETRY,
    description="Background art and composed creatives (1080×1080, 1080×1350, 1080×1920, 1920×1080) per language.",
)
@retry_transient_only
def image(
    context: dg.AssetExecutionContext,
    brief: dict,
    copy: dict,
    image_generator: ImageGeneratorResource,
    object_store: ObjectStoreResource,
    campaign_db: CampaignDatabaseResource,
) -> dg.Output[dict]:
    parsed = Brief.model_validate(brief)
    campaign_id = context.partition_key
    seed = int(copy.get("seed", 0))
    logo_png = object_store.get_bytes(parsed.brand.logo_path) if parsed.brand.logo_path else None
    headlines = {lang: headline_for(copy, lang) for lang in parsed.languages}
    inputs = fingerprint(parsed.canonical_json(), headlines, seed, image_generator.backend_label, logo_png is not None)

    result = {"backend": image_generator.backend_label, "art": {}, "creatives": {}, "layouts": {}}
    cached = find_cached(context, object_store, campaign_db, "image", inputs)
    if cached is not None:
        for rec in cached:
            name = rec.key.rsplit("/", 1)[-1]
            if rec.language:
                result["creatives"].setdefault(rec.language, {})[name.split("-")[0]] = rec.key
            elif "/art/" in rec.key:
                result["art"][name.removesuffix(".png")] = rec.key
        return dg.Output(result, metadata=cached_metadata(object_store, cached, campaign_id))

    records, thumbs = [], []
    prompt = art_prompt(parsed)
    art_specs = [(name, size, seed) for name, size in CREATIVE_SIZES.items()]
    art_specs += [(f"story-{i}", CREATIVE_SIZES["story"], seed + i) for i in range(1, VIDEO_ART_SLIDES + 1)]
    art_png: dict[str, bytes] = {}
    art_seconds = 0.0
    try:
        for name, (width, height), art_seed in art_specs:
            art = image_generator.generate_background(prompt, width, height, parsed.brand.palette, art_seed)
            art_seconds += art.seconds
            art_png[name] = art.png
            stored = object_store.put_bytes(campaign_key(campaign_id, "image", "art", f"{name}.png"), art.png, "image/png")
            records.append(output_record(stored, "image"))
            result["art"][name] = stored.key
    finally:
        image_generator.release()

    for language in parsed.languages:
        for size_name, size in CREATIVE_SIZES.items():
            png, layout = compose_creative(
                art_png[size_name], size, headlines[language], parsed.call_to_action, parsed.brand, logo_png
            )
            key = campaign_key(campaign_id, "image", language, f"{size_name}-{size[0]}x{size[1]}.png")
            stored = object_store.put_bytes(key, png, "image/png")
            channels = [c for c, sizes in CHANNEL_SIZES.items() if size_name in sizes]
            records.append(output_record(stored, "image", language=language, channel=",".join(channels)))
            result["creatives"].setdefault(language, {})[size_name] = stored.key
            result["layouts"].setdefault(language, {})[size_name] = layout.to_dict()
            thumbs.append(f"**{language} {size_name}** {size[0]}×{size[1]}\n\n{thumbnail_markdown(thumbnail_png(png, 200), size_name)}")

    layouts = json.dumps(result["layouts"], ensure_ascii=False, indent=1).encode()
    records.append(output_record(object_store.put_bytes(layouts_key(campaign_id), layouts, "application/json"), "image"))
    metadata = publish(context, object_store, campaign_db, "image", records, inputs)
    metadata.update({
        "backend": image_generator.backend_label,
        "art_prompt": prompt,
        "art_seconds": round(art_seconds, 2),
        "creatives": dg.MetadataValue.md("\n\n".join(thumbs)),
    })
    return dg.Output(result, metadata=metadata)
