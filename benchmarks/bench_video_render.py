"""Our one-filtergraph ffmpeg render vs. a MoviePy render of the same 15 s short, 9:16 alone and in
all three channel formats (9:16 1080x1920, 1:1 1080x1080, 16:9 1920x1080), with a music bed.

The MoviePy side follows MoneyPrinterTurbo's approach: ImageClips with a per-frame zoom resize,
crossfades, TextClip headlines and captions, the voice over the bed (CompositeAudioClip, the bed at
a fixed lower volume: MoviePy has no ducking), CompositeVideoClip, write_videofile(libx264), once per
format. Ours renders every format in ONE ffmpeg process (slides decoded once and `split`), the bed
ducked by sidechaincompress. Same inputs, 30 fps, 15 s, libx264 `veryfast`, AAC, the same ffmpeg.

    .venv/bin/python benchmarks/bench_video_render.py [--runs 3] [--moviepy-runs 1] [--seconds 15]

Wall seconds and CPU seconds (this process + its ffmpeg children) are both reported: on a
shared, oversubscribed machine CPU seconds are the steadier comparison.

Needs the bench extra: pip install "moviepy>=2.1,<3".
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from PIL import Image, ImageDraw  # noqa: E402

from resources.music import ProceduralMusicResource  # noqa: E402
from resources.speech import LocalSpeechResource  # noqa: E402
from sparklio_pipelines.content.fonts import find_font  # noqa: E402
from sparklio_pipelines.content.media import ffmpeg_bin, probe, summarize  # noqa: E402
from sparklio_pipelines.content.video.formats import FORMATS, SLIDE_ART  # noqa: E402
from sparklio_pipelines.content.video.mix import MusicInput  # noqa: E402
from sparklio_pipelines.content.video.render import (  # noqa: E402
    CROSSFADE_S,
    FPS,
    ZOOM_RANGE,
    FormatJob,
    render_formats,
)

DURATION_S = 15.0
PRESET = "veryfast"
HEADLINES = ["Glow Serum", "Radiant skin in 7 days", "Try it today"]
SCRIPT = "Meet Glow Serum. Radiant skin in seven days, with vitamin C and niacinamide. Try it today."
CUES = [(0.3, 3.0, "Meet Glow Serum."), (3.0, 6.5, "Radiant skin in seven days,"),
        (6.5, 9.5, "with vitamin C and niacinamide."), (9.5, 12.0, "Try it today.")]


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} cores, {model}, {platform.system()}, load avg {load:.1f}"


def make_inputs(folder: Path) -> tuple[dict[str, list[Path]], Path, Path, MusicInput]:
    """Slide art in each shape the product paints it (SLIDE_ART: portrait, and landscape for 16:9)."""
    slides: dict[str, list[Path]] = {}
    palette = [((26, 26, 46), (244, 185, 66)), ((18, 60, 40), (200, 230, 180)), ((60, 20, 80), (250, 120, 160))]
    for shape, (width, height) in SLIDE_ART.items():
        for index, (top, bottom) in enumerate(palette):
            image = Image.new("RGB", (width, height))
            draw = ImageDraw.Draw(image)
            for y in range(height):
                t = y / (height - 1)
                draw.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))
            radius = min(width, height) // 4
            draw.ellipse((width // 2 - radius, height // 2 - radius, width // 2 + radius, height // 2 + radius),
                         fill=bottom[::-1])
            slides.setdefault(shape, []).append(folder / f"slide-{shape}-{index}.png")
            image.save(slides[shape][-1])
    voice = LocalSpeechResource().synthesize(SCRIPT, "en")
    wav = folder / "voice.wav"
    wav.write_bytes(voice.wav)
    bed = ProceduralMusicResource().bed("warm", DURATION_S, 1)
    bed_path = folder / "bed.wav"
    bed_path.write_bytes(bed.wav)
    srt = folder / "captions.srt"
    stamp = lambda s: f"00:00:{int(s):02d},{int(s * 1000) % 1000:03d}"  # noqa: E731
    srt.write_text("\n".join(f"{i}\n{stamp(a)} --> {stamp(b)}\n{text}\n" for i, (a, b, text) in enumerate(CUES, 1)))
    return slides, wav, srt, MusicInput(bed_path, bed.bar_s)


def render_ours(formats: list[str], slides: dict[str, list[Path]], wav: Path, srt: Path, music: MusicInput,
                folder: Path) -> None:
    jobs = [FormatJob(FORMATS[name], folder / f"ours-{name}.mp4", subtitles=srt, slides=slides[FORMATS[name].slide_art])
            for name in formats]
    render_formats(slides["story"], HEADLINES, wav, jobs, font=find_font(), min_s=DURATION_S, max_s=DURATION_S,
                   music=music, preset=PRESET)


def render_moviepy(formats: list[str], slides: dict[str, list[Path]], wav: Path, srt: Path, music: MusicInput,
                   folder: Path) -> None:
    for name in formats:
        shape = FORMATS[name].slide_art
        render_moviepy_format(FORMATS[name].size, slides[shape], SLIDE_ART[shape], wav, music,
                              folder / f"moviepy-{name}.mp4")


def render_moviepy_format(size: tuple[int, int], slides: list[Path], art_size: tuple[int, int], wav: Path,
                          music: MusicInput, out: Path) -> None:
    """MoneyPrinterTurbo-style: per-frame PIL zoom, crossfades, TextClips, CompositeVideoClip."""
    from moviepy import (
        AudioFileClip,
        CompositeAudioClip,
        CompositeVideoClip,
        ImageClip,
        TextClip,
        vfx,
    )

    width, height = size
    font = str(find_font())
    count = len(slides)
    slide_s = (DURATION_S + (count - 1) * CROSSFADE_S) / count
    layers = []
    for index, path in enumerate(slides):
        start = index * (slide_s - CROSSFADE_S)
        cover = max(width / art_size[0], height / art_size[1])
        zoom = (lambda t, d=slide_s, c=cover: c * (1 + ZOOM_RANGE * t / d)) if index % 2 == 0 else (
            lambda t, d=slide_s, c=cover: c * (1 + ZOOM_RANGE * (1 - t / d)))
        clip = ImageClip(str(path)).with_duration(slide_s).resized(zoom).with_position("center").with_start(start)
        if index:
            clip = clip.with_effects([vfx.CrossFadeIn(CROSSFADE_S)])
        layers.append(clip)
        headline = (TextClip(font=font, text=HEADLINES[index], font_size=76, color="white", stroke_color="#F4B942",
                             stroke_width=2, bg_color="black", method="caption", size=(min(920, width - 160), None))
                    .with_start(start + (CROSSFADE_S / 2 if index else 0)).with_duration(slide_s - CROSSFADE_S / 2)
                    .with_position(("center", round(height * 0.14))))
        layers.append(headline)
    for start, end, text in CUES:
        layers.append(TextClip(font=font, text=text, font_size=60, color="white", stroke_color="black",
                               stroke_width=3, method="caption", size=(min(980, width - 100), None))
                      .with_start(start).with_duration(end - start).with_position(("center", round(height * 0.8) - 120)))
    bed = AudioFileClip(str(music.path)).with_duration(DURATION_S).with_volume_scaled(0.25)
    audio = CompositeAudioClip([AudioFileClip(str(wav)), bed]).with_duration(DURATION_S)
    video = CompositeVideoClip(layers, size=(width, height)).with_duration(DURATION_S).with_audio(audio)
    # MoviePy writes its temp audio into the working directory unless told otherwise.
    video.write_videofile(str(out), fps=FPS, codec="libx264", preset=PRESET, audio_codec="aac", threads=os.cpu_count(),
                          temp_audiofile=str(out.with_suffix(".tmp-audio.m4a")),
                          ffmpeg_params=["-pix_fmt", "yuv420p", "-movflags", "+faststart"], logger=None)
    video.close()


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(render, *args) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one render."""
    started, cpu = time.perf_counter(), cpu_seconds()
    render(*args)
    return time.perf_counter() - started, cpu_seconds() - cpu


def median_table(results: dict[str, list[tuple[float, float]]], heading: str, width: int) -> dict[str, tuple[float, float]]:
    """Print each case's median wall and CPU seconds, and return them."""
    print(f"{heading:<{width}} {'median wall s':>13} {'median CPU s':>13}")
    medians = {}
    for name, runs in results.items():
        medians[name] = (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
        print(f"{name:<{width}} {medians[name][0]:>13.1f} {medians[name][1]:>13.1f}")
    return medians


def print_ratio(label: str, slow: tuple[float, float], fast: tuple[float, float], width: int) -> None:
    print(f"{label:<{width}} wall {slow[0] / fast[0]:.2f}x, CPU {slow[1] / fast[1]:.2f}x")


ONE, ALL = ["9x16"], ["9x16", "1x1", "16x9"]


def main() -> None:
    global DURATION_S
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--moviepy-runs", type=int, default=None,
                        help="MoviePy runs (default: --runs); one MoviePy 3-format render takes minutes")
    parser.add_argument("--seconds", type=float, default=DURATION_S, help="video length (default 15)")
    options = parser.parse_args()
    DURATION_S = options.seconds
    os.environ["IMAGEIO_FFMPEG_EXE"] = ffmpeg_bin()  # MoviePy encodes with the same ffmpeg/x264
    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        folder = Path(tmp)
        inputs = make_inputs(folder)
        cases = {
            "ours, 9:16 only": (render_ours, ONE), "ours, 3 formats (one ffmpeg run)": (render_ours, ALL),
            "MoviePy, 9:16 only": (render_moviepy, ONE), "MoviePy, 3 formats (one render each)": (render_moviepy, ALL),
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        moviepy_runs = options.runs if options.moviepy_runs is None else options.moviepy_runs
        for run in range(max(options.runs, moviepy_runs)):
            for name, (render, formats) in cases.items():
                if run >= (options.runs if render is render_ours else moviepy_runs):
                    continue
                results[name].append(timed(render, formats, *inputs, folder))
                print(f"  {name}: wall {results[name][-1][0]:.1f} s, CPU {results[name][-1][1]:.1f} s", flush=True)
                side = "ours" if render is render_ours else "moviepy"
                for fmt in formats:
                    facts = summarize(probe(folder / f"{side}-{fmt}.mp4"))
                    assert (facts["width"], facts["height"]) == FORMATS[fmt].size, facts
                    assert abs(facts["duration_s"] - DURATION_S) < 0.3 and facts["has_audio"], facts
        print(f"machine: {machine()}")
        print(f"render: {FPS} fps {DURATION_S:.0f} s, {len(inputs[0]['story'])} slides (16:9: its own art), headlines + captions + music bed, "
              f"libx264 {PRESET} + AAC, runs: ours {options.runs}, MoviePy {moviepy_runs}")
        medians = median_table(results, "renderer", 38)
        names = list(cases)
        for label, slow, fast in (("3 formats / 9:16 only, ours", names[1], names[0]),
                                  ("MoviePy / ours, 9:16 only", names[2], names[0]),
                                  ("MoviePy / ours, 3 formats", names[3], names[1])):
            print_ratio(label, medians[slow], medians[fast], 38)


if __name__ == "__main__":
    main()
