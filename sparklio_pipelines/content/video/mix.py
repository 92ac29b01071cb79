"""The soundtrack: the voice fitted to the video at -14 LUFS, the music bed ducked under it by
`sidechaincompress`, true peak limited, and voice/bed stems for the mix check. ffmpeg-python graph pieces
the render joins into its one ffmpeg process."""

from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from sparklio_pipelines.content.media import MediaError, ffmpeg_bin
from sparklio_pipelines.content.video.audio import measure_loudness

TAIL_S = 0.6  # breath after the last word before the video ends
LOUDNESS_LUFS = -14.0  # the final mix, integrated
TRUE_PEAK_DBTP = -1.5  # the limiter's ceiling: a margin under the -1 dBTP limit for AAC's overshoot
VOICE_PEAK_DBTP = -2.0  # the voice alone, so the bed under it still fits under TRUE_PEAK_DBTP
VOICE_DRIVE_DB = 3.0  # how far the voice is pushed into its limiter before the trim
BED_UNDER_VOICE_DB = 16.0  # the bed sits this far under the voice, then ducks further while it speaks
MAX_FADE_S = 4.0
# The bed dips ~8 dB (5-10) while the voice speaks, so it stays heard ~24 dB under it, and comes back
# over 0.4 s in the pauses. A deeper duck (ratio 8 took ~21 dB) drops the music out under speech.
DUCKING = {"threshold": 0.05, "ratio": 2, "attack": 15, "release": 400, "knee": 2}
STEMS_RATE = 16000


@dataclass
class MusicInput:
    path: Path
    bar_s: float  # the bed fades out over its last bar


def tempo_factors(voice_s: float, target_s: float) -> list[float]:
    """atempo steps that fit the voiceover (plus tail) into target_s; each <= 2 for quality."""
    speed = (voice_s + TAIL_S) / target_s
    if speed <= 1.0 + 1e-6:
        return []
    factors: list[float] = []
    while speed > 2.0:
        factors.append(2.0)
        speed /= 2.0
    factors.append(speed)
    return factors


def _stereo(stream):
    return stream.filter("aresample", 48000).filter("aformat", sample_fmts="fltp", channel_layouts="stereo")


def _mono(stream):
    return stream.filter("aformat", channel_layouts="mono")  # the inserted resampler downmixes


def _true_peak_limit(stream, ceiling_dbtp: float):
    """A look-ahead limiter at 4x oversampling (how true peak is measured), delay compensated."""
    limit = 10 ** (ceiling_dbtp / 20)
    return _stereo(stream.filter("aresample", 192000).filter("alimiter", limit=f"{limit:.4f}", level=0, latency=1,
                                                             attack=2, release=80))


def prepare_voice(voiceover_wav: Path, voice_s: float, total_s: float, out_wav: Path) -> dict:
    """The voice fitted to the video (atempo), at -14 LUFS with its peaks limited, as a 48 kHz WAV.

    Speech is measured, gained, limited, measured again and trimmed: a static gain, so the
    voice's dynamics are kept and the final loudness lands within a few tenths of a LU.
    """
    raw = measure_loudness(voiceover_wav)
    if not math.isfinite(raw.integrated_lufs):
        raise MediaError(f"voiceover is silent: {Path(voiceover_wav).name}")
    voice = ffmpeg.input(str(voiceover_wav)).audio
    tempo = tempo_factors(voice_s, total_s)
    for factor in tempo:
        voice = voice.filter("atempo", f"{factor:.5f}")
    # Driven a little into the limiter: TTS speech peaks ~13 dB over its loudness, more than -14 LUFS
    # under -1.5 dBTP allows; the trim below brings it back to -14 LUFS.
    voice = _stereo(voice).filter("volume", f"{LOUDNESS_LUFS + VOICE_DRIVE_DB - raw.integrated_lufs:.2f}dB")
    voice = _true_peak_limit(voice, VOICE_PEAK_DBTP)
    args = ffmpeg.compile(ffmpeg.output(voice, str(out_wav), acodec="pcm_f32le"), cmd=ffmpeg_bin(),
                          overwrite_output=True)
    done = subprocess.run([args[0], "-hide_banner", "-nostdin", *args[1:]], capture_output=True, check=False)
    if done.returncode != 0:
        raise MediaError("voice preparation failed: " + done.stderr.decode(errors="replace").strip()[-300:])
    limited = measure_loudness(out_wav)
    return {"voice_lufs": round(raw.integrated_lufs, 2), "atempo": [round(f, 4) for f in tempo],
            "voice_gain_db": round(LOUDNESS_LUFS + VOICE_DRIVE_DB - raw.integrated_lufs, 2),
            "trim_db": round(min(LOUDNESS_LUFS - limited.integrated_lufs, TRUE_PEAK_DBTP - limited.true_peak_dbtp), 2)}


def audio_streams(voice_ready: Path, total_s: float, music: MusicInput | None, copies: int, staging: dict):
    """(mix split `copies` times, stems or None): the voice over the ducked bed, true-peak limited."""
    voice = (ffmpeg.input(str(voice_ready)).audio.filter("volume", f"{staging['trim_db']:.2f}dB")
             .filter("apad", whole_dur=f"{total_s:.3f}"))
    stems = None
    if music is None:
        mix = voice
    else:
        fade_s = min(music.bar_s, MAX_FADE_S)
        voices = voice.filter_multi_output("asplit", 3)
        bed = (
            _stereo(ffmpeg.input(str(music.path), stream_loop=-1).audio)
            .filter("volume", f"{staging['bed_gain_db']:.2f}dB")
            .filter("atrim", end=f"{total_s:.3f}")
            .filter("afade", t="out", st=f"{max(0.0, total_s - fade_s):.3f}", d=f"{fade_s:.3f}")
            .filter("apad", whole_dur=f"{total_s:.3f}")
        )
        ducked = ffmpeg.filter([bed, voices[0]], "sidechaincompress", **DUCKING).filter_multi_output("asplit", 2)
        mix = ffmpeg.filter([voices[1], ducked[0]], "amix", inputs=2, normalize=0, duration="first")
        stems = ffmpeg.filter([_mono(voices[2]), _mono(ducked[1])], "amerge", inputs=2).filter("aresample", STEMS_RATE)
    mix = _true_peak_limit(mix, TRUE_PEAK_DBTP)
    if copies == 1:
        return [mix], stems
    split = mix.filter_multi_output("asplit", copies)
    return [split[i] for i in range(copies)], stems


def bed_gain_db(music: MusicInput) -> dict:
    """The static gain that puts the bed 16 dB under the voice before ducking."""
    bed = measure_loudness(music.path)
    if not math.isfinite(bed.integrated_lufs):
        raise MediaError(f"music bed is silent: {music.path.name}")
    return {"bed_lufs": round(bed.integrated_lufs, 2),
            "bed_gain_db": round(LOUDNESS_LUFS - BED_UNDER_VOICE_DB - bed.integrated_lufs, 2)}
