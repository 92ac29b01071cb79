"""The whole marketer flow in headless Chromium: sign in, fill in the form (a brand kit and a logo
upload), watch the campaign run for real on the embedded default through a Dagster webserver + daemon,
play the captioned video, approve a variant and find it by search, and see an over-limit edit refused.

SPARKLIO_STUDIO_SHOTS=DIR saves a screenshot of each page on the way.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from sparklio_common.settings import REPO_ROOT

RUN_TIMEOUT_S = 3600  # a whole campaign on 2 idle CPU cores takes a few minutes; a shared machine far longer
PASSWORD = "marketing rocks 2026"

pytestmark = pytest.mark.skipif(not shutil.which("chromium") or not shutil.which("chromedriver"),
                                reason="needs Debian's chromium and chromium-driver (scripts/setup.sh installs them)")


@pytest.fixture(scope="module")
def stack(postgres_dsn):
    from tests.support.studio_stack import (
        DagsterStack,
        StudioServer,
        add_user,
        studio_env,
    )

    env = studio_env(DATABASE_URL=postgres_dsn)
    for name in ("SPARKLIO_S3_ENDPOINT", "SPARKLIO_WEBHOOK_URL"):
        env.pop(name, None)
    dagster = DagsterStack(env, daemon=True).start()
    studio = StudioServer(env, dagster.url)
    try:
        studio.start()
        add_user("mina", PASSWORD, env)
        yield studio, dagster
    finally:
        studio.stop()
        dagster.stop()


@pytest.fixture()
def browser():
    from tests.support.studio_stack import headless_chromium

    profile = Path(tempfile.mkdtemp(prefix="sparklio-chromium-"))
    driver = headless_chromium(profile)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def shot(driver, name: str, full_page: bool = True) -> None:
    folder = os.environ.get("SPARKLIO_STUDIO_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        if full_page:
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(1400, min(max(height, 1000), 6000))
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))
        driver.set_window_size(1400, 1000)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def test_marketer_flow(stack, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    studio, dagster = stack
    driver = browser
    find = driver.find_element

    # 1. sign in (pages redirect there)
    driver.get(studio.url + "/")
    assert "/login" in driver.current_url
    find(By.ID, "username").send_keys("mina")
    find(By.ID, "password").send_keys(PASSWORD)
    find(By.ID, "sign-in").click()
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".pagehead h1"), 30, "the campaigns page")
    assert find(By.CSS_SELECTOR, ".pagehead h1").text == "Campaigns"

    # 2. the form: a bad campaign id first (the error shows next to the field), then a good one
    campaign_id = f"browser-{uuid.uuid4().hex[:6]}"
    driver.get(studio.url + "/campaigns/new")
    fields = {"campaign_id": "Autumn Launch!", "product": "Lumi Glow Vitamin C Serum",
              "audience": "Busy professionals who want a simple morning routine",
              "key_messages": "Brighter-looking skin in 14 days\nFragrance-free and gentle", "tone": "warm, confident",
              "call_to_action": "Shop the launch offer"}
    for name, value in fields.items():
        find(By.ID, name).send_keys(value)
    driver.execute_script("document.getElementById('start_date').value = '2026-11-01';"
                          "document.getElementById('end_date').value = '2027-01-31';")
    for box in driver.find_elements(By.CSS_SELECTOR, "input[name=channels]:checked"):
        box.click()
    find(By.ID, "channel-x").click()
    Select(find(By.ID, "brand_kit")).select_by_value("lumi")
    find(By.ID, "logo").send_keys(str(REPO_ROOT / "brands" / "hanbit-logo.png"))
    find(By.ID, "create-campaign").click()
    error = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, '[data-error-for="campaign_id"]'), 30, "a field error")
    assert "must be a lowercase slug" in error[0].text
    shot(driver, "form-field-error")
    id_input = find(By.ID, "campaign_id")
    id_input.clear()
    id_input.send_keys(campaign_id)
    assert find(By.ID, "product").get_attribute("value") == fields["product"]  # the form kept what was typed
    find(By.ID, "logo").send_keys(str(REPO_ROOT / "brands" / "hanbit-logo.png"))  # files are never re-filled
    find(By.ID, "create-campaign").click()
    wait_for(lambda: f"/campaigns/{campaign_id}" in driver.current_url, 60, "the review page")

    # 3. the run: the page updates by itself until the campaign is done
    seen = set()

    def finished():
        status = driver.find_elements(By.ID, "status")
        text = status[0].text if status else ""
        if text == "running" and text not in seen:
            shot(driver, "review-running", full_page=False)
        seen.add(text)
        return text in ("succeeded", "failed") and text

    final = wait_for(finished, RUN_TIMEOUT_S, "the campaign run", interval=2)
    assert final == "succeeded", f"campaign {final}; seen {seen}\n{dagster.logs()}"
    assert "running" in seen  # the page showed the run live, without a reload
    driver.get(studio.url + "/")
    shot(driver, "campaigns-list")
    row = find(By.CSS_SELECTOR, f'tr[data-campaign="{campaign_id}"]')
    assert "succeeded" in row.text

    # 4-6. the captioned video plays; approve and search; an over-limit edit is refused
    stored = Path(os.environ["SPARKLIO_HOME"]) / "objects" / "campaigns" / campaign_id / "captions" / "en" / "video-captioned.mp4"
    review_approve_and_refuse(driver, studio, campaign_id, stored, "campaign")


def plant_reviewable_campaign(campaign_id: str, db) -> Path:
    """A stored brief plus outputs as the assets leave them (a creative, an H.264/AAC video, captions, copy),
    made with ffmpeg and Pillow instead of the models, and no run: the review page on its own."""
    import json
    import subprocess

    from PIL import Image

    from resources.object_store import LocalObjectStoreResource
    from sparklio_pipelines.campaigns.briefs import store_brief
    from sparklio_pipelines.campaigns.manifest import output_record, publish_outputs
    from sparklio_pipelines.content.brief.parse import parse_brief_bytes
    from sparklio_pipelines.content.media import ffmpeg_bin
    from tests.support.briefs import sample_brief

    store = LocalObjectStoreResource()
    brief, stored = store_brief(parse_brief_bytes(sample_brief(campaign_id)), store)
    db.upsert_campaign(brief, stored.sha256)
    work = Path(tempfile.mkdtemp(prefix="sparklio-plant-"))
    video = work / "video.mp4"
    subprocess.run([ffmpeg_bin(), "-v", "error", "-f", "lavfi", "-i", "testsrc=size=540x960:rate=25", "-f", "lavfi",
                    "-i", "sine=frequency=440", "-t", "6", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-movflags", "+faststart", str(video)], check=True, timeout=120)
    Image.new("RGB", (1080, 1080), "#1F2A44").save(work / "square.png")
    srt = "1\n00:00:00,000 --> 00:00:03,000\nMeet Lumi Glow.\n\n2\n00:00:03,000 --> 00:00:06,000\nBrighter skin in 14 days.\n"
    variants = [{"channel": "x", "variant": "A", "text": "Lumi Glow: brighter-looking skin in 14 days."},
                {"channel": "x", "variant": "B", "text": "Meet Lumi Glow, vitamin C made gentle."}]
    base = f"campaigns/{campaign_id}"
    plan = {
        "image": [(f"{base}/image/en/square-1080x1080.png", (work / "square.png").read_bytes())],
        "video": [(f"{base}/video/en/video.mp4", video.read_bytes())],
        "captions": [(f"{base}/captions/en/video-captioned.mp4", video.read_bytes()),
                     (f"{base}/captions/en/captions.srt", srt.encode())],
        "copy": [(f"{base}/copy/en/x.json", json.dumps(variants).encode())],
    }
    for asset, objects in plan.items():
        records = []
        for key, data in objects:
            channel = "x" if key.endswith("x.json") else None
            records.append(output_record(store.put_bytes(key, data), asset, language="en", channel=channel))
        publish_outputs(store, db, campaign_id, asset, records, input_fingerprint="planted", run_id=None)
    return store.root_path / base / "captions" / "en" / "video-captioned.mp4"


def test_review_page_plays_video_approves_and_refuses_an_over_limit_edit(stack, browser, campaign_db):
    """Steps 4-6 of the flow on planted outputs, so they are checked even when a full run is slow."""
    from selenium.webdriver.common.by import By

    studio, _ = stack
    driver, find = browser, browser.find_element
    campaign_id = f"review-{uuid.uuid4().hex[:6]}"
    stored_video = plant_reviewable_campaign(campaign_id, campaign_db)
    driver.get(studio.url + "/login")
    find(By.ID, "username").send_keys("mina")
    find(By.ID, "password").send_keys(PASSWORD)
    find(By.ID, "sign-in").click()
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".pagehead h1"), 30, "the campaigns page")
    review_approve_and_refuse(driver, studio, campaign_id, stored_video, "planted")


def review_approve_and_refuse(driver, studio, campaign_id: str, stored_video: Path, shots: str) -> None:
    """Steps 4-6: the captioned video plays with ffprobe's duration and seeks (Range requests); a variant is
    approved and found through search; an edit past the X limit is refused and changes nothing.
    Screenshots are named `<shots>-review-page` etc."""
    from selenium.webdriver.common.by import By

    from sparklio_pipelines.content.media import probe, summarize

    find = driver.find_element
    driver.get(f"{studio.url}/campaigns/{campaign_id}")
    assert driver.find_elements(By.CSS_SELECTOR, "#creatives img")
    video = find(By.ID, "captioned-en")
    driver.execute_script("arguments[0].muted = true; arguments[0].play();", video)
    wait_for(lambda: driver.execute_script("return arguments[0].readyState", video) >= 3, 60, "video readyState >= 3")
    wait_for(lambda: driver.execute_script("return arguments[0].currentTime", video) > 0.5, 60, "the video playing")
    duration = driver.execute_script("return arguments[0].duration", video)
    assert abs(duration - summarize(probe(stored_video))["duration_s"]) < 0.1
    driver.execute_script("arguments[0].currentTime = arguments[0].duration / 2;", video)  # a seek: a Range request
    wait_for(lambda: driver.execute_script("return arguments[0].readyState", video) >= 2, 30, "the seek")
    driver.execute_script("arguments[0].pause(); arguments[0].scrollIntoView();", video)
    shot(driver, f"{shots}-review-page")

    card = find(By.CSS_SELECTOR, '.variant[data-channel="x"][data-variant="A"]')
    text = card.find_element(By.CSS_SELECTOR, ".copy-field .text").text
    card.find_element(By.CSS_SELECTOR, "button.approve").click()
    wait_for(lambda: "Approved" in card.find_element(By.CSS_SELECTOR, ".variant-msg").text, 180, "the approval")
    driver.get(studio.url + "/search")
    find(By.ID, "q").send_keys(text)
    find(By.ID, "search-button").click()
    hits = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#hits .hit.approved_copy"), 60, "search hits")
    assert any(text in hit.text for hit in hits)
    shot(driver, f"{shots}-search")

    driver.get(f"{studio.url}/campaigns/{campaign_id}")
    card = find(By.CSS_SELECTOR, '.variant[data-channel="x"][data-variant="B"]')
    before = card.find_element(By.CSS_SELECTOR, ".copy-field .text").text
    card.find_element(By.CSS_SELECTOR, "button.edit").click()
    area = card.find_element(By.CSS_SELECTOR, "textarea[name=text]")
    area.clear()
    area.send_keys("Lumi Glow " + "brightens every single morning " * 12)
    card.find_element(By.CSS_SELECTOR, "button.save-revision").click()
    message = wait_for(lambda: card.find_element(By.CSS_SELECTOR, ".variant-msg").text, 30, "the refusal")
    assert "Not saved" in message and "limit 280" in message
    driver.execute_script("arguments[0].scrollIntoView();", card)
    shot(driver, f"{shots}-edit-refused", full_page=False)
    driver.get(f"{studio.url}/campaigns/{campaign_id}")
    assert find(By.CSS_SELECTOR, '.variant[data-channel="x"][data-variant="B"] .copy-field .text').text == before
