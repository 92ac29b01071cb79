"""Caption logic: alignment, cue cutting, file formats and quality measures (no model needed)."""

from __future__ import annotations

import re

import pytest

from sparklio_common.model_io import Word
from sparklio_pipelines.content.captions.alignment import align_to_script
from sparklio_pipelines.content.captions.cues import (
    Cue,
    build_cues,
    limits_for,
    wrap_lines,
)
from sparklio_pipelines.content.captions.formats import (
    to_ass,
    to_srt,
    to_vtt,
    words_json,
)
from sparklio_pipelines.content.captions.metrics import (
    cue_problems,
    speech_coverage,
    word_error_rate,
)

EN_SCRIPT = (
    "Meet Glow Serum by Lumina. Vitamin C and niacinamide work together for visibly brighter skin "
    "in just two weeks, without the sticky feeling of heavy creams. Dermatologist tested and gentle "
    "enough for every morning routine. Tap the link, try it for thirty days, and love your glow or "
    "get your money back. Shop now at lumina dot com."
)
KO_SCRIPT = (
    "한빛 보리차는 국내산 유기농 보리로 만든 고소한 맛입니다. 카페인 없이 하루 종일 편하게 즐기세요. "
    "티백 하나로 1리터, 간편하게 준비할 수 있어요. 바쁜 직장인의 건강한 습관, 한빛 보리차와 함께 시작하세요. "
    "지금 구매하기."
)


def timed_words(script: str, seconds_per_char: float, pause_after_sentence: float = 0.35) -> list[Word]:
    """Words with plausible speech timing: duration by length, a pause after each sentence."""
    words, t = [], 0.3
    for token in script.split():
        duration = max(0.12, len(token) * seconds_per_char)
        words.append(Word(token, round(t, 3), round(t + duration, 3), 0.9))
        t += duration + 0.05
        if token.endswith((".", "!", "?")):
            t += pause_after_sentence
    return words


def test_srt_format_is_exact():
    cues = [
        Cue(1, 0.0, 1.5, ["Hello there."], []),
        Cue(2, 61.25, 3725.0049, ["Two", "lines"], []),
    ]
    assert to_srt(cues) == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n"
        "2\n00:01:01,250 --> 01:02:05,005\nTwo\nlines\n"
    )


def test_vtt_format_is_exact():
    cues = [Cue(1, 0.0, 1.5, ["Hello there."], []), Cue(2, 2.0004, 3.9996, ["한빛 보리차"], [])]
    assert to_vtt(cues) == (
        "WEBVTT\n\n"
        "1\n00:00:00.000 --> 00:00:01.500\nHello there.\n\n"
        "2\n00:00:02.000 --> 00:00:04.000\n한빛 보리차\n"
    )


def test_words_json_keeps_hangul_and_timings():
    text = words_json([Word("한빛", 0.12345, 0.5, 0.87654)])
    assert '"text": "한빛"' in text
    assert '"start": 0.123' in text and '"probability": 0.8765' in text


@pytest.mark.parametrize(("script", "language", "seconds_per_char"), [(EN_SCRIPT, "en", 0.06), (KO_SCRIPT, "ko", 0.13)])
def test_cues_never_overlap_and_respect_limits(script: str, language: str, seconds_per_char: float):
    words = timed_words(script, seconds_per_char)
    cues = build_cues(words, language)
    limits = limits_for(language)
    assert len(cues) >= 4
    assert cue_problems(cues, language) == []
    for previous, cue in zip(cues, cues[1:]):
        assert cue.start >= previous.end
    for cue in cues:
        assert 1 <= len(cue.lines) <= limits.max_lines
        assert all(len(line) <= limits.max_chars_per_line for line in cue.lines)
        assert limits.min_duration <= cue.end - cue.start <= limits.max_duration
        assert cue.chars / (cue.end - cue.start) <= limits.max_cps
    # Every word lands in exactly one cue, in order, and the text is unchanged.
    assert [w.text for c in cues for w in c.words] == script.split()
    assert " ".join(c.text for c in cues) == " ".join(script.split())
    assert speech_coverage(words, cues) == pytest.approx(1.0)


def test_cues_break_at_sentence_end_and_pauses():
    words = [
        Word("Hi", 0.0, 0.3, 1.0), Word("there.", 0.3, 0.7, 1.0),
        Word("Shop", 0.8, 1.0, 1.0), Word("now", 1.0, 1.3, 1.0),
        Word("today", 3.0, 3.4, 1.0),
    ]  # fmt: skip
    cues = build_cues(words, "en")
    assert [c.text for c in cues] == ["Hi there.", "Shop now", "today"]
    assert cues[0].end <= cues[1].start
    # The pause before "today" stays uncovered: the second cue may not hang on for 6 s.
    assert cues[1].end < 3.0


def test_korean_lines_are_short():
    cue = build_cues(timed_words("바쁜 직장인의 건강한 습관, 한빛 보리차와 함께 시작하세요.", 0.12), "ko")
    assert all(len(line) <= 16 for c in cue for line in c.lines)


def test_wrap_lines_balances_and_refuses_overflow():
    assert wrap_lines("one two three four five six".split(), 20, 2) == ["one two three", "four five six"]
    assert wrap_lines(["short"], 20, 2) == ["short"]
    assert wrap_lines(["a" * 30, "b" * 30, "c" * 30], 42, 2) is None


def test_alignment_corrects_misheard_words_and_keeps_timings():
    heard = [
        Word("Meeklo", 0.0, 0.4, 0.5), Word("Serum", 0.4, 0.82, 0.5), Word("by", 0.82, 0.96, 0.96),
        Word("Lumina,", 0.96, 1.46, 0.77), Word("Chop", 5.0, 5.18, 0.8), Word("now", 5.18, 5.4, 0.2),
        Word("at", 5.4, 5.6, 0.99), Word("lumina", 5.6, 6.02, 0.7), Word(".com.", 6.02, 6.6, 0.9),
    ]  # fmt: skip
    aligned = align_to_script(heard, "Meet Glow Serum by Lumina. Shop now at lumina dot com.", "en")
    assert [w.text for w in aligned] == "Meet Glow Serum by Lumina. Shop now at lumina dot com.".split()
    by_text = {w.text: w for w in aligned}
    # Matched words keep whisper's timing exactly.
    assert (by_text["Serum"].start, by_text["Serum"].end) == (0.4, 0.82)
    assert (by_text["now"].start, by_text["now"].end) == (5.18, 5.4)
    # "Meeklo" -> "Meet Glow": the script's words share the misheard word's span.
    assert by_text["Meet"].start == 0.0 and by_text["Glow"].end == pytest.approx(0.4)
    assert by_text["Meet"].end == pytest.approx(by_text["Glow"].start)
    # "Chop" -> "Shop" keeps the timing; "dot", never heard, gets time next to its neighbours.
    assert (by_text["Shop"].start, by_text["Shop"].end) == (5.0, 5.18)
    assert 5.6 <= by_text["dot"].start < by_text["dot"].end <= 6.6
    assert all(a.end <= b.start + 1e-9 for a, b in zip(aligned, aligned[1:]))


def test_alignment_fills_a_silent_gap_with_missed_words():
    heard = [Word("Try", 0.0, 0.3, 0.9), Word("today.", 2.0, 2.4, 0.9)]
    aligned = align_to_script(heard, "Try it free today.", "en")
    assert [w.text for w in aligned] == ["Try", "it", "free", "today."]
    assert aligned[1].start == pytest.approx(0.3) and aligned[2].end == pytest.approx(2.0)
    assert aligned[1].probability == 0.0  # not heard: flagged for review


def test_alignment_is_hangul_aware():
    # Decomposed jamo (NFD) and a split eojeol must still match the NFC script.
    import unicodedata

    heard = [
        Word(unicodedata.normalize("NFD", "한빛"), 0.0, 0.4, 0.9), Word("보리", 0.4, 0.6, 0.9),
        Word("차는", 0.6, 0.9, 0.9), Word("국내산", 0.9, 1.4, 0.9), Word("유기농", 1.4, 1.9, 0.9),
    ]  # fmt: skip
    aligned = align_to_script(heard, "한빛 보리차는 국내산 유기농", "ko")
    assert [w.text for w in aligned] == ["한빛", "보리차는", "국내산", "유기농"]
    assert (aligned[0].start, aligned[0].end) == (0.0, 0.4)
    assert (aligned[1].start, aligned[1].end) == pytest.approx((0.4, 0.9))
    assert (aligned[3].start, aligned[3].end) == (1.4, 1.9)


def test_word_error_rate():
    assert word_error_rate("Shop now at Lumina.", "shop now at lumina", "en") == 0.0
    assert word_error_rate("one two three four", "one too three", "en") == pytest.approx(0.5)
    assert word_error_rate("", "", "en") == 0.0
    # Korean is scored on characters without spaces: spacing differences cost nothing.
    assert word_error_rate("한빛 보리차", "한빛보리차", "ko") == 0.0
    assert word_error_rate("한빛 보리차", "한빛 보리자", "ko") == pytest.approx(1 / 5)


def test_cue_problems_reports_each_violation():
    cues = [
        Cue(1, 0.0, 0.5, ["x" * 50], []),
        Cue(2, 0.4, 10.0, ["a", "b", "c"], []),
        Cue(3, 10.0, 10.9, ["This line is far too long to read fast"], []),
    ]
    problems = "\n".join(cue_problems(cues, "en"))
    assert "cue 1: line 1 has 50 chars > 42" in problems
    assert "cue 1: on screen 0.50s < 0.8s" in problems
    assert "cue 2: 3 lines > 2" in problems
    assert "cue 2 overlaps cue 1" in problems
    assert "cue 2: on screen 9.60s > 6.0s" in problems
    assert re.search(r"cue 3: \d+\.\d chars/s > 20", problems)


def test_speech_coverage_counts_uncovered_speech():
    words = [Word("a", 0.0, 1.0, 1.0), Word("b", 2.0, 3.0, 1.0)]
    assert speech_coverage(words, [Cue(1, 0.0, 1.0, ["a"], [])]) == pytest.approx(0.5)
    assert speech_coverage(words, [Cue(1, 0.5, 2.5, ["a b"], [])]) == pytest.approx(0.5)


def test_ass_has_karaoke_tags_and_9x16_layout():
    words = [Word("Glow", 1.0, 1.4, 0.9), Word("on.", 1.6, 2.0, 0.9)]
    cues = build_cues(words, "en")
    ass = to_ass(cues, highlight="#F4B942")
    assert "PlayResX: 1080" in ass and "PlayResY: 1920" in ass
    style = next(line for line in ass.splitlines() if line.startswith("Style: Caption"))
    fields = style.split(",")
    assert fields[3] == "&H0042B9F4"  # highlight as ASS &HAABBGGRR, shown once a word is spoken
    assert fields[4] == "&H00FFFFFF"
    assert fields[18] == "2" and int(fields[21]) >= 1920 * 0.2  # bottom centre, above the UI band
    dialogue = next(line for line in ass.splitlines() if line.startswith("Dialogue:"))
    # the cue lingers LINGER_S (0.3 s) after the last word
    assert dialogue.startswith("Dialogue: 0,0:00:01.00,0:00:02.30,Caption")
    # 40 cs for "Glow" plus the 20 cs gap until "on." starts, then "on." to the cue end.
    assert dialogue.endswith(r"{\k60}Glow {\k70}on.")
    ks = [int(k) for k in re.findall(r"\\k(\d+)", dialogue)]
    assert sum(ks) == round((cues[0].end - cues[0].start) * 100)
