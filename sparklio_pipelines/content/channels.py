"""Per-channel copy limits, as data. Copywriting enforces them; asset checks re-check them."""

from __future__ import annotations

from dataclasses import dataclass

# The video step needs a script and headlines even when the brief asks for no shorts post.
ALWAYS_GENERATED: tuple[str, ...] = ("shorts",)


def generated_channels(brief_channels: list[str]) -> list[str]:
    """The channels copy is written for: the brief's, then those every campaign gets."""
    return [*brief_channels, *(c for c in ALWAYS_GENERATED if c not in brief_channels)]


@dataclass(frozen=True)
class FieldLimit:
    """Bounds for one text field. Lengths are Python characters (a Hangul syllable counts as 1)."""

    max_chars: int
    min_chars: int = 1
    min_words: int | None = None  # checked only where set (English voiceover)
    max_words: int | None = None


@dataclass(frozen=True)
class ChannelLimits:
    """Text fields of one channel's post, plus list-shaped extras."""

    channel: str
    fields: dict[str, FieldLimit]
    max_hashtags: int | None = None  # instagram only
    headline_count: tuple[int, int] | None = None  # shorts: (min, max) on-screen headlines
    headline_max_chars: int | None = None


# Hashtag text (`#word`) has its own limits so one tag cannot swallow a caption.
HASHTAG_MAX_CHARS = 40


def channel_limits(channel: str, language: str) -> ChannelLimits:
    """Limits for a channel in a language ('ko' or 'en'). Raises KeyError for an unknown channel."""
    korean = language == "ko"
    if channel == "instagram":
        return ChannelLimits("instagram", {"caption": FieldLimit(2200)}, max_hashtags=30)
    if channel == "x":
        return ChannelLimits("x", {"text": FieldLimit(280)})
    if channel == "linkedin":
        return ChannelLimits("linkedin", {"text": FieldLimit(3000)})
    if channel == "email":
        return ChannelLimits(
            "email",
            {"subject": FieldLimit(60), "preheader": FieldLimit(100), "body": FieldLimit(2000, min_chars=20)},
        )
    if channel == "shorts":
        # 15-30 s of speech: ~2.3 words/s in English, ~6 syllables/s in Korean.
        script = FieldLimit(180, min_chars=90) if korean else FieldLimit(600, min_words=35, max_words=75)
        return ChannelLimits(
            "shorts",
            {"script": script},
            headline_count=(3, 6),
            headline_max_chars=20 if korean else 40,
        )
    raise KeyError(f"unknown channel {channel!r}")


def word_count(text: str) -> int:
    return len(text.split())
