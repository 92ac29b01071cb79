"""Copy rules as text operations: channel lengths, trimming at sentence ends, banned words,
required terms, hashtags, and `limit_problems`, which names every broken rule in a deck."""

from __future__ import annotations

import re
from collections.abc import Callable

from sparklio_pipelines.content.brief.schema import Brief
from sparklio_pipelines.content.channels import (
    HASHTAG_MAX_CHARS,
    FieldLimit,
    channel_limits,
    word_count,
)
from sparklio_pipelines.content.copy.schemas import (
    CopyDeck,
    EmailVariant,
    InstagramVariant,
    LinkedInVariant,
    ShortsVariant,
    XVariant,
)
from sparklio_pipelines.content.text import SENTENCE_END, is_korean

MAX_HASHTAGS_USED = 8  # Instagram allows 30; a handful reads better and all come from the brand
HASHTAG = re.compile(r"#[^\s#]+")
_SPACES = re.compile(r"[ \t]+")


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
    ends = [m.end() for m in SENTENCE_END.finditer(head)]
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
    ends = [m.end() for m in SENTENCE_END.finditer(head)]
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


def sentences(text: str) -> list[str]:
    """The text's sentences, each with its closing punctuation; a last unfinished one too."""
    found, start = [], 0
    for m in SENTENCE_END.finditer(text):
        found.append(text[start : m.end()].strip())
        start = m.end()
    found.append(text[start:].strip())
    return [s for s in found if s]


def drop_banned_sentences(text: str, banned_words: list[str]) -> str:
    """`text` without every sentence that holds a banned word. A banned word is never cut out of its
    sentence: '최고의 선택입니다.' minus '최고의' is the fragment '선택입니다.'."""
    kept = [s for s in sentences(text) if not find_banned(s, banned_words)]
    return tidy(" ".join(kept))


def first_fitting(lines: list[str], limit: int, banned_words: list[str], length: Callable[[str], int] = len,
                  avoid: tuple[str, ...] = ()) -> str:
    """The first of `lines` that fits `limit` whole, holds no banned word and is none of `avoid`
    ('' when none does): a line too long is replaced by a shorter one, never cut with '…'."""
    taken = {a.casefold().rstrip(".!") for a in avoid}
    for line in lines:
        line = tidy(line)
        if line and length(line) <= limit and not find_banned(line, banned_words) \
                and line.casefold().rstrip(".!") not in taken:
            return line
    return ""


def has_final_consonant(syllable: str) -> bool:
    """A Hangul syllable with a final consonant (받침): it takes 은/을/과, not 는/를/와."""
    code = ord(syllable) - 0xAC00
    return 0 <= code <= 11171 and code % 28 != 0


def required_sentence(term: str, language: str) -> str:
    """A short natural sentence carrying `term`, added when the model left the term out."""
    if language == "ko":
        last = term.strip()[-1:]
        particle = "과" if last and has_final_consonant(last) else "와"
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
        if suffix and head and not SENTENCE_END.search(head[-1:] + " ") and not head.endswith("…"):
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


# What a rule problem is about; the chat writer re-asks naming it, and counts re-asks by it.
LIMIT, BANNED_WORD, REQUIRED_TERM = "channel limit", "banned word", "required term"


def variant_rule_problems(where: str, language: str, channel: str, variant, banned_words: list[str],
                          required: list[str]) -> list[tuple[str, str]]:
    """(rule, problem in words) for every channel limit or brand rule one variant breaks."""
    limits = channel_limits(channel, language)
    problems: list[tuple[str, str]] = []

    def check(field: str, text: str, limit: FieldLimit, length: Callable[[str], int] = len, terms: bool = False):
        at = f"{where}/{field}"
        n = length(text)
        if n > limit.max_chars:
            problems.append((LIMIT, f"{at}: {n} chars, limit {limit.max_chars}"))
        if n < limit.min_chars:
            problems.append((LIMIT, f"{at}: {n} chars, minimum {limit.min_chars}"))
        if limit.min_words is not None and word_count(text) < limit.min_words:
            problems.append((LIMIT, f"{at}: {word_count(text)} words, minimum {limit.min_words}"))
        if limit.max_words is not None and word_count(text) > limit.max_words:
            problems.append((LIMIT, f"{at}: {word_count(text)} words, limit {limit.max_words}"))
        banned = find_banned(text, banned_words)
        if banned:
            problems.append((BANNED_WORD, f"{at}: banned words {banned}"))
        if terms and missing_terms(text, required):
            problems.append((REQUIRED_TERM, f"{at}: missing required terms {missing_terms(text, required)}"))

    if isinstance(variant, InstagramVariant):
        check("post", variant.post_text(), limits.fields["caption"], terms=True)
        tags = HASHTAG.findall(variant.post_text())
        if limits.max_hashtags is not None and len(tags) > limits.max_hashtags:
            problems.append((LIMIT, f"{where}: {len(tags)} hashtags, limit {limits.max_hashtags}"))
        bad = [t for t in variant.hashtags if not re.fullmatch(r"#\w+", t) or len(t) > HASHTAG_MAX_CHARS]
        if bad:
            problems.append((LIMIT, f"{where}: malformed hashtags {bad}"))
    elif isinstance(variant, XVariant):
        check("text", variant.text, limits.fields["text"], x_weighted_length, terms=True)
    elif isinstance(variant, LinkedInVariant):
        check("text", variant.text, limits.fields["text"], terms=True)
    elif isinstance(variant, EmailVariant):
        for name in ("subject", "preheader", "body"):
            check(name, getattr(variant, name), limits.fields[name], terms=name == "body")
    elif isinstance(variant, ShortsVariant):
        check("script", variant.script, limits.fields["script"], terms=True)
        low, high = limits.headline_count or (3, 6)
        if not low <= len(variant.headlines) <= high:
            problems.append((LIMIT, f"{where}: {len(variant.headlines)} headlines, need {low}-{high}"))
        cap = FieldLimit(limits.headline_max_chars or 40)
        for i, headline in enumerate(variant.headlines):
            check(f"headline[{i}]", headline, cap)
    return problems


def limit_problems(deck: CopyDeck) -> list[str]:
    """Every broken channel limit or brand rule in the deck, in words. Empty when all hold."""
    problems: list[str] = []
    for language, channels in deck.languages.items():
        banned, required = deck.banned_words.get(language, []), deck.required_terms.get(language, [])
        for channel, variants in channels.items():
            if len(variants) < 1:
                problems.append(f"{language}/{channel}: no variants")
            for v in variants:
                where = f"{language}/{channel}/{v.variant}"
                found = variant_rule_problems(where, language, channel, v, banned, required)
                problems += [text for _rule, text in found]
    return problems
