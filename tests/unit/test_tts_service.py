"""The production TTS backend against a loopback stand-in of the OpenAI-compatible speech API."""

from __future__ import annotations

import socket

import pytest

from resources.speech import ServiceSpeechResource, SpeechError
from sparklio_common.errors import PermanentServiceError, TransientServiceError
from sparklio_pipelines.defs.resources import speech_resource
from tests.support.fake_tts import FakeTTSServer


@pytest.fixture()
def tts():
    with FakeTTSServer() as server:
        yield server


def service(url: str, **options) -> ServiceSpeechResource:
    return ServiceSpeechResource(url=url, model="tts-1", voices={"ko": "ko-warm"}, backoff_s=0.01, **options)


def test_a_known_voice_speaks_wav(tts):
    result = service(tts.url).synthesize("한빛 보리차, 따뜻하게.", "ko")
    assert result.voice == "service:ko-warm" and result.wav[:4] == b"RIFF" and result.sample_rate == 24000
    assert result.duration_s >= 0.5
    assert tts.requests == [{"model": "tts-1", "voice": "ko-warm", "input": "한빛 보리차, 따뜻하게.",
                             "response_format": "wav"}]


def test_the_brand_kits_voice_wins(tts):
    assert service(tts.url).synthesize("Warm and nutty.", "en", voice="en-bright").voice == "service:en-bright"


def test_an_unknown_voice_is_a_clear_permanent_error(tts):
    with pytest.raises(PermanentServiceError, match="no voice 'ko-robot'.*tts_voices") as err:
        service(tts.url).synthesize("안녕하세요", "ko", voice="ko-robot")
    assert "available voices: en-bright, ko-warm" in str(err.value)
    assert len(tts.requests) == 1  # not retried


def test_a_language_without_a_voice_says_where_to_set_one(tts):
    with pytest.raises(SpeechError, match="tts_voices.en"):
        service(tts.url).synthesize("Hello", "en")


def test_a_500_then_success_is_retried(tts):
    tts.fail_next(1)
    result = service(tts.url).synthesize("한빛", "ko")
    assert result.wav[:4] == b"RIFF" and len(tts.requests) == 2


def test_persistent_500s_end_in_a_transient_error_for_the_step_retry(tts):
    tts.fail_next(5)
    with pytest.raises(TransientServiceError, match="HTTP 500"):
        service(tts.url, attempts=3).synthesize("한빛", "ko")
    assert len(tts.requests) == 3


def test_a_server_that_is_down_is_transient():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(TransientServiceError, match="cannot reach"):
        service(f"http://127.0.0.1:{port}", attempts=2).synthesize("한빛", "ko")


def test_tts_url_selects_the_service(monkeypatch):
    monkeypatch.setenv("SPARKLIO_TTS_URL", "http://127.0.0.1:11020")
    monkeypatch.setenv("SPARKLIO_TTS_VOICES", "ko:ko-warm, en:en-bright")
    chosen = speech_resource()
    assert type(chosen).__name__ == "ServiceSpeechResource" and chosen.voices == {"ko": "ko-warm", "en": "en-bright"}
    monkeypatch.delenv("SPARKLIO_TTS_URL")
    assert type(speech_resource()).__name__ == "LocalSpeechResource"
