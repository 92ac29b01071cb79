"""`captions`: faster-whisper word timings as SRT/VTT/word JSON, and every format's video with them burned in.

The 9:16 video is transcribed (every format has the same audio); each format gets its own ASS in
the brand's caption style, laid out clear of the text on its screen (its screen-text record).
"""

import json
import tempfile
from pathlib import Path

import dagster as dg

from resources.database import CampaignDatabaseResource
from resources.object_store import ObjectStoreResource
from resources.transcription import TranscriberResource
from sparklio_common.keys import FORMAT_CAPTION_KINDS, caption_key, screen_text_key
from sparklio_pipelines.campaigns.manifest import fingerprint, output_record
from sparklio_pipelines.content.brief.schema import Brief
from sparklio_pipelines.content.captions.captioning import caption_video
from sparklio_pipelines.content.captions.placement import CaptionLayoutError
from sparklio_pipelines.content.video.timeline import VideoLayout
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
    formats = video.get("formats") or {lang: {"9x16": key} for lang, key in video["videos"].items()}
    video_hashes = {lang: {name: object_store.head(key).sha256 for name, key in keys.items()}
                    for lang, keys in formats.items()}
    style = parsed.brand.caption_style
    hotwords = [parsed.product, *parsed.brand.required_terms, *parsed.brand.all_names]
    inputs = fingerprint(video_hashes, video["scripts"], hotwords, parsed.brand.palette, parsed.brand.font,
                         style.model_dump())

    cached = find_cached(context, object_store, campaign_db, "captions", inputs)
    if cached is not None:
        burned = {lang: caption_key(campaign_id, lang, "burned") for lang in formats}
        return dg.Output({"captioned_videos": burned}, metadata=cached_metadata(object_store, cached, campaign_id))

    records, burned, quality = [], {}, {}
    with tempfile.TemporaryDirectory(prefix="sparklio-captions-") as tmp:
        for language, keys in formats.items():
            work = Path(tmp) / language
            work.mkdir()
            with_layouts = {}
            for name, key in keys.items():
                local = object_store.download(key, work / f"video-{name}.mp4")
                screen = json.loads(object_store.get_bytes(screen_text_key(campaign_id, language, name)))
                with_layouts[name] = (local, VideoLayout.from_dict(screen))
            primary = next(iter(with_layouts.values()))[0]
            try:
                result = caption_video(
                    primary, work, transcriber=transcriber, language=language, script=video["scripts"][language],
                    hotwords=hotwords, font_family=parsed.brand.font, primary_hex=style.primary,
                    highlight_hex=style.highlight or parsed.brand.palette[1], outline_hex=style.outline,
                    preset=style.preset, position=style.position, formats=with_layouts, size_scale=style.size / 64,
                )
            except CaptionLayoutError as exc:
                raise dg.Failure(description=f"captions {language}: {exc}", allow_retries=False) from None
            for kind, path in result.files.items():
                kind, _, name = kind.partition(":")
                stored = object_store.put_file(caption_key(campaign_id, language, kind, name or "9x16"), path)
                records.append(output_record(stored, "captions", language=language,
                                             channel="shorts" if kind not in FORMAT_CAPTION_KINDS else name))
                if kind == "burned" and name == next(iter(keys)):
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
