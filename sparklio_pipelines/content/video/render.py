"""The 9:16 short: slides + headlines + voiceover (+ captions) rendered by ONE ffmpeg filtergraph.

Everything happens inside a single ffmpeg process (no frame-by-frame Python):
- each slide is decoded once, cover-fitted, and animated by `zoompan` straight to the output
  size (Ken Burns). zoompan on a 4x upscale is the textbook recipe but ~6x slower; a 1.25x
  supersample keeps crop rounding below one output pixel at a fraction of the cost
  (see benchmarks/bench_video_render.py);
- `xfade` crossfades consecutive slides; headlines are `drawtext` lines, one headline per slide;
- the voiceover is sped up with `atempo` when it is longer than `max_s`, loudness-normalised with
  `loudnorm` (-16 LUFS, the usual target for mobile/social) and padded with silence to `min_s`;
- optional captions are burned in with libass (`subtitles` filter, fonts from the brand font dir).
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
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
from sparklio_pipelines.content.text import balanced_wrap

WIDTH, HEIGHT, FPS = 1080, 1920, 30
CROSSFADE_S = 0.6
TAIL_S = 0.6  # breath after the last word before the video ends
MOTION_SUPERSAMPLE = 1.25  # zoompan source size relative to the output
ZOOM_RANGE = 0.12  # Ken Burns: 1.00 -> 1.12 (or back) over a slide
LOUDNESS_LUFS = -16.0
HEADLINE_SIZE = 76
HEADLINE_MIN_SIZE = 44
HEADLINE_MAX_WIDTH = 920
HEADLINE_TOP = 260  # px from the top: clear of platform UI, and of captions at the bottom
HEADLINE_FADE_S = 0.3
HEX_COLOR = re.compile(r"^#?[0-9a-fA-F]{6}$")
STDERR_TAIL_LINES = 12


@dataclass
class VideoRenderResult:
    path: Path
    duration_s: float
    encode_seconds: float  # wall time of the ffmpeg run
    encoder: str
    ffmpeg_args: list[str]


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


def tempo_factors(voice_s: float, target_s: float) -> list[float]:
    """atempo steps that fit the voiceover (plus tail) into target_s; each <= 2 for quality."""
    speed = (voice_s + TAIL_S) / target_s
    if speed <= 1.0 + 1e-6:
        return []
    factors: list[float] = []
    while speed > 2.0:
        factors.append(2.0)
        speed /= 2.0
    factors.append(speed)
    return factors


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


def wrap_headline(text: str, font: Path, max_width: int = HEADLINE_MAX_WIDTH) -> tuple[list[str], int]:
    """Lines and font size: word-wrap (eojeol for Korean), shrinking the size if a word won't fit.

    Lines are balanced (no one-word orphan): the narrowest width giving the same line count wins.
    """
    words = text.split()
    if not words:
        return [], HEADLINE_SIZE
    size = HEADLINE_SIZE
    while True:
        face = ImageFont.truetype(str(font), size)
        width = face.getlength
        if all(width(w) <= max_width for w in words) or size <= HEADLINE_MIN_SIZE:
            break
        size -= 4
    lines = balanced_wrap(text, width, max_width, precision=8) or []
    return lines, size


def ffmpeg_color(hex_color: str, alpha: float | None = None) -> str:
    if not HEX_COLOR.match(hex_color or ""):
        raise MediaError(f"colors must look like #1A2B3C, got {hex_color!r}")
    color = "0x" + hex_color.lstrip("#").upper()
    return f"{color}@{alpha}" if alpha is not None else color


# --- validation -----------------------------------------------------------------------------


def _check_inputs(
    slides: list[Path], headlines: list[str], voiceover_wav: Path, font: Path,
    subtitles: Path | None, min_s: float, max_s: float,
) -> float:
    """Raises MediaError for bad inputs; returns the voiceover duration."""
    if not slides:
        raise MediaError("render_video needs at least one slide")
    if len(headlines) > len(slides):
        raise MediaError(f"{len(headlines)} headlines for {len(slides)} slides: one headline per slide at most")
    if not 0 < min_s <= max_s:
        raise MediaError(f"need 0 < min_s <= max_s, got min_s={min_s}, max_s={max_s}")
    for path in [*slides, voiceover_wav, font] + ([subtitles] if subtitles else []):
        if not Path(path).is_file():
            raise MediaError(f"input file not found: {path}")
    for slide in slides:
        facts = summarize(probe(slide))
        if not facts["width"]:
            raise MediaError(f"slide is not an image: {Path(slide).name}")
    voice = summarize(probe(voiceover_wav))
    if not voice["has_audio"] or voice["duration_s"] <= 0:
        raise MediaError(f"voiceover has no audio: {Path(voiceover_wav).name}")
    return voice["duration_s"]


# --- filtergraph ----------------------------------------------------------------------------


CLIP_SUFFIXES = (".mp4", ".webm", ".mov")  # a slide with one of these is a moving clip, not a still


def _clip_stream(path: Path, frames: int):
    """A short clip (e.g. AnimateDiff) as a slide: looped, cover-fitted, at FPS, cut to the slide's length."""
    return (
        ffmpeg.input(str(path), stream_loop=-1).video
        .filter("fps", FPS)
        .filter("scale", WIDTH, HEIGHT, force_original_aspect_ratio="increase", flags="lanczos")
        .filter("crop", WIDTH, HEIGHT)
        .filter("format", "yuv420p")
        .filter("trim", end_frame=frames)
        .filter("setpts", "PTS-STARTPTS")
        .filter("setsar", 1)
    )


def _slide_stream(path: Path, index: int, frames: int):
    """One still -> `frames` frames of Ken Burns motion at the output size (a clip plays instead)."""
    if Path(path).suffix.lower() in CLIP_SUFFIXES:
        return _clip_stream(path, frames)
    src_w = int(WIDTH * MOTION_SUPERSAMPLE) // 2 * 2
    src_h = int(HEIGHT * MOTION_SUPERSAMPLE) // 2 * 2
    progress = f"on/{frames}"
    zoom_in = index % 2 == 0
    zoom = f"1+{ZOOM_RANGE}*{progress}" if zoom_in else f"1+{ZOOM_RANGE}*(1-{progress})"
    drift = (0.0, 0.5, 0.0, -0.5)[index % 4]  # alternate a gentle sideways pan
    return (
        ffmpeg.input(str(path))
        .filter("scale", src_w, src_h, force_original_aspect_ratio="increase", flags="lanczos")
        .filter("crop", src_w, src_h)
        .filter("format", "yuv420p")
        .filter(
            "zoompan",
            z=zoom,
            x=f"(iw-iw/zoom)*(0.5+{drift}*({progress}-0.5))",
            y="(ih-ih/zoom)/2",
            d=frames,
            s=f"{WIDTH}x{HEIGHT}",
            fps=FPS,
        )
        .filter("setsar", 1)
    )


def _write_text(folder: Path, name: str, text: str) -> Path:
    # drawtext reads text from a file: no filtergraph escaping of user text at all.
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _draw_headlines(video, headlines: list[str], timing: SlideTiming, font: Path, text_hex: str,
                    accent_hex: str, folder: Path):
    color, accent = ffmpeg_color(text_hex), ffmpeg_color(accent_hex)
    for index, headline in enumerate(headlines):
        lines, size = wrap_headline(headline.strip(), font)
        if not lines:
            continue
        start, end = timing.starts_s[index], timing.ends_s[index]
        fade = HEADLINE_FADE_S
        alpha = f"max(0,min(1,min((t-{start:.3f})/{fade},({end:.3f}-t)/{fade})))"
        line_height = int(size * 1.45)
        for number, line in enumerate(lines):
            video = video.filter(
                "drawtext",
                fontfile=str(font),
                textfile=str(_write_text(folder, f"headline-{index}-{number}.txt", line)),
                expansion="none",
                fontsize=size,
                fontcolor=color,
                box=1,
                boxcolor="0x000000@0.5",
                boxborderw=18,
                borderw=2,
                bordercolor=accent,
                shadowcolor="0x000000@0.6",
                shadowx=3,
                shadowy=3,
                x="(w-text_w)/2",
                y=HEADLINE_TOP + number * line_height,
                alpha=alpha,
                enable=f"between(t,{start:.3f},{end:.3f})",
            )
    return video


def _audio_stream(voiceover_wav: Path, voice_s: float, total_s: float):
    audio = ffmpeg.input(str(voiceover_wav)).audio
    for factor in tempo_factors(voice_s, total_s):
        audio = audio.filter("atempo", f"{factor:.5f}")
    # loudnorm works at 192 kHz internally; resample back for AAC.
    audio = audio.filter("loudnorm", i=LOUDNESS_LUFS, tp=-1.5, lra=11)
    audio = audio.filter("aresample", 48000).filter("aformat", sample_fmts="fltp", channel_layouts="stereo")
    return audio.filter("apad", whole_dur=f"{total_s:.3f}")


def _encoder_args(video_encoder: str, preset: str) -> dict:
    args = h264_args(video_encoder, preset=preset, crf=21)
    options = {"vcodec": args[1], "g": FPS * 2}
    options.update({flag.lstrip("-"): value for flag, value in zip(args[2::2], args[3::2])})
    if video_encoder == SOFTWARE_H264:
        options["profile:v"] = "high"
    return options


def build_ffmpeg_args(
    slides: list[Path], headlines: list[str], voiceover_wav: Path, out_path: Path, *, font: Path,
    voice_s: float, accent_hex: str, text_hex: str, min_s: float, max_s: float,
    subtitles: Path | None, video_encoder: str, preset: str, text_dir: Path,
) -> tuple[list[str], float]:
    """The whole render as one ffmpeg command line, and the video duration it produces."""
    total_s = target_duration(voice_s, min_s, max_s)
    timing = plan_slides(len(slides), total_s)
    video = _slide_stream(slides[0], 0, timing.frames_per_slide)
    for index, slide in enumerate(slides[1:], start=1):
        following = _slide_stream(slide, index, timing.frames_per_slide)
        video = ffmpeg.filter(
            [video, following], "xfade", transition="fade", duration=CROSSFADE_S, offset=timing.offsets_s[index - 1]
        )
    video = _draw_headlines(video, headlines, timing, font, text_hex, accent_hex, text_dir)
    if subtitles is not None:
        video = burn_subtitles(video, subtitles, font)
    video = video.filter("format", "yuv420p")
    audio = _audio_stream(voiceover_wav, voice_s, total_s)
    output = ffmpeg.output(
        video, audio, str(out_path),
        t=f"{total_s:.3f}", r=FPS, pix_fmt="yuv420p", movflags="+faststart",
        acodec="aac", **{"b:a": "160k"}, ar=48000,
        **_encoder_args(video_encoder, preset),
    )
    args = ffmpeg.compile(output, cmd=ffmpeg_bin(), overwrite_output=True)
    # -nostdin: never wait on a terminal; -hide_banner keeps the error tail useful.
    return [args[0], "-hide_banner", "-nostdin", *args[1:]], total_s


# --- render ---------------------------------------------------------------------------------


def render_video(
    slides: list[Path],
    headlines: list[str],
    voiceover_wav: Path,
    out_path: Path,
    *,
    font: Path,
    accent_hex: str = "#F4B942",
    text_hex: str = "#FFFFFF",
    min_s: float = 15,
    max_s: float = 30,
    subtitles: Path | None = None,
    video_encoder: str | None = None,
    preset: str = "veryfast",
    timeout_s: float = 1800,
) -> VideoRenderResult:
    """Render a 1080x1920 30 fps H.264/AAC MP4 of min_s..max_s seconds in one ffmpeg run."""
    video_encoder = video_encoder or h264_encoder()  # NVENC on the GPU desktop, else libx264
    slides = [Path(p) for p in slides]
    voiceover_wav, out_path, font = Path(voiceover_wav), Path(out_path), Path(font)
    subtitles = Path(subtitles) if subtitles is not None else None
    ffmpeg_color(accent_hex), ffmpeg_color(text_hex)  # fail early on a bad brand color
    voice_s = _check_inputs(slides, headlines, voiceover_wav, font, subtitles, min_s, max_s)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    text_dir = Path(tempfile.mkdtemp(prefix="sparklio-render-"))
    try:
        args, _ = build_ffmpeg_args(
            slides, headlines, voiceover_wav, out_path, font=font, voice_s=voice_s, accent_hex=accent_hex,
            text_hex=text_hex, min_s=min_s, max_s=max_s, subtitles=subtitles, video_encoder=video_encoder,
            preset=preset, text_dir=text_dir,
        )
        started = time.perf_counter()
        try:
            done = subprocess.run(args, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            out_path.unlink(missing_ok=True)
            raise MediaError(f"ffmpeg render timed out after {timeout_s:.0f} s") from None
        encode_seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(text_dir, ignore_errors=True)
    if done.returncode != 0:
        out_path.unlink(missing_ok=True)
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-STDERR_TAIL_LINES:]
        raise MediaError("ffmpeg render failed:\n" + "\n".join(tail))
    facts = summarize(probe(out_path))
    return VideoRenderResult(
        path=out_path, duration_s=facts["duration_s"], encode_seconds=encode_seconds,
        encoder=video_encoder, ffmpeg_args=args,
    )
