"""Caption quality measured: voiced spans of the audio itself, speech coverage, error rate, cue rules."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from sparklio_common.model_io import Word
from sparklio_pipelines.content.captions.alignment import normalize_token
from sparklio_pipelines.content.captions.cues import Cue, CueLimits, limits_for
from sparklio_pipelines.content.media import MediaError, ffmpeg_bin


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def voiced_intervals(
    media: Path, *, frame_s: float = 0.02, threshold_db: float = -35.0, min_gap_s: float = 0.2,
    channel: int | None = None,
) -> list[tuple[float, float]]:
    """Where the audio is voiced, by frame energy relative to the loudest frame.

    Independent of the recogniser, so cue coverage can be checked against the audio itself
    (clean TTS voiceovers have no background noise to confuse an energy detector). `channel`: measure
    that channel alone (the voice of a voice/bed stems file: a music bed would read as speech).
    """
    rate = 16000
    mono = ["-af", f"pan=mono|c0=c{channel}"] if channel is not None else ["-ac", "1"]
    cmd = [ffmpeg_bin(), "-nostdin", "-v", "error", "-i", str(media), "-vn", *mono, "-ar", str(rate), "-f", "s16le", "-"]
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
