"""The chat writing strategy through the real `ollama` client and the real resource, against the
Ollama stand-in (tests/support/fake_ollama.py) answering as an instruct model (fake_copywriter.py).

Every copy call is `/api/chat` with a system and a user message and a JSON-schema `format`; each
broken rule is sent back by name; a rule broken every time ends in the brief's own words (or a clear
error where the brief has no words in that language); the final model reviews the deck, and a
polish that breaks a rule is not kept. Then the `copy` asset and its blocking checks on that path.
"""

from __future__ import annotations

import json

import dagster as dg
import pytest

from resources.ollama_llm import OllamaLLMResource
from sparklio_common.keys import deck_key
from sparklio_common.settings import REPO_ROOT
from sparklio_pipelines.content import quality
from sparklio_pipelines.content.brief.parse import load_brief
from sparklio_pipelines.content.copy.chat import CLAIM, CUT_LINE, LANGUAGE, REASKS, REPEATED_SUBJECT
from sparklio_pipelines.content.copy.claims import claims_problems
from sparklio_pipelines.content.copy.generate import generate_copy
from sparklio_pipelines.content.copy.limits import BANNED_WORD, LIMIT, limit_problems
from sparklio_pipelines.content.copy.schemas import CopyError
from tests.support.fake_copywriter import Copywriter
from tests.support.fake_ollama import FakeOllama

DRAFT, FINAL = "qwen2.5:7b", "qwen2.5:14b"
KOREAN = REPO_ROOT / "examples" / "briefs" / "hanbit-tea-ko.yaml"
ENGLISH = REPO_ROOT / "examples" / "briefs" / "glow-serum-en.yaml"


def write(brief, copywriter: Copywriter, variants: int = 2):
    with FakeOllama(models=[DRAFT, FINAL], responder=copywriter) as fake:
        llm = OllamaLLMResource(host=fake.url, draft_model=DRAFT, final_model=FINAL, timeout_seconds=10)
        try:
            deck = generate_copy(brief, llm, variants=variants, seed=1)
        finally:
            llm.release()
        assert not fake.errors, fake.errors
        return deck, fake


def assert_publishable(deck, brief):
    assert limit_problems(deck) == []
    assert claims_problems(deck, brief) == []
    assert quality.language_problems(deck) == []
    texts = [t for _l, _c, v in quality.iter_variants(deck) for t in quality.variant_texts(v).values()]
    assert not [t for t in texts if "…" in t]


def test_every_copy_call_is_chat_with_a_schema_and_the_final_model_reviews_the_deck():
    brief = load_brief(KOREAN)
    deck, fake = write(brief, Copywriter())

    inference = [r for r in fake.requests if r.path in ("/api/generate", "/api/chat") and r.body.get("messages")]
    assert fake.count("/api/generate") == 0
    channels = len(brief.channels) + ("shorts" not in brief.channels)
    assert len(inference) == len(brief.languages) * (channels + 1)  # a turn per channel, a final pass per language
    for request in inference:
        body = request.body
        assert [m["role"] for m in body["messages"][:2]] == ["system", "user"]
        assert isinstance(body["format"], dict) and body["format"]["type"] == "object"
        assert set(body["options"]) >= {"temperature", "seed"} and body["stream"] is False
    finals = [r.body for r in inference if r.body["model"] == FINAL]
    assert len(finals) == len(brief.languages)
    assert all(set(f["format"]["properties"]) == set(deck.languages["ko"]) for f in finals)

    system, user = inference[0].body["messages"][0]["content"], inference[0].body["messages"][1]["content"]
    assert "Write in Korean" in system and brief.audience in system and "Claims:" in system
    assert all(word in system for word in brief.brand.banned_for("ko"))
    # the whole brief, every key message, the CTA and the dates, goes to the model
    assert all(m in user for m in brief.key_messages) and brief.call_to_action in user
    assert brief.start_date.isoformat() in user

    assert deck.strategy == "chat" and deck.final_model == FINAL
    assert not deck.reasks and not deck.fallbacks
    for _language, _channel, variant in quality.iter_variants(deck):
        assert (variant.drafted_by, variant.polished_by, variant.source) == (DRAFT, FINAL, "model")
    assert_publishable(deck, brief)


@pytest.mark.parametrize(("fault", "rule"), [
    ("claim", CLAIM), ("language", LANGUAGE), ("limit", LIMIT), ("banned", BANNED_WORD), ("cut", CUT_LINE),
])
def test_a_broken_rule_is_sent_back_by_name_and_rewritten(fault, rule):
    brief = load_brief(KOREAN)
    copywriter = Copywriter(break_first={fault: 1})
    deck, fake = write(brief, copywriter)

    assert copywriter.broken[fault] == 1
    assert {r.rule for r in deck.reasks} >= {rule}
    followups = [r.body["messages"] for r in fake.requests if r.path == "/api/chat"
                 and any(m["role"] == "assistant" for m in r.body.get("messages", []))]
    assert len(followups) == 1
    assert f"Variant A: {rule}:" in followups[0][-1]["content"]
    assert not deck.fallbacks
    assert_publishable(deck, brief)
    if fault == "claim":
        assert {c.words for c in deck.refused_claims} >= {"임상", "최고"}  # "임상으로 입증된 최고의 선택이에요."


def test_the_email_preheader_must_not_repeat_the_subject():
    brief = load_brief(KOREAN)
    deck, _fake = write(brief, Copywriter(break_first={"repeat": 1}))
    assert any(r.rule == REPEATED_SUBJECT for r in deck.reasks)
    for _l, channel, variant in quality.iter_variants(deck):
        if channel == "email":
            assert variant.preheader.casefold() != variant.subject.casefold()


def test_a_rule_broken_every_time_ends_in_the_briefs_own_words():
    brief = load_brief(ENGLISH)
    copywriter = Copywriter(always_break={"claim"})
    deck, fake = write(brief, copywriter)

    channels = len(brief.channels) + ("shorts" not in brief.channels)
    assert copywriter.turns["re-ask"] == REASKS * channels
    assert {(f.channel, f.variant) for f in deck.fallbacks} == {(c, "A") for c in deck.languages["en"]}
    assert all(f.rules == [CLAIM] for f in deck.fallbacks)
    for channel, variants in deck.languages["en"].items():
        assert variants[0].source == "brief" and variants[0].polished_by is None
        assert variants[1].source == "model"
    assert "Clinically proven" not in json.dumps(deck.model_dump())
    assert_publishable(deck, brief)


def test_a_final_pass_that_breaks_a_rule_keeps_the_draft():
    brief = load_brief(ENGLISH)
    deck, _fake = write(brief, Copywriter(final_claim=True))
    for channel, variants in deck.languages["en"].items():
        assert variants[0].polished_by is None, channel  # the polish added a claim: the draft stays
        assert variants[1].polished_by == FINAL
    assert_publishable(deck, brief)


TRANSLATED = {"ko": {"product": "루미 글로우 비타민C 세럼", "key_messages": ["14일 만에 더 환해 보이는 피부",
              "안정화 비타민C 15%와 히알루론산", "무향료, 매일 쓰기 좋은 순한 사용감"],
              "call_to_action": "런칭 혜택을 확인하세요", "audience": "간단한 아침 루틴을 원하는 25-40세 직장인"}}


def english_brief_in_two_languages():
    brief = load_brief(ENGLISH)
    assert not brief.translations
    return brief.model_copy(update={"languages": ["en", "ko"], "channels": ["x", "shorts"]})


def test_an_instruct_model_writes_the_other_language_marked_translated_by():
    brief = english_brief_in_two_languages()
    deck, fake = write(brief, Copywriter(translate=TRANSLATED))

    systems = [r.body["messages"][0]["content"] for r in fake.requests if r.path == "/api/chat" and r.body.get("messages")]
    assert any("The brief is in English" in s and "Write in Korean" in s for s in systems)
    for language, _channel, variant in quality.iter_variants(deck):
        assert variant.translated_by == (DRAFT if language == "ko" else None)
    assert quality.language_problems(deck) == []


def test_wrong_language_every_time_with_no_words_to_fall_back_on_fails_clearly():
    brief = english_brief_in_two_languages()
    with pytest.raises(CopyError, match=r"translations: \{ko: \.\.\.\}") as info:
        write(brief, Copywriter(translate=TRANSLATED, always_break={"language"}))
    assert "Korean" in str(info.value) and "language" in str(info.value)


# --- the copy asset on this path ---------------------------------------------------------------


def test_the_copy_asset_writes_with_chat_and_its_language_check_blocks(monkeypatch, local_store, campaign_db):
    from sparklio_pipelines.defs.assets import brief as brief_assets
    from sparklio_pipelines.defs.assets import copy as copy_assets
    from sparklio_pipelines.defs.assets.copy import COPY_CHANNELS_TAG, COPY_SEED_TAG
    from sparklio_pipelines.defs.checks import copy as copy_checks
    from sparklio_pipelines.defs.partitions import submit_brief
    from sparklio_pipelines.defs.resources import build_resources

    copywriter = Copywriter(break_first={"claim": 1})
    with FakeOllama(models=[DRAFT, FINAL], responder=copywriter) as fake, dg.instance_for_test() as instance:
        monkeypatch.setenv("OLLAMA_HOST", fake.url)
        resources = {**build_resources(), "object_store": local_store, "campaign_db": campaign_db}
        raw = ENGLISH.read_text().replace("campaign_id: glow-serum-launch", "campaign_id: chat-copy-asset")
        submit_brief(raw.encode(), ENGLISH.name, store=local_store, db=campaign_db, instance=instance,
                     base_dir=ENGLISH.parent)
        assets = dg.load_assets_from_modules([brief_assets, copy_assets])
        checks = dg.load_asset_checks_from_modules([copy_checks])
        result = dg.materialize([*assets, *checks], partition_key="chat-copy-asset", instance=instance,
                                resources=resources, selection=dg.AssetSelection.assets("brief", "copy"),
                                raise_on_error=False)
        assert result.success, [e.message for e in result.all_events if e.is_step_failure]
        metadata = result.asset_materializations_for_node("copy")[0].metadata
        assert metadata["writing_strategy"].value == "chat"
        assert metadata["final_model"].value == FINAL
        assert metadata["reasks_by_rule"].value == {CLAIM: 1}
        assert metadata["claims_refused"].value >= 1
        evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert evaluations["copy_language"].passed and evaluations["copy_claims_supported"].passed
        assert evaluations["copy_language"].severity == dg.AssetCheckSeverity.ERROR
        assert fake.count("/api/generate") == 0
        first = json.loads(local_store.get_bytes(deck_key("chat-copy-asset")))

        # "Regenerate x" on the review page: only X is written anew, every other channel keeps its copy
        asked_before = len(fake.bodies("/api/chat"))
        again = dg.materialize([*assets, *checks], partition_key="chat-copy-asset", instance=instance,
                               resources=resources, selection=dg.AssetSelection.assets("copy"),
                               tags={COPY_SEED_TAG: "5", COPY_CHANNELS_TAG: "x"}, raise_on_error=False)
        assert again.success
        systems = [b["messages"][0]["content"] for b in fake.bodies("/api/chat")[asked_before:] if b.get("messages")]
        assert len(systems) == 2 and all("Rules for X (Twitter) (x)" in s for s in systems)
        assert not any("(linkedin)" in s for s in systems)
        second = json.loads(local_store.get_bytes(deck_key("chat-copy-asset")))
        assert second["seed"] == 5
        for channel in first["languages"]["en"]:
            if channel != "x":
                assert second["languages"]["en"][channel] == first["languages"]["en"][channel], channel
        assert len(second["calls"]) == len(first["calls"]) + 2
