"""Tier 2: brand kit files validate like briefs, and briefs pull them in by name."""

import pytest

from sparklio_pipelines.content.brief.brand_kits import kit_from_data, load_brand_kit
from sparklio_pipelines.content.brief.parse import parse_brief_data
from sparklio_pipelines.content.brief.schema import BriefError

BRIEF = {
    "campaign_id": "kit-test", "product": "Tea", "audience": "All", "key_messages": ["Nutty"], "tone": "warm",
    "languages": ["ko", "en"], "channels": ["x"], "call_to_action": "Buy", "start_date": "2026-01-01",
    "end_date": "2026-02-01",
}


def test_shipped_kits_load():
    hanbit = load_brand_kit("hanbit")
    assert hanbit.banned_for("ko")[-3:] == ["최고", "완치", "기적"] and "miracle" in hanbit.banned_for("en")
    assert hanbit.required_for("ko") == ["한빛 보리차"] and hanbit.required_for("en") == ["Hanbit"]
    assert hanbit.caption_style.highlight == "#E9C46A" and hanbit.font_for("ko") == "Noto Sans CJK KR"
    assert len(hanbit.example_phrases) == 3
    assert load_brand_kit("lumi").required_for("en") == ["Lumi Glow"]


def test_the_brand_name_is_written_per_language():
    hanbit = load_brand_kit("hanbit")
    assert hanbit.name_for("ko") == "한빛" and hanbit.name_for("en") == "Hanbit"
    assert hanbit.all_names == ["한빛", "Hanbit"]  # what the claims guard, grounding and caption hotwords accept
    assert load_brand_kit("lumi").name_for("ko") == load_brand_kit("lumi").name  # no names: the one name
    brief = parse_brief_data({**BRIEF, "brand": "hanbit"})  # what copy, hashtags and creatives are made from
    assert brief.localized("en").brand.name == "Hanbit" and brief.localized("ko").brand.name == "한빛"
    assert brief.localized("en").brand.required_for("en") == ["Hanbit"]  # the rest of the kit kept
    assert problems({"name": "한빛", "names": {"en": ""}}) == {"names": "each name must be 1-80 characters"}


def test_brief_references_a_kit_by_name_and_inlines_it():
    brief = parse_brief_data({**BRIEF, "brand": "hanbit"})
    assert brief.brand.name == "한빛"
    assert '"banned_words_by_language"' in brief.canonical_json()


def problems(data) -> dict:
    with pytest.raises(BriefError) as info:
        kit_from_data(data, "kit.yaml")
    return dict(info.value.problems)


def test_bad_kits_name_every_problem():
    found = problems({
        "palette": ["blue"], "fonts": "Arial", "banned_words": {"fr": ["x"]},
        "caption_style": {"size": 5, "position": "left"}, "logo": "../../etc/passwd", "colour": 1,
    })
    assert "palette" in found and "fonts" in found and "banned_words" in found and "logo" in found
    assert "caption_style.size" in found and "caption_style.position" in found and "colour" in found


def test_required_term_that_is_banned_is_refused():
    found = problems({"banned_words": {"ko": ["보리"]}, "required_terms": {"ko": ["한빛 보리차"]}})
    assert any("banned" in message for message in found.values())


def test_unknown_kit_and_unsafe_name():
    with pytest.raises(BriefError, match="no brand kit 'nope'"):
        parse_brief_data({**BRIEF, "brand": "nope"})
    with pytest.raises(BriefError, match="slug"):
        parse_brief_data({**BRIEF, "brand": "../secrets"})
