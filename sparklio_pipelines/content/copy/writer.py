"""The `copy` step: channel copy in every brief language, A/B variants, every limit enforced.

The embedded model is a tiny BASE model, so prompts are few-shot blocks (fictional products
written in the target language) ending in the brief's own block, and every answer is one raw
line stopped at the newline; multi-part answers (email, headlines) are ' | '-separated in that
line. Raw lines, not schema-constrained JSON: llama.cpp's grammar sampler scans Gemma's 262k-token
vocabulary every step (measured 1.7x slower on a 16-token headline list, ~6x on a 190-token
email, for no better text), and a parse failure here just falls back to the brief's words.
Whatever the model writes, the text is cleaned, banned words removed, required terms added and
every channel limit enforced here, so nothing over a limit ever leaves this module.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Callable
from typing import Annotated, Literal, Union

from pydantic import BaseModel, Field

from resources.llm import LLMCall, LLMResource
from sparklio_pipelines.content.brief.schema import Brief
from sparklio_pipelines.content.channels import (
    ALWAYS_GENERATED,
    HASHTAG_MAX_CHARS,
    ChannelLimits,
    FieldLimit,
    channel_limits,
    word_count,
)

VARIANT_LABELS = "ABCDEFGH"
REGENERATE_ATTEMPTS = 1  # an over-long or unusable reply is re-asked this many times, then trimmed / replaced
MAX_HASHTAGS_USED = 8  # Instagram allows 30; a handful reads better and all come from the brand
TEMPERATURE = 0.7


class CopyError(ValueError):
    """A brief whose copy rules contradict each other (e.g. a required term that is banned)."""


# ---------------------------------------------------------------- deck models


class InstagramVariant(BaseModel):
    channel: Literal["instagram"] = "instagram"
    variant: str
    caption: str
    hashtags: list[str]

    def post_text(self) -> str:
        """What is pasted into Instagram: caption, blank line, hashtags."""
        return f"{self.caption}\n\n{' '.join(self.hashtags)}" if self.hashtags else self.caption


class XVariant(BaseModel):
    channel: Literal["x"] = "x"
    variant: str
    text: str


class LinkedInVariant(BaseModel):
    channel: Literal["linkedin"] = "linkedin"
    variant: str
    text: str


class EmailVariant(BaseModel):
    channel: Literal["email"] = "email"
    variant: str
    subject: str
    preheader: str
    body: str


class ShortsVariant(BaseModel):
    channel: Literal["shorts"] = "shorts"
    variant: str
    script: str  # the voiceover
    headlines: list[str]  # on-screen text, in order


Variant = Annotated[
    Union[InstagramVariant, XVariant, LinkedInVariant, EmailVariant, ShortsVariant],
    Field(discriminator="channel"),
]


class CopyCall(BaseModel):
    """One model call behind the deck (re-asks included), for cost and speed tracking."""

    language: str
    channel: str
    variant: str
    field: str
    model: str
    prompt_tokens: int
    output_tokens: int
    seconds: float


class CopyDeck(BaseModel):
    campaign_id: str
    model: str
    seed: int
    languages: dict[str, dict[str, list[Variant]]]  # language -> channel -> variants A, B, ...
    calls: list[CopyCall] = Field(default_factory=list)
    # The brand rules per language, kept so asset checks can re-check the deck on its own.
    banned_words: dict[str, list[str]] = Field(default_factory=dict)
    required_terms: dict[str, list[str]] = Field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return round(sum(c.seconds for c in self.calls), 2)


# ---------------------------------------------------------------- text rules

_SENTENCE_END = re.compile(r"[.!?。！？…]+[\"'”’)\]]*(?=\s|$)")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_HASHTAG = re.compile(r"#[^\s#]+")
_FIGURE = re.compile(r"\d+(?:[.,]\d+)*")
_SPACES = re.compile(r"[ \t]+")


def is_korean(text: str) -> bool:
    return bool(_HANGUL.search(text))


def x_weighted_length(text: str) -> int:
    """X's counted length: Latin and most punctuation weigh 1, CJK (Hangul too) and emoji weigh 2."""
    total = 0
    for ch in text:
        cp = ord(ch)
        light = cp <= 0x10FF or 0x2000 <= cp <= 0x200D or 0x2010 <= cp <= 0x201F or 0x2032 <= cp <= 0x2037
        total += 1 if light else 2
    return total


def _field_length(channel: str) -> Callable[[str], int]:
    return x_weighted_length if channel == "x" else len


def trim_to_limit(text: str, limit: int, length: Callable[[str], int] = len, min_keep: int = 0) -> str:
    """`text` cut to at most `limit` (as measured by `length`), at a sentence end where possible.

    Sentence ends are . ! ? and their CJK forms, so Korean '다.' / '요.' / '!' end a sentence too.
    Without a sentence end inside the limit that keeps `min_keep`, cut at a space and add '…';
    a text without spaces is hard-cut.
    """
    text = text.strip()
    if length(text) <= limit:
        return text
    if limit <= 0:
        return ""
    # The longest prefix that fits.
    fit = 0
    for i in range(1, len(text) + 1):
        if length(text[:i]) > limit:
            break
        fit = i
    head = text[:fit]
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    # A shorter whole sentence reads better than a ragged cut, unless it is too short to use.
    if ends and length(head[: ends[-1]].strip()) >= min_keep:
        return head[: ends[-1]].strip()
    room = head
    while room and length(room + "…") > limit:
        room = room[:-1]
    space = room.rfind(" ")
    if space > 0:
        return room[:space].rstrip(" ,;:-–—·") + "…"
    return room.rstrip() + "…" if room else head[:fit]


def trim_words(text: str, max_words: int, min_keep: int = 0) -> str:
    """At most `max_words` words, at a sentence end where one keeps at least `min_keep` words."""
    words = text.split()
    if len(words) <= max_words:
        return text.strip()
    head = " ".join(words[:max_words])
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends and word_count(head[: ends[-1]]) >= min_keep:
        return head[: ends[-1]].strip()
    return head.rstrip(" ,;:-–—") + "."


def _banned_pattern(word: str) -> re.Pattern[str]:
    escaped = re.escape(word.strip())
    if is_korean(word):
        # Korean glues particles to words ('최고의'): drop the whole space-separated word.
        return re.compile(rf"[^\s]*{escaped}[^\s]*", re.IGNORECASE)
    # English: the word and its endings ('cures', 'guaranteed'), never inside another word ('secure').
    return re.compile(rf"(?<![\w]){escaped}\w*", re.IGNORECASE)


def find_banned(text: str, banned_words: list[str]) -> list[str]:
    return [w for w in banned_words if w.strip() and _banned_pattern(w).search(text)]


def tidy(text: str) -> str:
    """One line-per-paragraph text, single spaces, no space before punctuation, no stray quotes."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r", "").split("\n")]
    text = "\n".join(line for line in lines if line)
    text = re.sub(r"\s+([,.!?;:])", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r"^[\s,;:.\-–—]+", "", text)
    text = text.strip().strip('"“”')
    return text.strip()


def remove_banned(text: str, banned_words: list[str]) -> str:
    """Every banned word gone (case-insensitive); Korean words go with their attached particles."""
    for word in sorted((w for w in banned_words if w.strip()), key=len, reverse=True):
        text = _banned_pattern(word).sub("", text)
    return tidy(text)


def _has_final_consonant(syllable: str) -> bool:
    code = ord(syllable) - 0xAC00
    return 0 <= code <= 11171 and code % 28 != 0


def required_sentence(term: str, language: str) -> str:
    """A short natural sentence carrying `term`, added when the model left the term out."""
    if language == "ko":
        last = term.strip()[-1:]
        particle = "과" if last and _has_final_consonant(last) else "와"
        return f"{term}{particle} 함께하세요."
    return f"Meet {term}."


def missing_terms(text: str, required_terms: list[str]) -> list[str]:
    low = text.casefold()
    return [t for t in required_terms if t.casefold() not in low]


def ensure_terms(
    text: str,
    required_terms: list[str],
    language: str,
    limit: int,
    length: Callable[[str], int] = len,
    *,
    min_keep: int = 0,
    trim: Callable[[str, int, int], str] | None = None,
) -> str:
    """`text` within `limit`, carrying every required term: trimmed, plus a short sentence per
    term it lacks (also a term the trim itself cut off). `trim(text, limit, min_keep)` defaults
    to `trim_to_limit` measured by `length`."""
    cut = trim or (lambda t, n, keep: trim_to_limit(t, n, length, keep))
    added: list[str] = []
    result = text
    for _ in range(len(required_terms) + 1):
        suffix = " ".join(required_sentence(t, language) for t in added)
        gap = 2 if suffix else 0  # a space, and maybe a period closing the head
        room = limit - length(suffix) - gap
        if room < 1:
            return trim_to_limit(suffix, limit, length)
        head = cut(text, room, max(min_keep - length(suffix), 0))
        if suffix and head and not _SENTENCE_END.search(head[-1:] + " ") and not head.endswith("…"):
            head += "."
        result = f"{head} {suffix}".strip()
        missing = missing_terms(result, required_terms)
        if not missing:
            return result
        added += [t for t in missing if t not in added]
    return result


def hashtag(text: str) -> str | None:
    """'#Word' from any text: letters/digits only (Hangul kept), CamelCase for Latin words."""
    words = re.findall(r"\w+", text.replace("_", " "))
    if not words:
        return None
    body = "".join(w if is_korean(w) or w[:1].isupper() or w.isdigit() else w.capitalize() for w in words)
    if body.isdigit() or len(body) + 1 > HASHTAG_MAX_CHARS:
        return None
    return f"#{body}"


def brand_hashtags(brief: Brief, language: str, extra: list[str] = ()) -> list[str]:
    """Deterministic tags from brand, product and required terms, then the model's own; ≤ 30."""
    banned = brief.brand.banned_for(language)
    sources = [brief.brand.name, brief.product, *brief.brand.required_for(language)]
    sources += [w for w in brief.product.split() if len(w) >= (2 if is_korean(w) else 4)]
    sources += [t.lstrip("#") for t in extra]
    tags: list[str] = []
    seen: set[str] = set()
    for source in sources:
        tag = hashtag(source) if source else None
        if tag and tag.casefold() not in seen and not find_banned(tag, banned):
            seen.add(tag.casefold())
            tags.append(tag)
    return tags[:MAX_HASHTAGS_USED]


# ---------------------------------------------------------------- few-shot material

# Fictional products, one block each per language; the brief's own block comes last.
_EXAMPLES: dict[str, list[dict]] = {
    "en": [
        {
            "brand": "Northwind",
            "product": "Northwind Trail Shoes",
            "audience": "weekend hikers who want one shoe for every trail",
            "tone": "upbeat, practical",
            "voice": "Plain words. No exaggeration.",
            "focus": "Grips wet rock and weighs 20% less",
            "cta": "Find your size",
            "instagram": "Wet rock, loose gravel, muddy roots. Northwind Trail Shoes keep your footing and weigh 20% less than our last pair. One shoe, every trail. Find your size.",
            "x": "Wet rock? Steady feet. Northwind Trail Shoes grip where others slip and weigh 20% less. Find your size.",
            "linkedin": "Our team spent two seasons testing outsoles on wet granite. The result is Northwind Trail Shoes: a grippier sole and a frame that weighs 20% less. Built for people who hike every weekend and want one shoe that does it all. Find your size.",
            "email": {"subject": "Grip that holds on wet rock", "preheader": "Northwind Trail Shoes weigh 20% less and grip every trail.", "body": "Hi there, your weekend hikes deserve one shoe that does it all. Northwind Trail Shoes grip wet rock and weigh 20% less than before. Find your size today."},
            "script": "Every weekend hiker knows the moment. Wet rock, one slip, and the fun is gone. Northwind Trail Shoes grip where others slide. They weigh twenty percent less, so your legs stay fresh to the summit. One shoe for gravel, mud and stone. Find your size today.",
            "headlines": ["Grip on wet rock", "20% lighter", "One shoe, every trail", "Find your size"],
        },
        {
            "brand": "Brightside",
            "product": "Brightside Cold Brew Cans",
            "audience": "busy students who need a clean afternoon boost",
            "tone": "friendly, energetic",
            "voice": "Short sentences. Speak like a friend.",
            "focus": "Brewed for 18 hours, no added sugar",
            "cta": "Grab a four-pack",
            "instagram": "Brewed slow for 18 hours, so you don't have to wait. Brightside Cold Brew Cans are smooth, bold and have no added sugar. Your 3 pm study session just got easier. Grab a four-pack.",
            "x": "18 hours of brewing. Zero added sugar. Brightside Cold Brew Cans, ready when your study session is. Grab a four-pack.",
            "linkedin": "We asked 200 students what they want from an afternoon coffee. Their answer: smooth taste, real caffeine, no sugar crash. Brightside Cold Brew Cans are brewed for 18 hours with no added sugar. Grab a four-pack.",
            "email": {"subject": "Your 3 pm boost, brewed for 18 hours", "preheader": "Smooth cold brew with no added sugar, in a can.", "body": "Hi, long afternoon ahead? Brightside Cold Brew Cans are brewed for 18 hours and have no added sugar. Smooth, bold and ready in your bag. Grab a four-pack."},
            "script": "It is three in the afternoon and your notes are still open. You need a boost without the sugar crash. Brightside Cold Brew Cans are brewed for eighteen hours, smooth and bold, with no added sugar. Crack one open and keep going. Grab a four-pack today.",
            "headlines": ["Brewed for 18 hours", "No added sugar", "Smooth and bold", "Grab a four-pack"],
        },
    ],
    "ko": [
        {
            "brand": "숲결",
            "product": "숲결 원목 도마",
            "audience": "집밥을 즐기는 30대 신혼부부",
            "tone": "차분하고 따뜻한",
            "voice": "쉬운 말로 솔직하게.",
            "focus": "통원목이라 칼자국이 덜 남아요",
            "cta": "지금 만나보세요",
            "instagram": "매일 쓰는 도마라서 더 꼼꼼하게 골랐어요. 숲결 원목 도마는 통원목으로 만들어 칼자국이 덜 남고 오래 써도 깔끔해요. 두 사람의 첫 부엌에 잘 어울려요. 지금 만나보세요.",
            "x": "칼자국 걱정 없는 통원목 도마. 숲결 원목 도마로 매일의 집밥을 더 즐겁게. 지금 만나보세요.",
            "linkedin": "숲결은 국내 공방에서 통원목을 하나하나 다듬어 도마를 만듭니다. 칼자국이 덜 남고 관리가 쉬워 오래 쓸 수 있어요. 집밥을 즐기는 분들께 숲결 원목 도마를 소개합니다. 지금 만나보세요.",
            "email": {"subject": "칼자국이 덜 남는 원목 도마", "preheader": "통원목으로 만든 숲결 원목 도마를 소개해요.", "body": "안녕하세요, 숲결입니다. 매일 쓰는 도마, 오래 깔끔하게 쓰고 싶으시죠? 숲결 원목 도마는 통원목이라 칼자국이 덜 남아요. 지금 만나보세요."},
            "script": "매일 쓰는 도마, 금방 상처투성이가 되지 않나요? 숲결 원목 도마는 통원목으로 만들어 칼자국이 덜 남아요. 관리도 쉬워서 오래오래 깔끔하게 쓸 수 있어요. 두 사람의 부엌에 따뜻함을 더해 보세요. 지금 만나보세요.",
            "headlines": ["칼자국 걱정 없이", "통원목 그대로", "오래 쓰는 도마", "지금 만나보세요"],
        },
        {
            "brand": "포포",
            "product": "포포 단백질 바",
            "audience": "운동을 시작한 20대 대학생",
            "tone": "밝고 경쾌한",
            "voice": "짧고 친근하게.",
            "focus": "한 개에 단백질 15g",
            "cta": "오늘 바로 주문하세요",
            "instagram": "운동 끝나고 배고플 때, 가방 속 포포 단백질 바 하나면 충분해요. 한 개에 단백질 15g, 달지 않고 고소한 맛이에요. 오늘 바로 주문하세요.",
            "x": "운동 후 간식 고민 끝! 포포 단백질 바 한 개에 단백질 15g. 오늘 바로 주문하세요.",
            "linkedin": "포포는 운동을 시작한 분들이 부담 없이 단백질을 챙기도록 돕고 싶었습니다. 포포 단백질 바는 한 개에 단백질 15g을 담았고 맛도 고소합니다. 오늘 바로 주문하세요.",
            "email": {"subject": "한 개에 단백질 15g, 포포 단백질 바", "preheader": "운동 후 간식, 이제 가볍게 챙기세요.", "body": "안녕하세요, 포포입니다. 운동 후 간식 고민되시죠? 포포 단백질 바는 한 개에 단백질 15g을 담았어요. 오늘 바로 주문하세요."},
            "script": "운동 끝나고 뭐 먹을지 고민되죠? 포포 단백질 바 하나면 충분해요. 한 개에 단백질 15그램, 달지 않고 고소해요. 가방에 쏙 넣어 다니세요. 오늘 바로 주문하세요.",
            "headlines": ["단백질 15g", "운동 후 간식", "고소한 맛", "오늘 바로 주문"],
        },
    ],
}

_LABELS = {
    "en": {
        "brand": "Brand", "product": "Product", "audience": "Audience", "tone": "Tone", "voice": "Voice",
        "focus": "Focus", "cta": "Call to action", "approved": "Approved line",
        "instagram": "Instagram caption", "x": "X post", "linkedin": "LinkedIn post",
        "email": "Email", "script": "30-second voiceover script", "headlines": "On-screen headlines",
        "subject": "Subject", "preheader": "Preheader", "body": "Body",
    },
    "ko": {
        "brand": "브랜드", "product": "제품", "audience": "타깃", "tone": "톤", "voice": "보이스",
        "focus": "강조", "cta": "행동 유도", "approved": "승인된 문구",
        "instagram": "인스타그램 캡션", "x": "X 게시물", "linkedin": "링크드인 게시물",
        "email": "이메일", "script": "30초 쇼츠 내레이션", "headlines": "화면 자막",
        "subject": "제목", "preheader": "미리보기", "body": "본문",
    },
}


def _context_block(facts: dict, language: str, approved: list[str]) -> str:
    labels = _LABELS[language]
    lines = [f"{labels[key]}: {facts[key]}" for key in ("brand", "product", "audience", "tone", "voice", "focus", "cta") if facts.get(key)]
    lines += [f"{labels['approved']}: {line}" for line in approved]
    return "\n".join(lines)


def _example_answer(example: dict, task: str, language: str) -> str:
    if task == "email":
        labels = _LABELS[language]
        return " | ".join(f"{labels[k]}: {example['email'][k]}" for k in ("subject", "preheader", "body"))
    if task == "headlines":
        return " | ".join(example["headlines"])
    return example[task]


def parse_email(line: str, language: str) -> dict[str, str]:
    """'Subject: … | Preheader: … | Body: …' into its parts; a missing part is ''."""
    labels = _LABELS[language]
    parts: dict[str, str] = {}
    for key in ("subject", "preheader", "body"):
        any_label = "|".join(re.escape(labels[k]) for k in ("subject", "preheader", "body"))
        found = re.search(rf"{re.escape(labels[key])}\s*:\s*(.*?)\s*(?:\|\s*(?:{any_label})\s*:|$)", line)
        parts[key] = found.group(1).strip(" |") if found else ""
    return parts


def build_prompt(brief: Brief, language: str, task: str, focus: str, approved: list[str]) -> str:
    """Few-shot prompt: example blocks, then the brief's block ending in the task label."""
    labels = _LABELS[language]
    blocks = [
        f"{_context_block(ex, language, [])}\n{labels[task]}: {_example_answer(ex, task, language)}"
        for ex in _EXAMPLES[language]
    ]
    facts = {
        "brand": brief.brand.name,
        "product": brief.product,
        "audience": brief.audience,
        "tone": brief.tone,
        "voice": brief.brand.voice_notes,
        "focus": focus,
        "cta": brief.call_to_action,
    }
    blocks.append(f"{_context_block(facts, language, approved)}\n{labels[task]}:")
    return "\n\n".join(blocks)


# ---------------------------------------------------------------- generation


def _seed(base: int, *parts: object) -> int:
    """A stable per-call seed (Python's hash() is salted per process; crc32 is not)."""
    return (base * 1_000_003 + zlib.crc32("|".join(map(str, parts)).encode())) % (2**31 - 1)


class _Writer:
    """Calls the model for one language and keeps the call log."""

    def __init__(self, brief: Brief, llm: LLMResource, language: str, seed: int, approved: list[str],
                 calls: list[CopyCall], log: Callable[[str], None]):
        self.brief, self.llm, self.language, self.seed = brief, llm, language, seed
        self.approved, self.calls, self.log = approved, calls, log
        self.banned = brief.brand.banned_for(language)
        self.required = brief.brand.required_for(language)
        # the numbers the model was told (a date or a palette hex is no licence to state "10%")
        self.brief_figures = figures(" ".join([brief.product, brief.audience, *brief.key_messages, brief.tone,
                                               brief.call_to_action, brief.brand.name, brief.brand.voice_notes,
                                               *self.required]))

    def _record(self, channel: str, variant: str, field: str, call: LLMCall) -> None:
        self.calls.append(CopyCall(language=self.language, channel=channel, variant=variant, field=field, **call.to_dict()))

    def ask(self, channel: str, variant: str, task: str, focus: str, attempt: int, max_tokens: int) -> str:
        prompt = build_prompt(self.brief, self.language, task, focus, self.approved)
        result = self.llm.generate(
            prompt,
            max_tokens=max_tokens,
            temperature=TEMPERATURE,
            seed=_seed(self.seed, self.language, channel, variant, task, attempt),
            stop=["\n"],
        )
        self._record(channel, variant, task, result.call)
        return result.text

    def clean(self, raw: str) -> str:
        # Hashtags come from the brand, never from the model (it invents and misspells them).
        text = tidy(_HASHTAG.sub("", raw.split("\n")[0]))
        # A completion cut by max_tokens ends mid-sentence: keep whole sentences.
        ends = [m.end() for m in _SENTENCE_END.finditer(text)]
        if ends and ends[-1] < len(text):
            text = text[: ends[-1]]
        return remove_banned(text, self.banned)

    def unusable(self, text: str) -> str | None:
        """Why a cleaned reply cannot be used (None when it can): it echoes a few-shot example
        (a tiny base model copies the nearest one), states a number the brief does not, loops on
        a phrase, or is in the wrong language."""
        low = text.casefold()
        own = f"{self.brief.product} {self.brief.brand.name}".casefold()
        if any(name in low and name not in own for name in _example_names(self.language)):
            return "names an example product"
        if _shingles(text, self.language) & _example_shingles(self.language):
            return "copies an example"
        if tidy(text).rstrip(".!").casefold() in _example_lines(self.language):
            return "copies an example"  # short lines (headlines) have no 5-word run to catch
        invented = sorted(figures(text) - self.brief_figures)
        if invented:
            return f"states figures the brief does not ({', '.join(invented)})"  # a made-up claim is a liability
        names = [self.brief.product, self.brief.brand.name, *self.required]
        repeated = repeated_phrase(text, self.language, names)
        if repeated:
            return f"repeats itself ({repeated!r})"
        letters = [ch for ch in re.sub("|".join(map(re.escape, names)) or "^$", "", text) if ch.isalpha()]
        hangul = sum(1 for ch in letters if _HANGUL.match(ch))
        if self.language == "ko" and letters and hangul == 0:
            return "not Korean"
        if self.language == "en" and letters and hangul * 2 > len(letters):
            return "not English"
        return None

    def attempt(self, channel: str, variant: str, task: str, focus: str, max_tokens: int,
                accept: Callable[[str], str | None]) -> str | None:
        """Ask up to 1 + REGENERATE_ATTEMPTS times; the first reply `accept` finds no fault with, or None."""
        for n in range(REGENERATE_ATTEMPTS + 1):
            reply = self.ask(channel, variant, task, focus, n, max_tokens)
            fault = accept(reply)
            if fault is None:
                return reply
            self.log(f"{self.language}/{channel}/{variant}: {task} reply {fault}, re-asking")
        return None

    def fallback(self, focus: str) -> str:
        """The brief's own words: they never fail (used when every reply was unusable)."""
        return brief_copy(self.brief, focus, self.banned)

    def line(self, channel: str, variant: str, task: str, focus: str, limit: FieldLimit, max_tokens: int,
             length: Callable[[str], int] = len) -> str:
        """One free-text field: re-ask while unusable or over-long, then trim; required terms added."""

        def fault(reply: str) -> str | None:
            text = self.clean(reply)
            if not limit.min_chars <= length(text) <= limit.max_chars:
                return f"is {length(text)} chars"
            return self.unusable(text)

        reply = self.attempt(channel, variant, task, focus, max_tokens, fault)
        text = self.clean(reply) if reply is not None else self.fallback(focus)
        return ensure_terms(text, self.required, self.language, limit.max_chars, length)


def figures(text: str) -> set[str]:
    """The numbers a text states ("1,000" and "1000" alike)."""
    return {m.group().replace(",", "") for m in _FIGURE.finditer(text)}


def repeated_phrase(text: str, language: str, names: list[str]) -> str | None:
    """A phrase the text says twice (3 words; 2 in Korean, whose words carry their particles), or None.
    Product, brand and required terms may recur; a small model's loops ("20대 직장인, 20대 직장인, …") may not."""
    low = text.casefold()
    for name in sorted(filter(None, names), key=len, reverse=True):
        low = low.replace(name.casefold(), " | ")
    n = 2 if language == "ko" else 3
    seen: set[tuple[str, ...]] = set()
    for run in low.split("|"):
        words = re.findall(r"\w+", run)
        for i in range(len(words) - n + 1):
            gram = tuple(words[i : i + n])
            if gram in seen:
                return " ".join(gram)
            seen.add(gram)
    return None


@functools.lru_cache(maxsize=4)
def _example_names(language: str) -> tuple[str, ...]:
    return tuple(n.casefold() for ex in _EXAMPLES[language] for n in (ex["brand"], ex["product"]))


def _shingles(text: str, language: str) -> set[str]:
    """Overlapping runs long enough that sharing one means copying: 5 words, or 10 Hangul-text chars."""
    if language == "ko":
        flat = re.sub(r"\s+", " ", text)
        return {flat[i : i + 10] for i in range(max(len(flat) - 9, 0))}
    words = re.findall(r"\w+", text.casefold())
    return {" ".join(words[i : i + 5]) for i in range(max(len(words) - 4, 0))}


@functools.lru_cache(maxsize=4)
def _example_lines(language: str) -> frozenset[str]:
    lines = [t for ex in _EXAMPLES[language] for t in (ex["focus"], ex["cta"], *ex["headlines"])]
    return frozenset(tidy(t).rstrip(".!").casefold() for t in lines)


@functools.lru_cache(maxsize=4)
def _example_shingles(language: str) -> frozenset[str]:
    found: set[str] = set()
    for ex in _EXAMPLES[language]:
        for text in [ex["instagram"], ex["x"], ex["linkedin"], ex["script"], *ex["email"].values(), *ex["headlines"]]:
            found |= _shingles(text, language)
    return frozenset(found)


def brief_copy(brief: Brief, focus: str, banned: list[str]) -> str:
    """Copy from the brief's own words: the focus message, the other key messages, the CTA."""
    parts = [focus, *(m for m in brief.key_messages if m != focus), brief.call_to_action]
    return remove_banned(" ".join(_sentence(p) for p in parts), banned)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if _SENTENCE_END.search(text[-1:] + " ") else f"{text}."


def fit_script(script: str, brief: Brief, language: str) -> str:
    """Voiceover into its range: pad from key messages and CTA (in order), trim when long."""
    limit = channel_limits("shorts", language).fields["script"]
    if language == "ko":
        def short(t: str) -> bool:
            return len(t) < limit.min_chars
    else:
        def short(t: str) -> bool:
            return word_count(t) < (limit.min_words or 0)
    padding = [*brief.key_messages, brief.call_to_action]
    i = 0
    while short(script):
        piece = _sentence(remove_banned(padding[i % len(padding)], brief.brand.banned_for(language)) or brief.product)
        if i >= len(padding) or piece.casefold() not in script.casefold():
            script = f"{script} {piece}".strip()
        i += 1
    terms = brief.brand.required_for(language)
    if language == "ko":
        return ensure_terms(script, terms, language, limit.max_chars, min_keep=limit.min_chars)
    script = ensure_terms(
        script, terms, language, limit.max_words or 75, word_count, min_keep=limit.min_words or 0, trim=trim_words
    )
    # 75 words overrun the character cap only with absurdly long "words" (a URL, a run of letters).
    return ensure_terms(script, terms, language, limit.max_chars)


def fit_headlines(raw: list, brief: Brief, language: str) -> list[str]:
    """3-6 distinct short headlines: the model's, cleaned and trimmed, padded from the brief."""
    shorts = channel_limits("shorts", language)
    low, high = shorts.headline_count or (3, 6)
    cap = shorts.headline_max_chars or 40
    out: list[str] = []
    model_lines = [str(h) for h in raw]
    padding = [*brief.key_messages, brief.call_to_action, brief.product, brief.brand.name, brief.audience]
    for i, candidate in enumerate([*model_lines, *padding]):
        if i >= len(model_lines) and len(out) >= low:
            break  # pad from the brief only up to the minimum
        text = trim_to_limit(remove_banned(tidy(candidate), brief.brand.banned_for(language)).rstrip("."), cap)
        if len(text) >= 2 and text.casefold() not in {h.casefold() for h in out}:
            out.append(text)
    return out[:high]


def generate_copy(
    brief: Brief,
    llm: LLMResource,
    *,
    variants: int = 2,
    seed: int = 0,
    approved_examples: dict[str, list[str]] | None = None,
    log: Callable[[str], None] | None = None,
) -> CopyDeck:
    """Copy for every brief language and channel (plus shorts, always), `variants` A/B variants each."""
    if not 1 <= variants <= len(VARIANT_LABELS):
        raise CopyError(f"variants must be 1-{len(VARIANT_LABELS)}, got {variants}")
    clash = [
        t for lang in brief.languages for t in brief.brand.required_for(lang) if find_banned(t, brief.brand.banned_for(lang))
    ]
    if clash:
        raise CopyError(f"required terms contain banned words: {clash}")
    log = log or (lambda _msg: None)
    approved_examples = approved_examples or {}
    channels = [*brief.channels, *(c for c in ALWAYS_GENERATED if c not in brief.channels)]
    calls: list[CopyCall] = []
    languages: dict[str, dict[str, list]] = {}

    for language in brief.languages:
        approved = [tidy(line) for line in approved_examples.get(language, []) if tidy(line)][:4]
        facts = brief.localized(language)  # the model writes from facts in the output language
        writer = _Writer(facts, llm, language, seed, approved, calls, log)
        per_channel: dict[str, list] = {}
        for channel in channels:
            limits = channel_limits(channel, language)
            made = []
            for n in range(variants):
                label = VARIANT_LABELS[n]
                # Each variant leads with a different key message: a real A/B difference, not just noise.
                focus = facts.key_messages[n % len(facts.key_messages)]
                made.append(_write_variant(writer, channel, label, focus, limits))
                log(f"{language}/{channel}/{label} written")
            per_channel[channel] = made
        languages[language] = per_channel

    return CopyDeck(
        campaign_id=brief.campaign_id,
        model=llm.model_label,
        seed=seed,
        languages=languages,
        calls=calls,
        banned_words={lang: brief.brand.banned_for(lang) for lang in brief.languages},
        required_terms={lang: brief.brand.required_for(lang) for lang in brief.languages},
    )


def _write_variant(w: _Writer, channel: str, label: str, focus: str, limits: ChannelLimits):
    brief, language = w.brief, w.language
    if channel == "instagram":
        tags = brand_hashtags(brief, language)
        room = limits.fields["caption"].max_chars - len(" ".join(tags)) - 2  # the post is caption + tags
        caption = w.line(channel, label, "instagram", focus, FieldLimit(room), 120)
        return InstagramVariant(variant=label, caption=caption, hashtags=tags)
    if channel == "x":
        text = w.line(channel, label, "x", focus, limits.fields["text"], 90, length=x_weighted_length)
        return XVariant(variant=label, text=text)
    if channel == "linkedin":
        text = w.line(channel, label, "linkedin", focus, limits.fields["text"], 160)
        return LinkedInVariant(variant=label, text=text)
    if channel == "email":
        fields = limits.fields

        def fault(reply: str) -> str | None:
            parts = {k: w.clean(v) for k, v in parse_email(reply, language).items()}
            if not parts["subject"] or len(parts["body"]) < fields["body"].min_chars:
                return "lacks a subject or body"
            # each part on its own: a subject may well repeat a phrase of the body
            return next((fault for part in parts.values() if part and (fault := w.unusable(part))), None)

        reply = w.attempt(channel, label, "email", focus, 200, fault)
        parts = {k: w.clean(v) for k, v in parse_email(reply or "", language).items()}
        return EmailVariant(
            variant=label,
            subject=trim_to_limit(parts["subject"].rstrip(".") or remove_banned(focus, w.banned), fields["subject"].max_chars),
            preheader=trim_to_limit(parts["preheader"] or remove_banned(brief.call_to_action, w.banned), fields["preheader"].max_chars),
            body=ensure_terms(parts["body"] or w.fallback(focus), w.required, language, fields["body"].max_chars),
        )
    if channel == "shorts":
        reply = w.attempt(channel, label, "script", focus, 140, lambda r: w.unusable(w.clean(r)) if w.clean(r) else "is empty")
        script = fit_script(w.clean(reply) if reply else "", brief, language)  # empty: built from key messages
        raw = w.ask(channel, label, "headlines", focus, 0, 60).split("\n")[0].split("|")
        usable = [h for h in raw if w.clean(h) and w.unusable(w.clean(h)) is None]
        return ShortsVariant(variant=label, script=script, headlines=fit_headlines(usable, brief, language))
    raise CopyError(f"no writer for channel {channel!r}")


# ---------------------------------------------------------------- checks


def limit_problems(deck: CopyDeck) -> list[str]:
    """Every broken channel limit or brand rule in the deck, in words. Empty when all hold."""
    problems: list[str] = []

    def check(where: str, text: str, limit: FieldLimit, length: Callable[[str], int] = len, terms: bool = False):
        language = where.split("/", 1)[0]
        banned_words, required = deck.banned_words.get(language, []), deck.required_terms.get(language, [])
        n = length(text)
        if n > limit.max_chars:
            problems.append(f"{where}: {n} chars, limit {limit.max_chars}")
        if n < limit.min_chars:
            problems.append(f"{where}: {n} chars, minimum {limit.min_chars}")
        if limit.min_words is not None and word_count(text) < limit.min_words:
            problems.append(f"{where}: {word_count(text)} words, minimum {limit.min_words}")
        if limit.max_words is not None and word_count(text) > limit.max_words:
            problems.append(f"{where}: {word_count(text)} words, limit {limit.max_words}")
        banned = find_banned(text, banned_words)
        if banned:
            problems.append(f"{where}: banned words {banned}")
        if terms and missing_terms(text, required):
            problems.append(f"{where}: missing required terms {missing_terms(text, required)}")

    for language, channels in deck.languages.items():
        for channel, variants in channels.items():
            limits = channel_limits(channel, language)
            if len(variants) < 1:
                problems.append(f"{language}/{channel}: no variants")
            for v in variants:
                where = f"{language}/{channel}/{v.variant}"
                if isinstance(v, InstagramVariant):
                    check(f"{where}/post", v.post_text(), limits.fields["caption"], terms=True)
                    tags = _HASHTAG.findall(v.post_text())
                    if limits.max_hashtags is not None and len(tags) > limits.max_hashtags:
                        problems.append(f"{where}: {len(tags)} hashtags, limit {limits.max_hashtags}")
                    bad = [t for t in v.hashtags if not re.fullmatch(r"#\w+", t) or len(t) > HASHTAG_MAX_CHARS]
                    if bad:
                        problems.append(f"{where}: malformed hashtags {bad}")
                elif isinstance(v, XVariant):
                    check(f"{where}/text", v.text, limits.fields["text"], x_weighted_length, terms=True)
                elif isinstance(v, LinkedInVariant):
                    check(f"{where}/text", v.text, limits.fields["text"], terms=True)
                elif isinstance(v, EmailVariant):
                    for name in ("subject", "preheader", "body"):
                        check(f"{where}/{name}", getattr(v, name), limits.fields[name], terms=name == "body")
                elif isinstance(v, ShortsVariant):
                    check(f"{where}/script", v.script, limits.fields["script"], terms=True)
                    low, high = limits.headline_count or (3, 6)
                    if not low <= len(v.headlines) <= high:
                        problems.append(f"{where}: {len(v.headlines)} headlines, need {low}-{high}")
                    cap = FieldLimit(limits.headline_max_chars or 40)
                    for i, h in enumerate(v.headlines):
                        check(f"{where}/headline[{i}]", h, cap)
    return problems
