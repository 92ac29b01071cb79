"""The claims guard (content/copy/claims.py) on a labelled set, and inside generation: a reply with an
unsupported claim or a banned word is re-asked, then replaced by the brief's words; no sentence
fragment, no '…' cut line, no preheader that repeats its subject."""

from __future__ import annotations

import pytest

from sparklio_pipelines.content.brief.brand_kits import kit_from_data
from sparklio_pipelines.content.brief.schema import BriefError
from sparklio_pipelines.content.channels import channel_limits
from sparklio_pipelines.content.copy.claims import (
    claims_problems,
    find_claims,
    unsupported_claims,
)
from sparklio_pipelines.content.copy.generate import generate_copy
from sparklio_pipelines.content.copy.limits import first_fitting, limit_problems
from sparklio_pipelines.content.copy.schemas import CopyDeck, XVariant
from sparklio_pipelines.content.copy.writer import fit_headlines
from tests.unit.claims_report import (
    CASES,
    PRECISION_FLOOR,
    RECALL_FLOOR,
    brief,
    flagged,
    score,
)
from tests.unit.test_copywriting import canned


def _words(text: str, support: str) -> list[str]:
    return [c.words for c in unsupported_claims(text, brief(support))]


def test_labelled_set_precision_and_recall():
    assert len(CASES) >= 40 and {c.language for c in CASES} == {"en", "ko"}
    scores, wrong = score()
    for language in ("en", "ko", "all"):
        s = scores[language]
        assert s.positives >= 10 and s.lines - s.positives >= 10, language  # both kinds, both languages
        assert s.precision >= PRECISION_FLOOR and s.recall >= RECALL_FLOOR, (language, s, wrong)


def test_a_flagged_line_names_the_claims_a_reviewer_marked():
    for case in CASES:
        found = [c.words.casefold() for c in flagged(case)]
        if case.unsupported and found:
            for word in case.unsupported:
                assert any(word.casefold() in f or f in word.casefold() for f in found), (case.text, found)


def test_figures_match_with_their_units():
    assert _words("원액 콜드브루 100ml", "coldbrew") == ["100ml"]  # the brief says 100%
    assert _words("커피 맛은 달콤하고, 10분 만에", "coldbrew") == ["달콤", "10분"]  # it says 1분 and 10잔, never sweet
    assert _words("10잔, 1분, 100%", "coldbrew") == []
    assert _words("in 14 days", "lumi") == [] and _words("in 14 weeks", "lumi") == ["14 weeks"]
    assert _words("14일 만에 환해진 피부", "lumi") == []  # units agree across languages
    assert _words("A two-minute routine", "lumi") == ["two-minute"]
    assert _words("Free for teams of up to 5 people", "fieldnote") == []  # a bare 5 counts people
    assert _words("5 minutes to set up", "fieldnote") == ["5 minutes"]  # but is no duration


def test_claim_kinds_and_cross_language_support():
    kinds = {c.words: c.kind for c in find_claims("The best, clinically tested, 100% satisfaction guaranteed. 10분.")}
    assert kinds == {"best": "superlative", "clinically": "health", "tested": "health",
                     "100% satisfaction": "guarantee", "guaranteed": "guarantee", "10분": "figure"}
    # the English facts say "Caffeine free": Korean copy may say 무카페인; the Korean product says 유기농
    assert _words("무카페인 보리차", "hanbit") == [] and _words("Organic barley", "hanbit") == []
    # a Korean claim in an English post is still a claim
    assert _words("Clinically proven, the best in Korea. 최고의 선택.", "hanbit") == ["Clinically", "proven", "best", "최고"]


def test_brand_kit_claims_extend_the_lexicon():
    kit = kit_from_data({"name": "Hanbit", "claims": {"en": ["handcrafted"], "ko": ["수제"]}}, "kit")
    assert kit.claims == {"en": ["handcrafted"], "ko": ["수제"]}
    plain = brief("hanbit")
    branded = plain.model_copy(update={"brand": kit})
    assert unsupported_claims("Handcrafted barley tea, 수제 보리차.", plain) == []
    assert [(c.words, c.kind) for c in unsupported_claims("Handcrafted barley tea, 수제 보리차.", branded)] == [
        ("Handcrafted", "brand"), ("수제", "brand")]
    stated = branded.model_copy(update={"key_messages": [*branded.key_messages, "Handcrafted in small batches"]})
    assert [c.words for c in unsupported_claims("Handcrafted barley tea.", stated)] == []
    with pytest.raises(BriefError, match="claims"):
        kit_from_data({"name": "Hanbit", "claims": {"fr": ["artisanal"]}}, "kit")


def test_claims_problems_name_the_claim_and_the_variant():
    deck = CopyDeck(campaign_id="c", model="m", seed=0, languages={"en": {"x": [
        XVariant(variant="A", text="Nutty flavor from organic Korean barley."),
        XVariant(variant="B", text="The best in Korea. 최고의 선택."),
    ]}})
    assert claims_problems(deck, brief("hanbit")) == [
        "en/x/B/text: unsupported superlative claim 'best'",
        "en/x/B/text: unsupported superlative claim '최고'",
    ]


def test_a_reply_with_a_claim_is_reasked_then_replaced_by_the_brief():
    hanbit = brief("hanbit").model_copy(update={"channels": ["x"]})
    llm = canned(**{
        "X post": ["Hanbit Organic Barley Tea is organic, gluten free, non-GMO, vegan.",
                   "Nutty flavor from organic Korean barley, all day. Shop now."],
        "X 게시물": "최고의 선택. 고소한 보리차.",  # a banned word (최고) every time
    })
    deck = generate_copy(hanbit, llm, variants=1)
    en, ko = deck.languages["en"]["x"][0].text, deck.languages["ko"]["x"][0].text
    assert en.startswith("Nutty flavor from organic Korean barley, all day.")  # the re-ask was clean
    assert "최고" not in ko and "선택" not in ko  # no '선택.' fragment: the brief's own words instead
    assert ko.startswith("국내산 유기농 보리로 만든 고소한 맛.")
    refused = {(c.language, c.channel, c.field, c.words, c.kind) for c in deck.refused_claims}
    assert {("en", "x", "x", "gluten free", "health"), ("en", "x", "x", "vegan", "health")} <= refused
    assert ("ko", "x", "x", "최고", "superlative") in refused
    assert claims_problems(deck, hanbit) == [] and limit_problems(deck) == []
    assert CopyDeck.model_validate(deck.model_dump(exclude={"refused_claims"})).refused_claims == []  # old decks


def test_no_cut_subject_or_headline_and_preheader_differs_from_subject():
    lumi = brief("lumi").model_copy(update={"channels": ["email"]})
    long_subject = "Fill in your morning routine with a serum that does it all, every single day"
    llm = canned(**{
        "Email": f"Subject: {long_subject} | Preheader: {long_subject} | Body: A calm, simple morning with Lumi Glow.",
        "On-screen headlines": "A headline far too long to fit on one phone screen line | Glow, simply",
    })
    deck = generate_copy(lumi, llm, variants=2)
    email = deck.languages["en"]["email"]
    assert [e.subject for e in email] == ["Brighter-looking skin in 14 days", "15% stabilized vitamin C with hyaluronic acid"]
    for e in email:
        assert e.preheader and e.preheader.casefold() != e.subject.casefold() and "…" not in e.preheader
    headlines = deck.languages["en"]["shorts"][0].headlines
    assert headlines[0] == "Glow, simply" and all("…" not in h and len(h) <= 40 for h in headlines)
    assert limit_problems(deck) == []


def test_korean_headlines_that_do_not_fit_are_replaced_whole():
    hanbit = brief("hanbit")
    raw = ["한빛 보리차가 당신의 하루를 따뜻하게 채워 드립니다", "고소한 한 잔"]
    out = fit_headlines(raw, hanbit, "ko", hanbit.key_messages[2])
    cap = channel_limits("shorts", "ko").headline_max_chars
    assert out[0] == "고소한 한 잔" and all(len(h) <= cap and "…" not in h for h in out)
    assert set(out[1:]) <= {m.rstrip(".") for m in [*hanbit.key_messages, "티백 하나로 1리터", "간편한 준비"]}
    assert first_fitting(["x" * 50, "최고의 맛", "고소해요"], 10, ["최고"]) == "고소해요"
    assert first_fitting(["같은 말"], 10, [], avoid=("같은 말.",)) == ""


def test_a_reply_with_a_banned_word_is_reasked_never_cut_into_a_fragment():
    hanbit = brief("hanbit").model_copy(update={"channels": ["x"], "languages": ["ko"]})
    miracle = "기적 같은 고소함을 느껴 보세요. 한빛 보리차와 함께하세요."  # 기적 is banned, and no claim
    llm = canned(**{"X 게시물": [miracle, "따뜻한 보리차 한 잔으로 하루를 시작해요. 한빛 보리차와 함께하세요."],
                    "화면 자막": "기적 같은 맛 | 고소한 한 잔 | 따뜻한 하루"})
    deck = generate_copy(hanbit, llm, variants=2)
    for x in deck.languages["ko"]["x"]:
        assert x.text.startswith("따뜻한 보리차 한 잔으로") and "같은 고소함" not in x.text
    assert llm.asked.count("X 게시물") == 3  # A: the banned reply, then the re-ask; B: the clean reply
    for shorts in deck.languages["ko"]["shorts"]:
        assert shorts.headlines[:2] == ["고소한 한 잔", "따뜻한 하루"] and "같은 맛" not in shorts.headlines
    assert deck.refused_claims == [] and limit_problems(deck) == []
