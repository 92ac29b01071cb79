"""The `copy` step's entry point: picks the writing strategy by what the model is.

A base model (the embedded Gemma 270M) writes with few-shot line prompts (writer.py); an instruct
model (`writing_strategy == "chat"`: Ollama) with system and user messages, a JSON schema per
channel, re-asks that name the broken rule and a final pass (chat.py). Both give the same deck.
"""

from __future__ import annotations

from collections.abc import Callable

from sparklio_pipelines.content.brief.schema import Brief
from sparklio_pipelines.content.channels import generated_channels
from sparklio_pipelines.content.copy.chat import write_chat_copy
from sparklio_pipelines.content.copy.claims import brief_facts
from sparklio_pipelines.content.copy.limits import find_banned
from sparklio_pipelines.content.copy.schemas import VARIANT_LABELS, CopyDeck, CopyError
from sparklio_pipelines.content.copy.writer import write_completion_copy
from sparklio_pipelines.content.protocols import TextGenerator


def generate_copy(
    brief: Brief,
    llm: TextGenerator,
    *,
    variants: int = 2,
    seed: int = 0,
    approved_examples: dict[str, list[str]] | None = None,
    log: Callable[[str], None] | None = None,
    only_channels: list[str] | None = None,
) -> CopyDeck:
    """Copy for every brief language and channel (plus shorts, always), `variants` A/B variants each;
    with `only_channels`, for those channels alone (merge them into the stored deck with `replace_channels`)."""
    if not 1 <= variants <= len(VARIANT_LABELS):
        raise CopyError(f"variants must be 1-{len(VARIANT_LABELS)}, got {variants}")
    clash = [
        t for lang in brief.languages for t in brief.brand.required_for(lang) if find_banned(t, brief.brand.banned_for(lang))
    ]
    if clash:
        raise CopyError(f"required terms contain banned words: {clash}")
    channels = generated_channels(brief.channels)
    unknown = sorted(set(only_channels or []) - set(channels))
    if unknown:
        raise CopyError(f"the brief has no channels {unknown}; it has {channels}")
    write = write_chat_copy if llm.writing_strategy == "chat" else write_completion_copy
    return write(
        brief, llm, variants=variants, seed=seed,
        channels=[c for c in channels if not only_channels or c in only_channels],
        approved_examples=approved_examples or {},
        facts=brief_facts(brief),  # the whole brief (translations too) is what a claim may rest on
        log=log or (lambda _msg: None),
    )


def replace_channels(deck: CopyDeck, fresh: CopyDeck) -> CopyDeck:
    """`deck` with the channels `fresh` holds written anew, in every language; the others untouched.
    The model calls, refused claims, re-asks and fallbacks of both are kept."""
    languages = {lang: {**channels, **fresh.languages.get(lang, {})} for lang, channels in deck.languages.items()}
    return deck.model_copy(update={
        "languages": languages,
        "seed": fresh.seed,
        "calls": [*deck.calls, *fresh.calls],
        "refused_claims": [*deck.refused_claims, *fresh.refused_claims],
        "reasks": [*deck.reasks, *fresh.reasks],
        "fallbacks": [f for f in deck.fallbacks if f.channel not in _channels(fresh)] + fresh.fallbacks,
    })


def _channels(deck: CopyDeck) -> set[str]:
    return {channel for channels in deck.languages.values() for channel in channels}
