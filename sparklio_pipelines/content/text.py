"""Text rules shared by copy, creatives, video headlines and captions: sentence ends, the one Hangul
rule, and the one line wrapper (measured in pixels for images, in characters for captions)."""

from __future__ import annotations

import re
from collections.abc import Callable

SENTENCE_END = re.compile(r"[.!?。！？…]+[\"'”’)\]]*(?=\s|$)")
# Hangul syllables and compatibility jamo (a reply of bare jamo is still Korean, if bad Korean).
HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")
LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
NO_BREAK_START = set(".,!?;:)]}%…·、。，！？」』）〕")  # never start a wrapped line with these

Measure = Callable[[str], float]


def is_korean(text: str) -> bool:
    return bool(HANGUL.search(text))


def count_hangul(text: str) -> int:
    return len(HANGUL.findall(text))


def hangul_ratio(text: str) -> float:
    """Hangul letters over all letters (0 for a text without letters)."""
    letters = LETTER.findall(text)
    return count_hangul(text) / len(letters) if letters else 0.0


def _split_chars(word: str) -> list[str]:
    """A word as characters, closing punctuation kept with the character before it."""
    pieces: list[str] = []
    for ch in word:
        if pieces and ch in NO_BREAK_START:
            pieces[-1] += ch
        else:
            pieces.append(ch)
    return pieces


def wrap_words(text: str, measure: Measure, max_width: float, *, break_words: bool = True) -> list[str] | None:
    """Greedy wrap at spaces (Korean wraps between eojeol); with `break_words`, a word wider than the
    line breaks per character. None when something cannot fit: a word without `break_words`, or one
    character wider than the line."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split():
            candidate = f"{current} {word}" if current else word
            if measure(candidate) <= max_width:
                current = candidate
                continue
            if current:
                lines.append(current)
                current = ""
            if measure(word) <= max_width:
                current = word
                continue
            if not break_words:
                return None
            for piece in _split_chars(word):
                if measure(current + piece) <= max_width:
                    current += piece
                elif not current:
                    return None
                else:
                    lines.append(current)
                    current = piece
        if current:
            lines.append(current)
    return lines


def balanced_wrap(text: str, measure: Measure, max_width: float, *, break_words: bool = True,
                  precision: float = 4) -> list[str] | None:
    """`wrap_words`, then the narrowest measure that keeps the line count, so lines even out
    (no one-word last line)."""
    lines = wrap_words(text, measure, max_width, break_words=break_words)
    if not lines or len(lines) == 1:
        return lines
    lo, hi = max_width / 2, max_width
    best = lines
    while hi - lo > precision:
        mid = (lo + hi) / 2
        trial = wrap_words(text, measure, mid, break_words=break_words)
        if trial is not None and len(trial) == len(lines):
            best, hi = trial, mid
        else:
            lo = mid
    return best
