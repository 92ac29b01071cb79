"""The English sample brief under another campaign id, as the tests and benchmarks that run many campaigns use it."""

from __future__ import annotations

from sparklio_common.settings import REPO_ROOT

EXAMPLE = REPO_ROOT / "examples" / "briefs" / "glow-serum-en.yaml"
EXAMPLE_ID = "campaign_id: glow-serum-launch"
EXAMPLE_CHANNELS = "channels: [instagram, x, linkedin, email, shorts]"


def sample_brief(campaign_id: str, *, short: bool = True) -> bytes:
    """The English sample brief as `campaign_id`; `short`: two channels (X, plus the Shorts every campaign gets)."""
    raw = EXAMPLE.read_text()
    assert EXAMPLE_ID in raw and EXAMPLE_CHANNELS in raw, "the sample brief changed"
    raw = raw.replace(EXAMPLE_ID, f"campaign_id: {campaign_id}")
    return (raw.replace(EXAMPLE_CHANNELS, "channels: [x, shorts]") if short else raw).encode()
