"""Tier 2: object keys from uploads never escape their prefix."""

import pytest

from sparklio_common.keys import (
    UnsafeKeyError,
    campaign_key,
    join_key,
    sanitize_name,
    validate_key,
)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("/abs/path/brief.yaml", "brief.yaml"),
        ("봄 캠페인 브리프.yaml", "봄_캠페인_브리프.yaml"),
        ("my brief (final).yaml", "my_brief__final_.yaml"),
        (".hidden", "hidden"),
        ("..", "file"),
        ("a\x00b\x1fc.mp4", "abc.mp4"),
        ("", "file"),
    ],
)
def test_sanitize_name(raw, expected):
    assert sanitize_name(raw) == expected


def test_sanitized_names_are_single_safe_segments():
    for raw in ["../x", "a/../../b", "C:\\x\\y", "\u202etxt.exe", "x" * 500 + ".yaml"]:
        name = sanitize_name(raw)
        assert "/" not in name and "\\" not in name and ".." not in name and len(name) <= 120


@pytest.mark.parametrize("bad", ["../x", "a/../b", "/etc/passwd", "a\\b", "a/\x00"])
def test_validate_key_refuses_traversal(bad):
    with pytest.raises(UnsafeKeyError):
        validate_key(bad)


def test_campaign_key_and_join():
    assert campaign_key("spring", "copy", "en.json") == "campaigns/spring/copy/en.json"
    assert join_key("uploads/", "/video/", "a.mp4") == "uploads/video/a.mp4"
    with pytest.raises(UnsafeKeyError):
        campaign_key("..", "x")
