"""Copy rules and the generator's enforcement paths, driven by a canned-text LLM (no model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.llm import LLMOutputError, LLMResource
from sparklio_common.model_io import LLMCall
from sparklio_pipelines.content.brief.parse import load_brief
from sparklio_pipelines.content.channels import channel_limits, word_count
from sparklio_pipelines.content.copy.generate import generate_copy
from sparklio_pipelines.content.copy.limits import (
    brand_hashtags,
    drop_banned_sentences,
    ensure_terms,
    limit_problems,
    trim_to_limit,
    x_weighted_length,
)
from sparklio_pipelines.content.copy.prompts import parse_email
from sparklio_pipelines.content.copy.schemas import CopyDeck, CopyError, XVariant
from sparklio_pipelines.content.copy.writer import brief_variant, fit_script

BRIEFS = Path(__file__).resolve().parents[2] / "examples" / "briefs"


class CannedLLM(LLMResource):
    """Test double of the LLM interface: answers by the prompt's last label, from fixed text
    (a list: one reply per ask of that label, the last one repeated)."""

    answers: dict[str, list[str]] = {}
    asked: list[str] = []

    @property
    def model_label(self) -> str:
        return "canned"

    def _complete(self, prompt, schema, *, max_tokens, temperature, seed, stop):
        task = prompt.rstrip().rsplit("\n", 1)[-1].rstrip(":")
        replies = self.answers.get(task, [""])
        answer = replies[min(self.asked.count(task), len(replies) - 1)]
        self.asked.append(task)
        return answer, LLMCall("canned", len(prompt) // 4, 10, 0.01)

    def release(self) -> None:
        pass


def canned(**answers: str | list[str]) -> CannedLLM:
    return CannedLLM(answers={k: v if isinstance(v, list) else [v] for k, v in answers.items()}, asked=[])


def test_trim_to_limit_cuts_at_sentence_end():
    text = "First sentence here. Second one is longer than the rest. Third."
    out = trim_to_limit(text, 50)
    assert out == "First sentence here."
    assert trim_to_limit(text, 500) == text


def test_trim_to_limit_hangul_sentence_ends():
    text = "한빛 보리차는 고소해요. 카페인이 없어서 하루 종일 편하게 마실 수 있습니다. 지금 구매하기!"
    out = trim_to_limit(text, 50)
    assert len(out) <= 50
    assert out.endswith("습니다.")
    assert trim_to_limit(text, 40) == "한빛 보리차는 고소해요."
    assert trim_to_limit("맛있어요! 정말 고소한 보리차 한 잔 어떠세요?", 10) == "맛있어요!"


def test_trim_to_limit_without_sentence_end_cuts_at_word():
    out = trim_to_limit("one two three four five six seven", 16)
    assert len(out) <= 16 and out.endswith("…") and out.startswith("one two")
    assert len(trim_to_limit("가" * 50, 10)) <= 10


def test_x_weighted_length_counts_hangul_double():
    assert x_weighted_length("abc") == 3
    assert x_weighted_length("한빛") == 4
    assert x_weighted_length(trim_to_limit("보리차. " * 100, 280, x_weighted_length)) <= 280


def test_banned_words_drop_their_whole_sentence_case_insensitive_and_hangul():
    text = "A Miracle serum. Guaranteed results! Fragrance-free."
    assert drop_banned_sentences(text, ["miracle", "guaranteed"]) == "Fragrance-free."
    assert drop_banned_sentences("A secure cap.", ["cure"]) == "A secure cap."
    assert drop_banned_sentences("업계 최고의 맛, 기적 같은 보리차. 고소해요.", ["최고", "기적"]) == "고소해요."


def test_ensure_terms_appends_and_respects_limit():
    out = ensure_terms("Bright skin every morning.", ["Lumi Glow"], "en", 280)
    assert out == "Bright skin every morning. Meet Lumi Glow."
    ko = ensure_terms("고소한 맛이에요.", ["한빛 보리차"], "ko", 100)
    assert ko.endswith("한빛 보리차와 함께하세요.")
    assert ensure_terms("고소해요.", ["한빛 녹차밭"], "ko", 100).endswith("녹차밭과 함께하세요.")
    long = ensure_terms("Word. " * 100, ["Lumi Glow"], "en", 60)
    assert len(long) <= 60 and "Lumi Glow" in long


def test_fit_script_lands_in_range_and_keeps_terms():
    ko_brief = load_brief(BRIEFS / "hanbit-tea-ko.yaml")
    # An early sentence end followed by one very long sentence must not leave a too-short script.
    for raw in ["짧아요. " + "고소한 보리차 " * 60, "", "한빛 보리차 좋아요. " * 30]:
        script = fit_script(raw, ko_brief, "ko")
        assert 90 <= len(script) <= 180 and "한빛 보리차" in script, script
    en_brief = load_brief(BRIEFS / "glow-serum-en.yaml")
    for raw in ["Short. " + "word " * 200, "Lumi Glow. " * 80, "Hi."]:
        script = fit_script(raw, en_brief, "en")
        assert 35 <= word_count(script) <= 75 and "Lumi Glow" in script, script


def test_voiceovers_built_from_the_brief_differ_between_a_and_b():
    # The fallback once padded every script in the brief's order, so A and B were the same words.
    for name, language in [("hanbit-tea-ko.yaml", "ko"), ("glow-serum-en.yaml", "en")]:
        brief = load_brief(BRIEFS / name)
        first, second = brief.key_messages[:2]
        a = brief_variant(brief, language, "shorts", "A", first).script
        b = brief_variant(brief, language, "shorts", "B", second).script
        assert a.startswith(first.rstrip(".")) and b.startswith(second.rstrip(".")), (a, b)
        assert a != b
        assert fit_script("", brief, language) == a  # no focus: the brief's order


def test_parse_email_line():
    parts = parse_email("Subject: Hi there | Preheader: A | B | Body: Text with | a pipe.", "en")
    assert parts == {"subject": "Hi there", "preheader": "A | B", "body": "Text with | a pipe."}
    assert parse_email("제목: 안녕 | 본문: 고소해요.", "ko") == {"subject": "안녕", "preheader": "", "body": "고소해요."}
    assert parse_email("no labels at all", "en")["body"] == ""
    assert parse_email("Subject: S | Body: one. | Body: two.", "en")["body"] == "one."


def test_limit_problems_catches_overlong_x_post():
    deck = CopyDeck(
        campaign_id="c", model="m", seed=0,
        languages={"en": {"x": [XVariant(variant="A", text="x" * 281)]}},
    )
    problems = limit_problems(deck)
    assert any("en/x/A/text: 281 chars, limit 280" in p for p in problems)
    deck.languages["en"]["x"][0] = XVariant(variant="A", text="fine")
    assert limit_problems(deck) == []


def test_limit_problems_catches_banned_and_missing_terms():
    deck = CopyDeck(
        campaign_id="c", model="m", seed=0, banned_words={"en": ["miracle"]}, required_terms={"en": ["Lumi Glow"]},
        languages={"en": {"x": [XVariant(variant="A", text="A miracle.")]}},
    )
    problems = limit_problems(deck)
    assert any("banned" in p for p in problems) and any("missing required" in p for p in problems)


def test_hashtags_capped_and_sane():
    brief = load_brief(BRIEFS / "glow-serum-en.yaml")
    many = [f"#tag{i}" for i in range(60)] + ["#miracle", "#bad tag"]
    tags = brand_hashtags(brief, "en", many)
    assert 1 <= len(tags) <= 30
    assert "#LumiGlowVitaminCSerum" in tags and "#Lumi" in tags
    assert all(t.startswith("#") and " " not in t for t in tags)
    assert "#Miracle" not in tags and "#miracle" not in tags
    ko = brand_hashtags(load_brief(BRIEFS / "hanbit-tea-ko.yaml"), "ko")
    assert "#한빛유기농보리차" in ko and "#보리차" in ko


def _overlong_llm() -> CannedLLM:
    return canned(**{
        "X post": "This miracle serum is great. " * 20,  # 580 chars, banned word, no required term
        "Instagram caption": "Glow every morning with Lumi. #glow #Skincare #miracle",
        "LinkedIn post": "A guaranteed routine.",
        "Email": f"Subject: {'S' * 75} | Preheader: Your cure for dull skin. | Body: Short.",
        "30-second voiceover script": "Too short.",
        "On-screen headlines": "Glow up | Glow up | A headline that is far too long to ever fit on a phone screen",
    })


def test_generator_enforces_limits_on_bad_model_output():
    brief = load_brief(BRIEFS / "glow-serum-en.yaml")
    llm = _overlong_llm()
    deck = generate_copy(brief, llm, variants=2, seed=3)
    assert limit_problems(deck) == []
    en = deck.languages["en"]
    assert set(en) == {"instagram", "x", "linkedin", "email", "shorts"}
    assert [v.variant for v in en["x"]] == ["A", "B"]
    x = en["x"][0].text
    assert len(x) <= 280 and "miracle" not in x.lower() and "Lumi Glow" in x
    # Over-long X replies are re-asked once before trimming (2 variants x 2 asks).
    assert llm.asked.count("X post") == 2 * 2
    assert "#miracle" not in en["instagram"][0].hashtags and "#Glow" in en["instagram"][0].hashtags
    assert len(en["email"][0].subject) <= 60
    assert "cure" not in en["email"][0].preheader.lower()
    script = en["shorts"][0].script
    assert 35 <= word_count(script) <= 75 and "Brighter-looking skin in 14 days" in script
    assert 3 <= len(en["shorts"][0].headlines) <= 6
    assert all(len(h) <= 40 for h in en["shorts"][0].headlines)
    assert len(deck.calls) >= 10 and all(c.language == "en" for c in deck.calls)


def test_generator_adds_shorts_and_handles_korean():
    brief = load_brief(BRIEFS / "hanbit-tea-ko.yaml").model_copy(update={"channels": ["x"]})
    llm = canned(**{
        "X 게시물": "최고의 보리차! " * 40,
        "30초 쇼츠 내레이션": "보리차 " * 80,
        "X post": "Nutty barley tea.",
    })
    deck = generate_copy(brief, llm, variants=2)
    assert limit_problems(deck) == []
    assert set(deck.languages) == {"ko", "en"}
    assert set(deck.languages["ko"]) == {"x", "shorts"}
    ko_x = deck.languages["ko"]["x"][0].text
    assert "최고" not in ko_x and "한빛 보리차" in ko_x and x_weighted_length(ko_x) <= 280
    script = deck.languages["ko"]["shorts"][0].script
    assert 90 <= len(script) <= 180


def test_generator_is_deterministic_and_rejects_bad_rules():
    brief = load_brief(BRIEFS / "glow-serum-en.yaml")
    a = generate_copy(brief, _overlong_llm(), seed=5).model_dump_json()
    b = generate_copy(brief, _overlong_llm(), seed=5).model_dump_json()
    assert a == b
    # model_copy skips the brand kit's own validator, so the generator must catch the clash itself.
    clash = brief.model_copy(update={"brand": brief.brand.model_copy(update={"required_terms": ["Miracle Glow"]})})
    with pytest.raises(CopyError, match="banned"):
        generate_copy(clash, _overlong_llm())


def test_schema_reply_is_validated_and_reasked():
    llm = canned(**{"Q": '{"a": 1}'})
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    with pytest.raises(LLMOutputError) as err:
        llm.generate("Q:", schema)
    assert err.value.raw_reply == '{"a": 1}' and "not of type 'string'" in err.value.schema_error
    assert llm.asked.count("Q") == 3  # first ask plus max_json_retries=2
    ok = canned(**{"Q": '{"a": "yes"}'}).generate("Q:", schema)
    assert ok.data == {"a": "yes"}


def test_deck_round_trips_through_json():
    brief = load_brief(BRIEFS / "glow-serum-en.yaml")
    deck = generate_copy(brief, _overlong_llm(), variants=2)
    again = CopyDeck.model_validate_json(deck.model_dump_json())
    assert again == deck
    assert channel_limits("shorts", "ko").headline_max_chars == 20


def test_replies_that_invent_figures_or_loop_are_refused():
    """A small model makes up numbers ("150g", "10% more energy") and loops on a phrase; neither is stored."""
    from sparklio_pipelines.content.copy.claims import unsupported_claims

    brief = load_brief(BRIEFS / "glow-serum-en.yaml").model_copy(update={"channels": ["x", "linkedin", "shorts"]})
    llm = canned(**{
        "X post": "Lumi Glow Vitamin C Serum: 73% brighter skin, guaranteed.",
        "LinkedIn post": "Glow every single day. Your skin will glow every single day with our serum.",
        "On-screen headlines": "150g | Glow now | 99% loved",
    })
    deck = generate_copy(brief, llm, variants=1)
    en = deck.languages["en"]
    for text in (en["x"][0].text, en["linkedin"][0].text, *en["shorts"][0].headlines):
        assert unsupported_claims(text, brief) == [], text
    assert {(c.channel, c.words) for c in deck.refused_claims} >= {("x", "73%"), ("shorts", "150g"), ("shorts", "99%")}
    assert "73%" not in en["x"][0].text
    assert en["linkedin"][0].text.casefold().count("glow every single day") <= 1  # the loop is not stored
    assert "Glow now" in en["shorts"][0].headlines and "150g" not in en["shorts"][0].headlines
    assert limit_problems(deck) == []


def test_repeated_phrase_spares_names_and_catches_loops():
    from sparklio_pipelines.content.copy.writer import repeated_phrase

    names = ["한빛 유기농 보리차", "한빛"]
    assert repeated_phrase("20대 직장인, 20대 직장인, 20대 직장인.", "ko", names) == "20대 직장인"
    assert repeated_phrase("한빛 유기농 보리차. 고소한 맛의 한빛 유기농 보리차.", "ko", names) is None
    assert repeated_phrase("10% more energy, 10% less coffee, 10% more energy.", "en", []) == "10 more energy"
    assert repeated_phrase("Meet Lumi Glow. Shop Lumi Glow today.", "en", ["Lumi Glow"]) is None


def test_an_email_subject_may_repeat_a_phrase_of_its_body():
    brief = load_brief(BRIEFS / "glow-serum-en.yaml").model_copy(update={"channels": ["email"]})
    reply = ("Subject: Morning glow, simplified | Preheader: Meet the serum | "
             "Body: Morning glow, simplified: one step, every day. Lumi Glow Vitamin C Serum is here.")
    deck = generate_copy(brief, canned(Email=reply), variants=1)
    assert deck.languages["en"]["email"][0].subject == "Morning glow, simplified"
    assert deck.languages["en"]["email"][0].body.startswith("Morning glow, simplified: one step")


def test_copy_that_says_nothing_of_the_product_is_reasked_then_built_from_the_brief():
    # Seen in embedded decks: a whole Instagram post "오늘 주문하세요.", an email body "안녕하세요, 한빛입니다. 지금 주문하세요."
    brief = load_brief(BRIEFS / "hanbit-tea-ko.yaml").model_copy(update={"channels": ["instagram", "x", "email"]})
    llm = canned(**{"인스타그램 캡션": "오늘 구매하세요.", "X 게시물": "카페인 없이 하루 종일 편하게. 지금 구매하기.",
                    "이메일": "제목: 한빛 | 미리보기: 지금 구매하기. | 본문: 안녕하세요, 한빛입니다. 오늘 구매하세요.",
                    "Instagram caption": "Shop now.", "X post": "Shop now."})
    deck = generate_copy(brief, llm, variants=1)
    for language in ("ko", "en"):
        caption = deck.languages[language]["instagram"][0].caption
        assert caption.startswith(brief.localized(language).key_messages[0].rstrip(".")), caption
    assert llm.asked.count("인스타그램 캡션") == 2 and llm.asked.count("X 게시물") == 1  # re-asked once, then the brief
    assert deck.languages["ko"]["x"][0].text.startswith("카페인 없이 하루 종일 편하게. 지금 구매하기.")  # a message: kept
    assert llm.asked.count("이메일") == 2
    assert deck.languages["ko"]["email"][0].body.startswith(brief.key_messages[0].rstrip("."))


def test_headlines_that_differ_only_by_an_ending_are_shown_once():
    from sparklio_pipelines.content.copy.writer import fit_headlines, reads_alike

    assert reads_alike("Sync when you are back online", "Syncs when you are back online")
    assert reads_alike("지금 주문", "지금 주문해")
    assert reads_alike("14 days", "Brighter-looking skin in 14 days")  # seen on the glow video
    assert not reads_alike("Start free today", "Start free")
    assert not reads_alike("오늘 주문", "지금 주문")
    brief = load_brief(BRIEFS / "glow-serum-en.yaml")
    shown = fit_headlines(["Glow every morning", "Glows every morning", "A simple routine"], brief, "en")
    assert shown[:2] == ["Glow every morning", "A simple routine"] and "Glows every morning" not in shown
    # A brief whose every line repeats another still gets the minimum of three.
    terse = brief.model_copy(update={"key_messages": ["Lumi Glow"], "product": "Glow", "call_to_action": "Lumi Glow now"})
    assert fit_headlines([], terse, "en") == ["Lumi Glow", "Glow", "Lumi Glow now"]


def test_english_copy_opens_with_a_capital_unless_a_name_is_lower_case():
    from sparklio_pipelines.content.copy.writer import sentence_case

    assert sentence_case("fill in the checklists offline.", ["Fieldnote Sync"]) == "Fill in the checklists offline."
    assert sentence_case("iPhone cases, now in stock.", ["iPhone case"]) == "iPhone cases, now in stock."
    assert sentence_case("", []) == ""


def test_a_video_says_its_call_to_action_once_and_last():
    from sparklio_pipelines.content.copy.writer import fit_headlines

    brief = load_brief(BRIEFS / "hanbit-tea-ko.yaml")
    shown = fit_headlines(["오늘 구매", "고소한 보리차", "지금 구매하기", "카페인 없이 하루 종일 편하게"], brief, "ko")
    assert shown == ["고소한 보리차", "카페인 없이 하루 종일 편하게", "오늘 구매"]
    # A script whose own words already say it is not padded with the brief's CTA a second time.
    script = fit_script("보리차가 고소해요. 오늘 구매하세요.", brief, "ko")
    assert "지금 구매하기" not in script and script.count("구매") == 1, script
    assert "지금 구매하기" in fit_script("보리차가 고소해요.", brief, "ko")
