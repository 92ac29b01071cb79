"""Few-shot prompts for a base model: fictional examples in each language, then the brief's block."""

from __future__ import annotations

import functools
import re

from sparklio_pipelines.content.brief.schema import Brief
from sparklio_pipelines.content.copy.limits import tidy

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



@functools.lru_cache(maxsize=4)
def example_names(language: str) -> tuple[str, ...]:
    return tuple(n.casefold() for ex in _EXAMPLES[language] for n in (ex["brand"], ex["product"]))


def shingles(text: str, language: str) -> set[str]:
    """Overlapping runs long enough that sharing one means copying: 5 words, or 10 Hangul-text chars."""
    if language == "ko":
        flat = re.sub(r"\s+", " ", text)
        return {flat[i : i + 10] for i in range(max(len(flat) - 9, 0))}
    words = re.findall(r"\w+", text.casefold())
    return {" ".join(words[i : i + 5]) for i in range(max(len(words) - 4, 0))}


@functools.lru_cache(maxsize=4)
def example_lines(language: str) -> frozenset[str]:
    lines = [t for ex in _EXAMPLES[language] for t in (ex["focus"], ex["cta"], *ex["headlines"])]
    return frozenset(tidy(t).rstrip(".!").casefold() for t in lines)


@functools.lru_cache(maxsize=4)
def example_shingles(language: str) -> frozenset[str]:
    found: set[str] = set()
    for ex in _EXAMPLES[language]:
        for text in [ex["instagram"], ex["x"], ex["linkedin"], ex["script"], *ex["email"].values(), *ex["headlines"]]:
            found |= shingles(text, language)
    return frozenset(found)

