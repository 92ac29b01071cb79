"""Caption one video: transcribe, align to the known script, write SRT/VTT/ASS/word JSON, burn in.

Used by the `captions` asset and by captioning of uploaded videos.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from sparklio_pipelines.content.captions.alignment import align_to_script
from sparklio_pipelines.content.captions.burn_in import burn_in, burn_in_all
from sparklio_pipelines.content.captions.cues import build_cues
from sparklio_pipelines.content.captions.formats import (
    to_ass,
    to_srt,
    to_vtt,
    words_json,
)
from sparklio_pipelines.content.captions.metrics import (
    cue_problems,
    speech_coverage,
    word_error_rate,
)
from sparklio_pipelines.content.captions.placement import caption_pad, place_cues
from sparklio_pipelines.content.fonts import DEFAULT_FAMILY, find_font
from sparklio_pipelines.content.protocols import Transcriber
from sparklio_pipelines.content.video.timeline import VideoLayout


@dataclass
class CaptionResult:
    files: dict[str, Path]  # srt, vtt, ass, words, burned
    transcript_text: str
    caption_text: str
    coverage: float
    wer_vs_script: float | None
    cue_count: int
    problems: list[str] = field(default_factory=list)
    transcribe_seconds: float = 0.0
    burn_seconds: float = 0.0
    model: str = ""


def caption_video(
    video: Path,
    work: Path,
    *,
    transcriber: Transcriber,
    language: str | None,
    script: str | None = None,
    hotwords: list[str] | None = None,
    font_family: str = DEFAULT_FAMILY,
    primary_hex: str = "#FFFFFF",
    highlight_hex: str = "#F4B942",
    outline_hex: str = "#000000",
    preset: str = "karaoke",
    position: str = "bottom",
    formats: dict[str, tuple[Path, VideoLayout]] | None = None,
    size_scale: float = 1.0,
) -> CaptionResult:
    """Everything a captioned deliverable needs, written into `work`.

    With `formats` (format -> its video and its on-screen text), `video` is the one transcribed
    (every format has the same audio) and each format gets its own ASS, laid out clear of its
    text, and its own burned-in copy: files["ass:<format>"], files["burned:<format>"].
    """
    # the known script is the best prompt: whisper base needs it for Korean TTS speech
    prompt = script or ", ".join(hotwords or []) or None
    try:
        # with the script as prompt, hotwords add nothing and make whisper loop on Korean speech
        transcript = transcriber.transcribe(
            video, language=language, hotwords=None if script else hotwords, initial_prompt=prompt
        )
    finally:
        transcriber.release()  # the next GPU step gets the memory
    language = language or transcript.language
    words = align_to_script(transcript.words, script, language) if script else transcript.words
    cues = build_cues(words, language)
    font_file = find_font(font_family)
    family = font_family if not font_family.lower().endswith((".ttf", ".otf", ".ttc")) else DEFAULT_FAMILY
    files = {
        "srt": work / "captions.srt",
        "vtt": work / "captions.vtt",
        "ass": work / "captions.ass",
        "words": work / "words.json",
        "burned": work / "captioned.mp4",
    }
    files["srt"].write_text(to_srt(cues), encoding="utf-8")
    files["vtt"].write_text(to_vtt(cues), encoding="utf-8")
    files["words"].write_text(words_json(words), encoding="utf-8")
    style = {"font_name": family, "primary": primary_hex, "highlight": highlight_hex, "outline": outline_hex,
             "position": position, "preset": preset}
    started = time.perf_counter()
    if not formats:
        files["ass"].write_text(to_ass(cues, **style), encoding="utf-8")
        burn_in(video, files["ass"], files["burned"], font=font_file)
    burns = []
    for name, (format_video, layout) in (formats or {}).items():
        width, height = layout.size
        px = round(layout.caption_px * size_scale)  # the brand's size is given for 64 px on 9:16
        placements = place_cues(cues, layout, family, px, caption_pad(px), position)
        ass, burned = work / f"captions-{name}.ass", work / f"captioned-{name}.mp4"
        ass.write_text(to_ass(cues, width=width, height=height, font_size=px, placements=placements, **style),
                       encoding="utf-8")
        burns.append((format_video, ass, burned))
        files[f"ass:{name}"], files[f"burned:{name}"] = ass, burned
    if formats:
        burn_in_all(burns, font=font_file)
        del files["ass"], files["burned"]
    burn_seconds = time.perf_counter() - started
    caption_text = " ".join(" ".join(cue.lines) for cue in cues)
    return CaptionResult(
        files=files,
        transcript_text=transcript.text,
        caption_text=caption_text,
        coverage=speech_coverage(transcript.words, cues),
        wer_vs_script=word_error_rate(script, caption_text, language) if script else None,
        cue_count=len(cues),
        problems=cue_problems(cues, language),
        transcribe_seconds=transcript.seconds,
        burn_seconds=burn_seconds,
        model=transcript.model,
    )
