"""Bad input never crashes: every brief, brand kit, upload name and object key ends valid or as a clear, named error.

The classes live in bad_inputs.py; `python -m tests.fuzz.report` prints the per-class table.
"""

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sparklio_common.keys import sanitize_name
from sparklio_pipelines.content.brief.parse import parse_brief_bytes, parse_brief_data
from sparklio_pipelines.content.brief.schema import BriefError
from tests.fuzz.bad_inputs import CLASSES, VALID_BRIEF, hangul_briefs

EXAMPLES_PER_CLASS = 120  # about 60 s for the whole file on the 2-core box
FUZZ = settings(
    max_examples=EXAMPLES_PER_CLASS, deadline=None, database=None, derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


@pytest.mark.parametrize("bad_input", CLASSES, ids=[c.name for c in CLASSES])
def test_bad_input_gives_a_valid_object_or_a_clear_error(bad_input):
    @FUZZ
    @given(bad_input.strategy)
    def check(value):
        outcome = bad_input.check(value)
        assert outcome.kind != "crash", f"{bad_input.name}: {outcome.detail}"

    check()


# Inputs that crashed or hung before the fixes in brief.py / brand_kits.py / keys.py, kept as regressions.
REGRESSIONS = [
    (b"campaign_id: x\nstart_date: 2026-13-45\n", "b.yaml"),  # ValueError from PyYAML's date constructor
    (b"x: !!timestamp 'nope'\n", "b.yaml"),  # AttributeError
    (b"x: !!int nope\n", "b.yaml"),  # ValueError
    (b"x: " + b"1" * 5000 + b"\n", "b.yaml"),  # ValueError: int above the 4300-digit limit
    (b'{"x": ' + b"1" * 5000 + b"}", "b.json"),  # same, from json
    (b"[" * 100_000 + b"]" * 100_000, "b.json"),  # RecursionError from json
]


@pytest.mark.parametrize("raw,name", REGRESSIONS, ids=[f"{n}:{r[:24]!r}" for r, n in REGRESSIONS])
def test_former_crashes_are_named_file_errors(raw, name):
    with pytest.raises(BriefError) as info:
        parse_brief_bytes(raw, name)
    assert info.value.problems[0][0] == "(file)"


def test_yaml_alias_bomb_is_refused_quickly():
    import time

    lines = ["a0: &a0 [fr, fr]"] + [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 40)]
    raw = ("campaign_id: x\n" + "\n".join(lines) + "\nlanguages: *a39\n").encode()  # 2**40 items when walked
    started = time.process_time()
    with pytest.raises(BriefError) as info:
        parse_brief_bytes(raw)
    assert time.process_time() - started < 2  # before the fix: 2x per level, hours at 40
    assert any(field.startswith("languages[") for field, _ in info.value.problems)


def test_c1_control_characters_are_refused():
    with pytest.raises(BriefError) as info:
        parse_brief_data({**VALID_BRIEF, "product": "Lumi\x9b31m", "tone": "a\x85b"})
    assert dict(info.value.problems) == {"product": "contains control characters", "tone": "contains control characters"}


def test_unknown_keys_are_echoed_printable_and_short():
    with pytest.raises(BriefError) as info:
        parse_brief_data({**VALID_BRIEF, "\x1b[31mred": 1, "k" * 5000: 2})
    fields = [f for f, _ in info.value.problems]
    assert "\\x1b[31mred" in fields and all(len(f) <= 80 for f in fields)
    assert "\x1b" not in str(info.value)


@example(name="x" * 115 + "." + "y" * 50 + ".png")
@given(st.text(alphabet="x.", min_size=100, max_size=400).map(lambda s: s + ".png"))
@settings(max_examples=60, deadline=None, database=None)
def test_long_names_never_gain_a_double_dot(name):
    assert ".." not in sanitize_name(name)


@given(hangul_briefs())
@settings(max_examples=60, deadline=None, database=None)
def test_hangul_briefs_within_limits_are_accepted_unchanged(data):
    brief = parse_brief_data(data)
    for field in ("product", "audience", "tone", "call_to_action"):
        assert getattr(brief, field) == data[field].strip()
    assert brief.key_messages == [m.strip() for m in data["key_messages"]]
