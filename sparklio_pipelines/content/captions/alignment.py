"""Align transcribed words to the known script: the script's words, with the recogniser's timings."""

from __future__ import annotations

import difflib
import unicodedata

from sparklio_common.model_io import Word

# Typical speaking time per character, for script words the recogniser did not hear.
SECONDS_PER_CHAR = {"en": 0.065, "ko": 0.14}


def normalize_token(text: str) -> str:
    """Case-folded, NFC (so composed and decomposed Hangul compare equal), no punctuation."""
    text = unicodedata.normalize("NFC", text).casefold()
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith(("P", "S")) and not ch.isspace())


def script_tokens(script: str) -> list[str]:
    """Display tokens of a script: whitespace-separated (English words, Korean eojeol)."""
    return unicodedata.normalize("NFC", script).split()

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
