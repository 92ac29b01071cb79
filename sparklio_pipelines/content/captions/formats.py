"""Caption files: SRT, WebVTT, ASS (word-by-word karaoke highlight) and the timed words as JSON."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

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


def _line_tokens(cue: Cue) -> list[list[tuple[str, int | None]]]:
    """Each line's tokens with the index of the word each starts (None: a hard-broken word's continuation)."""
    # Lines are the words' pieces joined by spaces (see wrap_lines), so walk pieces in order.
    width = max((len(line) for line in cue.lines), default=1) or 1
    pieces: list[tuple[str, int | None]] = []
    for index, word in enumerate(cue.words):
        for n, piece in enumerate(_word_pieces(word.text, width)):
            pieces.append((piece, index if n == 0 else None))
    lines, position = [], 0
    for line in cue.lines:
        tokens = []
        for token in line.split(" "):
            tokens.append((token, pieces[position][1] if position < len(pieces) else None))
            position += 1
        lines.append(tokens)
    return lines


def _karaoke_text(cue: Cue) -> str:
    """Lines with a \\k tag per word: each word turns from primary to highlight as it is spoken."""
    out_lines: list[str] = []
    cursor = cue.start
    for tokens in _line_tokens(cue):
        parts: list[str] = []
        for token, word_index in tokens:
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


def _word_spans(cue: Cue) -> list[tuple[float, float]]:
    """When each word of a cue is the current one: from its start to the next word's (the cue's end)."""
    starts = [cue.start] + [w.start for w in cue.words[1:]]
    ends = starts[1:] + [cue.end]
    return [(max(a, cue.start), max(b, a + 0.01)) for a, b in zip(starts, ends)]


def _styled_words(cue: Cue, current: int, style_word, style_other) -> str:
    """The cue's lines with the word `current` (and its continuations) styled by `style_word`, the
    others by `style_other(token, word_index)`."""
    out_lines, owner = [], None
    for tokens in _line_tokens(cue):
        parts = []
        for token, word_index in tokens:
            owner = word_index if word_index is not None else owner
            text = _ass_escape(token)
            parts.append(style_word(text) if owner == current else style_other(text, owner))
        out_lines.append(" ".join(parts))
    return "\\N".join(out_lines)


CAPTION_PRESETS = ("karaoke", "box", "pop", "plain")
BOX_BORDER_PX = 14  # the coloured box behind the spoken word is a thick outline in the highlight colour


def _preset_events(cue: Cue, preset: str, colours: dict[str, str], outline_px: int) -> list[tuple[float, float, str]]:
    """(start, end, text) events of one cue in a preset:
    karaoke: one event, a \\k tag per word (the word lights up in the highlight colour as it is spoken);
    box: one event per word, the spoken word on a highlight-coloured box in the outline colour;
    pop: one event per word, words so far shown, later ones transparent (the lines never move),
         the new word popping in from 125% size;
    plain: one event, the lines, no override tags."""
    if preset == "plain":
        return [(cue.start, cue.end, "\\N".join(_ass_escape(line) for line in cue.lines))]
    if preset == "karaoke" or not cue.words:
        return [(cue.start, cue.end, _karaoke_text(cue))]
    events = []
    for current, (start, end) in enumerate(_word_spans(cue)):
        if preset == "box":
            text = _styled_words(
                cue, current,
                lambda t: f"{{\\1c{colours['outline']}\\3c{colours['highlight']}\\bord{BOX_BORDER_PX}}}{t}"
                          f"{{\\1c{colours['primary']}\\3c{colours['outline']}\\bord{outline_px}}}",
                lambda t, _i: t,
            )
        elif preset == "pop":
            text = _styled_words(
                cue, current,
                lambda t: f"{{\\fscx125\\fscy125\\t(0,120,\\fscx100\\fscy100)}}{t}{{\\fscx100\\fscy100}}",
                lambda t, i: t if i is not None and i < current else f"{{\\alpha&HFF&}}{t}{{\\alpha&H00&}}",
            )
        else:
            raise ValueError(f"caption preset must be one of {', '.join(CAPTION_PRESETS)}, not {preset!r}")
        events.append((start, end, text))
    return events


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
    preset: str = "karaoke",
    placements: list | None = None,
) -> str:
    """ASS subtitles in a caption style preset (see `_preset_events`), for a frame of width x height.

    Without `placements`, "bottom" sits above the bottom ~22% where Shorts/Reels/TikTok draw their
    UI; side margins keep clear of the right-hand action buttons. With them (content/captions/
    placement.py), each cue is pinned (\\an, \\pos, \\fs) where it keeps clear of on-screen text.
    """
    if preset not in CAPTION_PRESETS:
        raise ValueError(f"caption preset must be one of {', '.join(CAPTION_PRESETS)}, not {preset!r}")
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
    colours = {"primary": _ass_colour(primary), "highlight": _ass_colour(highlight), "outline": _ass_colour(outline)}
    events = []
    for number, cue in enumerate(cues):
        pin = ""
        if placements is not None:
            place = placements[number]
            pin = f"{{\\an{place.align}\\pos({place.x},{place.y})\\fs{place.px}}}"
        for start, end, text in _preset_events(cue, preset, colours, outline_px):
            events.append(f"Dialogue: 0,{_ass_clock(start)},{_ass_clock(end)},Caption,,0,0,0,,{pin}{text}")
    return header + "\n" + "\n".join(events) + "\n"


ASS_EVENT = re.compile(r"^Dialogue:\s*\d+,(\d+):(\d\d):(\d\d)\.(\d\d),(\d+):(\d\d):(\d\d)\.(\d\d),[^,]*,[^,]*,"
                       r"\d+,\d+,\d+,[^,]*,(.*)$")
ASS_TAGS = re.compile(r"\{[^}]*\}")


@dataclass(frozen=True)
class AssEvent:
    start: float
    end: float
    align: int | None
    pos: tuple[int, int] | None
    size: int | None
    lines: list[str]  # the text shown, tags removed (transparent words still take their place)
    raw: str


def parse_ass_events(text: str) -> list[AssEvent]:
    """Dialogue events back from an ASS file: times, the \\an/\\pos/\\fs pin, and the lines."""
    events = []
    for line in text.splitlines():
        match = ASS_EVENT.match(line.strip())
        if not match:
            continue
        h1, m1, s1, c1, h2, m2, s2, c2 = (int(g) for g in match.groups()[:8])
        body = match.group(9)
        align = re.search(r"\\an(\d)", body)
        pos = re.search(r"\\pos\((-?\d+),(-?\d+)\)", body)
        size = re.search(r"\\fs(\d+)", body)
        events.append(AssEvent(
            start=h1 * 3600 + m1 * 60 + s1 + c1 / 100, end=h2 * 3600 + m2 * 60 + s2 + c2 / 100,
            align=int(align.group(1)) if align else None,
            pos=(int(pos.group(1)), int(pos.group(2))) if pos else None,
            size=int(size.group(1)) if size else None,
            lines=ASS_TAGS.sub("", body).split("\\N"), raw=body,
        ))
    return events
