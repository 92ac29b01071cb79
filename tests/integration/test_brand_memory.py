"""Tier 3: brand memory round trip on the embedded Postgres with the real MiniLM embedder and the
real embedded LLM: approve a variant, and the next generation's prompt carries the approved line.
"""

import json

from pydantic import PrivateAttr

from resources.embeddings import MiniLMEmbedderResource
from resources.llm import EmbeddedLLMResource
from sparklio_common.keys import channel_key
from sparklio_pipelines.campaigns.approvals import approve_variant
from sparklio_pipelines.campaigns.brand_memory import (
    approved_examples,
    near_duplicates,
    search,
)
from sparklio_pipelines.campaigns.briefs import store_brief
from sparklio_pipelines.content.brief.parse import parse_brief_data
from sparklio_pipelines.content.copy.generate import generate_copy
from sparklio_pipelines.content.copy.schemas import CopyDeck

APPROVED_LINE = "Hanbit barley tea: roasted, nutty and calm, one warm cup at a time."
BRIEF = {
    "campaign_id": "memory-round-trip", "product": "Hanbit barley tea", "audience": "Office workers",
    "key_messages": ["Roasted and nutty", "Caffeine free"], "tone": "warm", "languages": ["en"],
    "channels": ["x"], "call_to_action": "Order today", "start_date": "2026-01-01", "end_date": "2026-12-31",
    "brand": {"name": "Hanbit Memory Test", "required_terms": ["Hanbit"]},
}


class RecordingLLM(EmbeddedLLMResource):
    """The real embedded model; it also keeps every prompt it was given."""

    _prompts: list = PrivateAttr(default_factory=list)

    def generate(self, prompt, schema=None, **kwargs):
        self._prompts.append(prompt)
        return super().generate(prompt, schema, **kwargs)


def test_approve_then_next_prompt_contains_the_line(local_store, campaign_db):
    embedder = MiniLMEmbedderResource()
    brief, _ = store_brief(parse_brief_data(BRIEF), local_store)
    variants = [{"channel": "x", "variant": "A", "text": APPROVED_LINE},
                {"channel": "x", "variant": "B", "text": "Hanbit tea. Order today."}]
    local_store.put_bytes(channel_key(brief.campaign_id, "en", "x"), json.dumps(variants).encode())

    assert approve_variant(brief.campaign_id, "en", "x", "A", store=local_store, db=campaign_db,
                           embedder=embedder) == APPROVED_LINE
    examples = approved_examples(brief, campaign_db, embedder)
    assert examples == {"en": [APPROVED_LINE]}

    llm = RecordingLLM()
    deck = generate_copy(brief, llm, variants=1, approved_examples=examples)
    llm.release()
    assert deck.languages["en"]["x"][0].text
    assert llm._prompts and all(APPROVED_LINE in prompt for prompt in llm._prompts)

    hits = search("nutty roasted barley tea", db=campaign_db, embedder=embedder, brand="Hanbit Memory Test")
    assert hits[0]["content"] == APPROVED_LINE and hits[0]["similarity"] > 0.5


def test_near_duplicate_of_an_earlier_run_is_flagged(campaign_db):
    embedder = MiniLMEmbedderResource()
    brief = parse_brief_data({**BRIEF, "campaign_id": "memory-dupes", "brand": {"name": "Dupes Brand"}})
    deck = CopyDeck.model_validate({"campaign_id": brief.campaign_id, "model": "t", "seed": 0, "languages": {
        "en": {"x": [{"channel": "x", "variant": "A", "text": "Roasted barley tea for calm afternoons."}]}}})
    assert near_duplicates(deck, brief, db=campaign_db, embedder=embedder, run_id="run-1") == []
    again = near_duplicates(deck, brief, db=campaign_db, embedder=embedder, run_id="run-2")
    assert len(again) == 1 and "en/x/A" in again[0]
    fresh = CopyDeck.model_validate({"campaign_id": brief.campaign_id, "model": "t", "seed": 1, "languages": {
        "en": {"x": [{"channel": "x", "variant": "A", "text": "Quarterly tax filing is due next week."}]}}})
    assert near_duplicates(fresh, brief, db=campaign_db, embedder=embedder, run_id="run-3") == []
