"""`captions`: faster-whisper word timings as SRT/VTT/word JSON, and a copy of the video with them burned in."""

import tempfile
from pathlib import Path

import dagster as dg

from resources.database import CampaignDatabaseResource
from resources.object_store import ObjectStoreResource
from resources.transcription import TranscriberResource
from sparklio_common.keys import CAPTION_FILES, caption_key
from sparklio_pipelines.campaigns.manifest import fingerprint, output_record
from sparklio_pipelines.content.brief.schema import Brief
from sparklio_pipelines.content.captions.captioning import caption_video
from sparklio_pipelines.defs.assets.common import (
    cached_metadata,
    campaign_asset,
    find_cached,
    publish,
)
from sparklio_pipelines.defs.links import browser_url


@campaign_asset(
    kinds={"srt", "vtt", "mp4"},
    gpu=True,
    description="Captions from faster-whisper word timings, aligned to the script; SRT, VTT, word JSON, burned-in MP4.",
)
def captions(
    context: dg.AssetExecutionContext,
    brief: dict,
    video: dict,
    transcriber: TranscriberResource,
    object_store: ObjectStoreResource,
    campaign_db: CampaignDatabaseResource,
) -> dg.Output[dict]:
    parsed = Brief.model_validate(brief)
    campaign_id = context.partition_key
    video_hashes = {lang: object_store.head(key).sha256 for lang, key in video["videos"].items()}
    hotwords = [parsed.product, *parsed.brand.required_terms] + ([parsed.brand.name] if parsed.brand.name else [])
    inputs = fingerprint(video_hashes, video["scripts"], hotwords, parsed.brand.palette, parsed.brand.font)

    cached = find_cached(context, object_store, campaign_db, "captions", inputs)
    if cached is not None:
        burned = {rec.language: rec.key for rec in cached if rec.key.endswith(CAPTION_FILES["burned"])}
        return dg.Output({"captioned_videos": burned}, metadata=cached_metadata(object_store, cached, campaign_id))

    records, burned, quality = [], {}, {}
    with tempfile.TemporaryDirectory(prefix="sparklio-captions-") as tmp:
        for language, key in video["videos"].items():
            work = Path(tmp) / language
            work.mkdir()
            source = object_store.download(key, work / "video.mp4")
            result = caption_video(
                source, work, transcriber=transcriber, language=language, script=video["scripts"][language],
                hotwords=hotwords, font_family=parsed.brand.font,
                primary_hex=parsed.brand.palette[2] if len(parsed.brand.palette) > 2 else "#FFFFFF",
                highlight_hex=parsed.brand.palette[1],
            )
            for kind, path in result.files.items():
                stored = object_store.put_file(caption_key(campaign_id, language, kind), path)
                records.append(output_record(stored, "captions", language=language, channel="shorts"))
                if kind == "burned":
                    burned[language] = stored.key
            quality[language] = {
                "coverage": round(result.coverage, 3),
                "wer_vs_script": round(result.wer_vs_script or 0.0, 3),
                "cues": result.cue_count,
                "problems": result.problems,
                "transcribe_seconds": round(result.transcribe_seconds, 2),
                "burn_seconds": round(result.burn_seconds, 2),
                "model": result.model,
            }
            context.log.info(f"captions {language}: {quality[language]}")

    metadata = publish(context, object_store, campaign_db, "captions", records, inputs)
    for language, key in burned.items():
        metadata[f"captioned_video_{language}"] = dg.MetadataValue.url(browser_url(object_store, key))
    metadata["quality"] = dg.MetadataValue.json(quality)
    metadata["model_seconds"] = round(sum(q["transcribe_seconds"] for q in quality.values()), 2)
    metadata["encode_seconds"] = round(sum(q["burn_seconds"] for q in quality.values()), 2)
    return dg.Output({"captioned_videos": burned, "quality": quality}, metadata=metadata)
