"""The shorts: slides + headlines + voiceover + music bed, in every format, by ONE ffmpeg filtergraph.

Everything happens inside a single ffmpeg process per language (no frame-by-frame Python):
- each slide is decoded once and `split` to the formats; per format it is cover-fitted and animated
  by `zoompan` straight to the format's size (Ken Burns). zoompan on a 4x upscale is the textbook
  recipe but ~6x slower; a 1.25x supersample keeps crop rounding below one output pixel at a
  fraction of the cost (see benchmarks/bench_video_render.py);
- a format's own creative (which carries its own headline and CTA) closes it, held still so its
  text stays where its layout says;
- `xfade` crossfades consecutive slides; headlines are `drawtext` lines in the format's headline zone;
- the voiceover is sped up with `atempo` when it is longer than `max_s`; the music bed is ducked
  under it with `sidechaincompress` and faded out over its last bar. The voice is measured and set
  to -14 LUFS integrated (the social-platform target) beforehand, so the mix needs only a true-peak
  limiter (4x oversampled `alimiter`) to stay under -1 dBTP;
- the voice and the ducked bed are also written as a 2-channel stems WAV, so checks measure the
  voice over the bed on the audio that was mixed;
- a cover PNG per format (the first slide with its headline) comes out of the same graph;
- optional captions are burned in with libass (`subtitles` filter, fonts from the brand font dir).
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import ffmpeg
from PIL import ImageFont

from sparklio_pipelines.content.captions.burn_in import burn_subtitles
from sparklio_pipelines.content.media import (
    SOFTWARE_H264,
    MediaError,
    ffmpeg_bin,
    h264_args,
    h264_encoder,
    probe,
    summarize,
)
from sparklio_pipelines.content.video.formats import (
    FORMATS,
    PRIMARY_FORMAT,
    Box,
    VideoFormat,
)
from sparklio_pipelines.content.video.headlines import (
    HEADLINE_BOX_PAD,
    HEADLINE_FADE_S,
    HEADLINE_LEADING,
    wrap_headline,
)
from sparklio_pipelines.content.video.mix import (
    TAIL_S,
    MusicInput,
    audio_streams,
    bed_gain_db,
    prepare_voice,
)
from sparklio_pipelines.content.video.timeline import ScreenText, VideoLayout

WIDTH, HEIGHT, FPS = 1080, 1920, 30  # the primary (9:16) format
CROSSFADE_S = 0.6
MOTION_SUPERSAMPLE = 1.25  # zoompan source size relative to the output
ZOOM_RANGE = 0.12  # Ken Burns: 1.00 -> 1.12 (or back) over a slide
COVER_AT_S = 0.6  # the first slide with its headline fully faded in
HEX_COLOR = re.compile(r"^#?[0-9a-fA-F]{6}$")
STDERR_TAIL_LINES = 12


@dataclass
class FormatJob:
    """One format of a language's video: where it goes, and the creative that closes it (if any)."""

    format: VideoFormat
    out_path: Path
    creative: Path | None = None  # a still in the format's size with its own text, held at the end
    creative_texts: list[dict] = field(default_factory=list)  # its layout's texts: role, text, box
    creative_size: tuple[int, int] | None = None
    cover_path: Path | None = None
    subtitles: Path | None = None
    slides: list[Path] | None = None  # art painted in this format's shape; None moves the shared slides


@dataclass
class FormatRender:
    format: str
    path: Path
    cover_path: Path | None
    layout: VideoLayout
    duration_s: float


@dataclass
class VideoRenderResult:
    path: Path  # the first format's video
    duration_s: float
    encode_seconds: float  # wall time of the ffmpeg run
    encoder: str
    ffmpeg_args: list[str]
    formats: dict[str, FormatRender] = field(default_factory=dict)
    stems_path: Path | None = None
    audio: dict = field(default_factory=dict)  # loudness staging: what was measured and applied


@dataclass(frozen=True)
class SlideTiming:
    frames_per_slide: int
    offsets_s: list[float]  # xfade offset of slide i+1 on the running timeline
    starts_s: list[float]  # when slide i is fully on screen (middle of the crossfade)
    ends_s: list[float]


# --- planning (pure, no ffmpeg) -------------------------------------------------------------


def target_duration(voice_s: float, min_s: float, max_s: float) -> float:
    """Video length: the voiceover plus a short tail, clamped into [min_s, max_s]."""
    return min(max(voice_s + TAIL_S, min_s), max_s)


def plan_slides(count: int, total_s: float, crossfade_s: float = CROSSFADE_S) -> SlideTiming:
    """Equal slide lengths so that `count` slides with crossfades cover total_s."""
    crossfade_s = crossfade_s if count > 1 else 0.0
    slide_s = (total_s + (count - 1) * crossfade_s) / count
    frames = math.ceil(slide_s * FPS) + 1  # one spare frame: the output is trimmed to total_s
    length = frames / FPS
    offsets = [round(i * (length - crossfade_s), 4) for i in range(1, count)]
    starts = [0.0] + [offset + crossfade_s / 2 for offset in offsets]
    ends = starts[1:] + [total_s]
    return SlideTiming(frames_per_slide=frames, offsets_s=offsets, starts_s=starts, ends_s=ends)


def ffmpeg_color(hex_color: str, alpha: float | None = None) -> str:
    if not HEX_COLOR.match(hex_color or ""):
        raise MediaError(f"colors must look like #1A2B3C, got {hex_color!r}")
    color = "0x" + hex_color.lstrip("#").upper()
    return f"{color}@{alpha}" if alpha is not None else color


def cover_box(box: Box, source: tuple[int, int], target: tuple[int, int]) -> Box:
    """Where a box of a `source`-sized image lands when the image is cover-fitted to `target`."""
    scale = max(target[0] / source[0], target[1] / source[1])
    off_x, off_y = (source[0] * scale - target[0]) / 2, (source[1] * scale - target[1]) / 2
    x0, y0, x1, y1 = box
    return (max(0, round(x0 * scale - off_x)), max(0, round(y0 * scale - off_y)),
            min(target[0], round(x1 * scale - off_x)), min(target[1], round(y1 * scale - off_y)))


# --- validation -----------------------------------------------------------------------------


def _check_inputs(slides: list[Path], headlines: list[str], voiceover_wav: Path, font: Path, jobs: list[FormatJob],
                  music: MusicInput | None, min_s: float, max_s: float) -> float:
    """Raises MediaError for bad inputs; returns the voiceover duration."""
    if not slides:
        raise MediaError("render_video needs at least one slide")
    if not jobs:
        raise MediaError("render needs at least one format")
    if len(headlines) > len(slides):
        raise MediaError(f"{len(headlines)} headlines for {len(slides)} slides: one headline per slide at most")
    if not 0 < min_s <= max_s:
        raise MediaError(f"need 0 < min_s <= max_s, got min_s={min_s}, max_s={max_s}")
    own = [p for job in jobs for p in job.slides or ()]
    for job in jobs:
        if job.slides and len(job.slides) != len(slides):
            raise MediaError(f"{job.format.label} has {len(job.slides)} slides of its own for {len(slides)} slides")
    extra = [p for job in jobs for p in (job.creative, job.subtitles) if p is not None]
    for path in [*slides, *own, voiceover_wav, font, *extra] + ([music.path] if music else []):
        if not Path(path).is_file():
            raise MediaError(f"input file not found: {path}")
    for slide in [*slides, *own, *(job.creative for job in jobs if job.creative)]:
        facts = summarize(probe(slide))
        if not facts["width"]:
            raise MediaError(f"slide is not an image: {Path(slide).name}")
    voice = summarize(probe(voiceover_wav))
    if not voice["has_audio"] or voice["duration_s"] <= 0:
        raise MediaError(f"voiceover has no audio: {Path(voiceover_wav).name}")
    if music is not None and not summarize(probe(music.path))["has_audio"]:
        raise MediaError(f"music bed has no audio: {music.path.name}")
    return voice["duration_s"]


# --- filtergraph ----------------------------------------------------------------------------


CLIP_SUFFIXES = (".mp4", ".webm", ".mov")  # a slide with one of these is a moving clip, not a still


def _copies(stream, copies: int) -> list:
    if copies == 1:
        return [stream]
    split = stream.filter_multi_output("split", copies)
    return [split[i] for i in range(copies)]


def _decoded(path: Path, copies: int) -> list:
    """A slide decoded once, `split` into one stream per format."""
    if Path(path).suffix.lower() in CLIP_SUFFIXES:
        stream = ffmpeg.input(str(path), stream_loop=-1).video.filter("fps", FPS)
    else:
        stream = ffmpeg.input(str(path)).video
    return _copies(stream, copies)


def crop_source(fmt: VideoFormat, formats: list[VideoFormat]) -> VideoFormat | None:
    """The format whose moving art, centre-cropped, IS `fmt`'s: as wide, and taller (9:16 for 1:1).

    Cover-fitting and the Ken Burns window both keep the width and centre the height, so the crop
    is the same picture, and that format's motion is not computed twice.
    """
    taller = [other for other in formats if other.width == fmt.width and other.height > fmt.height]
    return max(taller, key=lambda other: other.height, default=None)


def _slide_motion(slides: list[Path], jobs: list[FormatJob], frames: int) -> dict[str, list]:
    """Each format's moving slides: computed once per format that is no other's crop, then cropped.
    Every slide file is decoded once, however many formats move it."""
    art = {job.format.name: [Path(p) for p in job.slides or slides] for job in jobs}
    formats = [job.format for job in jobs]
    sources = {fmt.name: crop_source(fmt, [o for o in formats if art[o.name] == art[fmt.name]]) for fmt in formats}
    computed = [fmt for fmt in formats if sources[fmt.name] is None]
    uses = Counter(path for fmt in computed for path in art[fmt.name])
    decoded = {path: iter(_decoded(path, count)) for path, count in uses.items()}
    motion: dict[str, list] = {}
    for fmt in computed:
        cropped = [other for other in formats if sources[other.name] is fmt]
        for index, path in enumerate(art[fmt.name]):
            moving = _copies(_motion_stream(next(decoded[path]), path, index, frames, fmt.size), 1 + len(cropped))
            motion.setdefault(fmt.name, []).append(moving[0])
            for other, stream in zip(cropped, moving[1:]):
                motion.setdefault(other.name, []).append(stream.filter("crop", other.width, other.height))
    return motion


def _clip_stream(stream, frames: int, size: tuple[int, int]):
    """A short clip (e.g. AnimateDiff) as a slide: looped, cover-fitted, cut to the slide's length."""
    width, height = size
    return (
        stream.filter("scale", width, height, force_original_aspect_ratio="increase", flags="lanczos")
        .filter("crop", width, height)
        .filter("format", "yuv420p")
        .filter("trim", end_frame=frames)
        .filter("setpts", "PTS-STARTPTS")
        .filter("setsar", 1)
    )


def _motion_stream(stream, path: Path, index: int, frames: int, size: tuple[int, int]):
    """One still -> `frames` frames of Ken Burns motion at the format's size (a clip plays instead)."""
    if Path(path).suffix.lower() in CLIP_SUFFIXES:
        return _clip_stream(stream, frames, size)
    width, height = size
    src_w = int(width * MOTION_SUPERSAMPLE) // 2 * 2
    src_h = int(height * MOTION_SUPERSAMPLE) // 2 * 2
    progress = f"on/{frames}"
    zoom = f"1+{ZOOM_RANGE}*{progress}" if index % 2 == 0 else f"1+{ZOOM_RANGE}*(1-{progress})"
    drift = (0.0, 0.5, 0.0, -0.5)[index % 4]  # alternate a gentle sideways pan
    return (
        stream.filter("scale", src_w, src_h, force_original_aspect_ratio="increase", flags="lanczos")
        .filter("crop", src_w, src_h)
        .filter("format", "yuv420p")
        .filter("zoompan", z=zoom, x=f"(iw-iw/zoom)*(0.5+{drift}*({progress}-0.5))", y="(ih-ih/zoom)/2",
                d=frames, s=f"{width}x{height}", fps=FPS)
        .filter("setsar", 1)
    )


def _still_stream(path: Path, frames: int, size: tuple[int, int]):
    """A creative held still (its text must stay where its layout says): decoded once, looped."""
    width, height = size
    return (
        ffmpeg.input(str(path), framerate=FPS).video
        .filter("scale", width, height, force_original_aspect_ratio="increase", flags="lanczos")
        .filter("crop", width, height)
        .filter("format", "yuv420p")
        .filter("loop", loop=frames - 1, size=1, start=0)
        .filter("setpts", "N/FRAME_RATE/TB")
        .filter("setsar", 1)
    )


def _write_text(folder: Path, name: str, text: str) -> Path:
    # drawtext reads text from a file: no filtergraph escaping of user text at all.
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _draw_headlines(video, fmt: VideoFormat, headlines: list[str], timing: SlideTiming, font: Path,
                    text_hex: str, accent_hex: str, folder: Path) -> tuple[object, list[ScreenText]]:
    """Headlines centred in the format's headline zone; returns the stream and where each line's box is."""
    color, accent = ffmpeg_color(text_hex), ffmpeg_color(accent_hex)
    zx0, zy0, zx1, zy1 = fmt.headline_zone
    zone_w = zx1 - zx0 - 2 * HEADLINE_BOX_PAD
    placed: list[ScreenText] = []
    for index, headline in enumerate(headlines):
        lines, size = wrap_headline(headline.strip(), font, zone_w, max_px=fmt.headline_px,
                                    max_height=zy1 - zy0)
        if not lines:
            continue
        start, end = timing.starts_s[index], timing.ends_s[index]
        fade = HEADLINE_FADE_S
        alpha = f"max(0,min(1,min((t-{start:.3f})/{fade},({end:.3f}-t)/{fade})))"
        line_height = int(size * HEADLINE_LEADING)
        face = ImageFont.truetype(str(font), size)
        for number, line in enumerate(lines):
            top = zy0 + HEADLINE_BOX_PAD + number * line_height
            width = face.getlength(line)
            left = zx0 + (zx1 - zx0 - width) / 2
            video = video.filter(
                "drawtext", fontfile=str(font),
                textfile=str(_write_text(folder, f"{fmt.name}-headline-{index}-{number}.txt", line)),
                expansion="none", fontsize=size, fontcolor=color, box=1, boxcolor="0x000000@0.5",
                boxborderw=HEADLINE_BOX_PAD, borderw=2, bordercolor=accent, shadowcolor="0x000000@0.6",
                shadowx=3, shadowy=3, x=f"{zx0}+({zx1 - zx0}-text_w)/2", y=top, alpha=alpha,
                enable=f"between(t,{start:.3f},{end:.3f})",
            )
            pad = HEADLINE_BOX_PAD + 3  # the box, plus the shadow's offset
            box = (math.floor(left - pad), top - pad, math.ceil(left + width + pad), top + int(size * 1.2) + pad)
            placed.append(ScreenText(index + 1, "headline", line, box, round(start, 3), round(end, 3)))
    return video, placed


def _format_video(fmt: VideoFormat, job: FormatJob, motion: list, headlines: list[str],
                  timing: SlideTiming, total_s: float, font: Path, text_hex: str, accent_hex: str,
                  folder: Path) -> tuple[object, VideoLayout]:
    streams = list(motion)
    if job.creative is not None:
        streams.append(_still_stream(job.creative, timing.frames_per_slide, fmt.size))
    video = streams[0]
    for index, following in enumerate(streams[1:], start=1):
        video = ffmpeg.filter([video, following], "xfade", transition="fade", duration=CROSSFADE_S,
                              offset=timing.offsets_s[index - 1])
    video, texts = _draw_headlines(video, fmt, headlines, timing, font, text_hex, accent_hex, folder)
    if job.creative is not None:
        slide = len(streams)
        shown_from = timing.offsets_s[-1] if timing.offsets_s else 0.0  # its text fades in with it
        source = job.creative_size or fmt.size
        for text in job.creative_texts:
            texts.append(ScreenText(slide, text["role"], text["text"], cover_box(tuple(text["box"]), source, fmt.size),
                                    round(shown_from, 3), round(total_s, 3)))
    layout = VideoLayout(format=fmt.name, size=fmt.size, safe_area=fmt.safe_area, caption_zone=fmt.caption_zone,
                         caption_px=fmt.caption_px, duration_s=round(total_s, 3),
                         slide_starts_s=[round(s, 3) for s in timing.starts_s], texts=texts)
    return video, layout


# LinkedIn and X re-encode every upload: their cuts take x264's quickest motion search, which
# costs ~1/3 less encoder CPU for ~3% more bytes (benchmarks/bench_video_render.py).
FEED_X264_PARAMS = "me=dia:subme=1"


def _encoder_args(video_encoder: str, preset: str, *, feed: bool = False) -> dict:
    args = h264_args(video_encoder, preset=preset, crf=21)
    options = {"vcodec": args[1], "g": FPS * 2}
    options.update({flag.lstrip("-"): value for flag, value in zip(args[2::2], args[3::2])})
    if video_encoder == SOFTWARE_H264:
        options["profile:v"] = "high"
        if feed:
            options["x264-params"] = FEED_X264_PARAMS
    return options


def build_ffmpeg_args(
    slides: list[Path], headlines: list[str], voice_ready: Path, jobs: list[FormatJob], *, font: Path,
    total_s: float, accent_hex: str, text_hex: str, music: MusicInput | None,
    staging: dict, stems_path: Path | None, video_encoder: str, preset: str, text_dir: Path,
) -> tuple[list[str], float, dict[str, VideoLayout]]:
    """The whole render as one ffmpeg command line, the video duration, and each format's layout."""
    count = len(slides) + (1 if any(job.creative for job in jobs) else 0)
    if any(job.creative for job in jobs) and not all(job.creative for job in jobs):
        raise MediaError("either every format closes on its own creative, or none does")
    timing = plan_slides(count, total_s)
    motion = _slide_motion(slides, jobs, timing.frames_per_slide)
    audios, stems = audio_streams(voice_ready, total_s, music, len(jobs), staging)
    outputs, layouts = [], {}
    for number, job in enumerate(jobs):
        video, layout = _format_video(job.format, job, motion[job.format.name], headlines, timing, total_s, font,
                                      text_hex, accent_hex, text_dir)
        layouts[job.format.name] = layout
        if job.cover_path is not None:
            split = video.filter_multi_output("split", 2)
            video = split[0]
            cover = split[1].filter("trim", start_frame=round(COVER_AT_S * FPS), end_frame=round(COVER_AT_S * FPS) + 1)
            outputs.append(ffmpeg.output(cover, str(job.cover_path), vframes=1, update=1))
        if job.subtitles is not None:
            video = burn_subtitles(video, job.subtitles, font)
        video = video.filter("format", "yuv420p")
        outputs.append(ffmpeg.output(
            video, audios[number], str(job.out_path),
            t=f"{total_s:.3f}", r=FPS, pix_fmt="yuv420p", movflags="+faststart",
            acodec="aac", **{"b:a": "160k"}, ar=48000,
            **_encoder_args(video_encoder, preset, feed=job.format.name != PRIMARY_FORMAT),
        ))
    if stems is not None and stems_path is not None:
        outputs.append(ffmpeg.output(stems, str(stems_path), t=f"{total_s:.3f}", acodec="pcm_s16le"))
    elif stems is not None:
        outputs.append(ffmpeg.output(stems, "-", format="null"))
    args = ffmpeg.compile(ffmpeg.merge_outputs(*outputs), cmd=ffmpeg_bin(), overwrite_output=True)
    # -nostdin: never wait on a terminal; -hide_banner keeps the error tail useful.
    return [args[0], "-hide_banner", "-nostdin", *args[1:]], total_s, layouts


# --- render ---------------------------------------------------------------------------------


def render_formats(
    slides: list[Path],
    headlines: list[str],
    voiceover_wav: Path,
    jobs: list[FormatJob],
    *,
    font: Path,
    accent_hex: str = "#F4B942",
    text_hex: str = "#FFFFFF",
    min_s: float = 15,
    max_s: float = 30,
    music: MusicInput | None = None,
    stems_path: Path | None = None,
    video_encoder: str | None = None,
    preset: str = "veryfast",
    timeout_s: float = 1800,
) -> VideoRenderResult:
    """Every format of one language's video (30 fps H.264/AAC MP4s of min_s..max_s seconds) in one ffmpeg run.

    `slides` move (Ken Burns) and are shared by the formats; each job's `creative` closes its format.
    """
    video_encoder = video_encoder or h264_encoder()  # NVENC on the GPU desktop, else libx264
    slides = [Path(p) for p in slides]
    voiceover_wav, font = Path(voiceover_wav), Path(font)
    ffmpeg_color(accent_hex), ffmpeg_color(text_hex)  # fail early on a bad brand color
    voice_s = _check_inputs(slides, headlines, voiceover_wav, font, jobs, music, min_s, max_s)
    total_s = target_duration(voice_s, min_s, max_s)
    for job in jobs:
        job.out_path.parent.mkdir(parents=True, exist_ok=True)
    text_dir = Path(tempfile.mkdtemp(prefix="sparklio-render-"))
    written = [job.out_path for job in jobs] + [job.cover_path for job in jobs if job.cover_path]
    written += [stems_path] if stems_path and music else []
    try:
        voice_ready = text_dir / "voice.wav"
        staging = prepare_voice(voiceover_wav, voice_s, total_s, voice_ready)
        staging.update(bed_gain_db(music) if music else {})
        args, _, layouts = build_ffmpeg_args(
            slides, headlines, voice_ready, jobs, font=font, total_s=total_s, accent_hex=accent_hex,
            text_hex=text_hex, music=music, staging=staging,
            stems_path=stems_path, video_encoder=video_encoder, preset=preset, text_dir=text_dir,
        )
        started = time.perf_counter()
        try:
            done = subprocess.run(args, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            for path in written:
                path.unlink(missing_ok=True)
            raise MediaError(f"ffmpeg render timed out after {timeout_s:.0f} s") from None
        encode_seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(text_dir, ignore_errors=True)
    if done.returncode != 0:
        for path in written:
            path.unlink(missing_ok=True)
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-STDERR_TAIL_LINES:]
        raise MediaError("ffmpeg render failed:\n" + "\n".join(tail))
    renders = {}
    for job in jobs:
        facts = summarize(probe(job.out_path))
        renders[job.format.name] = FormatRender(job.format.name, job.out_path, job.cover_path,
                                                layouts[job.format.name], facts["duration_s"])
    first = renders[jobs[0].format.name]
    return VideoRenderResult(
        path=first.path, duration_s=first.duration_s, encode_seconds=encode_seconds, encoder=video_encoder,
        ffmpeg_args=args, formats=renders, stems_path=stems_path if music else None, audio=staging,
    )


def render_video(
    slides: list[Path],
    headlines: list[str],
    voiceover_wav: Path,
    out_path: Path,
    *,
    font: Path,
    subtitles: Path | None = None,
    **options,
) -> VideoRenderResult:
    """The 1080x1920 format alone, every slide in motion (the single-format form of `render_formats`)."""
    job = FormatJob(FORMATS[PRIMARY_FORMAT], Path(out_path), subtitles=Path(subtitles) if subtitles else None)
    return render_formats(slides, headlines, voiceover_wav, [job], font=font, **options)
