"""Optional webhooks: with SPARKLIO_WEBHOOK_URL set, each finished or failed campaign run is POSTed there
once, as JSON signed with HMAC-SHA256 of the raw body under SPARKLIO_WEBHOOK_SECRET:

    X-Sparklio-Signature: sha256=<hex digest>

Receivers recompute the digest over the body they got and compare in constant time (`verify_signature`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
import time

import requests

from sparklio_common.settings import seconds_from_env

SIGNATURE_HEADER = "X-Sparklio-Signature"
log = logging.getLogger("sparklio.studio.webhooks")


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    return bool(header) and hmac.compare_digest(sign(secret, body), header)


def run_payload(run, public_url: str) -> dict:
    return {"event": f"campaign.run.{run.status}", "campaign_id": run.campaign_id, "run_id": run.run_id,
            "status": run.status, "assets": run.assets, "ended_at": run.ended,
            "review_url": f"{public_url}/campaigns/{run.campaign_id}" if public_url else None}


def deliver(url: str, secret: str, payload: dict, timeout: float = 10) -> int | None:
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    try:
        response = requests.post(url, data=body, timeout=timeout, headers={
            "Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body)})
    except requests.RequestException as exc:
        log.warning("webhook to %s failed: %s", url, type(exc).__name__)
        return None
    return response.status_code


class WebhookNotifier:
    """Polls Dagster for campaign runs that ended since the Studio started and announces each once."""

    def __init__(self, studio, url: str, secret: str, public_url: str = "", interval: float = 10.0):
        self.studio, self.url, self.secret, self.public_url, self.interval = studio, url, secret, public_url, interval
        self.since = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sparklio-webhooks", daemon=True)

    @classmethod
    def from_env(cls, studio) -> "WebhookNotifier":
        secret = os.environ.get("SPARKLIO_WEBHOOK_SECRET", "")
        if not secret:
            raise ValueError("SPARKLIO_WEBHOOK_URL is set but SPARKLIO_WEBHOOK_SECRET is empty: webhooks must be signed")
        return cls(studio, os.environ["SPARKLIO_WEBHOOK_URL"], secret,
                   (os.environ.get("SPARKLIO_STUDIO_URL") or "").rstrip("/"),
                   seconds_from_env("SPARKLIO_WEBHOOK_POLL_SECONDS", 10.0, 0.5, 3600.0))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def tick(self) -> int:
        """Send what is due; returns how many were sent."""
        sent = 0
        for run in self.studio.dagster.runs(limit=100):
            if not run.finished or (run.ended or 0) < self.since or not run.campaign_id:
                continue
            if self.studio.studio_db.claim_delivery(run.run_id, run.campaign_id, run.status):
                status = deliver(self.url, self.secret, run_payload(run, self.public_url))
                self.studio.studio_db.record_delivery(run.run_id, status)
                sent += 1
        return sent

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception as exc:  # a Dagster or Postgres outage: try again next tick
                log.warning("webhook tick failed: %s", exc)
