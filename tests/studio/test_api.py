"""The Studio's REST API and sign-in, against the real Postgres, SeaweedFS and a Dagster webserver."""

from __future__ import annotations

import io
import json
import re
import uuid

from sparklio_common.keys import brief_input_key, manifest_key
from tests.support.briefs import sample_brief

BRIEF_YAML = {"Content-Type": "application/yaml"}


def new_id(prefix: str = "studio") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def png_bytes(size=(64, 48)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, "#F4B942").save(buffer, "PNG")
    return buffer.getvalue()


def test_create_campaign_queues_a_dagster_run(api, studio, s3_store):
    campaign_id = new_id()
    response = api.post("/api/campaigns", content=sample_brief(campaign_id), headers=BRIEF_YAML)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["campaign_id"] == campaign_id and body["partition_added"] is True
    run = studio.dagster.run(body["run_id"])
    assert run.campaign_id == campaign_id and run.status == "queued"
    assert s3_store.exists(brief_input_key(campaign_id))

    detail = api.get(f"/api/campaigns/{campaign_id}").json()
    assert detail["status"] == "queued" and detail["run"]["run_id"] == body["run_id"]
    assert set(detail["assets"]) == {"brief", "copy", "image", "video", "captions", "campaign_bundle"}
    assert campaign_id in [c["campaign_id"] for c in api.get("/api/campaigns").json()["campaigns"]]

    # the same brief as JSON: the campaign is updated, the partition already exists, a new run is queued
    brief = json.loads(s3_store.get_bytes(brief_input_key(campaign_id)))
    again = api.post("/api/campaigns", json=brief)
    assert again.status_code == 201 and again.json()["partition_added"] is False
    assert again.json()["run_id"] != body["run_id"]

    rerun = api.post(f"/api/campaigns/{campaign_id}/runs", json={"assets": ["video", "captions"]})
    assert rerun.status_code == 201
    assert studio.dagster.run(rerun.json()["run_id"]).assets == ["captions", "video"]
    bad = api.post(f"/api/campaigns/{campaign_id}/runs", json={"assets": ["nope"]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "assets"
    one_channel = api.post(f"/api/campaigns/{campaign_id}/runs", json={"assets": ["copy"], "copy_channels": ["x"]})
    assert one_channel.status_code == 201
    assert studio.dagster.run(one_channel.json()["run_id"]).assets == ["copy"]
    stranger = api.post(f"/api/campaigns/{campaign_id}/runs", json={"copy_channels": ["tiktok"]})
    assert stranger.status_code == 422 and stranger.json()["errors"][0]["field"] == "copy_channels"
    assert "tiktok" in stranger.json()["errors"][0]["message"]


def test_bad_brief_names_every_field_and_stores_nothing(api, campaign_db):
    campaign_id = new_id()
    brief = {"campaign_id": "Not A Slug", "audience": "people", "key_messages": ["one"], "tone": "calm",
             "languages": ["fr"], "channels": ["x"], "call_to_action": "Buy", "start_date": "2026-12-01",
             "end_date": "2026-11-01"}
    response = api.post("/api/campaigns", json=brief)
    assert response.status_code == 422
    fields = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert {"campaign_id", "product", "languages[0]"} <= set(fields)
    assert fields["product"] == "is required"
    assert "Traceback" not in response.text

    yaml_error = api.post("/api/campaigns", content=b"campaign_id: [unclosed", headers=BRIEF_YAML)
    assert yaml_error.status_code == 422 and "not valid YAML" in yaml_error.json()["errors"][0]["message"]

    dates = api.post("/api/campaigns", json={**json.loads(sample_brief_json(campaign_id)), "end_date": "2020-01-01"})
    assert dates.status_code == 422 and "end_date must be on or after start_date" in dates.text
    assert campaign_db.get_campaign(campaign_id) is None


def sample_brief_json(campaign_id: str) -> str:
    import yaml

    return json.dumps(yaml.safe_load(sample_brief(campaign_id)), default=str)


def test_uploads_are_checked_by_content_and_size(api, s3_store):
    campaign_id = new_id()
    good = api.post(f"/api/campaigns/{campaign_id}/uploads/logo", files={"file": ("../../logo.PNG", png_bytes(), "image/png")})
    assert good.status_code == 201, good.text
    assert good.json()["key"] == f"campaigns/{campaign_id}/input/logo.png" and s3_store.exists(good.json()["key"])

    fake = api.post(f"/api/campaigns/{campaign_id}/uploads/product_photo",
                    files={"file": ("photo.png", b"<?php echo 'not an image'; ?>", "image/png")})
    assert fake.status_code == 422
    assert fake.json()["errors"] == [{"field": "product_photo", "message": "photo.png is not a PNG, JPEG or WebP image"}]
    assert not s3_store.exists(f"campaigns/{campaign_id}/input/product-photo.png")

    oversized = png_bytes() + b"\0" * (15 * 1024 * 1024)
    big = api.post(f"/api/campaigns/{campaign_id}/uploads/style_reference",
                   files={"file": ("big.png", oversized, "image/png")})
    assert big.status_code == 413 and "at most 15 MB" in big.json()["errors"][0]["message"]

    unknown = api.post(f"/api/campaigns/{campaign_id}/uploads/passwd", files={"file": ("x.png", png_bytes(), "image/png")})
    assert unknown.status_code == 422

    # the brief names the uploaded key; it is kept, not re-read from disk
    brief = json.loads(sample_brief_json(campaign_id))
    brief["brand"]["logo_path"] = good.json()["key"]
    created = api.post("/api/campaigns", json=brief)
    assert created.status_code == 201
    stored = json.loads(s3_store.get_bytes(brief_input_key(campaign_id)))
    assert stored["brand"]["logo_path"] == good.json()["key"]


def plant_copy(studio, campaign_id: str) -> None:
    """Stored copy as the `copy` asset leaves it (X, two variants), without running the model."""
    from sparklio_common.keys import channel_key
    from sparklio_pipelines.campaigns.manifest import output_record, publish_outputs
    from sparklio_pipelines.content.brief.parse import parse_brief_bytes

    brief = parse_brief_bytes(sample_brief(campaign_id))
    studio.create_campaign(brief)
    variants = [{"channel": "x", "variant": "A", "text": "Lumi Glow: brighter-looking skin in 14 days."},
                {"channel": "x", "variant": "B", "text": "Meet Lumi Glow, vitamin C made gentle."}]
    stored = studio.store.put_bytes(channel_key(campaign_id, "en", "x"), json.dumps(variants).encode(), "application/json")
    publish_outputs(studio.store, studio.db, campaign_id, "copy", [output_record(stored, "copy", language="en", channel="x")],
                    input_fingerprint="planted", run_id=None)


def test_edit_approve_reject_and_revisions(api, studio, s3_store):
    campaign_id = new_id()
    plant_copy(studio, campaign_id)
    base = f"/api/campaigns/{campaign_id}/copy/en/x"
    detail = api.get(f"/api/campaigns/{campaign_id}").json()
    variant_a = detail["copy"]["en"]["x"][0]
    assert variant_a["counts"]["text"]["max"] == 280 and variant_a["counts"]["text"]["chars"] == 44

    too_long = api.post(f"{base}/A/revisions", json={"fields": {"text": "Lumi Glow " + "glow " * 60}})
    assert too_long.status_code == 422
    assert re.search(r"\d+ chars, limit 280", too_long.json()["errors"][0]["message"])
    banned = api.post(f"{base}/A/revisions", json={"fields": {"text": "Lumi Glow is a miracle in a bottle."}})
    assert banned.status_code == 422 and "banned words ['miracle']" in banned.text
    missing = api.post(f"{base}/A/revisions", json={"fields": {"text": "Vitamin C for every morning."}})
    assert missing.status_code == 422 and "missing required terms" in missing.text
    claim = api.post(f"{base}/A/revisions", json={"fields": {"text": "Lumi Glow is clinically proven, the best serum."}})
    assert claim.status_code == 422 and "unsupported health claim 'clinically'" in claim.text and "'best'" in claim.text
    assert studio.studio_db.revisions(campaign_id) == []  # nothing refused was stored

    edited = "Lumi Glow: gentle vitamin C for every morning."
    saved = api.post(f"{base}/A/revisions", json={"fields": {"text": edited}})
    assert saved.status_code == 201 and saved.json()["revision"] == 1
    manifest = json.loads(s3_store.get_bytes(manifest_key(campaign_id)))
    revision_entry = next(o for o in manifest["outputs"] if o["asset"] == "copy_revisions")
    assert revision_entry["key"] == f"campaigns/{campaign_id}/copy/en/revisions/x-A-r1.json"
    assert api.get(f"/api/campaigns/{campaign_id}").json()["copy"]["en"]["x"][0]["fields"]["text"] == edited

    approved = api.post(f"{base}/A/approve")
    assert approved.status_code == 200 and approved.json()["text"] == edited
    hits = api.get("/api/search", params={"q": "vitamin C two-minute morning", "brand": "Lumi"}).json()["hits"]
    assert any(h["content"] == edited and h["kind"] == "approved_copy" for h in hits)

    rejected = api.post(f"{base}/B/reject", json={"reason": "Too generic"})
    assert rejected.status_code == 200
    assert api.get(f"/api/campaigns/{campaign_id}").json()["rejections"][0]["reason"] == "Too generic"

    not_generated = api.post(f"/api/campaigns/{campaign_id}/copy/en/linkedin/A/approve")
    assert not_generated.status_code == 404 and "not found" in not_generated.json()["errors"][0]["message"]
    assert api.post(f"/api/campaigns/nope-{uuid.uuid4().hex[:6]}/copy/en/x/A/approve").status_code == 404


def test_media_is_served_with_ranges(api, studio):
    campaign_id = new_id()
    plant_copy(studio, campaign_id)
    url = f"/media/{campaign_id}/copy/en/x.json"
    whole = api.get(url)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    part = api.get(url, headers={"Range": "bytes=2-11"})
    assert part.status_code == 206 and part.content == whole.content[2:12]
    assert part.headers["content-range"] == f"bytes 2-11/{len(whole.content)}"
    assert api.get(url, headers={"Range": f"bytes={len(whole.content) + 5}-"}).status_code == 416
    assert api.get(f"/media/{campaign_id}/../other/secret").status_code == 404
    outputs = api.get(f"/api/campaigns/{campaign_id}").json()["outputs"]
    assert all(o["url"].startswith("/media/") for o in outputs)


def test_without_credentials_everything_answers_401(client, studio):
    for path in ("/api/campaigns", "/api/campaigns/x", "/api/search?q=tea", "/media/x/bundle.zip", "/openapi.json"):
        assert client.get(path).status_code == 401, path
    assert client.post("/api/campaigns", json={}).status_code == 401
    bad_token = client.get("/api/campaigns", headers={"Authorization": "Bearer spk_wrong"})
    assert bad_token.status_code == 401 and "invalid API token" in bad_token.text
    for page in ("/", "/campaigns/new", "/campaigns/x", "/search", "/docs"):
        response = client.get(page, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), page
    assert client.get("/health").status_code == 200
    assert client.get("/login").status_code == 200


def login(client, studio, name: str, password: str):
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"username": name, "password": password, "csrf_token": csrf, "next": "/"},
                       follow_redirects=False)


def test_sessions_csrf_and_login_throttle(client, studio):
    from sparklio_pipelines.studio.auth import create_user

    name = new_id("user")
    create_user(studio.studio_db, name, "correct horse battery")
    assert "argon2" in studio.studio_db.password_hash(name)
    for _ in range(3):
        assert login(client, studio, name, "wrong password").status_code == 401
    slowed = login(client, studio, name, "correct horse battery")
    assert slowed.status_code == 429 and "Too many failed sign-ins" in slowed.text
    client.app.state.throttle.succeeded(name, "testclient")

    signed_in = login(client, studio, name, "correct horse battery")
    assert signed_in.status_code == 303
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.get("/api/campaigns").status_code == 200
    # a browser session must echo its CSRF token on unsafe requests
    assert client.post("/api/campaigns", json={}).status_code == 403


def test_form_shows_errors_next_to_fields(client, studio):
    from sparklio_pipelines.studio.auth import create_user

    name = new_id("user")
    create_user(studio.studio_db, name, "correct horse battery")
    login(client, studio, name, "correct horse battery")
    form = client.get("/campaigns/new")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    assert 'option value="hanbit"' in form.text
    response = client.post("/campaigns/new", data={
        "csrf_token": csrf, "campaign_id": "Bad Id", "product": "Tea", "audience": "x", "key_messages": "One",
        "tone": "warm", "languages": ["en"], "channels": ["x"], "call_to_action": "Buy", "start_date": "2026-12-01",
        "end_date": "2026-12-31", "brand_kit": "lumi"},
        files={"logo": ("logo.png", b"GIF89a not really", "image/png")})
    assert response.status_code == 422
    assert re.search(r'data-error-for="campaign_id">campaign_id: must be a lowercase slug', response.text)
    assert re.search(r'data-error-for="logo">brand.logo_path: logo.png is not a PNG, JPEG or WebP image', response.text)
    assert "Traceback" not in response.text


def test_webhook_is_signed_and_sent_once(studio):
    """A campaign run that ends (here: a queued run canceled through Dagster) is POSTed once, HMAC-signed."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from sparklio_pipelines.content.brief.parse import parse_brief_bytes
    from sparklio_pipelines.studio.webhooks import (
        SIGNATURE_HEADER,
        WebhookNotifier,
        verify_signature,
    )

    received = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, self.headers[SIGNATURE_HEADER]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        notifier = WebhookNotifier(studio, f"http://127.0.0.1:{server.server_port}/hook", "s3cret", "http://studio.test")
        notifier.since -= 5
        campaign_id = new_id("hook")
        run_id, _ = studio.create_campaign(parse_brief_bytes(sample_brief(campaign_id)))
        result = studio.dagster.execute(
            'mutation($id: String!) { terminateRun(runId: $id) { __typename } }', {"id": run_id})
        assert result["terminateRun"]["__typename"] == "TerminateRunSuccess"
        assert studio.dagster.run(run_id).status == "failed"  # canceled counts as failed for marketers

        assert notifier.tick() >= 1
        mine = [(body, sig) for body, sig in received if json.loads(body)["run_id"] == run_id]
        assert len(mine) == 1
        body, signature = mine[0]
        payload = json.loads(body)
        assert payload == {**payload, "event": "campaign.run.failed", "campaign_id": campaign_id,
                           "review_url": f"http://studio.test/campaigns/{campaign_id}"}
        assert verify_signature("s3cret", body, signature)
        assert not verify_signature("s3cret", body.replace(b"failed", b"succeeded"), signature)
        assert not verify_signature("other", body, signature)
        notifier.tick()
        assert len([1 for body, _ in received if json.loads(body)["run_id"] == run_id]) == 1  # at most once
    finally:
        server.shutdown()


def test_pages_render_for_a_signed_in_user(client, studio):
    from sparklio_pipelines.studio.auth import create_user

    name = new_id("user")
    create_user(studio.studio_db, name, "correct horse battery")
    login(client, studio, name, "correct horse battery")
    campaign_id = new_id()
    plant_copy(studio, campaign_id)
    review = client.get(f"/campaigns/{campaign_id}")
    assert review.status_code == 200, review.text[-2000:]
    assert "Lumi Glow: brighter-looking skin in 14 days." in review.text and "text 44/280" in review.text
    assert 'data-status="queued"' in review.text
    listing = client.get("/")
    assert listing.status_code == 200 and f'data-campaign="{campaign_id}"' in listing.text
    assert client.get("/search", params={"q": "vitamin C"}).status_code == 200
    assert client.get("/campaigns/no-such-campaign").status_code == 404
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/docs-static/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
    assert client.get("/docs-static/swagger-ui-bundle.js").status_code == 200
