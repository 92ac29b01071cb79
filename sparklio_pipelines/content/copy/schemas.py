"""The copy deck's shape: A/B variants per channel and language, and the model calls behind them."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, Field

VARIANT_LABELS = "ABCDEFGH"


class CopyError(ValueError):
    """A brief whose copy rules contradict each other (e.g. a required term that is banned)."""


class Provenance(BaseModel):
    """Who wrote a variant: the model that drafted it, the one that polished it in the final pass,
    the one that translated it from the brief's language, or the brief itself (a fallback)."""

    drafted_by: str | None = None
    polished_by: str | None = None
    translated_by: str | None = None
    source: Literal["model", "brief"] = "model"

    def copy_fields(self) -> dict:
        """The copy itself, by field: what a marketer reads and edits (not its labels or provenance)."""
        return self.model_dump(exclude={"channel", "variant", *Provenance.model_fields})

    def provenance(self) -> str:
        """Who wrote it, in words: 'qwen2.5:7b, polished by qwen2.5:14b', 'the brief's own words'."""
        if self.source == "brief":
            return "the brief's own words"
        said = [self.drafted_by or "the model"]
        if self.translated_by:
            said.append("translated from the brief")
        if self.polished_by:
            said.append(f"polished by {self.polished_by}")
        return ", ".join(said)


class InstagramVariant(Provenance):
    channel: Literal["instagram"] = "instagram"
    variant: str
    caption: str
    hashtags: list[str]

    def post_text(self) -> str:
        """What is pasted into Instagram: caption, blank line, hashtags."""
        return f"{self.caption}\n\n{' '.join(self.hashtags)}" if self.hashtags else self.caption


class XVariant(Provenance):
    channel: Literal["x"] = "x"
    variant: str
    text: str


class LinkedInVariant(Provenance):
    channel: Literal["linkedin"] = "linkedin"
    variant: str
    text: str


class EmailVariant(Provenance):
    channel: Literal["email"] = "email"
    variant: str
    subject: str
    preheader: str
    body: str


class ShortsVariant(Provenance):
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


class RefusedClaim(BaseModel):
    """A model reply refused during generation for a claim the brief does not state."""

    language: str
    channel: str
    variant: str
    field: str
    words: str
    kind: str


class Reask(BaseModel):
    """A variant sent back to the model for one rule it broke (each problem with that rule named)."""

    language: str
    channel: str
    variant: str
    rule: str  # channel limit, banned word, required term, unsupported claim, language, cut line, ...
    problem: str


class Fallback(BaseModel):
    """A variant the model never got right: written from the brief's own words instead."""

    language: str
    channel: str
    variant: str
    rules: list[str]


class CopyDeck(BaseModel):
    campaign_id: str
    model: str
    seed: int
    languages: dict[str, dict[str, list[Variant]]]  # language -> channel -> variants A, B, ...
    calls: list[CopyCall] = Field(default_factory=list)
    # The brand rules per language, kept so asset checks can re-check the deck on its own.
    banned_words: dict[str, list[str]] = Field(default_factory=dict)
    required_terms: dict[str, list[str]] = Field(default_factory=dict)
    # Replies the claims guard sent back during generation (none of them is in the deck).
    refused_claims: list[RefusedClaim] = Field(default_factory=list)
    strategy: Literal["completion", "chat"] = "completion"
    final_model: str | None = None  # the final pass's model (chat strategy)
    reasks: list[Reask] = Field(default_factory=list)
    fallbacks: list[Fallback] = Field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        return round(sum(c.seconds for c in self.calls), 2)

