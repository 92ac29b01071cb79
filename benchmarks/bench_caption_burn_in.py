"""Caption burn-in benchmark: the three formats burned in by one ffmpeg run vs one run per format.

Inputs are 15 s moving test clips (ffmpeg's testsrc2) in each format's size with an audio track, and
each format's own ASS captions, as the captions step gets them.

    /work/main/.venv/bin/python benchmarks/bench_caption_burn_in.py [--runs 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_video_render import cpu_seconds, machine, median_table, print_ratio, timed  # noqa: E402

from sparklio_common.model_io import Word  # noqa: E402
from sparklio_pipelines.content.captions.burn_in import burn_in, burn_in_all  # noqa: E402
from sparklio_pipelines.content.captions.cues import Cue  # noqa: E402
from sparklio_pipelines.content.captions.formats import to_ass  # noqa: E402
from sparklio_pipelines.content.fonts import find_font  # noqa: E402
from sparklio_pipelines.content.media import ffmpeg_bin  # noqa: E402
from sparklio_pipelines.content.video.formats import FORMATS  # noqa: E402
from sparklio_pipelines.content.video.render import FPS  # noqa: E402

DURATION_S = 15
PHRASES = ["Meet Lumi Glow", "made for busy mornings", "brighter skin every day", "gentle for daily use",
           "one drop after cleansing", "Shop the launch offer"]


def cues() -> list[Cue]:
    span = DURATION_S / len(PHRASES)
    result = []
    for number, phrase in enumerate(PHRASES):
        start, words = number * span, phrase.split()
        step = (span - 0.3) / len(words)
        result.append(Cue(number, start, start + span - 0.3, [phrase],
                          [Word(w, start + i * step, start + (i + 1) * step, 1.0) for i, w in enumerate(words)]))
    return result


def make_jobs(folder: Path) -> list[tuple[Path, Path, Path]]:
    jobs = []
    for fmt in FORMATS.values():
        width, height = fmt.size
        clip = folder / f"{fmt.name}.mp4"
        subprocess.run([ffmpeg_bin(), "-v", "error", "-y", "-f", "lavfi",
                        "-i", f"testsrc2=s={width}x{height}:r={FPS}:d={DURATION_S}",
                        "-f", "lavfi", "-i", f"sine=frequency=220:duration={DURATION_S}",
                        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip)],
                       check=True)
        ass = folder / f"{fmt.name}.ass"
        ass.write_text(to_ass(cues(), width=width, height=height, font_size=fmt.caption_px), encoding="utf-8")
        jobs.append((clip, ass, folder / f"{fmt.name}-captioned.mp4"))
    return jobs


def one_run_per_format(jobs, font) -> None:
    for video, ass, out in jobs:
        burn_in(video, ass, out, font=font)


def one_run(jobs, font) -> None:
    burn_in_all(jobs, font=font)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    font = find_font()
    cpu_seconds()  # the children's clock starts with the first render
    with tempfile.TemporaryDirectory(prefix="bench-burn-in-") as tmp:
        jobs = make_jobs(Path(tmp))
        cases = {"one ffmpeg run per format": one_run_per_format, "one ffmpeg run, 3 formats": one_run}
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(options.runs):
            for name, burn in cases.items():
                results[name].append(timed(burn, jobs, font))
                print(f"  {name}: wall {results[name][-1][0]:.1f} s, CPU {results[name][-1][1]:.1f} s", flush=True)
    print(f"machine: {machine()}")
    print(f"burn-in: 3 formats (9:16, 1:1, 16:9), {DURATION_S} s at {FPS} fps, libx264 + audio copied, "
          f"runs: {options.runs}")
    medians = median_table(results, "burn-in", 30)
    separate, together = (medians[name] for name in cases)
    print_ratio("per format / one run", separate, together, 30)


if __name__ == "__main__":
    main()
