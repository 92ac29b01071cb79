"""Object keys. Names that come from uploads are sanitized here and nowhere else."""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_CHARS = 120
_UNSAFE = re.compile(r"[^\w.\- ]", re.UNICODE)  # \w keeps Hangul and other letters
_SPACES = re.compile(r"\s+")


class UnsafeKeyError(ValueError):
    """An object key that would escape its prefix or is otherwise unusable."""


def sanitize_name(name: str, *, default: str = "file") -> str:
    """One safe path segment from an uploaded file name.

    Keeps letters (Hangul included), digits, '.', '-', '_'; spaces become '_'.
    Any directory part, '..', control character or leading dot is removed.
    """
    name = unicodedata.normalize("NFC", str(name))
    name = name.replace("\\", "/").split("/")[-1]  # drop any directory part, Windows ones too
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = _UNSAFE.sub("_", name)
    name = _SPACES.sub("_", name.strip())
    name = re.sub(r"\.{2,}", ".", name).lstrip("._-")
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:10] if dot else ""
        name = (stem if dot else name)[: MAX_NAME_CHARS - len(ext) - 1] + (f".{ext}" if ext else "")
        name = re.sub(r"\.{2,}", ".", name)  # the cut can end the stem on a '.', next to the extension's
    return name or default


def join_key(*parts: str) -> str:
    """Join trusted prefix parts and sanitized segments; refuses traversal outright."""
    segments: list[str] = []
    for part in parts:
        for segment in str(part).split("/"):
            if segment in ("", "."):
                continue
            if segment == ".." or "\\" in segment or any(unicodedata.category(c)[0] == "C" for c in segment):
                raise UnsafeKeyError(f"unsafe object key segment {segment!r}")
            segments.append(segment)
    if not segments:
        raise UnsafeKeyError("empty object key")
    return "/".join(segments)


def validate_key(key: str) -> str:
    """A key read back from storage or passed by a caller: must be relative and traversal-free."""
    if key.startswith("/"):
        raise UnsafeKeyError(f"object key must be relative: {key!r}")
    normalized = join_key(key)
    if normalized != key.rstrip("/"):
        raise UnsafeKeyError(f"object key is not normalized: {key!r}")
    return normalized


def campaign_key(campaign_id: str, *parts: str) -> str:
    """`campaigns/<campaign>/...`: where every campaign output lives."""
    return join_key("campaigns", campaign_id, *parts)


# --- campaign outputs: campaigns/<campaign>/... --------------------------------------------------

# Caption files per language; uploaded videos use the same names but for the captioned video's.
CAPTION_FILES = {"srt": "captions.srt", "vtt": "captions.vtt", "ass": "captions.ass",
                 "words": "words.json", "burned": "video-captioned.mp4"}
FORMAT_CAPTION_KINDS = ("ass", "burned")
UPLOAD_CAPTION_FILES = {**CAPTION_FILES, "burned": "captioned.mp4"}
UPLOAD_CAPTIONS_PREFIX = "uploads/captions"


def brief_input_key(campaign_id: str) -> str:
    """Where the submitted brief (canonical JSON) lives; the `brief` asset reads it."""
    return campaign_key(campaign_id, "input", "brief.json")


def manifest_key(campaign_id: str) -> str:
    return campaign_key(campaign_id, "manifest.json")


def deck_key(campaign_id: str) -> str:
    return campaign_key(campaign_id, "copy", "deck.json")


def channel_key(campaign_id: str, language: str, channel: str) -> str:
    return campaign_key(campaign_id, "copy", language, f"{channel}.json")


def layouts_key(campaign_id: str) -> str:
    """Where each creative's text boxes, colors and safe area are recorded, for the image checks."""
    return campaign_key(campaign_id, "image", "layouts.json")


PRIMARY_VIDEO_FORMAT = "9x16"  # its files keep the plain names; other formats add "-<format>"


def in_format(file_name: str, video_format: str) -> str:
    """`video.mp4` for 9:16, `video-16x9.mp4` for 16:9: one folder per language, every format in it."""
    if video_format == PRIMARY_VIDEO_FORMAT:
        return file_name
    stem, dot, suffix = file_name.rpartition(".")
    return f"{stem}-{video_format}{dot}{suffix}"


def video_key(campaign_id: str, language: str, video_format: str = PRIMARY_VIDEO_FORMAT) -> str:
    return campaign_key(campaign_id, "video", language, in_format("video.mp4", video_format))


def cover_key(campaign_id: str, language: str, video_format: str = PRIMARY_VIDEO_FORMAT) -> str:
    """The cover image (first slide with its headline) of one format."""
    return campaign_key(campaign_id, "video", language, in_format("cover.png", video_format))


def screen_text_key(campaign_id: str, language: str, video_format: str = PRIMARY_VIDEO_FORMAT) -> str:
    """Where and when text is on screen in one format (for caption layout and the overlap check)."""
    return campaign_key(campaign_id, "video", language, in_format("screen-text.json", video_format))


MUSIC_LIBRARY_PREFIX = "music"  # tracks a marketer uploads, each with a `<track>.json` tag file


def music_key(campaign_id: str, language: str) -> str:
    """The music bed as fitted under one language's voiceover."""
    return campaign_key(campaign_id, "video", language, "music.wav")


def stems_key(campaign_id: str, language: str) -> str:
    """The voice (left) and the ducked bed (right) as mixed, for the voice-over-bed check."""
    return campaign_key(campaign_id, "video", language, "stems.wav")


def voiceover_key(campaign_id: str, language: str) -> str:
    return campaign_key(campaign_id, "video", language, "voiceover.wav")


def clip_key(campaign_id: str, suffix: str) -> str:
    return campaign_key(campaign_id, "video", "clip", f"opening-clip{suffix}")


def caption_key(campaign_id: str, language: str, kind: str, video_format: str = PRIMARY_VIDEO_FORMAT) -> str:
    """SRT, VTT and words are the same in every format; the ASS layout and the burned-in video are per format."""
    name = CAPTION_FILES[kind]
    return campaign_key(campaign_id, "captions", language, in_format(name, video_format) if kind in
                        FORMAT_CAPTION_KINDS else name)


def bundle_key(campaign_id: str) -> str:
    return campaign_key(campaign_id, "bundle.zip")


# --- uploaded videos: uploads/captions/<upload>/... -----------------------------------------------


def upload_source_key(partition: str, suffix: str) -> str:
    return join_key(UPLOAD_CAPTIONS_PREFIX, partition, f"source{suffix}")


def upload_caption_key(partition: str, kind: str) -> str:
    return join_key(UPLOAD_CAPTIONS_PREFIX, partition, UPLOAD_CAPTION_FILES[kind])
