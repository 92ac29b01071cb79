"""`video`: a 9:16 H.264/AAC short per language: art and creatives in motion, headlines, voiceover.

When the image generator can animate (ComfyUI: AnimateDiff), the first slide is a generated clip,
looped for the slide's length, instead of a still; otherwise every slide is a still.
"""

import tempfile
from pathlib import Path, PurePosixPath

import dagster as dg

from resources.database import CampaignDatabaseResource
from resources.image_generation import ImageGeneratorResource
from resources.object_store import ObjectStoreResource
from resources.speech import SpeechResource
from sparklio_common.keys import clip_key, video_key, voiceover_key
from sparklio_pipelines.campaigns.manifest import fingerprint, output_record
from sparklio_pipelines.content.brief.schema import Brief
from sparklio_pipelines.content.fonts import find_font
from sparklio_pipelines.content.video.render import CLIP_SUFFIXES, render_video
from sparklio_pipelines.defs.assets.common import (
    cached_metadata,
    campaign_asset,
    find_cached,
    publish,
)
from sparklio_pipelines.defs.links import browser_url

# 16 frames at 8 fps: AnimateDiff's native context length (2 s), looped under the first slide.
CLIP_FRAMES, CLIP_FRAME_RATE = 16, 8
CLIP_SIZE = (1080, 1920)  # asked aspect; the backend generates at its own size, the render cover-fits it


def clip_prompt(brief: Brief) -> str:
    """The opening clip: motion and mood only; headlines are drawn on top by the render."""
    return (
        f"{brief.product}, {brief.key_messages[0]}, {brief.tone} mood, gentle camera motion, "
        "cinematic soft light, no text, no letters"
    )





@campaign_asset(
    kinds={"mp4"},
    gpu=True,
    description="1080×1920 H.264/AAC MP4 (15–30 s) per language: slides with motion, headlines, voiceover.",
)
def video(
    context: dg.AssetExecutionContext,
    brief: dict,
    copy: dict,
    image: dict,
    speech: SpeechResource,
    image_generator: ImageGeneratorResource,
    object_store: ObjectStoreResource,
    campaign_db: CampaignDatabaseResource,
) -> dg.Output[dict]:
    parsed = Brief.model_validate(brief)
    campaign_id = context.partition_key
    animate = image_generator.can_animate
    shorts = {lang: copy["languages"][lang]["shorts"][0] for lang in parsed.languages}
    slide_keys = {
        lang: [image["art"][f"story-{i}"] for i in range(1, 4)] + [image["creatives"][lang]["story"]]
        for lang in parsed.languages
    }
    slide_info = {k: object_store.head(k) for keys in slide_keys.values() for k in keys}
    slide_hashes = {k: info.sha256 if info else None for k, info in slide_info.items()}
    parts = [shorts, slide_hashes, parsed.brand.palette, parsed.brand.font]
    clip_request = {
        "prompt": clip_prompt(parsed), "seed": int(copy.get("seed", 0)), "frames": CLIP_FRAMES,
        "frame_rate": CLIP_FRAME_RATE, "size": CLIP_SIZE, "backend": image_generator.backend_label,
    }
    if animate:  # only then: a backend that cannot animate keeps its old fingerprint and cache
        parts.append(clip_request)
    inputs = fingerprint(*parts)

    cached = find_cached(context, object_store, campaign_db, "video", inputs)
    if cached is not None:
        videos = {rec.language: rec.key for rec in cached if rec.key.endswith("video.mp4")}
        return dg.Output({"videos": videos, "scripts": {k: v["script"] for k, v in shorts.items()}},
                         metadata=cached_metadata(object_store, cached, campaign_id))

    records, videos, facts = [], {}, {}
    clip_facts: dict | None = None
    font = find_font(parsed.brand.font)
    with tempfile.TemporaryDirectory(prefix="sparklio-video-") as tmp:
        work = Path(tmp)
        clip_path = None
        if animate:
            try:
                clip = image_generator.animate_clip(
                    clip_request["prompt"], clip_request["seed"], frames=CLIP_FRAMES, frame_rate=CLIP_FRAME_RATE,
                    width=CLIP_SIZE[0], height=CLIP_SIZE[1],
                )
            finally:
                image_generator.release()  # the card goes back before TTS and the render
            suffix = PurePosixPath(clip.filename).suffix.lower()
            if suffix not in CLIP_SUFFIXES:  # e.g. a workflow edited to save GIF/WebP, which ffmpeg cannot loop
                raise dg.Failure(
                    description=f"the animation workflow returned {clip.filename!r}; the render needs one of "
                                f"{', '.join(CLIP_SUFFIXES)} (set VHS_VideoCombine format to video/h264-mp4)",
                    allow_retries=False,
                )
            clip_path = work / f"opening-clip{suffix}"
            clip_path.write_bytes(clip.video)
            stored_clip = object_store.put_file(clip_key(campaign_id, suffix), clip_path, clip.content_type)
            records.append(output_record(stored_clip, "video", channel="shorts"))
            clip_facts = {"workflow": clip.params.get("workflow", "unknown"), "backend": clip.backend,
                          "key": stored_clip.key, "size": [clip.width, clip.height], "frames": clip.frames,
                          "frame_rate": clip.frame_rate, "seconds": round(clip.seconds, 2),
                          **{k: clip.params[k] for k in ("prompt_id", "motion_module") if k in clip.params}}
            context.log.info(f"video: opening clip {clip.width}x{clip.height}, {clip.frames} frames "
                             f"from {clip_facts['workflow']} in {clip.seconds:.1f}s")
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
            if clip_path is not None:
                slides[0] = clip_path  # the clip plays where the first art still would
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
        metadata[f"video_{language}"] = dg.MetadataValue.url(browser_url(object_store, key))
    metadata["render"] = dg.MetadataValue.json(facts)
    metadata["first_slide"] = clip_facts["workflow"] if clip_facts else "still: image art story-1"
    if clip_facts:
        metadata["opening_clip"] = dg.MetadataValue.json(clip_facts)
    metadata["encode_seconds"] = round(sum(f["encode_seconds"] for f in facts.values()), 2)
    metadata["model_seconds"] = round(sum(f["tts_seconds"] for f in facts.values())
                                      + (clip_facts["seconds"] if clip_facts else 0.0), 2)
    return dg.Output({"videos": videos, "scripts": {k: v["script"] for k, v in shorts.items()}}, metadata=metadata)
