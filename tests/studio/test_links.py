"""Links in the Dagster UI's asset metadata point at the Studio when it has an address."""

from __future__ import annotations


def test_metadata_links_open_in_a_browser(monkeypatch, local_store):
    from sparklio_pipelines.defs.links import browser_url, review_links

    monkeypatch.delenv("SPARKLIO_STUDIO_URL", raising=False)
    assert browser_url(local_store, "campaigns/tea/video/en/video.mp4").startswith("file://")
    assert review_links("tea") == {}

    monkeypatch.setenv("SPARKLIO_STUDIO_URL", "http://100.64.0.2:8000/")
    assert browser_url(local_store, "campaigns/tea/video/en/video.mp4") == "http://100.64.0.2:8000/media/tea/video/en/video.mp4"
    assert browser_url(local_store, "campaigns/tea/copy/ko/한빛 x.json").endswith("/media/tea/copy/ko/%ED%95%9C%EB%B9%9B%20x.json")
    assert review_links("tea")["studio_review"].value == "http://100.64.0.2:8000/campaigns/tea"
