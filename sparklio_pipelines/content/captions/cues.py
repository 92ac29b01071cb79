"""Captions: align transcribed words to the known script, cut cues, write SRT/VTT/ASS, burn in.

Limits follow the Netflix timed-text style guides:
- English: 42 characters per line, 2 lines, 20 characters per second (adult programmes).
- Korean: 16 characters per line, 2 lines, 12 characters per second. Hangul syllables are
  full-width and dense (one syllable ~ 2-3 Latin letters of information), hence the lower
  numbers. Characters are counted as Unicode code points including spaces, as the guides do.
"""

from __future__ import annotations

import difflib
import json
import re
import subprocess
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from resources.transcription import Word
from sparklio_pipelines.content.fonts import find_font
from sparklio_pipelines.content.media import MediaError, ffmpeg_bin, h264_args, h264_encoder, probe


@dataclass(frozen=True)
class CueLimits:
    max_chars_per_line: int
    max_lines: int
    max_cps: float
    min_duration: float
    max_duration: float


LANGUAGE_LIMITS = {
    "en": CueLimits(max_chars_per_line=42, max_lines=2, max_cps=20.0, min_duration=0.8, max_duration=6.0),
    "ko": CueLimits(max_chars_per_line=16, max_lines=2, max_cps=12.0, min_duration=0.8, max_duration=6.0),
}
SENTENCE_END = re.compile(r"[.!?…。！？]['\"”’)\]]*$")
PAUSE_BREAK_S = 0.7  # silence long enough that a cue should not span it
# Time given to a script word whisper missed, per character, when there is no gap to fill.
SECONDS_PER_CHAR = {"en": 0.065, "ko": 0.14}


LINGER_S = 0.3  # a cue stays up briefly after its last word (the voice's tail), never past the next cue


def limits_for(language: str) -> CueLimits:
    return LANGUAGE_LIMITS.get(language, LANGUAGE_LIMITS["en"])


# --- text normalisation ---------------------------------------------------------------------


def normalize_token(text: str) -> str:
    """Case-folded, NFC (so composed and decomposed Hangul compare equal), no punctuation."""
    text = unicodedata.normalize("NFC", text).casefold()
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith(("P", "S")) and not ch.isspace())


def script_tokens(script: str) -> list[str]:
    """Display tokens of a script: whitespace-separated (English words, Korean eojeol)."""
    return unicodedata.normalize("NFC", script).split()


# --- alignment ------------------------------------------------------------------------------


def _spread(tokens: list[str], start: float, end: float, probability: float) -> list[Word]:
    """Share [start, end] among tokens in proportion to their length."""
    weights = [max(len(normalize_token(t)), 1) for t in tokens]
    total = sum(weights)
    out: list[Word] = []
    cursor = start
    for token, weight in zip(tokens, weights):
        step = (end - start) * weight / total
        out.append(Word(token, round(cursor, 3), round(cursor + step, 3), probability))
        cursor += step
    return out


def align_to_script(words: list[Word], script: str, language: str) -> list[Word]:
    """The script's words with whisper's timings.

    Whisper's words and the script's words are matched on normalised tokens (difflib).
    Matched words keep whisper's timing; a run of misheard words is replaced by the script's
    run over the same time span (split by length); script words whisper missed get the gap
    between their neighbours, or a length-based share of the neighbouring words' time.
    """
    tokens = script_tokens(script)
    if not tokens:
        return []
    if not words:
        raise ValueError("no transcribed words to align the script to")
    heard = sorted((w for w in words if w.text.strip()), key=lambda w: w.start)
    matcher = difflib.SequenceMatcher(
        a=[normalize_token(t) for t in tokens], b=[normalize_token(w.text) for w in heard], autojunk=False
    )
    # Groups of (script slice, heard slice); equal runs become 1:1 groups.
    groups: list[tuple[int, int, int, int]] = []
    for tag, s1, s2, h1, h2 in matcher.get_opcodes():
        if tag == "equal":
            groups.extend((s1 + k, s1 + k + 1, h1 + k, h1 + k + 1) for k in range(s2 - s1))
        elif tag in ("replace", "delete"):  # "delete": script words whisper did not hear
            groups.append((s1, s2, h1, h2))
        # "insert": whisper heard words the script does not have; they are dropped.

    seconds_per_char = SECONDS_PER_CHAR.get(language, SECONDS_PER_CHAR["en"])
    # Script words whisper missed with no silence to put them in borrow the time of a neighbour.
    merged: list[list[int]] = []
    pending_start: int | None = None  # missed words before the first heard word, no room before it
    for s1, s2, h1, h2 in groups:
        if pending_start is not None:
            s1, pending_start = pending_start, None
        if h1 == h2:
            needed = sum(len(normalize_token(t)) for t in tokens[s1:s2]) * seconds_per_char * 0.5
            next_start = heard[h1].start if h1 < len(heard) else None
            if not merged:
                if next_start is not None and next_start < needed:
                    pending_start = s1
                    continue
            elif merged[-1][3] > merged[-1][2] and next_start is not None:
                if next_start - heard[merged[-1][3] - 1].end < needed:
                    merged[-1][1] = s2
                    continue
        merged.append([s1, s2, h1, h2])

    aligned: list[Word] = []
    for index, (s1, s2, h1, h2) in enumerate(merged):
        group_tokens = tokens[s1:s2]
        if h2 > h1:
            span = heard[h1:h2]
            probability = round(sum(w.probability for w in span) / len(span), 4)
            if s2 - s1 == 1 and h2 - h1 == 1:
                aligned.append(Word(group_tokens[0], span[0].start, span[0].end, probability))
            else:
                aligned.extend(_spread(group_tokens, span[0].start, max(w.end for w in span), probability))
            continue
        # Missed words: fill the gap between the neighbouring heard words.
        length = sum(len(normalize_token(t)) or 1 for t in group_tokens) * seconds_per_char
        prev_end = aligned[-1].end if aligned else None
        next_start = next((heard[g[2]].start for g in merged[index + 1 :] if g[3] > g[2]), None)
        if prev_end is None and next_start is None:
            start, end = 0.0, length
        elif prev_end is None:
            start, end = max(0.0, next_start - length), next_start
        elif next_start is None:
            start, end = prev_end, prev_end + length
        else:
            start, end = prev_end, max(prev_end, next_start)
        aligned.extend(_spread(group_tokens, start, end, 0.0))
    # Whisper's timings are monotonic per word but not always across segments: enforce it.
    for previous, word in zip(aligned, aligned[1:]):
        if word.start < previous.end:
            word.start = previous.end
        if word.end < word.start:
            word.end = word.start
    return aligned


# --- cues -----------------------------------------------------------------------------------


@dataclass
class Cue:
    index: int
    start: float
    end: float
    lines: list[str]
    words: list[Word] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(self.lines)

    @property
    def chars(self) -> int:
        return sum(len(line) for line in self.lines)


def _break_word(token: str, width: int) -> list[str]:
    return [token[i : i + width] for i in range(0, len(token), width)]


def wrap_lines(tokens: list[str], max_chars: int, max_lines: int) -> list[str] | None:
    """Fewest lines (then most balanced) that fit, or None if the tokens do not fit at all."""
    pieces: list[str] = []
    for token in tokens:  # a single word longer than a line is hard-broken
        pieces.extend(_break_word(token, max_chars) if len(token) > max_chars else [token])

    def best(parts: list[str], lines: int) -> list[str] | None:
        joined = " ".join(parts)
        if len(joined) <= max_chars:
            return [joined]
        if lines == 1:
            return None
        options = []
        for cut in range(1, len(parts)):
            head = " ".join(parts[:cut])
            if len(head) > max_chars:
                break
            rest = best(parts[cut:], lines - 1)
            if rest is not None:
                options.append([head, *rest])
        # Prefer the layout whose longest line is shortest; ties go to a shorter top line.
        return min(options, key=lambda o: (max(map(len, o)), len(o[0]))) if options else None

    if not pieces:
        return []
    return best(pieces, max_lines)


def build_cues(
    words: list[Word],
    language: str,
    *,
    max_chars_per_line: int | None = None,
    max_lines: int | None = None,
    max_cps: float | None = None,
    min_duration: float | None = None,
    max_duration: float | None = None,
) -> list[Cue]:
    """Group timed words into non-overlapping cues within the language's limits.

    A cue ends at a sentence end, at a pause, or when one more word would break the line,
    duration or reading-speed limits. Cue ends are then extended into the following silence
    (never past the next cue) to reach min_duration and a readable speed. If the speaker
    talks faster than max_cps the cue stays in sync and `cue_problems` reports it.
    """
    defaults = limits_for(language)
    limits = CueLimits(
        max_chars_per_line=max_chars_per_line or defaults.max_chars_per_line,
        max_lines=max_lines or defaults.max_lines,
        max_cps=max_cps or defaults.max_cps,
        min_duration=defaults.min_duration if min_duration is None else min_duration,
        max_duration=max_duration or defaults.max_duration,
    )
    words = [w for w in words if w.text.strip()]
    groups: list[list[Word]] = []
    current: list[Word] = []

    def fits(candidate: list[Word]) -> bool:
        # Reading speed is not a reason to cut: shorter cues do not give the viewer more time.
        if candidate[-1].end - candidate[0].start > limits.max_duration:
            return False
        return wrap_lines([w.text for w in candidate], limits.max_chars_per_line, limits.max_lines) is not None

    for word in words:
        if current and (word.start - current[-1].end >= PAUSE_BREAK_S or not fits(current + [word])):
            groups.append(current)
            current = []
        current.append(word)
        if SENTENCE_END.search(word.text):
            groups.append(current)
            current = []
    if current:
        groups.append(current)

    groups = _merge_short_groups(groups, limits)
    cues: list[Cue] = []
    for i, group in enumerate(groups):
        start = group[0].start
        next_start = groups[i + 1][0].start if i + 1 < len(groups) else None
        lines = wrap_lines([w.text for w in group], limits.max_chars_per_line, limits.max_lines)
        if lines is None:  # one word too long even for all lines: keep it whole, cue_problems reports it
            lines = wrap_lines([w.text for w in group], limits.max_chars_per_line, 99) or []
        chars = sum(len(line) for line in lines)
        wanted = max(group[-1].end + LINGER_S, start + limits.min_duration, start + chars / limits.max_cps)
        ceiling = start + limits.max_duration
        if next_start is not None:
            ceiling = min(ceiling, next_start)
        end = min(wanted, ceiling)
        end = max(end, min(group[-1].end, start + limits.max_duration))
        cues.append(Cue(index=i + 1, start=round(start, 3), end=round(end, 3), lines=lines, words=list(group)))
    return cues


def _merge_short_groups(groups: list[list[Word]], limits: CueLimits) -> list[list[Word]]:
    """Join a group that cannot reach min_duration (next speech too close) to a neighbour that has room."""

    def ok(group: list[Word]) -> bool:
        lines = wrap_lines([w.text for w in group], limits.max_chars_per_line, limits.max_lines)
        return lines is not None and group[-1].end - group[0].start <= limits.max_duration

    changed = True
    while changed:
        changed = False
        for i, group in enumerate(groups):
            next_start = groups[i + 1][0].start if i + 1 < len(groups) else None
            room = (next_start if next_start is not None else float("inf")) - group[0].start
            if room >= limits.min_duration:
                continue
            if i + 1 < len(groups) and ok(group + groups[i + 1]):
                groups[i : i + 2] = [group + groups[i + 1]]
                changed = True
                break
            if i > 0 and ok(groups[i - 1] + group):
                groups[i - 1 : i + 1] = [groups[i - 1] + group]
                changed = True
                break
    return groups


# --- file formats ---------------------------------------------------------------------------


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
    return _break_word(text, max_chars) if len(text) > max_chars else [text]


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


# --- burn-in --------------------------------------------------------------------------------


def _filter_value(path: Path) -> str:
    """A path as an ffmpeg filter option value: escaped for the option, then for the graph."""
    level1 = re.sub(r"([\\':])", r"\\\1", str(path))
    return re.sub(r"([\\'\[\],;])", r"\\\1", level1)


def burn_in(video: Path, ass: Path, out: Path, *, fonts_dir: Path | None = None) -> None:
    """Render the ASS captions into the picture (libass), copying the audio untouched."""
    video, ass, out = Path(video), Path(ass), Path(out)
    for path in (video, ass):
        if not path.is_file():
            raise MediaError(f"burn-in input missing: {path}")
    fonts_dir = Path(fonts_dir) if fonts_dir else find_font().parent
    vf = f"ass=filename={_filter_value(ass)}:fontsdir={_filter_value(fonts_dir)}"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        ffmpeg_bin(), "-hide_banner", "-nostdin", "-y", "-i", str(video),
        "-map", "0:v:0", "-map", "0:a?", "-vf", vf,
        *h264_args(h264_encoder(), crf=20), "-pix_fmt", "yuv420p",
        "-c:a", "copy", "-movflags", "+faststart", str(out),
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, check=False)
    if result.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
        tail = result.stderr.decode(errors="replace").strip().splitlines()[-6:]
        raise MediaError(f"caption burn-in failed ({video.name}): " + " | ".join(tail))
    probe(out)  # raises MediaError if ffmpeg wrote something unreadable


# --- quality checks -------------------------------------------------------------------------


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def voiced_intervals(
    media: Path, *, frame_s: float = 0.02, threshold_db: float = -35.0, min_gap_s: float = 0.2
) -> list[tuple[float, float]]:
    """Where the audio is voiced, by frame energy relative to the loudest frame.

    Independent of the recogniser, so cue coverage can be checked against the audio itself
    (clean TTS voiceovers have no background noise to confuse an energy detector).
    """
    rate = 16000
    cmd = [ffmpeg_bin(), "-nostdin", "-v", "error", "-i", str(media), "-vn", "-ac", "1", "-ar", str(rate), "-f", "s16le", "-"]
    result = subprocess.run(cmd, capture_output=True, check=False)
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise MediaError(f"cannot decode audio of {Path(media).name}: " + " | ".join(tail))
    samples = np.frombuffer(result.stdout, dtype=np.int16).astype(np.float32) / 32768.0
    hop = int(rate * frame_s)
    frames = samples[: len(samples) // hop * hop].reshape(-1, hop)
    if frames.size == 0:
        return []
    rms = np.sqrt((frames**2).mean(axis=1)) + 1e-9
    voiced = 20 * np.log10(rms / rms.max()) > threshold_db
    intervals: list[tuple[float, float]] = []
    for i in np.flatnonzero(voiced):
        start, end = i * frame_s, (i + 1) * frame_s
        if intervals and start - intervals[-1][1] < min_gap_s:
            intervals[-1] = (intervals[-1][0], end)
        else:
            intervals.append((start, end))
    return [(round(a, 3), round(b, 3)) for a, b in intervals]


def speech_coverage(words: list[Word], cues: list[Cue]) -> float:
    """Fraction of speech time (union of word spans) during which a cue is on screen."""
    speech = _union([(w.start, w.end) for w in words])
    shown = _union([(c.start, c.end) for c in cues])
    total = sum(end - start for start, end in speech)
    if total <= 0:
        return 1.0
    covered = 0.0
    for s_start, s_end in speech:
        for c_start, c_end in shown:
            covered += max(0.0, min(s_end, c_end) - max(s_start, c_start))
    return covered / total


def _edit_distance(a: list[str], b: list[str]) -> int:
    previous = list(range(len(b) + 1))
    for i, item in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, other in enumerate(b, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (item != other))
        previous = current
    return previous[-1]


def error_units(text: str, language: str) -> list[str]:
    """English: normalised words. Korean: Hangul/letters without spaces (character error rate),
    because ASR output and scripts disagree on Korean spacing far more than on the words."""
    if language == "ko":
        return list(normalize_token(text))
    return [t for t in (normalize_token(tok) for tok in text.split()) if t]


def word_error_rate(reference: str, hypothesis: str, language: str) -> float:
    """Edit distance / reference length; for ko this is the character error rate (see error_units)."""
    ref, hyp = error_units(reference, language), error_units(hypothesis, language)
    if not ref:
        return 0.0 if not hyp else 1.0
    return _edit_distance(ref, hyp) / len(ref)


def cue_problems(cues: list[Cue], language: str, limits: CueLimits | None = None) -> list[str]:
    """Human-readable violations of line length, line count, overlap, duration and reading speed."""
    limits = limits or limits_for(language)
    problems: list[str] = []
    for i, cue in enumerate(cues):
        label = f"cue {cue.index}"
        duration = cue.end - cue.start
        if duration <= 0:
            problems.append(f"{label}: ends at {cue.end:.3f}s, not after its start {cue.start:.3f}s")
            continue
        if len(cue.lines) > limits.max_lines:
            problems.append(f"{label}: {len(cue.lines)} lines > {limits.max_lines}")
        for n, line in enumerate(cue.lines, start=1):
            if len(line) > limits.max_chars_per_line:
                problems.append(f"{label}: line {n} has {len(line)} chars > {limits.max_chars_per_line}")
        if duration < limits.min_duration - 1e-3:
            problems.append(f"{label}: on screen {duration:.2f}s < {limits.min_duration}s")
        if duration > limits.max_duration + 1e-3:
            problems.append(f"{label}: on screen {duration:.2f}s > {limits.max_duration}s")
        cps = cue.chars / duration
        if cps > limits.max_cps + 1e-6:
            problems.append(f"{label}: {cps:.1f} chars/s > {limits.max_cps}")
        if i and cue.start < cues[i - 1].end - 1e-6:
            problems.append(f"{label} overlaps cue {cues[i - 1].index} by {cues[i - 1].end - cue.start:.3f}s")
    return problems
