"""Audio measured: EBU R128 loudness and true peak of a mix, and the voice over the music bed.

The render writes the voice and the ducked bed it summed as a 2-channel stems WAV (left voice,
right bed). The mix is scaled as a whole after that, so their level difference at any moment is
the one a listener hears.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sparklio_pipelines.content.media import MediaError, ffmpeg_bin

VOICE_OVER_BED_DB = 10.0  # on every voiced span the voice is at least this much louder than the bed
BED_AUDIBLE_DB = 35.0  # in the pauses the bed is at most this far under the voice's typical level
FRAME_S = 0.02
VOICED_DB = -30.0  # a voice frame within 30 dB of the loudest is voiced
MIN_GAP_S = 0.25  # shorter silences are part of a voiced span (between words)
MIN_PAUSE_S = 0.3  # pauses shorter than this are not judged for the bed


@dataclass(frozen=True)
class Loudness:
    integrated_lufs: float
    true_peak_dbtp: float


def measure_loudness(media: Path) -> Loudness:
    """Integrated loudness and true peak (4x oversampled) from ffmpeg's ebur128 filter."""
    cmd = [ffmpeg_bin(), "-nostdin", "-hide_banner", "-nostats", "-i", str(media), "-vn",
           "-af", "ebur128=peak=true", "-f", "null", "-"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    summary = out.stderr.rsplit("Summary:", 1)[-1]
    integrated = re.search(r"I:\s+(-?[\d.]+|-inf)\s+LUFS", summary)
    peak = re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf)\s+dBFS", summary)
    if out.returncode != 0 or not integrated or not peak:
        raise MediaError(f"cannot measure loudness of {Path(media).name}")
    return Loudness(float(integrated.group(1)), float(peak.group(1)))


def decode_channels(media: Path, rate: int = 16000, channels: int = 2) -> np.ndarray:
    """Samples as float32, shape (channels, n)."""
    cmd = [ffmpeg_bin(), "-nostdin", "-v", "error", "-i", str(media), "-vn", "-ac", str(channels), "-ar", str(rate),
           "-f", "s16le", "-"]
    done = subprocess.run(cmd, capture_output=True, check=False)
    if done.returncode != 0:
        raise MediaError(f"cannot decode audio of {Path(media).name}")
    samples = np.frombuffer(done.stdout, dtype=np.int16).astype(np.float32) / 32768.0
    return samples[: len(samples) // channels * channels].reshape(-1, channels).T


def _db(power: np.ndarray | float) -> np.ndarray | float:
    return 10 * np.log10(np.maximum(power, 1e-12))


def _spans(flags: np.ndarray, min_gap_frames: int) -> list[tuple[int, int]]:
    """Runs of True frames, closing gaps shorter than min_gap_frames."""
    spans: list[tuple[int, int]] = []
    for index in np.flatnonzero(flags):
        if spans and index - spans[-1][1] < min_gap_frames:
            spans[-1] = (spans[-1][0], index + 1)
        else:
            spans.append((index, index + 1))
    return spans


@dataclass
class VoiceOverBed:
    spans: list[dict] = field(default_factory=list)  # start_s, end_s, voice_db, bed_db, margin_db
    pauses: list[dict] = field(default_factory=list)  # start_s, end_s, bed_db, under_voice_db
    problems: list[str] = field(default_factory=list)

    @property
    def min_margin_db(self) -> float | None:
        return min((s["margin_db"] for s in self.spans), default=None)


def frame_power(samples: np.ndarray, hop: int, count: int) -> np.ndarray:
    """Mean power of each of the first `count` frames of `hop` samples."""
    return (samples[: count * hop].reshape(count, hop) ** 2).mean(axis=1)


def judge_stems(stems: Path, *, fade_s: float = 0.0, rate: int = 16000) -> VoiceOverBed:
    """Voice >= 10 dB over the bed on every voiced span; the bed audible in every pause (the final
    fade excepted)."""
    voice, bed = decode_channels(stems, rate)
    hop = int(rate * FRAME_S)
    count = min(len(voice), len(bed)) // hop
    if count == 0:
        return VoiceOverBed(problems=["the stems are empty"])
    voice_power, bed_power = frame_power(voice, hop, count), frame_power(bed, hop, count)
    voiced = _db(voice_power) > _db(voice_power.max()) + VOICED_DB
    report = VoiceOverBed()
    spans = _spans(voiced, round(MIN_GAP_S / FRAME_S))
    for a, b in spans:
        voice_db, bed_db = float(_db(voice_power[a:b].mean())), float(_db(bed_power[a:b].mean()))
        span = {"start_s": round(float(a * FRAME_S), 2), "end_s": round(float(b * FRAME_S), 2), "voice_db": round(voice_db, 1),
                "bed_db": round(bed_db, 1), "margin_db": round(voice_db - bed_db, 1)}
        report.spans.append(span)
        if span["margin_db"] < VOICE_OVER_BED_DB:
            report.problems.append(f"{span['start_s']:.2f}-{span['end_s']:.2f} s: voice only {span['margin_db']:.1f} dB "
                                   f"over the music, need {VOICE_OVER_BED_DB:.0f} dB")
    if not spans:
        report.problems.append("no voice found in the stems")
        return report
    typical_voice = float(np.median([s["voice_db"] for s in report.spans]))
    fade_from = count - round(fade_s / FRAME_S)
    edges = [(0, spans[0][0])] + [(spans[i][1], spans[i + 1][0]) for i in range(len(spans) - 1)]
    edges.append((spans[-1][1], fade_from))
    for a, b in edges:
        b = min(b, fade_from)
        if (b - a) * FRAME_S < MIN_PAUSE_S:
            continue
        bed_db = float(_db(bed_power[a:b].mean()))
        pause = {"start_s": round(float(a * FRAME_S), 2), "end_s": round(float(b * FRAME_S), 2), "bed_db": round(bed_db, 1),
                 "under_voice_db": round(typical_voice - bed_db, 1)}
        report.pauses.append(pause)
        if pause["under_voice_db"] > BED_AUDIBLE_DB:
            report.problems.append(f"{pause['start_s']:.2f}-{pause['end_s']:.2f} s: the music is "
                                   f"{pause['under_voice_db']:.0f} dB under the voice in a pause, inaudible "
                                   f"(want within {BED_AUDIBLE_DB:.0f} dB)")
    return report
