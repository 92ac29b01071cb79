"""A brief's logo path cannot make the server read arbitrary files from its disk."""

from pathlib import Path

import pytest

from resources.object_store import LocalObjectStoreResource
from sparklio_pipelines.campaigns.briefs import store_brief
from sparklio_pipelines.content.brief.parse import parse_brief_data
from sparklio_pipelines.content.brief.schema import BriefError

PNG = Path(__file__).resolve().parents[2] / "brands" / "hanbit-logo.png"


def brief_with_logo(logo: str):
    return parse_brief_data({
        "campaign_id": "logo-test", "product": "Tea", "audience": "All", "key_messages": ["Warm"],
        "tone": "calm", "languages": ["en"], "channels": ["x"], "call_to_action": "Buy",
        "start_date": "2026-11-01", "end_date": "2026-12-01",
        "brand": {"name": "t", "palette": ["#112233", "#F4B942"], "logo_path": logo},
    })


@pytest.fixture()
def store(tmp_path):
    return LocalObjectStoreResource(root=str(tmp_path / "objects"))


def test_uploaded_brief_cannot_read_server_files(store, tmp_path):
    secret = tmp_path / "elsewhere" / "secret.png"
    secret.parent.mkdir()
    secret.write_bytes(PNG.read_bytes())
    for logo in (str(secret), "../../../../etc/hostname.png", "campaigns/other-campaign/input/logo.png"):
        with pytest.raises(BriefError) as caught:
            store_brief(brief_with_logo(logo), store)  # no base_dir: a sensor or Launchpad brief
        assert "brand.logo_path" in str(caught.value)
    assert not store.exists("campaigns/logo-test/input/logo.png")


def test_brand_kit_logo_and_cli_logo_beside_the_brief_are_uploaded(store, tmp_path):
    stored, _ = store_brief(brief_with_logo(str(PNG)), store)  # a kit logo lives in brands/
    assert stored.brand.logo_path == "campaigns/logo-test/input/logo.png"
    beside = tmp_path / "brief-folder"
    beside.mkdir()
    (beside / "logo.png").write_bytes(PNG.read_bytes())
    stored, _ = store_brief(brief_with_logo("logo.png"), store, base_dir=beside)
    assert store.get_bytes(stored.brand.logo_path) == PNG.read_bytes()
