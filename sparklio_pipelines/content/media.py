"""ffmpeg/ffprobe location and probing, shared by every media step."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from pathlib import Path

from sparklio_common.settings import settings


class MediaError(RuntimeError):
    """A media file that is not what it claims to be, or an ffmpeg failure."""


@functools.lru_cache(maxsize=1)
def ffmpeg_bin() -> str:
    """`SPARKLIO_FFMPEG`, then ffmpeg on PATH (Debian's has libass and libx264)."""
    found = settings().ffmpeg or shutil.which("ffmpeg")
    if not found:
        raise MediaError("ffmpeg not found: install Debian's ffmpeg or set SPARKLIO_FFMPEG")
    return found


@functools.lru_cache(maxsize=1)
def ffprobe_bin() -> str:
    found = settings().ffprobe or shutil.which("ffprobe")
    if not found:
        sibling = Path(ffmpeg_bin()).with_name("ffprobe")
        if sibling.exists():
            return str(sibling)
        raise MediaError("ffprobe not found: install Debian's ffmpeg or set SPARKLIO_FFPROBE")
    return found


def probe(path: str | Path, timeout: float = 60) -> dict:
    """ffprobe's JSON for a file or URL: `format` and `streams`. Raises MediaError on a corrupt file."""
    if str(path).startswith("file://"):  # ffmpeg does not percent-decode file URIs
        from urllib.parse import unquote, urlparse

        path = unquote(urlparse(str(path)).path)
    cmd = [ffprobe_bin(), "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)]
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise MediaError(f"ffprobe timed out on {str(path).split('?')[0].rsplit('/', 1)[-1]}") from None
    if out.returncode != 0:
        reason = out.stderr.decode(errors="replace").strip().splitlines()
        raise MediaError(f"not a readable media file: {reason[-1] if reason else 'ffprobe failed'}")
    return json.loads(out.stdout or b"{}")


def summarize(info: dict) -> dict:
    """The facts checks care about: duration, size, codecs, whether there is audio."""
    streams = info.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    duration = float(info.get("format", {}).get("duration") or 0.0)
    return {
        "duration_s": duration,
        "width": int(video["width"]) if video else 0,
        "height": int(video["height"]) if video else 0,
        "video_codec": video.get("codec_name") if video else None,
        "audio_codec": audio.get("codec_name") if audio else None,
        "has_audio": audio is not None,
    }


# H.264 encoders in order of preference: NVENC on the GPU desktop, libx264 everywhere.
HARDWARE_H264 = "h264_nvenc"
SOFTWARE_H264 = "libx264"


def encoder_works(encoder: str, timeout: float = 30) -> bool:
    """A real probe encode: NVENC can be compiled in and still fail (no GPU, old driver)."""
    cmd = [
        ffmpeg_bin(), "-hide_banner", "-nostdin", "-loglevel", "error",
        "-f", "lavfi", "-i", "color=c=black:s=256x256:r=30", "-frames:v", "5",
        "-c:v", encoder, "-f", "null", "-",
    ]  # fmt: skip
    try:
        return subprocess.run(cmd, capture_output=True, timeout=timeout, check=False).returncode == 0
    except (subprocess.TimeoutExpired, OSError):
        return False


@functools.lru_cache(maxsize=1)
def h264_encoder() -> str:
    """`SPARKLIO_VIDEO_ENCODER` if set; else h264_nvenc when a probe encode works; else libx264.

    Probed once per process, so each render does not pay for it.
    """
    chosen = settings().video_encoder
    if chosen != "auto":
        return chosen
    return HARDWARE_H264 if encoder_works(HARDWARE_H264) else SOFTWARE_H264


def h264_args(encoder: str, preset: str = "veryfast", crf: int = 21) -> list[str]:
    """Quality arguments per encoder: libx264 takes preset + CRF; NVENC its own presets + CQ."""
    if encoder == SOFTWARE_H264:
        return ["-c:v", encoder, "-preset", preset, "-crf", str(crf)]
    if encoder == HARDWARE_H264:
        return ["-c:v", encoder, "-preset", "p5", "-rc", "vbr", "-cq", str(crf + 2), "-b:v", "0"]
    return ["-c:v", encoder, "-b:v", "8M"]  # e.g. h264_videotoolbox takes a bitrate
