"""Caption files: SRT, WebVTT, ASS (word-by-word karaoke highlight) and the timed words as JSON."""

from __future__ import annotations

import json
import re

from sparklio_common.model_io import Word
from sparklio_pipelines.content.captions.cues import Cue


def _clock(seconds: float, separator: str) -> str:
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def to_srt(cues: list[Cue]) -> str:
    blocks = [
        f"{n}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n" + "\n".join(c.lines) + "\n"
        for n, c in enumerate(cues, start=1)
    ]
    return "\n".join(blocks)


def to_vtt(cues: list[Cue]) -> str:
    blocks = [
        f"{n}\n{_clock(c.start, '.')} --> {_clock(c.end, '.')}\n" + "\n".join(c.lines) + "\n"
        for n, c in enumerate(cues, start=1)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def words_json(words: list[Word]) -> str:
    return json.dumps(
        [
            {"text": w.text, "start": round(w.start, 3), "end": round(w.end, 3), "probability": round(w.probability, 4)}
            for w in words
        ],
        ensure_ascii=False,
        indent=1,
    )


def _ass_colour(hex_colour: str, alpha: int = 0) -> str:
    value = hex_colour.lstrip("#")
    if not re.fullmatch(r"[0-9a-fA-F]{6}", value):
        raise ValueError(f"not a #RRGGBB colour: {hex_colour!r}")
    red, green, blue = value[0:2], value[2:4], value[4:6]
    return f"&H{alpha:02X}{blue}{green}{red}".upper()


def _ass_clock(seconds: float) -> str:
    cs = max(0, round(seconds * 100))
    hours, cs = divmod(cs, 360_000)
    minutes, cs = divmod(cs, 6000)
    secs, cs = divmod(cs, 100)
    return f"{hours:d}:{minutes:02d}:{secs:02d}.{cs:02d}"


def _ass_escape(text: str) -> str:
    # Braces open override blocks and a backslash starts a tag: keep them literal-ish.
    return text.replace("\\", "/").replace("{", "(").replace("}", ")")

def _word_pieces(text: str, max_chars: int) -> list[str]:
    """A word as `wrap_lines` breaks it when it is longer than a line."""
    return [text[i : i + max_chars] for i in range(0, len(text), max_chars)] if len(text) > max_chars else [text]


def _karaoke_text(cue: Cue) -> str:
    """Lines with a \\k tag per word: each word turns from primary to highlight as it is spoken."""
    # Lines are the words' pieces joined by spaces (see wrap_lines), so walk pieces in order.
    width = max((len(line) for line in cue.lines), default=1) or 1
    pieces: list[tuple[str, int | None]] = []
    for index, word in enumerate(cue.words):
        for n, piece in enumerate(_word_pieces(word.text, width)):
            pieces.append((piece, index if n == 0 else None))
    out_lines: list[str] = []
    cursor = cue.start
    position = 0
    for line in cue.lines:
        parts: list[str] = []
        for token in line.split(" "):
            piece, word_index = pieces[position] if position < len(pieces) else (token, None)
            position += 1
            if word_index is None:  # continuation of a hard-broken word: shares its timing
                parts.append(_ass_escape(token))
                continue
            word = cue.words[word_index]
            following = cue.words[word_index + 1].start if word_index + 1 < len(cue.words) else cue.end
            lead = ""
            if word.start > cursor + 0.005:  # silence before the word: an empty timed gap
                lead = f"{{\\k{round((word.start - cursor) * 100)}}}"
                cursor = word.start
            duration = max(following, word.end, cursor) - cursor
            cursor += duration
            parts.append(f"{lead}{{\\k{max(1, round(duration * 100))}}}{_ass_escape(token)}")
        out_lines.append(" ".join(parts))
    return "\\N".join(out_lines)


def to_ass(
    cues: list[Cue],
    *,
    width: int = 1080,
    height: int = 1920,
    font_name: str = "Noto Sans CJK KR",
    font_size: int = 64,
    primary: str = "#FFFFFF",
    highlight: str = "#F4B942",
    outline: str = "#000000",
    position: str = "bottom",
) -> str:
    """ASS subtitles with word-by-word karaoke highlight for a 9:16 frame.

    "bottom" sits above the bottom ~22% where Shorts/Reels/TikTok draw their UI; side margins
    keep clear of the right-hand action buttons.
    """
    alignment = {"bottom": 2, "middle": 5, "top": 8}.get(position)
    if alignment is None:
        raise ValueError(f"position must be bottom, middle or top, not {position!r}")
    margin_v = round(height * 0.22) if position == "bottom" else round(height * 0.12)
    margin_h = round(width * 0.10)
    outline_px = max(2, round(font_size / 16))
    # With \k, text starts in SecondaryColour and switches to PrimaryColour when its time comes.
    style = ",".join(
        [
            "Style: Caption",
            font_name,
            str(font_size),
            _ass_colour(highlight),
            _ass_colour(primary),
            _ass_colour(outline),
            _ass_colour(outline, alpha=0x80),
            "-1", "0", "0", "0", "100", "100", "0", "0", "1",
            str(outline_px), "0", str(alignment), str(margin_h), str(margin_h), str(margin_v), "1",
        ]
    )  # fmt: skip
    header = "\n".join(
        [
            "[Script Info]",
            "ScriptType: v4.00+",
            f"PlayResX: {width}",
            f"PlayResY: {height}",
            "WrapStyle: 2",  # lines are already broken by build_cues
            "ScaledBorderAndShadow: yes",
            "YCbCr Matrix: TV.709",
            "",
            "[V4+ Styles]",
            "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
            "Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, "
            "Shadow, Alignment, MarginL, MarginR, MarginV, Encoding",
            style,
            "",
            "[Events]",
            "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
        ]
    )
    events = [
        f"Dialogue: 0,{_ass_clock(c.start)},{_ass_clock(c.end)},Caption,,0,0,0,,{_karaoke_text(c)}" for c in cues
    ]
    return header + "\n" + "\n".join(events) + "\n"
