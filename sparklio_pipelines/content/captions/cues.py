"""Caption cues: timed words grouped into on-screen cues within each language's limits.

Limits follow the Netflix timed-text style guides:
- English: 42 characters per line, 2 lines, 20 characters per second (adult programmes).
- Korean: 16 characters per line, 2 lines, 12 characters per second. Hangul syllables are
  full-width and dense (one syllable ~ 2-3 Latin letters of information), hence the lower
  numbers. Characters are counted as Unicode code points including spaces, as the guides do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sparklio_common.model_io import Word
from sparklio_pipelines.content.text import SENTENCE_END, balanced_wrap


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
PAUSE_BREAK_S = 0.7  # silence long enough that a cue should not span it


LINGER_S = 0.3  # a cue stays up briefly after its last word (the voice's tail), never past the next cue


def limits_for(language: str) -> CueLimits:
    return LANGUAGE_LIMITS.get(language, LANGUAGE_LIMITS["en"])


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


def wrap_lines(tokens: list[str], max_chars: int, max_lines: int) -> list[str] | None:
    """Fewest, most balanced lines of at most `max_chars` characters (an over-long word is
    broken), or None when they need more than `max_lines`."""
    if not tokens:
        return []
    lines = balanced_wrap(" ".join(tokens), len, max_chars, precision=0.5)
    return lines if lines is not None and len(lines) <= max_lines else None


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
