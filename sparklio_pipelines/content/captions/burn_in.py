"""Burn-in: captions drawn into the picture by libass, the one `subtitles` filter every render uses."""

from __future__ import annotations

import subprocess
from pathlib import Path

import ffmpeg
from PIL import ImageFont

from sparklio_pipelines.content.fonts import find_font
from sparklio_pipelines.content.media import (
    MediaError,
    ffmpeg_bin,
    h264_args,
    h264_encoder,
    probe,
)

# SRT carries no style (ASS files keep their own); sizes are in libass's 384x288 script space.
SRT_STYLE = ("FontName={family},Fontsize=13,Bold=1,PrimaryColour=&H00FFFFFF,OutlineColour=&H00000000,"
             "BorderStyle=1,Outline=1.2,Shadow=0,Alignment=2,MarginV=38")


def burn_subtitles(video, subtitles: Path, font: Path):
    """`video` (an ffmpeg-python stream) with `subtitles` (ASS or SRT) drawn in, fonts from beside `font`."""
    kwargs = {"filename": str(subtitles), "fontsdir": str(Path(font).parent)}
    if Path(subtitles).suffix.lower() == ".srt":
        kwargs["force_style"] = SRT_STYLE.format(family=ImageFont.truetype(str(font), 12).getname()[0])
    return video.filter("subtitles", **kwargs)


def burn_in(video: Path, subtitles: Path, out: Path, *, font: Path | None = None) -> None:
    """Render the captions into the picture, copying the audio untouched."""
    burn_in_all([(video, subtitles, out)], font=font)


def burn_in_all(jobs: list[tuple[Path, Path, Path]], *, font: Path | None = None) -> None:
    """Each (video, subtitles, out) burned in, all in one ffmpeg run: the formats' encoders overlap
    instead of taking turns, and the fonts load once (benchmarks/bench_caption_burn_in.py)."""
    jobs = [(Path(video), Path(subtitles), Path(out)) for video, subtitles, out in jobs]
    for path in (p for video, subtitles, _ in jobs for p in (video, subtitles)):
        if not path.is_file():
            raise MediaError(f"burn-in input missing: {path}")
    font = Path(font) if font else find_font()
    encoder = h264_args(h264_encoder(), crf=20)
    video_options = {"vcodec": encoder[1],
                     **{flag.lstrip("-"): value for flag, value in zip(encoder[2::2], encoder[3::2])}}
    outputs = []
    for video, subtitles, out in jobs:
        source = ffmpeg.input(str(video))
        streams = [burn_subtitles(source.video, subtitles, font).filter("format", "yuv420p")]
        options = dict(video_options)
        if any(s.get("codec_type") == "audio" for s in probe(video).get("streams", [])):
            streams.append(source.audio)
            options["acodec"] = "copy"
        out.parent.mkdir(parents=True, exist_ok=True)
        outputs.append(ffmpeg.output(*streams, str(out), movflags="+faststart", **options))
    args = ffmpeg.compile(ffmpeg.merge_outputs(*outputs), cmd=ffmpeg_bin(), overwrite_output=True)
    result = subprocess.run([args[0], "-hide_banner", "-nostdin", *args[1:]], capture_output=True, check=False)
    if result.returncode != 0 or any(not out.is_file() or out.stat().st_size == 0 for _, _, out in jobs):
        tail = result.stderr.decode(errors="replace").strip().splitlines()[-6:]
        names = ", ".join(video.name for video, _, _ in jobs)
        raise MediaError(f"caption burn-in failed ({names}): " + " | ".join(tail))
    for _, _, out in jobs:
        probe(out)  # raises MediaError if ffmpeg wrote something unreadable
