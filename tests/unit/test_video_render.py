"""The video step end to end: real Piper / espeak-ng voiceovers, real ffmpeg renders, ffprobe checks.

Renders use x264's `ultrafast` preset to keep the suite short; the filtergraph is the same one
the product runs with `veryfast`.
"""

from __future__ import annotations

import io
import re
import subprocess
import wave
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from resources.speech import LocalSpeechResource, SpeechError, SpeechResult
from sparklio_pipelines.content.fonts import find_font
from sparklio_pipelines.content.media import MediaError, ffmpeg_bin, probe, summarize
from sparklio_pipelines.content.video.headlines import wrap_headline
from sparklio_pipelines.content.video.mix import tempo_factors
from sparklio_pipelines.content.video.render import (
    FPS,
    HEIGHT,
    WIDTH,
    plan_slides,
    render_video,
)

TEST_PRESET = "ultrafast"


@pytest.fixture(scope="module")
def speech():
    resource = LocalSpeechResource()
    yield resource
    resource.release()


@pytest.fixture(scope="module")
def english_voice(speech) -> SpeechResult:
    return speech.synthesize("Glow Serum. Radiant skin in seven days. Try it today.", "en")


@pytest.fixture(scope="module")
def korean_voice(speech) -> SpeechResult:
    return speech.synthesize("한빛 녹차. 오늘의 여유를 한 잔에 담았습니다.", "ko")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("video")


@pytest.fixture(scope="module")
def slides(workdir) -> list[Path]:
    """Brand-ish gradient slides; sizes differ on purpose (square, portrait, landscape) to test cover-fit."""
    sizes = [(1080, 1080), (720, 1280), (1280, 720), (900, 1600)]
    colors = [((26, 26, 46), (244, 185, 66)), ((18, 60, 40), (200, 230, 180)),
              ((60, 20, 80), (250, 120, 160)), ((10, 40, 90), (120, 200, 250))]
    paths = []
    for index, ((w, h), (top, bottom)) in enumerate(zip(sizes, colors)):
        image = Image.new("RGB", (w, h))
        draw = ImageDraw.Draw(image)
        for y in range(h):
            t = y / (h - 1)
            draw.line([(0, y), (w, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))
        draw.ellipse((w * 0.25, h * 0.35, w * 0.75, h * 0.35 + w * 0.5), fill=bottom[::-1])
        path = workdir / f"slide-{index}.png"
        image.save(path)
        paths.append(path)
    return paths


def write_wav(path: Path, wav: bytes) -> Path:
    path.write_bytes(wav)
    return path


def repeated_wav(wav: bytes, times: int) -> bytes:
    """A long voiceover made of real TTS audio, without paying for a long synthesis."""
    with wave.open(io.BytesIO(wav)) as reader:
        params, frames = reader.getparams(), reader.readframes(reader.getnframes())
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setparams(params)
        writer.writeframes(frames * times)
    return out.getvalue()


def integrated_loudness(path: Path) -> float:
    done = subprocess.run(
        [ffmpeg_bin(), "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a", "-af", "ebur128", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", done.stderr)[-1])


def video_stream(path: Path) -> dict:
    return next(s for s in probe(path)["streams"] if s["codec_type"] == "video")


# --- speech -------------------------------------------------------------------------------


def test_english_speech_is_piper_wav(english_voice):
    assert english_voice.voice.startswith("piper:")
    assert english_voice.sample_rate == 22050
    assert 1.5 < english_voice.duration_s < 10
    with wave.open(io.BytesIO(english_voice.wav)) as reader:
        assert reader.getnchannels() == 1 and reader.getsampwidth() == 2


def test_korean_speech_is_espeak_wav(korean_voice):
    assert korean_voice.voice == "espeak-ng:ko"
    assert 1.0 < korean_voice.duration_s < 15
    assert korean_voice.wav[:4] == b"RIFF"


def test_speech_errors_are_clear(speech, tmp_path):
    with pytest.raises(SpeechError, match="no voice for language"):
        speech.synthesize("Bonjour", "fr")
    with pytest.raises(SpeechError, match="empty"):
        speech.synthesize("   ", "en")
    with pytest.raises(SpeechError, match="no voice 'xx-missing'"):
        LocalSpeechResource(korean_voice="xx-missing").synthesize("안녕하세요", "ko")
    with pytest.raises(SpeechError, match="voice file missing"):
        LocalSpeechResource(english_voice_model=str(tmp_path / "nope.onnx")).synthesize("Hello", "en")


def test_text_is_not_interpreted_as_options(speech):
    # espeak-ng gets text on stdin: a leading dash is spoken, not parsed as a flag.
    result = speech.synthesize("--help -w /tmp/x 한빛", "ko")
    assert result.duration_s > 0.3


# --- planning -----------------------------------------------------------------------------


def test_slide_plan_covers_duration_with_crossfades():
    timing = plan_slides(4, 20.0, crossfade_s=0.6)
    slide_s = timing.frames_per_slide / FPS
    assert 4 * slide_s - 3 * 0.6 >= 20.0
    assert timing.starts_s[0] == 0 and timing.ends_s[-1] == 20.0
    assert all(a < b for a, b in zip(timing.starts_s, timing.starts_s[1:]))


def test_tempo_only_when_voice_is_too_long():
    assert tempo_factors(10.0, 15.0) == []
    factors = tempo_factors(59.4, 15.0)
    assert all(0.5 <= f <= 2.0 for f in factors)
    product = 1.0
    for f in factors:
        product *= f
    assert product == pytest.approx((59.4 + 0.6) / 15.0)


def test_headline_wraps_korean_and_shrinks_long_words():
    font = find_font()
    lines, size = wrap_headline("한빛 녹차, 오늘의 여유를 한 잔에 담았습니다", font, max_width=500)
    assert len(lines) >= 2 and "".join(lines).replace(" ", "") == "한빛녹차,오늘의여유를한잔에담았습니다"
    lines, size = wrap_headline("Supercalifragilisticexpialidocious" * 2, font)
    assert size < 76 and len(lines) >= 2


# --- renders ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def korean_render(workdir, slides, korean_voice):
    """Short Korean voiceover (padded to min_s), Hangul headlines, burned-in SRT captions."""
    srt = workdir / "captions.srt"
    srt.write_text("1\n00:00:00,500 --> 00:00:03,000\n한빛 녹차.\n\n2\n00:00:03,000 --> 00:00:06,000\n"
                   "오늘의 여유를 한 잔에 담았습니다.\n", encoding="utf-8")
    return render_video(
        slides[:3], ["한빛 녹차", "오늘의 여유를 한 잔에", "지금 만나보세요 100%: 'tea'"],
        write_wav(workdir / "ko.wav", korean_voice.wav), workdir / "ko.mp4",
        font=find_font("Noto Sans CJK KR"), subtitles=srt, preset=TEST_PRESET,
    )


@pytest.fixture(scope="module")
def long_render(workdir, slides, english_voice):
    """An English voiceover longer than max_s: atempo must fit it."""
    long_wav = write_wav(workdir / "en-long.wav", repeated_wav(english_voice.wav, 6))
    return render_video(
        slides, ["Glow Serum", "Radiant in 7 days", "Dermatologist tested", "Shop now"],
        long_wav, workdir / "en.mp4", font=find_font(), max_s=16, preset=TEST_PRESET,
    )


def test_short_voiceover_is_padded_to_min_duration(korean_render, korean_voice):
    facts = summarize(probe(korean_render.path))
    assert korean_voice.duration_s < 15
    assert (facts["width"], facts["height"]) == (WIDTH, HEIGHT)
    assert facts["video_codec"] == "h264" and facts["audio_codec"] == "aac" and facts["has_audio"]
    assert 14.9 <= facts["duration_s"] <= 15.2
    stream = video_stream(korean_render.path)
    assert stream["pix_fmt"] == "yuv420p" and stream["r_frame_rate"] == "30/1"
    assert "subtitles" in " ".join(korean_render.ffmpeg_args)


def test_output_is_faststart_and_loudness_normalised(korean_render):
    head = korean_render.path.read_bytes()
    assert head.find(b"moov") < head.find(b"mdat")  # moov first: playback starts before download ends
    assert -19.5 <= integrated_loudness(korean_render.path) <= -13.0


def test_long_voiceover_is_sped_up_to_max_duration(long_render, english_voice):
    facts = summarize(probe(long_render.path))
    assert english_voice.duration_s * 6 > 16
    assert (facts["width"], facts["height"]) == (WIDTH, HEIGHT)
    assert facts["video_codec"] == "h264" and facts["audio_codec"] == "aac"
    assert 15.0 <= facts["duration_s"] <= 16.2
    assert long_render.audio["atempo"]  # the voice was sped up (before the mix, see prepare_voice)
    assert long_render.encode_seconds > 0 and long_render.encoder == "libx264"


# --- bad input ----------------------------------------------------------------------------


def test_bad_inputs_raise_media_error(workdir, slides, english_voice):
    voice = write_wav(workdir / "en.wav", english_voice.wav)
    out = workdir / "bad.mp4"
    font = find_font()
    with pytest.raises(MediaError, match="at least one slide"):
        render_video([], [], voice, out, font=font)
    with pytest.raises(MediaError, match="not found"):
        render_video([workdir / "missing.png"], [], voice, out, font=font)
    corrupt = workdir / "corrupt.png"
    corrupt.write_bytes(b"not an image at all")
    with pytest.raises(MediaError):
        render_video([corrupt], [], voice, out, font=font)
    with pytest.raises(MediaError, match="headlines for 1 slides"):
        render_video(slides[:1], ["a", "b"], voice, out, font=font)
    with pytest.raises(MediaError, match="colors"):
        render_video(slides[:1], [], voice, out, font=font, accent_hex="gold")
    with pytest.raises(MediaError, match="min_s"):
        render_video(slides[:1], [], voice, out, font=font, min_s=20, max_s=10)


def test_ffmpeg_failure_reports_stderr(workdir, slides, english_voice):
    voice = write_wav(workdir / "en-fail.wav", english_voice.wav)
    with pytest.raises(MediaError, match=r"ffmpeg render failed:[\s\S]*encoder"):
        render_video(slides[:1], ["x"], voice, workdir / "fail.mp4", font=find_font(), video_encoder="no_such_enc")
    assert not (workdir / "fail.mp4").exists()
