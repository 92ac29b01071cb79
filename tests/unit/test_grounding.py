"""The grounding guard for a base model's copy: invented sentences go, the brief's stay."""

from __future__ import annotations

import pytest

from sparklio_common.settings import REPO_ROOT
from sparklio_pipelines.content.brief.parse import load_brief
from sparklio_pipelines.content.copy.grounding import (
    brief_vocabulary,
    grounded_sentences,
    is_call_to_action,
    is_grounded,
    says_nothing_of_the_product,
)

BRIEFS = REPO_ROOT / "examples" / "briefs"


@pytest.fixture(scope="module")
def glow():
    return brief_vocabulary(load_brief(BRIEFS / "glow-serum-en.yaml"))


@pytest.fixture(scope="module")
def hanbit():
    return brief_vocabulary(load_brief(BRIEFS / "hanbit-tea-ko.yaml"))


# Lines the embedded model wrote for the sample briefs (the first of each pair), and lines a reviewer keeps.
@pytest.mark.parametrize(("line", "grounded"), [
    ("Glow Vitamin C Serum is a 14-day peel-and-stick skincare serum that delivers powerful skin-care benefits.", False),
    ("It's three in the morning.", False),
    ("Grab a four-pack now.", False),  # a few-shot example's offer
    ("What do you have for me?", False),
    ("Hi, I'm looking for a five-pack of serum.", False),
    ("15% stabilized vitamin C with hyaluronic acid, it's for your skin.", True),
    ("Glow Vitamin C serum is a light serum that brightens your skin and makes your days brighter.", True),
    ("A simple morning routine for your skin.", True),
    ("Shop the launch offer today.", True),
])
def test_english_sentences(glow, line, grounded):
    assert is_grounded(line, glow) is grounded


@pytest.mark.parametrize(("line", "grounded"), [
    ("하루 종일 카페에서 커피를 마셔요.", False),  # coffee, for a caffeine-free tea
    ("힐링.", False),
    ("건강하고 냄새", False),
    ("Eat one and keep it in your purse.", False),  # an example's line, in the English copy of a Korean brief
    ("카페인 없이 하루 종일 편하게 즐기세요.", True),
    ("티백 하나로 1리터를 간편하게 준비하세요.", True),
    ("따뜻한 보리차 한 잔, 어떠세요?", True),
    ("Nutty flavor from organic Korean barley.", True),  # the brief's English translation
])
def test_korean_brief_sentences(hanbit, line, grounded):
    assert is_grounded(line, hanbit) is grounded


def test_only_the_invented_sentences_go_and_a_kept_one_is_spared(glow):
    text = "Brighter-looking skin in 14 days. It's three in the morning. Shop the launch offer."
    assert grounded_sentences(text, glow) == "Brighter-looking skin in 14 days. Shop the launch offer."
    spared = grounded_sentences(text, glow, keep=lambda s: "three" in s)
    assert spared == text


# The audience is who the post is for, not something the brand says it is (seen in an embedded deck:
# "안녕하세요, 한빛입니다. 건강한 습관을 찾는 20~30대 직장인입니다.").
@pytest.mark.parametrize(("line", "grounded"), [
    ("건강한 습관을 찾는 20~30대 직장인입니다.", False),
    ("쉼을 찾는 20대 직장인.", False),
    ("Office workers in their 20s and 30s building healthy habits.", False),
    ("안녕하세요, 한빛입니다.", True),
    ("한빛 유기농 보리차는 건강한 습관을 찾는 20~30대 직장인을 위해 만들었어요.", True),  # names the product
    ("For office workers building healthy habits, one warm cup at a time.", True),  # addressed to them
])
def test_the_audience_alone_is_no_copy(hanbit, line, grounded):
    assert is_grounded(line, hanbit) is grounded


def test_an_audience_that_holds_the_benefit_still_lets_copy_address_it(glow):
    assert is_grounded("A simple morning routine for busy professionals aged 25-40.", glow)
    assert not is_grounded("Skincare-curious professionals aged 25-40.", glow)


@pytest.mark.parametrize(("line", "empty"), [
    ("오늘 구매하세요.", True),  # the CTA in other words
    ("Shop now.", True),
    ("안녕하세요, 한빛입니다. 지금 구매하기.", True),  # a greeting and the brand (seen as an email body)
    ("Meet Hanbit.", True),
    ("카페인 없이 하루 종일 편하게. 지금 구매하기.", False),
    ("Organic barley tea for your afternoon.", False),  # names the product
])
def test_copy_that_says_nothing_of_the_product(hanbit, line, empty):
    assert says_nothing_of_the_product(line, hanbit) is empty


@pytest.mark.parametrize(("line", "cta"), [
    ("오늘 구매하세요", True),
    ("지금 구매하기", True),
    ("고소한 보리차", False),
    ("Shop now", False),  # all generic words: only the exact CTA is known as one
])
def test_a_call_to_action_in_other_words(hanbit, line, cta):
    assert is_call_to_action(line, hanbit) is cta


def test_a_cta_that_names_the_offer(glow):
    assert is_call_to_action("Shop the launch offer today", glow)
    assert not is_call_to_action("Brighter-looking skin in 14 days. Shop the launch offer.", glow)


# Seen in the demo's English voiceover: "I drink this. Nutty flavor from organic Korean barley. …"
@pytest.mark.parametrize(("brief", "line", "grounded"), [
    ("hanbit", "I drink this.", False),
    ("hanbit", "저는 카페인 없이 하루 종일 편하게 마셔요.", False),
    ("glow", "My skin looks brighter in 14 days.", False),
    ("hanbit", "Easy to drink all day.", True),
    ("glow", "Brighter-looking skin in 14 days.", True),
    ("glow", "A simple morning routine for your skin.", True),
])
def test_a_testimonial_the_brief_did_not_give_is_invented(request, brief, line, grounded):
    assert is_grounded(line, request.getfixturevalue(brief)) is grounded
