"""A Korean brief that also asks for English copy: the English copy is written from the brief's English
facts (`translations.en`), never from the Korean ones, and the few-shot examples never leak into it."""

from pathlib import Path

import pytest

from sparklio_pipelines.content.brief.parse import load_brief, parse_brief_bytes
from sparklio_pipelines.content.brief.schema import BriefError
from sparklio_pipelines.content.copy.generate import generate_copy
from tests.unit.test_copywriting import canned

BRIEFS = Path(__file__).resolve().parents[2] / "examples" / "briefs"
HANGUL = range(0xAC00, 0xD7A4)


def hangul_share(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    return sum(ord(ch) in HANGUL for ch in letters) / max(len(letters), 1)


def test_localized_takes_the_translated_facts_and_keeps_the_rest():
    brief = load_brief(BRIEFS / "hanbit-tea-ko.yaml")
    english = brief.localized("en")
    assert english.product == "Hanbit Organic Barley Tea" and english.call_to_action == "Shop now"
    assert all(hangul_share(m) == 0 for m in english.key_messages)
    assert english.start_date == brief.start_date
    assert english.brand == brief.brand.model_copy(update={"name": "Hanbit"})  # the kit's English name, all else kept
    assert brief.localized("ko") is brief  # no Korean translation: the brief's own facts


def test_a_translation_for_an_unknown_language_or_field_is_named():
    raw = (BRIEFS / "glow-serum-en.yaml").read_text()
    with pytest.raises(BriefError) as info:
        parse_brief_bytes((raw + "\ntranslations:\n  fr: {product: Sérum}\n").encode(), "b.yaml")
    assert any(field.startswith("translations") for field, _ in info.value.problems)
    with pytest.raises(BriefError) as info:
        parse_brief_bytes((raw + "\ntranslations:\n  ko: {slogan: 빛}\n").encode(), "b.yaml")
    assert any("slogan" in field for field, _ in info.value.problems)


def test_english_copy_of_a_korean_brief_falls_back_to_english_facts_not_korean():
    """A model that never writes usable English: the fallback is the English facts, not the Korean brief."""
    brief = load_brief(BRIEFS / "hanbit-tea-ko.yaml").model_copy(update={"channels": ["x", "email", "shorts"]})
    deck = generate_copy(brief, canned(), variants=2)
    for channel, variants in deck.languages["en"].items():
        for variant in variants:
            text = " ".join(str(v) for k, v in variant.model_dump().items() if k not in {"channel", "variant"})
            assert hangul_share(text) < 0.2, (channel, text)
    assert "Shop now" in deck.languages["en"]["x"][0].text
    assert hangul_share(deck.languages["ko"]["x"][0].text) > 0.5


def test_example_headlines_are_never_used():
    brief = load_brief(BRIEFS / "glow-serum-en.yaml").model_copy(update={"channels": ["shorts"]})
    leaked = "Brewed for 18 hours|No added sugar|Smooth and bold|Grab a four-pack"
    deck = generate_copy(brief, canned(**{"On-screen headlines": leaked}), variants=1)
    headlines = deck.languages["en"]["shorts"][0].headlines
    assert 3 <= len(headlines) <= 6
    assert not {h.casefold() for h in headlines} & {"brewed for 18 hours", "no added sugar", "smooth and bold",
                                                     "grab a four-pack"}
