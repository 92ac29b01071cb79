"""`video`: an H.264/AAC short per language in every format the brief's channels need (9:16, and 1:1 +
16:9 for LinkedIn/X): art in motion, headlines, voiceover over a music bed, a cover per format.

Each format closes on the creative of its own size, which carries its own headline and CTA; where
and when text is on screen is stored per format, so captions keep clear of it. The music bed is a
procedural composition on the embedded setup, a library track in production (resources/music.py);
a brief may name a track (`music: music/<track>`) or ask for none (`music: none`).

When the image generator can animate (ComfyUI: AnimateDiff), the first slide is a generated clip,
looped for the slide's length, instead of a still; otherwise every slide is a still.
"""

import json
import tempfile
from pathlib import Path, PurePosixPath

import dagster as dg

from resources.database import CampaignDatabaseResource
from resources.image_generation import ImageGeneratorResource
from resources.music import MusicError, MusicResource
from resources.object_store import ObjectStoreResource
from resources.speech import SpeechResource
from sparklio_common.keys import (
    clip_key,
    cover_key,
    layouts_key,
    music_key,
    screen_text_key,
    stems_key,
    video_key,
    voiceover_key,
)
from sparklio_pipelines.campaigns.manifest import fingerprint, output_record
from sparklio_pipelines.content.brief.schema import Brief
from sparklio_pipelines.content.fonts import find_font
from sparklio_pipelines.content.media import MediaError
from sparklio_pipelines.content.video.formats import (
    CHANNEL_FORMATS,
    PRIMARY_FORMAT,
    SLIDE_COUNT,
    formats_for_channels,
    slide_art_keys,
)
from sparklio_pipelines.content.video.mix import MusicInput
from sparklio_pipelines.content.video.render import (
    CLIP_SUFFIXES,
    FormatJob,
    render_formats,
    target_duration,
)
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
MIN_S, MAX_S = 15, 30
RENDER_VERSION = 2  # formats, covers, music bed: older cached videos are made again


def clip_prompt(brief: Brief) -> str:
    """The opening clip: motion and mood only; headlines are drawn on top by the render."""
    return (
        f"{brief.product}, {brief.key_messages[0]}, {brief.tone} mood, gentle camera motion, "
        "cinematic soft light, no text, no letters"
    )





@campaign_asset(
    kinds={"mp4"},
    gpu=True,
    description="H.264/AAC MP4s (15–30 s) per language in every channel format (9:16; 1:1 and 16:9 for "
    "LinkedIn/X): slides with motion, headlines, voiceover over a ducked music bed, -14 LUFS; a cover PNG per format.",
)
def video(
    context: dg.AssetExecutionContext,
    brief: dict,
    copy: dict,
    image: dict,
    speech: SpeechResource,
    music: MusicResource,
    image_generator: ImageGeneratorResource,
    object_store: ObjectStoreResource,
    campaign_db: CampaignDatabaseResource,
) -> dg.Output[dict]:
    parsed = Brief.model_validate(brief)
    campaign_id = context.partition_key
    animate = image_generator.can_animate
    shorts = {lang: copy["languages"][lang]["shorts"][0] for lang in parsed.languages}
    formats = formats_for_channels(parsed.channels)
    art_keys = {fmt.name: slide_art_keys(fmt, image["art"]) for fmt in formats}
    slide_keys = list(dict.fromkeys(k for keys in art_keys.values() for k in keys))
    creative_keys = {lang: {fmt.name: image["creatives"][lang][fmt.creative] for fmt in formats}
                     for lang in parsed.languages}
    slide_info = {k: object_store.head(k) for k in slide_keys + [k for c in creative_keys.values() for k in c.values()]}
    slide_hashes = {k: info.sha256 if info else None for k, info in slide_info.items()}
    music_choice = {"music": parsed.music, "tone": parsed.tone, "backend": music.backend_label}
    parts = [shorts, slide_hashes, parsed.brand.palette, parsed.brand.font, [f.name for f in formats], music_choice,
             RENDER_VERSION, parsed.brand.tts_voices]
    clip_request = {
        "prompt": clip_prompt(parsed), "seed": int(copy.get("seed", 0)), "frames": CLIP_FRAMES,
        "frame_rate": CLIP_FRAME_RATE, "size": CLIP_SIZE, "backend": image_generator.backend_label,
    }
    if animate:  # only then: a backend that cannot animate keeps its old fingerprint and cache
        parts.append(clip_request)
    inputs = fingerprint(*parts)

    cached = find_cached(context, object_store, campaign_db, "video", inputs)
    if cached is not None:
        videos = {lang: video_key(campaign_id, lang) for lang in parsed.languages}
        by_format = {lang: {f.name: video_key(campaign_id, lang, f.name) for f in formats} for lang in parsed.languages}
        return dg.Output({"videos": videos, "formats": by_format, "scripts": {k: v["script"] for k, v in shorts.items()}},
                         metadata=cached_metadata(object_store, cached, campaign_id))

    records, videos, facts, by_format = [], {}, {}, {}
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
        layouts = json.loads(object_store.get_bytes(layouts_key(campaign_id)))
        downloaded = {k: object_store.download(k, work / f"art-{i}.png") for i, k in enumerate(slide_keys)}
        art = {name: [downloaded[k] for k in keys] for name, keys in art_keys.items()}
        if clip_path is not None:
            for slides in art.values():
                slides[0] = clip_path  # the clip plays where the first art still would
        for language in parsed.languages:
            script, headlines = shorts[language]["script"], shorts[language]["headlines"]
            try:
                voice = speech.synthesize(script, language, voice=parsed.brand.tts_voices.get(language))
            finally:
                speech.release()
            wav = work / f"{language}-voiceover.wav"
            wav.write_bytes(voice.wav)
            bed, bed_input = None, None
            if parsed.music != "none":
                try:
                    bed = music.bed(parsed.localized(language).tone, target_duration(voice.duration_s, MIN_S, MAX_S),
                                    int(copy.get("seed", 0)), track=parsed.music)
                except MusicError as exc:
                    raise dg.Failure(description=f"music bed for {language}: {exc}", allow_retries=False) from None
                bed_path = work / f"{language}-music{bed.suffix}"
                bed_path.write_bytes(bed.wav)
                bed_input = MusicInput(bed_path, bed.bar_s)
            jobs = []
            for fmt in formats:
                creative_size = fmt.creative
                jobs.append(FormatJob(
                    fmt, work / f"{language}-{fmt.name}.mp4",
                    creative=object_store.download(creative_keys[language][fmt.name],
                                                   work / f"{language}-{creative_size}.png"),
                    creative_texts=layouts[language][creative_size]["texts"],
                    creative_size=tuple(layouts[language][creative_size]["size"]),
                    cover_path=work / f"{language}-{fmt.name}-cover.png",
                    slides=art[fmt.name],
                ))
            # headlines ride on the art slides; each format's creative carries its own text
            stems = work / f"{language}-stems.wav"
            try:
                rendered = render_formats(
                    art[PRIMARY_FORMAT], list(headlines[:SLIDE_COUNT]), wav, jobs, font=font,
                    accent_hex=parsed.brand.palette[1],
                    text_hex="#FFFFFF", min_s=MIN_S, max_s=MAX_S, music=bed_input, stems_path=stems,
                )
            except MediaError as exc:  # e.g. a headline that cannot fit: the marketer must shorten it
                raise dg.Failure(description=f"video {language}: {exc}", allow_retries=False) from None
            context.log.info(f"video {language}: {len(jobs)} formats, {rendered.duration_s:.1f}s in "
                             f"{rendered.encode_seconds:.1f}s ({rendered.encoder})")
            stored_voice = object_store.put_file(voiceover_key(campaign_id, language), wav, "audio/wav")
            records.append(output_record(stored_voice, "video", language=language, channel="shorts"))
            for fmt in formats:
                done = rendered.formats[fmt.name]
                channels = ",".join(c for c in parsed.channels if fmt.name in CHANNEL_FORMATS.get(c, ()))
                stored_video = object_store.put_file(video_key(campaign_id, language, fmt.name), done.path, "video/mp4")
                stored_cover = object_store.put_file(cover_key(campaign_id, language, fmt.name), done.cover_path,
                                                     "image/png")
                screen = json.dumps(done.layout.to_dict(), ensure_ascii=False, indent=1).encode()
                stored_layout = object_store.put_bytes(screen_text_key(campaign_id, language, fmt.name), screen,
                                                       "application/json")
                records += [output_record(s, "video", language=language, channel=channels or "shorts")
                            for s in (stored_video, stored_cover, stored_layout)]
                by_format.setdefault(language, {})[fmt.name] = stored_video.key
            videos[language] = by_format[language][formats[0].name]
            if bed is not None:
                records.append(output_record(object_store.put_file(music_key(campaign_id, language), bed_input.path),
                                             "video", language=language))
                records.append(output_record(object_store.put_file(stems_key(campaign_id, language), stems, "audio/wav"),
                                             "video", language=language))
            facts[language] = {"duration_s": round(rendered.duration_s, 2), "encode_seconds": round(rendered.encode_seconds, 2),
                               "tts_seconds": round(voice.seconds, 2), "voice": voice.voice, "encoder": rendered.encoder,
                               "formats": [f.name for f in formats], "audio": rendered.audio,
                               "music": bed.metadata() if bed else "none",
                               "music_seconds": round(bed.seconds, 2) if bed else 0.0}

    metadata = publish(context, object_store, campaign_db, "video", records, inputs)
    for language, key in videos.items():
        metadata[f"video_{language}"] = dg.MetadataValue.url(browser_url(object_store, key))
    metadata["render"] = dg.MetadataValue.json(facts)
    metadata["first_slide"] = clip_facts["workflow"] if clip_facts else "still: image art story-1"
    if clip_facts:
        metadata["opening_clip"] = dg.MetadataValue.json(clip_facts)
    metadata["music"] = dg.MetadataValue.json({lang: f["music"] for lang, f in facts.items()})
    metadata["formats"] = dg.MetadataValue.json(by_format)
    metadata["slide_art"] = dg.MetadataValue.json({name: [PurePosixPath(k).stem for k in keys]
                                                   for name, keys in art_keys.items()})
    metadata["encode_seconds"] = round(sum(f["encode_seconds"] for f in facts.values()), 2)
    metadata["model_seconds"] = round(sum(f["tts_seconds"] for f in facts.values())
                                      + (clip_facts["seconds"] if clip_facts else 0.0), 2)
    return dg.Output({"videos": videos, "formats": by_format, "scripts": {k: v["script"] for k, v in shorts.items()}},
                     metadata=metadata)
