"""`image`: background art plus composed creatives in every channel size, per language.

Which workflow paints each art: the brief's product photo makes one creative set a product shot
(`product_shot`); with a brand style reference the rest follow its look (`style_from_reference`);
otherwise text to image (`generate_background`). The workflow of each art is in the metadata.
"""

import hashlib
import json

import dagster as dg

from resources.database import CampaignDatabaseResource
from resources.image_generation import ImageGeneratorResource
from resources.object_store import ObjectStoreResource
from sparklio_common.keys import campaign_key, layouts_key
from sparklio_pipelines.campaigns.manifest import fingerprint, output_record
from sparklio_pipelines.content.brief.schema import Brief
from sparklio_pipelines.content.creative.composition import (
    compose_creative,
    thumbnail_png,
)
from sparklio_pipelines.content.creative.layout import CHANNEL_SIZES, CREATIVE_SIZES
from sparklio_pipelines.content.video.formats import formats_for_channels, slide_art
from sparklio_pipelines.defs.assets.common import (
    cached_metadata,
    campaign_asset,
    find_cached,
    publish,
    thumbnail_markdown,
)

# The one creative set that shows the product: the first of these that the brief's channels use.
PRODUCT_SET_PREFERENCE = ("square", "landscape", "portrait", "story")





def art_prompt(brief: Brief) -> str:
    """What a diffusion backend is asked for; text is always composed on top, never generated."""
    return (
        f"{brief.product}, {brief.key_messages[0]}, {brief.tone} mood, clean commercial photography, "
        "soft light, negative space for text, no text, no letters"
    )


def product_prompt(brief: Brief) -> str:
    """The scene around the product photo; the photo's edges keep its composition."""
    return (
        f"{brief.product}, product photography, {brief.tone} mood, {brief.key_messages[0]}, "
        "studio lighting, clean background, no text, no letters"
    )


def product_set_for(brief: Brief) -> str:
    used = {size for channel in brief.channels for size in CHANNEL_SIZES.get(channel, ())}
    return next((name for name in PRODUCT_SET_PREFERENCE if name in used), PRODUCT_SET_PREFERENCE[0])


def sha256_of(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None


def headline_for(copy_deck: dict, language: str) -> str:
    shorts = copy_deck["languages"][language]["shorts"][0]
    return shorts["headlines"][0]


@campaign_asset(
    kinds={"png"},
    gpu=True,
    description="Background art and composed creatives (1080×1080, 1080×1350, 1080×1920, 1920×1080) per language.",
)
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
    reference = object_store.get_bytes(parsed.brand.style_reference_path) if parsed.brand.style_reference_path else None
    product = object_store.get_bytes(parsed.product_photo) if parsed.product_photo else None
    product_set = product_set_for(parsed) if product is not None else None
    headlines = {lang: headline_for(copy, lang) for lang in parsed.languages}
    # The video's slides: story-i, and wide-i (same seed as story-i) when a 16:9 cut is made.
    slides = slide_art(formats_for_channels(parsed.channels))
    # Input files keep their object keys when replaced, so their bytes' hashes go into the fingerprint.
    inputs = fingerprint(
        parsed.canonical_json(), headlines, seed, image_generator.backend_label, [name for name, _, _ in slides],
        {"logo": sha256_of(logo_png), "style_reference": sha256_of(reference), "product_photo": sha256_of(product),
         "product_set": product_set},
    )

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
    art_specs += [(name, size, seed + number) for name, size, number in slides]
    palette = parsed.brand.palette
    art_png: dict[str, bytes] = {}
    art_made: dict[str, dict] = {}
    art_seconds = 0.0
    try:
        for name, (width, height), art_seed in art_specs:
            if name == product_set:
                art = image_generator.product_shot(product_prompt(parsed), product, width, height, art_seed,
                                                   palette=palette)
            elif reference is not None:
                art = image_generator.style_from_reference(prompt, reference, width, height, art_seed,
                                                           palette=palette)
            else:
                art = image_generator.generate_background(prompt, width, height, palette, art_seed)
            art_made[name] = {"workflow": art.params.get("workflow", "unknown"), "backend": art.backend,
                              "seed": art_seed, "seconds": round(art.seconds, 2),
                              **{k: art.params[k] for k in ("prompt_id", "reference_image", "product_image")
                                 if k in art.params}}
            art_seconds += art.seconds
            art_png[name] = art.png
            stored = object_store.put_bytes(campaign_key(campaign_id, "image", "art", f"{name}.png"), art.png, "image/png")
            records.append(output_record(stored, "image"))
            result["art"][name] = stored.key
    finally:
        image_generator.release()

    for language in parsed.languages:
        localized = parsed.localized(language)  # its CTA, and the brand's name as written in the language
        for size_name, size in CREATIVE_SIZES.items():
            png, layout = compose_creative(
                art_png[size_name], size, headlines[language], localized.call_to_action, localized.brand, logo_png
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
        "art_workflows": dg.MetadataValue.json({name: made["workflow"] for name, made in art_made.items()}),
        "art_provenance": dg.MetadataValue.json(art_made),
        "creatives": dg.MetadataValue.md("\n\n".join(thumbs)),
    })
    if reference is not None:
        metadata["style_reference"] = parsed.brand.style_reference_path
    if product_set is not None:
        metadata.update(product_photo=parsed.product_photo, product_set=product_set,
                        product_prompt=product_prompt(parsed))
    return dg.Output(result, metadata=metadata)
