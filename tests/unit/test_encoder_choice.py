"""GPU media: NVENC is used only when a real probe encode works; libx264 otherwise."""

import pytest

from sparklio_pipelines.content import media
from sparklio_pipelines.content.video.render import _encoder_args


@pytest.fixture(autouse=True)
def fresh_probe():
    media.h264_encoder.cache_clear()
    yield
    media.h264_encoder.cache_clear()


def test_probe_encode_fails_for_nvenc_without_a_gpu(monkeypatch):
    monkeypatch.delenv("SPARKLIO_VIDEO_ENCODER", raising=False)
    assert media.encoder_works("libx264")
    assert not media.encoder_works("h264_nvenc")  # no GPU here: compiled in or not, it cannot encode
    assert media.h264_encoder() == "libx264"


def test_nvenc_chosen_when_its_probe_encode_succeeds(monkeypatch):
    monkeypatch.delenv("SPARKLIO_VIDEO_ENCODER", raising=False)
    probed = []
    monkeypatch.setattr(media, "encoder_works", lambda enc: probed.append(enc) or enc == "h264_nvenc")
    assert media.h264_encoder() == "h264_nvenc"
    assert media.h264_encoder() == "h264_nvenc"
    assert probed == ["h264_nvenc"]  # once per process, not once per render


def test_environment_overrides_the_probe(monkeypatch):
    monkeypatch.setenv("SPARKLIO_VIDEO_ENCODER", "libx264")
    monkeypatch.setattr(media, "encoder_works", lambda enc: pytest.fail("no probe when forced"))
    assert media.h264_encoder() == "libx264"


def test_encoder_arguments_per_encoder():
    x264 = _encoder_args("libx264", "veryfast")
    assert x264["vcodec"] == "libx264" and x264["preset"] == "veryfast" and x264["crf"] == "21"
    nvenc = _encoder_args("h264_nvenc", "veryfast")
    assert nvenc["vcodec"] == "h264_nvenc" and nvenc["preset"] == "p5" and nvenc["cq"] == "23"
    assert "crf" not in nvenc and "profile:v" not in nvenc
    assert "x264-params" not in x264  # the vertical cut keeps x264's full motion search
    feed = _encoder_args("libx264", "veryfast", feed=True)
    assert feed["x264-params"] == "me=dia:subme=1" and feed["crf"] == "21"
    assert "x264-params" not in _encoder_args("h264_nvenc", "veryfast", feed=True)
