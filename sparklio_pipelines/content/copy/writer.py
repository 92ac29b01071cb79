"""The `copy` step's writer: channel copy in every brief language, A/B variants, every limit enforced.

The embedded model is a tiny BASE model, so prompts are few-shot blocks (fictional products
written in the target language) ending in the brief's own block, and every answer is one raw
line stopped at the newline; multi-part answers (email, headlines) are ' | '-separated in that
line. Raw lines, not schema-constrained JSON: llama.cpp's grammar sampler scans Gemma's 262k-token
vocabulary every step (measured 1.7x slower on a 16-token headline list, ~6x on a 190-token
email, for no better text), and a parse failure here just falls back to the brief's words.
Whatever the model writes, the text is cleaned (a sentence the brief does not support is dropped,
see grounding.py), required terms added and every channel limit enforced here, so nothing over a
limit ever leaves this module. A reply that holds a banned word or
a claim the brief does not state (see claims.py) is re-asked, then replaced by the brief's own
words; a banned word is never cut out of a sentence, and a line that does not fit is replaced by a
shorter line from the brief, never cut with '…'.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable

from sparklio_common.model_io import LLMCall
from sparklio_pipelines.content.brief.schema import Brief
from sparklio_pipelines.content.channels import (
    ChannelLimits,
    FieldLimit,
    channel_limits,
    word_count,
)
from sparklio_pipelines.content.copy.claims import (
    Facts,
    unsupported_claims,
)
from sparklio_pipelines.content.copy.grounding import (
    brief_vocabulary,
    grounded_sentences,
    is_call_to_action,
    says_nothing_of_the_product,
)
from sparklio_pipelines.content.copy.limits import (
    HASHTAG,
    brand_hashtags,
    drop_banned_sentences,
    ensure_terms,
    find_banned,
    first_fitting,
    has_final_consonant,
    required_sentence,
    sentences,
    tidy,
    trim_words,
    x_weighted_length,
)
from sparklio_pipelines.content.copy.prompts import (
    build_prompt,
    example_lines,
    example_names,
    example_shingles,
    parse_email,
    shingles,
)
from sparklio_pipelines.content.copy.schemas import (
    VARIANT_LABELS,
    CopyCall,
    CopyDeck,
    CopyError,
    EmailVariant,
    InstagramVariant,
    LinkedInVariant,
    RefusedClaim,
    ShortsVariant,
    XVariant,
)
from sparklio_pipelines.content.protocols import TextGenerator
from sparklio_pipelines.content.text import SENTENCE_END, count_hangul

REGENERATE_ATTEMPTS = 1  # an over-long or unusable reply is re-asked this many times, then trimmed / replaced
TEMPERATURE = 0.7


def call_seed(base: int, *parts: object) -> int:
    """A stable per-call seed (Python's hash() is salted per process; crc32 is not)."""
    return (base * 1_000_003 + zlib.crc32("|".join(map(str, parts)).encode())) % (2**31 - 1)


class _Writer:
    """Calls the model for one language and keeps the call log."""

    def __init__(self, brief: Brief, llm: TextGenerator, language: str, seed: int, approved: list[str],
                 calls: list[CopyCall], log: Callable[[str], None], facts: Facts, refused: list[RefusedClaim]):
        self.brief, self.llm, self.language, self.seed = brief, llm, language, seed
        self.approved, self.calls, self.log = approved, calls, log
        self.facts, self.refused = facts, refused  # what the whole brief states; the claims sent back
        self.banned = brief.brand.banned_for(language)
        self.required = brief.brand.required_for(language)
        self.vocabulary = brief_vocabulary(brief, approved)

    def _record(self, channel: str, variant: str, field: str, call: LLMCall) -> None:
        self.calls.append(CopyCall(language=self.language, channel=channel, variant=variant, field=field, **call.to_dict()))

    def ask(self, channel: str, variant: str, task: str, focus: str, attempt: int, max_tokens: int) -> str:
        prompt = build_prompt(self.brief, self.language, task, focus, self.approved)
        result = self.llm.generate(
            prompt,
            max_tokens=max_tokens,
            temperature=TEMPERATURE,
            seed=call_seed(self.seed, self.language, channel, variant, task, attempt),
            stop=["\n"],
        )
        self._record(channel, variant, task, result.call)
        return result.text

    def clean(self, raw: str) -> str:
        # Hashtags come from the brand, never from the model (it invents and misspells them).
        text = tidy(HASHTAG.sub("", raw.split("\n")[0]))
        # A completion cut by max_tokens ends mid-sentence: keep whole sentences.
        ends = [m.end() for m in SENTENCE_END.finditer(text)]
        if ends and ends[-1] < len(text):
            text = text[: ends[-1]]
        # A tiny model invents: keep what the brief says (an unsupported claim stays, for the claims
        # guard to refuse the reply and record it).
        text = grounded_sentences(text, self.vocabulary, keep=lambda s: bool(unsupported_claims(s, self.facts)))
        return sentence_case(text, [self.brief.product, self.brief.brand.name]) if self.language == "en" else text

    def unusable(self, text: str, channel: str, variant: str, field: str) -> str | None:
        """Why a cleaned reply cannot be used (None when it can): it holds a banned word, states a
        claim the brief does not (recorded in `refused`), echoes a few-shot example (a tiny base
        model copies the nearest one), loops on a phrase, or is in the wrong language."""
        claims = unsupported_claims(text, self.facts)
        if claims:
            self.refused += [RefusedClaim(language=self.language, channel=channel, variant=variant, field=field,
                                          words=c.words, kind=c.kind) for c in claims]
            return f"states claims the brief does not ({'; '.join(c.describe() for c in claims)})"
        banned = find_banned(text, self.banned)
        if banned:
            return f"uses banned words {banned}"
        said = text
        for term in self.required:
            said = said.replace(required_sentence(term, self.language), "")
        if not tidy(said):
            return "says nothing the brief supports"  # every sentence it wrote was dropped as invented
        low = text.casefold()
        own = f"{self.brief.product} {self.brief.brand.name}".casefold()
        if any(name in low and name not in own for name in example_names(self.language)):
            return "names an example product"
        if shingles(text, self.language) & example_shingles(self.language):
            return "copies an example"
        if any(tidy(line).rstrip(".!").casefold() in example_lines(self.language) for line in [text, *sentences(text)]):
            return "copies an example"  # short lines ("Grab a four-pack.") have no 5-word run to catch
        names = [self.brief.product, self.brief.brand.name, *self.required]
        repeated = repeated_phrase(text, self.language, names)
        if repeated:
            return f"repeats itself ({repeated!r})"
        letters = [ch for ch in re.sub("|".join(map(re.escape, names)) or "^$", "", text) if ch.isalpha()]
        hangul = count_hangul("".join(letters))
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

    def short_line(self, focus: str, limit: int, avoid: tuple[str, ...] = ()) -> str:
        """A line from the brief that fits `limit` whole: the focus, another key message, the
        product, the CTA, the brand, then a clause of a key message."""
        return first_fitting(brief_lines(self.brief, focus), limit, self.banned, avoid=avoid)

    def line(self, channel: str, variant: str, task: str, focus: str, limit: FieldLimit, max_tokens: int,
             length: Callable[[str], int] = len) -> str:
        """One free-text field: re-ask while unusable or over-long, then trim; required terms added."""

        def fault(reply: str) -> str | None:
            text = self.clean(reply)
            if not limit.min_chars <= length(text) <= limit.max_chars:
                return f"is {length(text)} chars"
            if "…" in ensure_terms(text, self.required, self.language, limit.max_chars, length) and "…" not in text:
                return "leaves no room for the required terms"
            problem = self.unusable(text, channel, variant, task)  # first: it records refused claims
            if problem is None and says_nothing_of_the_product(text, self.vocabulary):
                return "says nothing of the product"
            return problem

        reply = self.attempt(channel, variant, task, focus, max_tokens, fault)
        text = self.clean(reply) if reply is not None else self.fallback(focus)
        return ensure_terms(text, self.required, self.language, limit.max_chars, length)


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


def focus_first(brief: Brief, focus: str | None) -> list[str]:
    """The key messages, the variant's focus first: what makes A and B differ."""
    return [focus, *(m for m in brief.key_messages if m != focus)] if focus else list(brief.key_messages)


def brief_copy(brief: Brief, focus: str, banned: list[str]) -> str:
    """Copy from the brief's own words: the focus message, the other key messages, the CTA
    (a sentence with a banned word left out whole)."""
    parts = [*focus_first(brief, focus), brief.call_to_action]
    return drop_banned_sentences(" ".join(_sentence(p) for p in parts), banned) or _sentence(brief.product)


def brief_lines(brief: Brief, focus: str) -> list[str]:
    """Short lines the brief itself states, best first: the focus message, the other key messages,
    the product, the CTA, the brand name, then each comma-separated clause of a key message."""
    messages = focus_first(brief, focus)
    clauses = [c.strip() for m in messages for c in re.split(r"[,，]\s*", m) if c.strip() != m.strip()]
    return [line.rstrip(".") for line in [*messages, brief.product, brief.call_to_action, brief.brand.name, *clauses] if line]


def brief_preheader(brief: Brief, focus: str, subject: str, limit: int, banned: list[str]) -> str:
    """An email preheader from the brief that fits and does not repeat the subject: a key message
    and the CTA, or the CTA alone."""
    cta = _sentence(brief.call_to_action)
    offers = [f"{_sentence(m)} {cta}" for m in [focus, *brief.key_messages] if not same_line(m, subject)]
    return first_fitting([*offers, cta], limit, banned, avoid=(subject,))


def brief_variant(brief: Brief, language: str, channel: str, label: str, focus: str):
    """A variant in the brief's own words alone, every limit and brand rule kept (the chat
    writer's fallback when the model never got a variant right)."""
    banned, required = brief.brand.banned_for(language), brief.brand.required_for(language)
    limits = channel_limits(channel, language)
    body = brief_copy(brief, focus, banned)
    made = {"variant": label, "source": "brief"}
    if channel == "instagram":
        tags = brand_hashtags(brief, language)
        room = limits.fields["caption"].max_chars - len(" ".join(tags)) - 2
        return InstagramVariant(**made, caption=ensure_terms(body, required, language, room), hashtags=tags)
    if channel == "x":
        text = ensure_terms(body, required, language, limits.fields["text"].max_chars, x_weighted_length)
        return XVariant(**made, text=text)
    if channel == "linkedin":
        return LinkedInVariant(**made, text=ensure_terms(body, required, language, limits.fields["text"].max_chars))
    if channel == "email":
        fields = limits.fields
        subject = first_fitting(brief_lines(brief, focus), fields["subject"].max_chars, banned)
        return EmailVariant(
            **made,
            subject=subject,
            preheader=brief_preheader(brief, focus, subject, fields["preheader"].max_chars, banned),
            body=ensure_terms(body, required, language, fields["body"].max_chars),
        )
    if channel == "shorts":
        return ShortsVariant(**made, script=fit_script("", brief, language, focus),
                             headlines=fit_headlines([], brief, language, focus))
    raise CopyError(f"no writer for channel {channel!r}")


def same_line(a: str, b: str) -> bool:
    """Two lines that read the same (case, spaces and end punctuation aside)."""
    def key(t: str) -> str:
        return re.sub(r"\W+", " ", t).strip().casefold()
    return bool(a) and key(a) == key(b)


def sentence_case(text: str, names: list[str]) -> str:
    """English copy opens with a capital ("fill in the checklists…" reads as a fragment), unless it
    opens with a name written in lower case ("iPhone")."""
    if not text[:1].islower() or any(name and text.startswith(name) for name in names):
        return text
    return text[0].upper() + text[1:]


def reads_alike(a: str, b: str) -> bool:
    """`a` says again what `b` says: the same words but for an ending ("Sync when you are back online"
    after "Syncs when you are back online"), or a run of `b`'s words ("14 days" after "Brighter-looking
    skin in 14 days"). On one screen either reads as a mistake."""
    words_a, words_b = re.findall(r"\w+", a.casefold()), re.findall(r"\w+", b.casefold())

    def alike(x: str, y: str) -> bool:
        short, long = sorted((x, y), key=len)
        return x == y or (len(short) >= 2 and long.startswith(short) and len(long) - len(short) <= 2)

    n = len(words_a)
    return n > 0 and any(all(map(alike, words_a, words_b[i : i + n])) for i in range(len(words_b) - n + 1))


def _sentence(text: str) -> str:
    text = text.strip()
    return text if SENTENCE_END.search(text[-1:] + " ") else f"{text}."


def fit_script(script: str, brief: Brief, language: str, focus: str | None = None) -> str:
    """Voiceover into its range: pad from key messages (the variant's focus first) and CTA, trim when long."""
    limit = channel_limits("shorts", language).fields["script"]
    if language == "ko":
        def short(t: str) -> bool:
            return len(t) < limit.min_chars
    else:
        def short(t: str) -> bool:
            return word_count(t) < (limit.min_words or 0)
    # The brief's statements, then facts said as sentences; repeating a message is the last resort.
    # Led by the focus, so A and B differ even when both are built from the brief alone.
    vocabulary = brief_vocabulary(brief)
    cta_said = any(is_call_to_action(s, vocabulary) for s in sentences(script))  # one call to action is enough
    padding = [*focus_first(brief, focus), *([] if cta_said else [brief.call_to_action]), audience_sentence(brief, language)]
    i = 0
    while short(script):
        piece = _sentence(drop_banned_sentences(padding[i % len(padding)], brief.brand.banned_for(language)) or brief.product)
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


def audience_sentence(brief: Brief, language: str) -> str:
    """Who the product is for, in the brief's words."""
    audience = brief.audience.rstrip(".")
    if language == "ko":
        topic = "은" if has_final_consonant(brief.product[-1:]) else "는"
        return f"{brief.product}{topic} {audience}{'을' if has_final_consonant(audience[-1:]) else '를'} 위해 만들었어요."
    return f"{brief.product} is made for {audience[:1].lower()}{audience[1:]}."


def fit_headlines(raw: list, brief: Brief, language: str, focus: str | None = None) -> list[str]:
    """3-6 distinct short headlines: the model's that fit whole, padded from the brief's own short
    lines. A headline is never cut: one too long (or with a banned word) is left out."""
    shorts = channel_limits("shorts", language)
    low, high = shorts.headline_count or (3, 6)
    cap = shorts.headline_max_chars or 40
    out: list[str] = []
    model_lines = [str(h) for h in raw]
    padding = brief_lines(brief, focus or brief.key_messages[0])
    vocabulary = brief_vocabulary(brief)
    for i, candidate in enumerate([*model_lines, *padding]):
        if i >= len(model_lines) and len(out) >= low:
            break  # pad from the brief only up to the minimum
        text = first_fitting([tidy(candidate).rstrip(".")], cap, brief.brand.banned_for(language))
        if len(text) < 2 or any(reads_alike(text, shown) for shown in out):
            continue
        if is_call_to_action(text, vocabulary) and any(is_call_to_action(shown, vocabulary) for shown in out):
            continue  # "오늘 주문" then "지금 주문": one call to action per video
        out.append(text)
    for line in padding:  # a brief too short for that many distinct lines: the minimum still holds
        if len(out) >= low:
            break
        text = first_fitting([tidy(line).rstrip(".")], cap, brief.brand.banned_for(language), avoid=tuple(out))
        if len(text) >= 2:
            out.append(text)
    # The call to action closes the video, whichever place the model gave it.
    return sorted(out[:high], key=lambda h: same_line(h, brief.call_to_action) or is_call_to_action(h, vocabulary))


def write_completion_copy(
    brief: Brief,
    llm: TextGenerator,
    *,
    variants: int,
    seed: int,
    channels: list[str],
    approved_examples: dict[str, list[str]],
    facts: Facts,
    log: Callable[[str], None],
) -> CopyDeck:
    """The deck with a base model (the embedded one): few-shot line prompts, one field at a time."""
    calls: list[CopyCall] = []
    refused: list[RefusedClaim] = []
    languages: dict[str, dict[str, list]] = {}

    for language in brief.languages:
        approved = [tidy(line) for line in approved_examples.get(language, []) if tidy(line)][:4]
        localized = brief.localized(language)  # the model writes from facts in the output language
        writer = _Writer(localized, llm, language, seed, approved, calls, log, facts, refused)
        per_channel: dict[str, list] = {}
        for channel in channels:
            limits = channel_limits(channel, language)
            made = []
            for n in range(variants):
                label = VARIANT_LABELS[n]
                # Each variant leads with a different key message: a real A/B difference, not just noise.
                focus = localized.key_messages[n % len(localized.key_messages)]
                variant = _write_variant(writer, channel, label, focus, limits)
                variant.drafted_by = llm.model_label
                made.append(variant)
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
        refused_claims=refused,
        strategy="completion",
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
            if len(parts["subject"]) > fields["subject"].max_chars:
                return f"has a {len(parts['subject'])}-char subject"
            if same_line(parts["preheader"], parts["subject"]):
                return "repeats the subject as preheader"
            # each part on its own: a subject may well repeat a phrase of the body
            problem = next((fault for name, part in parts.items() if part and (fault := w.unusable(part, channel, label, name))),
                           None)
            if problem is None and says_nothing_of_the_product(parts["body"], w.vocabulary):
                return "has a body that says nothing of the product"
            return problem

        reply = w.attempt(channel, label, "email", focus, 200, fault)
        parts = {k: w.clean(v) for k, v in parse_email(reply or "", language).items()}
        subject = parts["subject"].rstrip(".")
        if not subject or len(subject) > fields["subject"].max_chars:
            subject = w.short_line(focus, fields["subject"].max_chars)
        preheader = parts["preheader"]
        if not preheader or len(preheader) > fields["preheader"].max_chars or same_line(preheader, subject):
            preheader = brief_preheader(brief, focus, subject, fields["preheader"].max_chars, w.banned)
        return EmailVariant(
            variant=label,
            subject=subject,
            preheader=preheader,
            body=ensure_terms(parts["body"] or w.fallback(focus), w.required, language, fields["body"].max_chars),
        )
    if channel == "shorts":
        reply = w.attempt(channel, label, "script", focus, 140,
                          lambda r: w.unusable(w.clean(r), channel, label, "script") if w.clean(r) else "is empty")
        script = fit_script(w.clean(reply) if reply else "", brief, language, focus)  # empty: built from the brief
        raw = w.ask(channel, label, "headlines", focus, 0, 60).split("\n")[0].split("|")
        usable = [h for h in raw if w.clean(h) and w.unusable(w.clean(h), channel, label, "headlines") is None]
        return ShortsVariant(variant=label, script=script, headlines=fit_headlines(usable, brief, language, focus))
    raise CopyError(f"no writer for channel {channel!r}")

