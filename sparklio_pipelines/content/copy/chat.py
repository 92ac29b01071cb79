"""The `chat` writing strategy, for instruct models (Ollama's qwen2.5, any later chat server).

Per language and channel, one chat turn writes all A/B variants: the system message carries the
brand, the audience, the language and every rule; the user message the whole brief and the brand's
approved lines; `format` is the JSON schema of the channel's variants. Every variant is checked
against the same rules the asset checks apply (limits, banned words, required terms, the claims
guard, the language, no line cut with '…'). A reply that breaks one is answered with a follow-up
message naming each broken rule, up to REASKS times; a variant still wrong after that is written
from the brief's own words (recorded in the deck as a fallback), or, where the brief has no words
in that language, the step fails naming what broke. Then the final model reviews each language's
deck against the brief and the rules; a polished variant replaces its draft only when it keeps
every rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from sparklio_common.model_io import LLMResult
from sparklio_pipelines.content.brief.schema import Brief
from sparklio_pipelines.content.channels import channel_limits
from sparklio_pipelines.content.copy.claims import Facts, unsupported_claims
from sparklio_pipelines.content.copy.limits import (
    HASHTAG,
    brand_hashtags,
    tidy,
    variant_rule_problems,
)
from sparklio_pipelines.content.copy.schemas import (
    VARIANT_LABELS,
    CopyCall,
    CopyDeck,
    CopyError,
    EmailVariant,
    Fallback,
    InstagramVariant,
    LinkedInVariant,
    Reask,
    RefusedClaim,
    ShortsVariant,
    XVariant,
)
from sparklio_pipelines.content.copy.writer import brief_variant, call_seed, same_line
from sparklio_pipelines.content.quality import main_text, variant_texts, wrong_language
from sparklio_pipelines.content.text import hangul_ratio

REASKS = 2  # follow-up messages naming broken rules, per channel, before the brief's words are used
TEMPERATURE = 0.7
FINAL_TEMPERATURE = 0.2  # the final pass corrects; it should not rewrite what is fine
CLAIM, LANGUAGE, CUT_LINE, REPEATED_SUBJECT = "unsupported claim", "language", "cut line", "preheader repeats subject"

LANGUAGE_NAMES = {"en": "English", "ko": "Korean (한국어)"}
CHANNEL_NAMES = {"instagram": "Instagram", "x": "X (Twitter)", "linkedin": "LinkedIn", "email": "email",
                 "shorts": "a 15-30 second vertical video (YouTube Shorts, Reels)"}
CHANNEL_FIELDS = {"instagram": ("caption",), "x": ("text",), "linkedin": ("text",),
                  "email": ("subject", "preheader", "body"), "shorts": ("script", "headlines")}
VARIANT_CLASSES = {"instagram": InstagramVariant, "x": XVariant, "linkedin": LinkedInVariant,
                   "email": EmailVariant, "shorts": ShortsVariant}

CLAIMS_RULE = (
    "State only what the brief states. Every figure (a number with its unit), superlative or ranking "
    "(best, #1, number one, only, 최고, 최초, 유일, 1위), health, medical, safety or certification claim "
    "(cure, clinically proven, gluten free, vegan, organic, non-GMO, 무첨가, 효능, 다이어트) and every "
    "guarantee (guaranteed, 100% satisfaction, 무조건) must be in the brief in so many words. "
    "Do not invent a story, a test, a customer or a number."
)


class ChatModel(Protocol):
    """An instruct model: one chat turn, its reply JSON valid against `schema`."""

    @property
    def model_label(self) -> str: ...

    @property
    def final_model_name(self) -> str: ...

    def chat(self, messages: list[dict[str, str]], schema: dict, *, max_tokens: int = ..., temperature: float = ...,
             seed: int | None = None, final: bool = False) -> LLMResult: ...


def brief_language(brief: Brief) -> str:
    """The language the brief's own facts are written in."""
    return "ko" if hangul_ratio(" ".join([brief.product, *brief.key_messages])) >= 0.5 else "en"


def field_rules(channel: str, language: str) -> list[str]:
    """Each field's limits, as the system message states them."""
    limits = channel_limits(channel, language)
    rules = []
    for name, limit in limits.fields.items():
        name = "caption (without hashtags; the brand's hashtags are added after it)" if name == "caption" else name
        rule = f"{name}: {limit.min_chars}-{limit.max_chars} characters"
        if limit.min_words:
            rule += f", {limit.min_words}-{limit.max_words} words (15-30 seconds spoken)"
        rules.append(rule)
    if channel == "x" and language == "ko":
        rules = ["text: at most 140 Korean characters (X counts each as 2 of its 280)"]
    if channel == "email":
        rules.append("the preheader says something other than the subject")
    if limits.headline_count:
        low, high = limits.headline_count
        rules.append(f"headlines: {low}-{high} short on-screen lines in the order they appear, "
                     f"each at most {limits.headline_max_chars} characters and complete on its own")
    return rules


def variants_schema(channel: str, count: int) -> dict:
    """The JSON schema of one channel's variants: the `format` of its chat turn. Lengths are stated in
    the system message, not here: a grammar that stops a string at maxLength cuts it mid-phrase."""
    properties: dict[str, Any] = {}
    for name in CHANNEL_FIELDS[channel]:
        if name == "headlines":
            properties[name] = {"type": "array", "items": {"type": "string"}, "minItems": 3, "maxItems": 6}
        else:
            properties[name] = {"type": "string"}
    variant = {"type": "object", "properties": properties, "required": list(properties)}
    return {"type": "object", "properties": {
        "variants": {"type": "array", "items": variant, "minItems": count, "maxItems": count},
    }, "required": ["variants"]}


def deck_schema(channels: list[str], count: int) -> dict:
    """The final pass's schema: every channel's variants of one language."""
    return {"type": "object", "properties": {c: variants_schema(c, count) for c in channels}, "required": channels}


def brief_json(brief: Brief) -> str:
    facts = {"product": brief.product, "brand": brief.brand.name, "audience": brief.audience,
             "key_messages": brief.key_messages, "call_to_action": brief.call_to_action, "tone": brief.tone,
             "start_date": brief.start_date.isoformat(), "end_date": brief.end_date.isoformat()}
    return json.dumps(facts, ensure_ascii=False, indent=2)


def system_message(brief: Brief, language: str, channels: list[str], translating_from: str | None,
                   final: bool = False) -> str:
    brand = brief.brand
    who = "the final editor" if final else "the copywriter"
    lines = [f"You are {who} for the brand {brand.name}. Write in {LANGUAGE_NAMES[language]} only."]
    if translating_from:
        lines.append(f"The brief is in {LANGUAGE_NAMES[translating_from]}: carry its facts over faithfully, "
                     "adding nothing; product and brand names stay as they are.")
    lines.append(f"Audience: {brief.audience}")
    lines.append(f"Tone: {', '.join([brief.tone, *brand.tone_words])}")
    if brand.voice_notes:
        lines.append(f"Brand voice: {brand.voice_notes}")
    if brand.example_phrases:
        lines.append(f"Phrases in the brand's voice: {' / '.join(brand.example_phrases)}")
    for channel in channels:
        lines.append(f"Rules for {CHANNEL_NAMES[channel]} ({channel}): " + "; ".join(field_rules(channel, language)))
    banned, required = brand.banned_for(language), brand.required_for(language)
    if banned:
        lines.append(f"Never use these words, in any form: {', '.join(banned)}")
    if required:
        lines.append(f"Every post, body and script includes: {', '.join(required)}")
    lines.append(f"Claims: {CLAIMS_RULE}")
    lines.append("Write whole sentences and whole lines; never end a line with '…' or '...'. "
                 "No hashtags in the text. Answer with JSON only, in the schema given.")
    return "\n".join(lines)


def draft_request(brief: Brief, channel: str, labels: list[str], focuses: list[str], approved: list[str]) -> str:
    lines = ["The brief:", brief_json(brief)]
    if approved:
        lines += ["Lines the brand approved in earlier campaigns (their style, not their claims):",
                  *(f"- {line}" for line in approved)]
    lines.append(f"Write {len(labels)} variants of the {CHANNEL_NAMES[channel]} copy, in this order; "
                 "each leads with a different key message:")
    lines += [f"- Variant {label} leads with: {focus}" for label, focus in zip(labels, focuses)]
    return "\n".join(lines)


def reask_request(channel: str, problems: dict[str, list[tuple[str, str]]], labels: list[str]) -> str:
    lines = ["These variants break the rules:"]
    for label in labels:
        for rule, problem in problems.get(label, []):
            lines.append(f"- Variant {label}: {rule}: {problem}")
    lines.append(f"Rewrite the variants named above so they keep every rule; return all {len(labels)} "
                 f"{channel} variants again in the same JSON, the others unchanged.")
    return "\n".join(lines)


class ChatCopyWriter:
    """Writes one deck with an instruct model; keeps the calls, re-asks and fallbacks it made."""

    def __init__(self, brief: Brief, llm: ChatModel, *, variants: int, seed: int, facts: Facts,
                 log: Callable[[str], None]):
        self.brief, self.llm, self.variants, self.seed, self.facts, self.log = brief, llm, variants, seed, facts, log
        self.source_language = brief_language(brief)
        self.calls: list[CopyCall] = []
        self.reasks: list[Reask] = []
        self.fallbacks: list[Fallback] = []
        self.refused: list[RefusedClaim] = []

    def translating_from(self, language: str) -> str | None:
        """The brief's language when this language's copy is written from it (no `translations` given)."""
        if language == self.source_language or language in self.brief.translations:
            return None
        return self.source_language

    def _chat(self, language: str, channel: str, messages: list[dict[str, str]], schema: dict, field: str,
              attempt: int, final: bool = False) -> tuple[dict, str]:
        """The reply's JSON, and the model that wrote it."""
        result = self.llm.chat(messages, schema, max_tokens=8192 if final else 4096,
                               temperature=FINAL_TEMPERATURE if final else TEMPERATURE,
                               seed=call_seed(self.seed, language, channel, field, attempt), final=final)
        self.calls.append(CopyCall(language=language, channel=channel, variant="*", field=field,
                                   **result.call.to_dict()))
        return result.data, result.call.model

    def build(self, language: str, channel: str, label: str, raw: dict, drafted_by: str,
              translated_by: str | None) -> Any:
        """A variant from a reply's fields: text tidied, hashtags from the brand (never the model's)."""
        fields = {name: raw.get(name) for name in CHANNEL_FIELDS[channel]}
        for name, value in fields.items():
            if isinstance(value, list):
                fields[name] = [tidy(str(v)) for v in value]
            else:
                fields[name] = tidy(HASHTAG.sub("", str(value or "")))
        if channel == "instagram":
            fields["hashtags"] = brand_hashtags(self.brief.localized(language), language)
        return VARIANT_CLASSES[channel](variant=label, drafted_by=drafted_by, translated_by=translated_by, **fields)

    def problems(self, language: str, channel: str, variant: Any) -> list[tuple[str, str]]:
        """(rule, problem) for every rule the variant breaks: the same rules the asset checks apply.
        An unsupported claim is also kept in `refused`: the guard's record of what it sent back."""
        where = f"{language}/{channel}/{variant.variant}"
        brand = self.brief.brand
        found = variant_rule_problems(where, language, channel, variant, brand.banned_for(language),
                                      brand.required_for(language))
        for field, text in variant_texts(variant).items():
            if "…" in text or "..." in text:
                found.append((CUT_LINE, f"{where}/{field}: a line cut with '…'"))
            for claim in unsupported_claims(text, self.facts):
                found.append((CLAIM, f"{where}/{field}: {claim.describe()} is not in the brief"))
                self.refused.append(RefusedClaim(language=language, channel=channel, variant=variant.variant,
                                                 field=field, words=claim.words, kind=claim.kind))
        fault = wrong_language(language, main_text(variant))
        if fault:
            found.append((LANGUAGE, f"{where}: not {LANGUAGE_NAMES[language]} ({fault})"))
        if isinstance(variant, EmailVariant) and same_line(variant.preheader, variant.subject):
            found.append((REPEATED_SUBJECT, f"{where}/preheader: the same as the subject"))
        return found

    def write_channel(self, language: str, channel: str, approved: list[str]) -> list:
        brief = self.brief.localized(language)
        labels = list(VARIANT_LABELS[: self.variants])
        focuses = [brief.key_messages[n % len(brief.key_messages)] for n in range(self.variants)]
        source = self.translating_from(language)
        messages = [
            {"role": "system", "content": system_message(brief, language, [channel], source)},
            {"role": "user", "content": draft_request(brief, channel, labels, focuses, approved)},
        ]
        schema = variants_schema(channel, self.variants)
        accepted: dict[str, Any] = {}
        problems: dict[str, list[tuple[str, str]]] = {}
        for attempt in range(REASKS + 1):
            data, model = self._chat(language, channel, messages, schema,
                                     "variants" if attempt == 0 else f"re-ask {attempt}", attempt)
            problems = {}
            for label, raw in zip(labels, data["variants"]):
                if label in accepted:
                    continue
                variant = self.build(language, channel, label, raw, model, model if source else None)
                found = self.problems(language, channel, variant)
                if found:
                    problems[label] = found
                else:
                    accepted[label] = variant
            if not problems:
                break
            if attempt < REASKS:
                for label, found in problems.items():
                    by_rule: dict[str, list[str]] = {}
                    for rule, problem in found:
                        by_rule.setdefault(rule, []).append(problem)
                    self.reasks += [Reask(language=language, channel=channel, variant=label, rule=rule,
                                          problem="; ".join(said)) for rule, said in by_rule.items()]
                    self.log(f"{language}/{channel}/{label}: re-asking ({'; '.join(p for _r, p in found)})")
                messages += [{"role": "assistant", "content": json.dumps(data, ensure_ascii=False)},
                             {"role": "user", "content": reask_request(channel, problems, labels)}]
        for label, found in problems.items():
            accepted[label] = self.fallback(language, channel, label, focuses[labels.index(label)], found)
        return [accepted[label] for label in labels]

    def fallback(self, language: str, channel: str, label: str, focus: str, found: list[tuple[str, str]]) -> Any:
        rules = sorted({rule for rule, _p in found})
        if self.translating_from(language):
            raise CopyError(
                f"{self.llm.model_label} wrote no {LANGUAGE_NAMES[language]} {channel} variant {label} that keeps "
                f"the rules after {REASKS} re-asks ({'; '.join(f'{r}: {p}' for r, p in found)}), and the brief has no "
                f"{language} words to fall back on: add `translations: {{{language}: ...}}` to the brief"
            )
        self.fallbacks.append(Fallback(language=language, channel=channel, variant=label, rules=rules))
        self.log(f"{language}/{channel}/{label}: written from the brief after {REASKS} re-asks ({', '.join(rules)})")
        return brief_variant(self.brief.localized(language), language, channel, label, focus)

    def final_pass(self, language: str, per_channel: dict[str, list]) -> dict[str, list]:
        """The final model reviews the language's deck; a polished variant that keeps every rule
        replaces its draft, any other keeps the draft."""
        brief = self.brief.localized(language)
        channels = list(per_channel)
        draft = {c: {"variants": [{f: getattr(v, f) for f in CHANNEL_FIELDS[c]} for v in vs]}
                 for c, vs in per_channel.items()}
        messages = [
            {"role": "system", "content": system_message(brief, language, channels, self.translating_from(language),
                                                         final=True)},
            {"role": "user", "content": "The brief:\n" + brief_json(brief) + "\n\nThe draft copy:\n"
             + json.dumps(draft, ensure_ascii=False, indent=2) + "\n\nCheck every line against the brief and the "
             "rules. Correct what breaks a rule or says what the brief does not; keep what is fine. "
             "Return the whole deck in the same JSON."},
        ]
        data, final_model = self._chat(language, "*", messages, deck_schema(channels, self.variants), "final pass", 0,
                                       final=True)
        polished: dict[str, list] = {}
        for channel, drafts in per_channel.items():
            kept = []
            for draft_variant, raw in zip(drafts, data[channel]["variants"]):
                if draft_variant.source == "brief":
                    kept.append(draft_variant)  # the brief's own words are not the model's to change
                    continue
                candidate = self.build(language, channel, draft_variant.variant, raw, draft_variant.drafted_by,
                                       draft_variant.translated_by)
                candidate.polished_by = final_model
                found = self.problems(language, channel, candidate)
                if found:
                    self.log(f"{language}/{channel}/{draft_variant.variant}: final pass kept the draft "
                             f"({'; '.join(p for _r, p in found)})")
                kept.append(draft_variant if found else candidate)
            polished[channel] = kept
        return polished



def write_chat_copy(brief: Brief, llm: ChatModel, *, variants: int, seed: int, channels: list[str],
                    approved_examples: dict[str, list[str]], facts: Facts, log: Callable[[str], None]) -> CopyDeck:
    """The whole deck with an instruct model: drafts with re-asks per channel, then a final pass per language."""
    writer = ChatCopyWriter(brief, llm, variants=variants, seed=seed, facts=facts, log=log)
    languages: dict[str, dict[str, list]] = {}
    for language in brief.languages:
        approved = [tidy(line) for line in approved_examples.get(language, []) if tidy(line)][:4]
        drafts = {channel: writer.write_channel(language, channel, approved) for channel in channels}
        languages[language] = writer.final_pass(language, drafts)
        log(f"{language}: drafted and reviewed")
    return CopyDeck(
        campaign_id=brief.campaign_id,
        model=llm.model_label,
        seed=seed,
        languages=languages,
        calls=writer.calls,
        banned_words={lang: brief.brand.banned_for(lang) for lang in brief.languages},
        required_terms={lang: brief.brand.required_for(lang) for lang in brief.languages},
        refused_claims=writer.refused,
        strategy="chat",
        final_model=llm.final_model_name,
        reasks=writer.reasks,
        fallbacks=writer.fallbacks,
    )
