"""What an edit in the Studio is held to, and how each field's length reads against its channel limit."""

from __future__ import annotations

from sparklio_pipelines.content.channels import channel_limits


def slug_ok(value: str) -> bool:
    from sparklio_pipelines.content.brief.schema import SLUG_RE

    return bool(SLUG_RE.match(value or ""))


def copy_problems(deck, brief=None) -> list[str]:
    """What generated copy is held to: limits, banned words, required terms, and (with the brief) claims."""
    from sparklio_pipelines.content.copy.claims import claims_problems
    from sparklio_pipelines.content.copy.limits import limit_problems

    return limit_problems(deck) + (claims_problems(deck, brief) if brief is not None else [])


def field_counts(channel: str, language: str, texts: dict[str, str]) -> dict[str, dict]:
    """Each text field's length against its channel limit, measured as the copy step measures it."""
    from sparklio_pipelines.content.channels import word_count
    from sparklio_pipelines.content.copy.limits import x_weighted_length

    limits = channel_limits(channel, language)
    counts = {}
    for name, text in texts.items():
        if name.startswith("headline["):
            limit_max, limit_min, words = limits.headline_max_chars or 40, 1, None
        else:
            limit = limits.fields["caption" if name == "post" else name]
            limit_max, limit_min = limit.max_chars, limit.min_chars
            words = (limit.min_words, limit.max_words) if limit.min_words or limit.max_words else None
        length = x_weighted_length(text) if channel == "x" else len(text)
        entry = {"chars": length, "max": limit_max, "min": limit_min, "over": not limit_min <= length <= limit_max}
        if words:
            entry.update(words=word_count(text), min_words=words[0], max_words=words[1])
            entry["over"] = entry["over"] or not (words[0] or 0) <= entry["words"] <= (words[1] or 10**6)
        counts[name] = entry
    return counts
