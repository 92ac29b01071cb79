"""Quality rules for every output, as pure functions. Asset checks call these; so can tests.

Each function returns a list of problems in words (empty means the rule holds), naming where.
"""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

from sparklio_pipelines.content.brief.schema import Brief
from sparklio_pipelines.content.copy.limits import (
    find_banned,
    limit_problems,
    missing_terms,
)
from sparklio_pipelines.content.copy.schemas import (
    CopyDeck,
    EmailVariant,
    InstagramVariant,
    LinkedInVariant,
    ShortsVariant,
    XVariant,
)
from sparklio_pipelines.content.media import MediaError, ffmpeg_bin
from sparklio_pipelines.content.text import hangul_ratio

KO_MIN_HANGUL_RATIO = 0.5  # Korean copy may quote Latin brand names, but most letters are Hangul
EN_MAX_HANGUL_RATIO = 0.35  # English copy may name a Korean product
LOUDNESS_RANGE_LUFS = (-20.0, -12.0)  # around the -14/-16 LUFS that social platforms normalise to
VIDEO_SECONDS = (15.0, 30.0)
VIDEO_SIZE = (1080, 1920)


# --- copy -------------------------------------------------------------------------------------

def variant_texts(variant) -> dict[str, str]:
    """Each text field of a variant, by name."""
    if isinstance(variant, InstagramVariant):
        return {"post": variant.post_text()}
    if isinstance(variant, (XVariant, LinkedInVariant)):
        return {"text": variant.text}
    if isinstance(variant, EmailVariant):
        return {"subject": variant.subject, "preheader": variant.preheader, "body": variant.body}
    if isinstance(variant, ShortsVariant):
        return {"script": variant.script, **{f"headline[{i}]": h for i, h in enumerate(variant.headlines)}}
    return {}


def main_text(variant) -> str:
    """The field that must carry required terms."""
    texts = variant_texts(variant)
    return texts.get("post") or texts.get("text") or texts.get("body") or texts.get("script", "")


def iter_variants(deck: CopyDeck):
    for language, channels in deck.languages.items():
        for channel, variants in channels.items():
            for variant in variants:
                yield language, channel, variant


def copy_limit_problems(deck: CopyDeck) -> list[str]:
    """Channel limits only (brand rules are their own checks)."""
    return [p for p in limit_problems(deck) if "banned words" not in p and "missing required terms" not in p]


def banned_word_problems(deck: CopyDeck, brief: Brief) -> list[str]:
    problems = []
    for language, channel, variant in iter_variants(deck):
        for field, text in variant_texts(variant).items():
            found = find_banned(text, brief.brand.banned_for(language))
            if found:
                problems.append(f"{language}/{channel}/{variant.variant}/{field}: banned {found}")
    return problems


def required_term_problems(deck: CopyDeck, brief: Brief) -> list[str]:
    problems = []
    for language, channel, variant in iter_variants(deck):
        missing = missing_terms(main_text(variant), brief.brand.required_for(language))
        if missing:
            problems.append(f"{language}/{channel}/{variant.variant}: missing {missing}")
    return problems


def hashtag_problems(deck: CopyDeck, limit: int = 30) -> list[str]:
    problems = []
    for language, channel, variant in iter_variants(deck):
        tags = re.findall(r"#[^\s#]+", " ".join(variant_texts(variant).values()))
        if len(tags) > limit:
            problems.append(f"{language}/{channel}/{variant.variant}: {len(tags)} hashtags, limit {limit}")
    return problems


def wrong_language(language: str, text: str) -> str | None:
    """Why `text` is not in `language`, judged by its Hangul letters; None when it is."""
    ratio = hangul_ratio(text)
    if language == "ko" and ratio < KO_MIN_HANGUL_RATIO:
        return f"only {ratio:.0%} Hangul letters"
    if language == "en" and ratio > EN_MAX_HANGUL_RATIO:
        return f"{ratio:.0%} Hangul letters in English copy"
    return None


def language_problems(deck: CopyDeck) -> list[str]:
    problems = []
    for language, channel, variant in iter_variants(deck):
        fault = wrong_language(language, main_text(variant))
        if fault:
            problems.append(f"{language}/{channel}/{variant.variant}: {fault}")
    return problems


# --- image ------------------------------------------------------------------------------------

def image_size(png: bytes) -> tuple[int, int]:
    from PIL import Image

    return Image.open(io.BytesIO(png)).size


def inside(box, area) -> bool:
    return box[0] >= area[0] and box[1] >= area[1] and box[2] <= area[2] and box[3] <= area[3]


def safe_area_problems(layout: dict, where: str) -> list[str]:
    problems = []
    for text in layout["texts"]:
        if not inside(text["box"], layout["safe_area"]):
            problems.append(f"{where}: {text['role']} box {text['box']} outside safe area {layout['safe_area']}")
    return problems


# --- video ------------------------------------------------------------------------------------

def integrated_loudness(media: Path) -> float:
    """EBU R128 integrated loudness (LUFS) of the audio, from ffmpeg's ebur128 filter."""
    cmd = [ffmpeg_bin(), "-nostdin", "-hide_banner", "-i", str(media), "-vn", "-af", "ebur128", "-f", "null", "-"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    matches = re.findall(r"I:\s+(-?[\d.]+|-inf)\s+LUFS", out.stderr)
    if out.returncode != 0 or not matches:
        raise MediaError(f"cannot measure loudness of {Path(media).name}")
    value = matches[-1]
    return float("-inf") if value == "-inf" else float(value)


def video_problems(facts: dict, size: tuple[int, int] = VIDEO_SIZE) -> list[str]:
    problems = []
    low, high = VIDEO_SECONDS
    if not low <= facts["duration_s"] <= high:
        problems.append(f"duration {facts['duration_s']:.1f} s, need {low:.0f}-{high:.0f} s")
    if (facts["width"], facts["height"]) != tuple(size):
        problems.append(f"size {facts['width']}x{facts['height']}, need {size[0]}x{size[1]}")
    if not facts["has_audio"]:
        problems.append("no audio stream")
    return problems


# --- captions ---------------------------------------------------------------------------------

SRT_TIME = re.compile(r"(\d+):(\d+):(\d+)[,.](\d+)\s*-->\s*(\d+):(\d+):(\d+)[,.](\d+)")


def parse_srt(text: str) -> list:
    """SRT back into cues (index, start, end, lines)."""
    from sparklio_pipelines.content.captions.cues import Cue

    cues = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.strip().splitlines()
        timing = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing is None:
            continue
        h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, SRT_TIME.search(lines[timing]).groups())
        start = h1 * 3600 + m1 * 60 + s1 + ms1 / 1000
        end = h2 * 3600 + m2 * 60 + s2 + ms2 / 1000
        cues.append(Cue(index=len(cues) + 1, start=start, end=end, lines=lines[timing + 1:]))
    return cues
