"""Caption style presets (karaoke, box, pop, plain) and caption layout clear of on-screen text."""

from __future__ import annotations

import subprocess

import pytest

from sparklio_common.model_io import Word
from sparklio_pipelines.content.brief.schema import CaptionStyle
from sparklio_pipelines.content.captions.burn_in import burn_in, burn_in_all
from sparklio_pipelines.content.captions.cues import Cue
from sparklio_pipelines.content.captions.formats import (
    CAPTION_PRESETS,
    parse_ass_events,
    to_ass,
)
from sparklio_pipelines.content.captions.placement import (
    CaptionLayoutError,
    caption_box,
    caption_pad,
    overlaps,
    place_cues,
)
from sparklio_pipelines.content.fonts import DEFAULT_FAMILY, find_font
from sparklio_pipelines.content.media import MediaError, ffmpeg_bin, probe, summarize
from sparklio_pipelines.content.video.formats import FORMATS
from sparklio_pipelines.content.video.timeline import (
    ScreenText,
    VideoLayout,
    boxes_overlap,
)

WORDS = [Word("Meet", 0.5, 0.8, 1.0), Word("Lumi", 0.85, 1.2, 1.0), Word("Glow", 1.25, 1.7, 1.0),
         Word("serum", 1.8, 2.3, 1.0)]
CUES = [Cue(0, 0.5, 2.6, ["Meet Lumi", "Glow serum"], WORDS),
        Cue(1, 12.0, 14.0, ["Shop the launch offer"], [Word("Shop", 12.0, 12.4, 1.0), Word("the", 12.4, 12.6, 1.0),
                                                       Word("launch", 12.6, 13.1, 1.0), Word("offer", 13.1, 13.8, 1.0)])]


def story_layout() -> VideoLayout:
    """The 9:16 layout with the story creative as slide 4 from 11.4 s: brand row on top, headline and
    CTA in the lower safe area, where the captions would go."""
    fmt = FORMATS["9x16"]
    return VideoLayout(
        format="9x16", size=fmt.size, safe_area=fmt.safe_area, caption_zone=fmt.caption_zone,
        caption_px=fmt.caption_px, duration_s=15.0, slide_starts_s=[0.0, 4.0, 8.0, 11.7],
        texts=[
            ScreenText(1, "headline", "Lumi Glow", (300, 270, 700, 380), 0.0, 4.0),
            ScreenText(4, "brand", "Lumi", (65, 269, 300, 350), 11.4, 15.0),
            ScreenText(4, "headline", "Brighter skin in 14 days", (65, 1000, 1015, 1340), 11.4, 15.0),
            ScreenText(4, "cta", "Shop the launch offer", (65, 1380, 600, 1536), 11.4, 15.0),
        ],
    )


@pytest.mark.parametrize("preset", CAPTION_PRESETS)
def test_each_preset_renders_with_libass(preset, tmp_path):
    ass = tmp_path / f"{preset}.ass"
    ass.write_text(to_ass(CUES[:1], preset=preset, highlight="#F4B942"), encoding="utf-8")
    clip = tmp_path / "clip.mp4"
    subprocess.run([ffmpeg_bin(), "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=0x203040:s=1080x1920:d=3",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(clip)], check=True)
    out = tmp_path / f"{preset}.mp4"
    burn_in(clip, ass, out, font=find_font())
    assert summarize(probe(out))["duration_s"] == pytest.approx(3.0, abs=0.1)


def _grey_frame(video, at_s: float, size: tuple[int, int]) -> bytes:
    width, height = size
    return subprocess.run([ffmpeg_bin(), "-v", "error", "-ss", str(at_s), "-i", str(video), "-frames:v", "1",
                           "-f", "rawvideo", "-pix_fmt", "gray", "-"], check=True, capture_output=True).stdout


def test_every_format_is_burned_in_one_ffmpeg_run(tmp_path):
    """Each format gets its own captions at its own size, with its audio copied; a missing input is named."""
    jobs, sizes = [], {"tall": (540, 960), "wide": (960, 540)}
    for name, (width, height) in sizes.items():
        clip = tmp_path / f"{name}.mp4"
        subprocess.run([ffmpeg_bin(), "-v", "error", "-y", "-f", "lavfi", "-i", f"color=c=0x203040:s={width}x{height}:d=2",
                        "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:v", "libx264", "-preset", "ultrafast",
                        "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(clip)], check=True)
        ass = tmp_path / f"{name}.ass"
        ass.write_text(to_ass(CUES[:1], width=width, height=height, font_size=40, preset="plain"), encoding="utf-8")
        jobs.append((clip, ass, tmp_path / "out" / f"{name}-captioned.mp4"))
    burn_in_all(jobs, font=find_font())
    for (clip, _, out), size in zip(jobs, sizes.values()):
        facts = summarize(probe(out))
        assert (facts["width"], facts["height"]) == size and facts["has_audio"]
        assert facts["duration_s"] == pytest.approx(2.0, abs=0.1)
        before, after = _grey_frame(clip, 1.0, size), _grey_frame(out, 1.0, size)
        changed = sum(1 for a, b in zip(before, after) if abs(a - b) > 40)
        assert changed > 500, f"no captions drawn into {out.name}"  # white text on a dark blue ground
    with pytest.raises(MediaError, match="burn-in input missing: .*gone.ass"):
        burn_in_all([jobs[0], (jobs[1][0], tmp_path / "gone.ass", tmp_path / "x.mp4")], font=find_font())


def test_presets_differ_as_specified():
    events = {p: parse_ass_events(to_ass(CUES[:1], preset=p, highlight="#F4B942", outline="#111111"))
              for p in CAPTION_PRESETS}
    # karaoke: one event per cue, a \k tag per word
    assert len(events["karaoke"]) == 1 and events["karaoke"][0].raw.count("\\k") == len(WORDS)
    # plain: one event, no override tags at all
    assert len(events["plain"]) == 1 and "{" not in events["plain"][0].raw
    # box: one event per word; the spoken word gets the highlight colour as a thick box, in the outline colour
    assert len(events["box"]) == len(WORDS)
    for number, event in enumerate(events["box"]):
        assert event.raw.count("\\3c&H0042B9F4") == 1 and "\\bord14" in event.raw
        assert event.raw.split("\\bord14}")[1].startswith(WORDS[number].text)
    # pop: one event per word; later words are transparent (lines keep their place), the new one pops in
    assert len(events["pop"]) == len(WORDS)
    assert [e.raw.count("\\alpha&HFF&") for e in events["pop"]] == [3, 2, 1, 0]
    assert all("\\t(0,120,\\fscx100\\fscy100)" in e.raw for e in events["pop"])
    assert [e.start for e in events["pop"]] == pytest.approx([0.5, 0.85, 1.25, 1.8])
    # every preset shows the same words
    for preset, found in events.items():
        assert found[-1].lines == ["Meet Lumi", "Glow serum"], preset


def test_brand_kit_names_a_preset():
    assert CaptionStyle().preset == "karaoke"
    assert CaptionStyle(preset="pop", position="top").position == "top"
    with pytest.raises(ValueError):
        CaptionStyle(preset="neon")


def test_captions_step_aside_for_the_creatives_text():
    layout = story_layout()
    pad = caption_pad(layout.caption_px)
    placements = place_cues(CUES, layout, DEFAULT_FAMILY, layout.caption_px, pad)
    first, last = placements
    assert first.align == 2 and first.box[3] == layout.caption_zone[3]  # nothing in the way: the caption zone
    for text in layout.texts_during(CUES[1].start, CUES[1].end):
        assert not boxes_overlap(last.box, text.box), text
    sx0, sy0, sx1, sy1 = layout.safe_area
    assert sy0 <= last.box[1] and last.box[3] <= sy1


def test_no_room_fails_naming_the_slide_and_time():
    layout = story_layout()
    layout.texts.append(ScreenText(4, "headline", "wall", (0, 0, 1080, 1920), 11.4, 15.0))
    with pytest.raises(CaptionLayoutError, match=r"12\.0 s on slide 4"):
        place_cues(CUES, layout, DEFAULT_FAMILY, layout.caption_px, caption_pad(layout.caption_px))


def test_overlap_measure_catches_a_planted_overlap_and_passes_the_layout():
    layout = story_layout()
    pad = caption_pad(layout.caption_px)
    placed = place_cues(CUES, layout, DEFAULT_FAMILY, layout.caption_px, pad)
    ass = parse_ass_events(to_ass(CUES, width=1080, height=1920, font_size=layout.caption_px, placements=placed))
    boxes = [(e.start, e.end, " ".join(e.lines), caption_box(e.lines, DEFAULT_FAMILY, e.size, e.align, *e.pos, pad))
             for e in ass]
    assert overlaps(layout, boxes) == []
    unplaced = parse_ass_events(to_ass(CUES, width=1080, height=1920, font_size=layout.caption_px,
                                       placements=[placed[0], placed[0]]))  # the last cue left at the bottom
    boxes = [(e.start, e.end, " ".join(e.lines), caption_box(e.lines, DEFAULT_FAMILY, e.size, e.align, *e.pos, pad))
             for e in unplaced]
    found = overlaps(layout, boxes)
    assert found and found[0].slide == 4 and found[0].time_s == pytest.approx(12.0)
    assert "9x16 slide 4 at 12.00 s" in found[0].describe() and "cta" in found[0].describe()
