"""Every channel format from one ffmpeg run, with the music bed ducked under the voice: ffprobe on each
format, EBU R128 loudness and true peak of the mix, the voice over the bed measured on the stems.

Real Piper voice, real FluidSynth bed, real ffmpeg (x264 `ultrafast` to keep the suite short).
"""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from resources.music import ProceduralMusicResource
from resources.speech import LocalSpeechResource
from sparklio_pipelines.content.fonts import find_font
from sparklio_pipelines.content.media import MediaError, ffmpeg_bin, probe, summarize
from sparklio_pipelines.content.video.audio import (
    BED_AUDIBLE_DB,
    FRAME_S,
    VOICE_OVER_BED_DB,
    decode_channels,
    frame_power,
    judge_stems,
    measure_loudness,
)
from sparklio_pipelines.content.video.formats import FORMATS, formats_for_channels, slide_art, slide_art_keys
from sparklio_pipelines.content.video.headlines import HeadlineFitError, wrap_headline
from sparklio_pipelines.content.video.mix import STEMS_RATE, MusicInput
from sparklio_pipelines.content.video.render import (
    FPS,
    FormatJob,
    crop_source,
    render_formats,
)
from sparklio_pipelines.content.video.timeline import boxes_overlap

SCRIPT = ("Meet Lumi Glow. Brighter-looking skin in fourteen days. Fifteen percent vitamin C, "
          "fragrance free, gentle enough for every morning. Shop the launch offer today.")
CREATIVE = {"story": (1080, 1920), "square": (1080, 1080), "landscape": (1920, 1080)}


def gradient(size, top, bottom) -> Image.Image:
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / (height - 1)
        draw.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))
    return image


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    work = tmp_path_factory.mktemp("formats")
    art = []
    for index, (top, bottom) in enumerate([((26, 26, 46), (244, 185, 66)), ((18, 60, 40), (200, 230, 180)),
                                           ((60, 20, 80), (250, 120, 160))]):
        art.append(work / f"art-{index}.png")
        gradient((1080, 1920), top, bottom).save(art[-1])
    wide = []  # the 16:9's own art: dark to light left to right, where the portrait art runs top to bottom
    for index in range(3):
        wide.append(work / f"wide-{index}.png")
        gradient((1080, 1920), (20, 20, 20), (235, 235, 235)).transpose(Image.Transpose.ROTATE_90).save(wide[-1])
    voice = LocalSpeechResource().synthesize(SCRIPT, "en")
    wav = work / "voice.wav"
    wav.write_bytes(voice.wav)
    bed = ProceduralMusicResource().bed("warm and friendly", 16, 11)
    bed_path = work / "bed.wav"
    bed_path.write_bytes(bed.wav)
    jobs = []
    for fmt in FORMATS.values():
        size = CREATIVE[fmt.creative]
        creative = work / f"{fmt.creative}.png"
        image = gradient(size, (10, 40, 90), (120, 200, 250))
        headline_box = [80, size[1] - 420, size[0] - 200, size[1] - 250]
        ImageDraw.Draw(image).rectangle(headline_box, fill=(240, 240, 240))
        image.save(creative)
        jobs.append(FormatJob(fmt, work / f"{fmt.name}.mp4", creative=creative, creative_size=size,
                              creative_texts=[{"role": "headline", "text": "Glow", "box": headline_box}],
                              cover_path=work / f"{fmt.name}-cover.png",
                              slides=wide if fmt.slide_art == "wide" else None))
    result = render_formats(art, ["Lumi Glow", "Brighter in 14 days", "Vitamin C, 15%"], wav, jobs,
                            font=find_font(), music=MusicInput(bed_path, bed.bar_s), stems_path=work / "stems.wav",
                            preset="ultrafast")
    return result, bed


def test_channels_choose_formats():
    assert [f.name for f in formats_for_channels(["shorts"])] == ["9x16"]
    assert [f.name for f in formats_for_channels(["instagram", "linkedin"])] == ["9x16", "1x1", "16x9"]
    assert [f.name for f in formats_for_channels(["x", "email"])] == ["9x16", "1x1", "16x9"]


def test_vertical_safe_area_keeps_clear_of_platform_ui():
    x0, y0, x1, y1 = FORMATS["9x16"].safe_area
    assert x1 <= 1080 * 0.85 and y1 <= 1920 * 0.80 and y0 >= 1920 * 0.10
    for fmt in FORMATS.values():
        for zone in (fmt.headline_zone, fmt.caption_zone):
            assert fmt.safe_area[0] <= zone[0] and zone[2] <= fmt.safe_area[2]
            assert fmt.safe_area[1] <= zone[1] and zone[3] <= fmt.safe_area[3]


def test_one_ffmpeg_run_makes_every_format(rendered):
    result, _ = rendered
    assert set(result.formats) == {"9x16", "1x1", "16x9"}
    # art, the 16:9's own art, creatives, voice, bed: each decoded once
    assert sum(1 for arg in result.ffmpeg_args if arg == "-i") == 3 + 3 + 3 + 2
    for name, done in result.formats.items():
        facts = summarize(probe(done.path))
        assert (facts["width"], facts["height"]) == FORMATS[name].size, name
        assert facts["video_codec"] == "h264" and facts["audio_codec"] == "aac" and facts["has_audio"]
        assert 14.9 <= facts["duration_s"] <= 15.3
        cover = summarize(probe(done.cover_path))
        assert (cover["width"], cover["height"]) == FORMATS[name].size


def test_square_art_is_the_vertical_cut_centre_cropped():
    formats = list(FORMATS.values())
    assert crop_source(FORMATS["1x1"], formats) is FORMATS["9x16"]
    assert crop_source(FORMATS["9x16"], formats) is None and crop_source(FORMATS["16x9"], formats) is None
    assert crop_source(FORMATS["1x1"], [FORMATS["1x1"], FORMATS["16x9"]]) is None  # no 9:16: its own motion


def frame(path, at_s: float, size) -> np.ndarray:
    raw = subprocess.run([ffmpeg_bin(), "-v", "error", "-ss", f"{at_s}", "-i", str(path), "-frames:v", "1",
                          "-f", "rawvideo", "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(size[1], size[0]).astype(float)


def test_square_motion_matches_the_vertical_centre(rendered):
    """The 1:1's moving art is the 9:16's, cropped: the same picture between headline and caption zones."""
    result, _ = rendered
    at_s = round(7.0 * FPS) / FPS  # mid second slide: moving, no crossfade
    tall = frame(result.formats["9x16"].path, at_s, FORMATS["9x16"].size)
    square = frame(result.formats["1x1"].path, at_s, FORMATS["1x1"].size)
    offset = (1920 - 1080) // 2
    band = slice(400, 700)  # clear of the 1:1's headline zone above and caption zone below
    assert np.abs(square[band] - tall[band.start + offset:band.stop + offset]).mean() < 3.0
    moved = frame(result.formats["1x1"].path, at_s + 1.0, FORMATS["1x1"].size)
    assert np.abs(moved[band] - square[band]).mean() > 0.3  # and it does move


def test_the_wide_cut_moves_its_own_art(rendered):
    """16:9 moves the landscape art it was given, not the portrait art cover-fitted (a blown-up band)."""
    result, _ = rendered
    at_s = round(7.0 * FPS) / FPS
    wide = frame(result.formats["16x9"].path, at_s, FORMATS["16x9"].size)[400:700]  # clear of the text zones
    left, right = wide[:, 100:500].mean(), wide[:, 1400:1800].mean()
    assert right - left > 80, (left, right)  # the wide art's left-to-right ramp
    tall = frame(result.formats["9x16"].path, at_s, FORMATS["9x16"].size)
    assert abs(tall[800:1100, 100:400].mean() - tall[800:1100, 700:1000].mean()) < 10  # the portrait art is not


def test_a_format_given_too_few_slides_is_refused(rendered, tmp_path):
    result, _ = rendered
    art = [Path(p) for p in sorted(result.stems_path.parent.glob("art-*.png"))]
    job = FormatJob(FORMATS["16x9"], tmp_path / "out.mp4", slides=art[:2])
    with pytest.raises(MediaError, match="16:9 has 2 slides of its own for 3 slides"):
        render_formats(art, [], result.stems_path, [job], font=find_font())


def test_slide_art_is_painted_in_each_shape_the_formats_move():
    assert [name for name, _, _ in slide_art(formats_for_channels(["shorts", "instagram"]))] == [
        "story-1", "story-2", "story-3"]
    wide = slide_art(formats_for_channels(["linkedin"]))
    assert [(name, size) for name, size, _ in wide if name.startswith("wide")] == [
        ("wide-1", (1920, 1080)), ("wide-2", (1920, 1080)), ("wide-3", (1920, 1080))]
    art = {f"story-{n}": f"s{n}" for n in (1, 2, 3)}
    assert slide_art_keys(FORMATS["16x9"], art) == ["s1", "s2", "s3"]  # an image output from before wide art
    assert slide_art_keys(FORMATS["16x9"], {**art, **{f"wide-{n}": f"w{n}" for n in (1, 2, 3)}}) == ["w1", "w2", "w3"]
    assert slide_art_keys(FORMATS["1x1"], {**art, "wide-1": "w1"}) == ["s1", "s2", "s3"]


def test_covers_show_the_first_headline(rendered):
    result, _ = rendered
    for done in result.formats.values():
        headline = [t for t in done.layout.texts if t.slide == 1 and t.role == "headline"][0]
        x0, y0, x1, y1 = headline.box
        pixels = np.asarray(Image.open(done.cover_path).convert("L"), dtype=np.float32)
        inside, around = pixels[y0:y1, x0:x1], pixels[y1 + 40:y1 + 120, x0:x1]
        assert inside.std() > around.std() + 10  # glyphs on a box, over smooth art


def test_layout_records_the_creative_text_and_headlines(rendered):
    result, _ = rendered
    for done in result.formats.values():
        last = max(t.slide for t in done.layout.texts)
        creative = [t for t in done.layout.texts if t.slide == last]
        assert creative and creative[0].end_s == pytest.approx(done.layout.duration_s, abs=0.01)
        for text in done.layout.texts:
            x0, y0, x1, y1 = text.box
            assert 0 <= x0 < x1 <= done.layout.size[0] and 0 <= y0 < y1 <= done.layout.size[1]
        headlines = [t for t in done.layout.texts if t.role == "headline" and t.slide < last]
        assert not any(boxes_overlap(h.box, done.layout.caption_zone) for h in headlines)


def test_mix_is_minus_14_lufs_under_minus_1_dbtp(rendered):
    result, _ = rendered
    for done in result.formats.values():
        loudness = measure_loudness(done.path)
        assert -15.0 <= loudness.integrated_lufs <= -13.0, loudness
        assert loudness.true_peak_dbtp <= -1.0, loudness


def test_voice_leads_the_bed_on_every_voiced_span(rendered):
    result, bed = rendered
    report = judge_stems(result.stems_path, fade_s=bed.bar_s)
    assert report.problems == []
    assert len(report.spans) >= 3 and report.min_margin_db >= VOICE_OVER_BED_DB
    assert report.pauses and all(p["under_voice_db"] <= BED_AUDIBLE_DB for p in report.pauses)


def test_bed_dips_under_the_voice_but_stays_in_the_mix(rendered, tmp_path):
    """The ducking depth: the ducked bed against the bed as composed, frame by frame, so neither the music's
    own dynamics nor where the (randomly timed) voice pauses move the measure."""
    result, bed = rendered
    composed = tmp_path / "bed.wav"
    composed.write_bytes(bed.wav)
    raw = decode_channels(composed, STEMS_RATE, channels=1)[0]
    ducked = decode_channels(result.stems_path, STEMS_RATE)[1]
    hop = int(STEMS_RATE * FRAME_S)
    count = min(len(raw), len(ducked)) // hop - round(bed.bar_s / FRAME_S)  # the fade-out is not ducking
    raw_power, ducked_power = (np.maximum(frame_power(s, hop, count), 1e-12) for s in (raw, ducked))
    reduction = 10 * np.log10(raw_power / ducked_power)
    idle = np.percentile(reduction, 5)  # the compressor at rest (the graph's fixed gain)
    report = judge_stems(result.stems_path, fade_s=bed.bar_s)
    voiced = [reduction[round(s["start_s"] / FRAME_S):round(s["end_s"] / FRAME_S)] for s in report.spans]
    depth = float(np.median(np.concatenate(voiced))) - idle
    assert 5.0 <= depth <= 12.0, depth  # it ducks; deeper and the music drops out under speech


def test_a_bed_as_loud_as_the_voice_is_caught(rendered, tmp_path):
    result, _ = rendered
    with wave.open(str(result.stems_path)) as reader:
        rate, frames = reader.getframerate(), np.frombuffer(reader.readframes(reader.getnframes()), np.int16)
    voice = frames[0::2].astype(np.float32)
    voiced = voice[np.abs(voice) > np.abs(voice).max() / 30]
    tone = np.sqrt(2) * np.sqrt((voiced ** 2).mean()) * np.sin(2 * np.pi * 220 * np.arange(len(voice)) / rate)
    planted = tmp_path / "loud-bed-stems.wav"  # a bed as loud as the voice, never ducked
    with wave.open(str(planted), "wb") as writer:
        writer.setnchannels(2), writer.setsampwidth(2), writer.setframerate(rate)
        writer.writeframes(np.stack([voice, np.clip(tone, -32767, 32767)], axis=1).astype(np.int16).tobytes())
    report = judge_stems(planted)
    assert report.problems and "over the music, need 10 dB" in report.problems[0]


def test_silent_pauses_are_caught(rendered, tmp_path):
    result, _ = rendered
    planted = tmp_path / "no-bed.wav"
    subprocess.run([ffmpeg_bin(), "-v", "error", "-y", "-i", str(result.stems_path), "-af", "pan=stereo|c0=c0|c1=0*c1",
                    str(planted)], check=True)
    assert any("inaudible" in p for p in judge_stems(planted).problems)


def test_headlines_wrap_and_shrink_but_are_never_cut():
    font = find_font()
    lines, px = wrap_headline("Brighter-looking skin in fourteen days with stabilized vitamin C", font, 800,
                              max_px=76, max_height=400)
    assert px < 76 or len(lines) > 1
    assert " ".join(lines).replace("- ", "-") == "Brighter-looking skin in fourteen days with stabilized vitamin C"
    assert not any("…" in line for line in lines)
    with pytest.raises(HeadlineFitError, match="Brighter-looking skin"):
        wrap_headline("Brighter-looking skin in fourteen days with stabilized vitamin C " * 4, font, 800,
                      max_px=76, max_height=200)
