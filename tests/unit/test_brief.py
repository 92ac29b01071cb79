"""Tier 2: brief validation, good and bad."""

from pathlib import Path

import pytest

from sparklio_pipelines.content.brief.parse import load_brief, parse_brief_bytes
from sparklio_pipelines.content.brief.schema import MAX_BRIEF_BYTES, BriefError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "briefs"

GOOD = """
campaign_id: spring-launch
product: Widget
audience: Makers
key_messages: [Fast, Small]
tone: upbeat
languages: [en]
channels: [x, shorts]
call_to_action: Buy now
start_date: 2026-03-01
end_date: 2026-04-01
"""


def problems_of(raw: str | bytes, name: str = "brief.yaml") -> dict[str, str]:
    with pytest.raises(BriefError) as info:
        parse_brief_bytes(raw.encode() if isinstance(raw, str) else raw, name)
    return dict(info.value.problems)


def test_examples_load_english_and_korean():
    en = load_brief(EXAMPLES / "glow-serum-en.yaml")
    ko = load_brief(EXAMPLES / "hanbit-tea-ko.yaml")
    assert en.languages == ["en"] and "shorts" in en.channels
    assert ko.languages == ["ko", "en"] and ko.product == "한빛 유기농 보리차"
    assert ko.brand.required_for("ko") == ["한빛 보리차"] and ko.brand.logo_path.endswith("hanbit-logo.png")


def test_json_brief_loads():
    import json

    import yaml

    data = yaml.safe_load(GOOD)
    brief = parse_brief_bytes(json.dumps(data, default=str).encode(), "b.json")
    assert brief.campaign_id == "spring-launch"


def test_broken_yaml_is_refused_with_position():
    problems = problems_of("campaign_id: [unclosed\nproduct: x\n")
    assert "not valid YAML" in problems["(file)"] and "line" in problems["(file)"]


def test_missing_product_is_named():
    problems = problems_of(GOOD.replace("product: Widget\n", ""))
    assert problems == {"product": "is required"}


def test_bad_language_is_named():
    problems = problems_of(GOOD.replace("languages: [en]", "languages: [en, fr]"))
    assert "languages[1]" in problems and "'fr'" in problems["languages[1]"]


@pytest.mark.parametrize("bad_id", ["../x", "a/b", "Spring Launch", "", "-x", "x" * 70])
def test_path_or_junk_in_campaign_id_is_refused(bad_id):
    problems = problems_of(GOOD.replace("campaign_id: spring-launch", f"campaign_id: '{bad_id}'"))
    assert "campaign_id" in problems


def test_five_megabyte_file_is_refused_before_parsing(tmp_path):
    big = tmp_path / "huge.yaml"
    big.write_bytes(GOOD.encode() + b"#" * (5 * 1024 * 1024))
    with pytest.raises(BriefError) as info:
        load_brief(big)
    assert "at most" in str(info.value) and str(MAX_BRIEF_BYTES)[:3] in str(info.value).replace(",", "")


def test_every_problem_is_reported_at_once():
    problems = problems_of(
        GOOD.replace("tone: upbeat", "tone: ''").replace("end_date: 2026-04-01", "end_date: 2026-01-01")
        + "brand:\n  palette: ['red', '#FFFFFF']\nsurprise: 1\n"
    )
    assert {"tone", "brand.palette", "surprise"} <= set(problems)


def test_end_before_start_is_refused():
    problems = problems_of(GOOD.replace("end_date: 2026-04-01", "end_date: 2026-01-01"))
    assert any("end_date" in message for message in problems.values())


def test_not_a_mapping_and_binary_and_control_characters():
    assert "(brief)" in problems_of("- just\n- a list\n")
    assert "(file)" in problems_of(b"\xff\xfe\x00binary")
    assert "product" in problems_of(GOOD.replace("product: Widget", 'product: "Wid\\x07get"'))


def test_error_text_is_readable_not_a_traceback():
    with pytest.raises(BriefError) as info:
        parse_brief_bytes(b"campaign_id: ../x\n", "bad.yaml")
    text = str(info.value)
    assert text.startswith("Invalid brief bad.yaml") and "Traceback" not in text
    assert "campaign_id" in text and "product: is required" in text
