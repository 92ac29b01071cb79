"""`video`: a 9:16 H.264/AAC short per language: art and creatives in motion, headlines, voiceover."""

import tempfile
from pathlib import Path

import dagster as dg

from resources.database import CampaignDatabaseResource
from resources.object_store import ObjectStoreResource
from resources.speech import SpeechResource
from sparklio_pipelines.assets.common import CAMPAIGN_GROUP, SERVICE_RETRY, cached_metadata, find_cached, publish
from sparklio_pipelines.brief import Brief
from sparklio_pipelines.fonts import find_font
from sparklio_pipelines.keys import campaign_key
from sparklio_pipelines.manifest import fingerprint, output_record
from sparklio_pipelines.partitions import campaign_partitions
from sparklio_pipelines.retries import retry_transient_only
from sparklio_pipelines.video_render import render_video


def video_key(campaign_id: str, language: str) -> str:
    return campaign_key(campaign_id, "video", language, "video.mp4")


def voiceover_key(campaign_id: str, language: str) -> str:
    return campaign_key(campaign_id, "video", language, "voiceover.wav")


@dg.asset(
    partitions_def=campaign_partitions,
    group_name=CAMPAIGN_GROUP,
    kinds={"mp4"},
    pool="gpu",
    retry_policy=SERVICE_RETRY,
    description="1080×1920 H.264/AAC MP4 (15–30 s) per language: slides with motion, headlines, voiceover.",
)
@retry_transient_only
def video(
    context: dg.AssetExecutionContext,
    brief: dict,
    copy: dict,
    image: dict,
    speech: SpeechResource,
    object_store: ObjectStoreResource,
    campaign_db: CampaignDatabaseResource,
) -> dg.Output[dict]:
    parsed = Brief.model_validate(brief)
    campaign_id = context.partition_key
    shorts = {lang: copy["languages"][lang]["shorts"][0] for lang in parsed.languages}
    slide_keys = {
        lang: [image["art"][f"story-{i}"] for i in range(1, 4)] + [image["creatives"][lang]["story"]]
        for lang in parsed.languages
    }
    slide_info = {k: object_store.head(k) for keys in slide_keys.values() for k in keys}
    slide_hashes = {k: info.sha256 if info else None for k, info in slide_info.items()}
    inputs = fingerprint(shorts, slide_hashes, parsed.brand.palette, parsed.brand.font)

    cached = find_cached(context, object_store, campaign_db, "video", inputs)
    if cached is not None:
        videos = {rec.language: rec.key for rec in cached if rec.key.endswith("video.mp4")}
        return dg.Output({"videos": videos, "scripts": {k: v["script"] for k, v in shorts.items()}},
                         metadata=cached_metadata(object_store, cached, campaign_id))

    records, videos, facts = [], {}, {}
    font = find_font(parsed.brand.font)
    with tempfile.TemporaryDirectory(prefix="sparklio-video-") as tmp:
        work = Path(tmp)
        for language in parsed.languages:
            script, headlines = shorts[language]["script"], shorts[language]["headlines"]
            try:
                voice = speech.synthesize(script, language)
            finally:
                speech.release()
            wav = work / f"{language}-voiceover.wav"
            wav.write_bytes(voice.wav)
            slides = [object_store.download(k, work / f"{language}-slide-{i}.png")
                      for i, k in enumerate(slide_keys[language])]
            # headlines ride on the art slides; the last slide is the creative, which carries its own text
            slide_headlines = [*headlines[: len(slides) - 1], ""]
            slide_headlines += [""] * (len(slides) - len(slide_headlines))
            out = work / f"{language}.mp4"
            rendered = render_video(
                slides, slide_headlines, wav, out, font=font,
                accent_hex=parsed.brand.palette[1], text_hex="#FFFFFF",
            )
            context.log.info(f"video {language}: {rendered.duration_s:.1f}s in {rendered.encode_seconds:.1f}s ({rendered.encoder})")
            stored_voice = object_store.put_file(voiceover_key(campaign_id, language), wav, "audio/wav")
            stored_video = object_store.put_file(video_key(campaign_id, language), out, "video/mp4")
            records += [output_record(stored_voice, "video", language=language, channel="shorts"),
                        output_record(stored_video, "video", language=language, channel="shorts")]
            videos[language] = stored_video.key
            facts[language] = {"duration_s": round(rendered.duration_s, 2), "encode_seconds": round(rendered.encode_seconds, 2),
                               "tts_seconds": round(voice.seconds, 2), "voice": voice.voice, "encoder": rendered.encoder}

    metadata = publish(context, object_store, campaign_db, "video", records, inputs)
    for language, key in videos.items():
        metadata[f"video_{language}"] = dg.MetadataValue.url(object_store.url(key))
    metadata["render"] = dg.MetadataValue.json(facts)
    metadata["encode_seconds"] = round(sum(f["encode_seconds"] for f in facts.values()), 2)
    metadata["model_seconds"] = round(sum(f["tts_seconds"] for f in facts.values()), 2)
    return dg.Output({"videos": videos, "scripts": {k: v["script"] for k, v in shorts.items()}}, metadata=metadata)
