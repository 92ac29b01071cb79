"""Sparklio Studio response times on loopback, with 50 campaigns stored.

- review page (`GET /campaigns/{id}`, a signed-in browser session): p50/p95, one client. Goal: p95 <= 300 ms.
- `GET /api/campaigns/{id}` (bearer token): p50/p95 under 20 concurrent clients for 30 s. Goal: p95 <= 100 ms,
  no errors. `GET /health` under the same load is the floor (the HTTP server alone), for the ratio.

The Studio runs as `sparklio studio` against the embedded Postgres, a local object store and a real Dagster
webserver (runs are queued, not executed). Each campaign has a brief, a queued run and planted copy.

    .venv/bin/python benchmarks/bench_studio.py [--seconds 30] [--clients 20] [--campaigns 50]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_campaign_overhead import machine  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def seed_campaigns(studio, count: int) -> list[str]:
    from sparklio_common.keys import channel_key
    from sparklio_pipelines.campaigns.manifest import output_record, publish_outputs
    from sparklio_pipelines.content.brief.parse import parse_brief_bytes
    from tests.support.briefs import sample_brief

    ids = []
    for index in range(count):
        campaign_id = f"bench-{index:03d}"
        studio.create_campaign(parse_brief_bytes(sample_brief(campaign_id)))
        variants = [{"channel": "x", "variant": label, "text": f"Lumi Glow {label}: brighter-looking skin in 14 days."}
                    for label in "AB"]
        stored = studio.store.put_bytes(channel_key(campaign_id, "en", "x"), json.dumps(variants).encode())
        publish_outputs(studio.store, studio.db, campaign_id, "copy",
                        [output_record(stored, "copy", language="en", channel="x")], input_fingerprint="bench",
                        run_id=None)
        ids.append(campaign_id)
    return ids


def sequential(session, urls: list[str]) -> list[float]:
    times = []
    for url in urls:
        start = time.perf_counter()
        response = session.get(url, timeout=30)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
    return times


def load(url_for, headers: dict, clients: int, seconds: float) -> tuple[list[float], int]:
    import requests

    times: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(n: int) -> None:
        session = requests.Session()
        session.headers.update(headers)
        i = n
        while time.monotonic() < stop_at:
            start = time.perf_counter()
            try:
                ok = session.get(url_for(i), timeout=30).status_code == 200
            except requests.RequestException:
                ok = False
            elapsed = time.perf_counter() - start
            with lock:
                times.append(elapsed)
                errors[0] += 0 if ok else 1
            i += clients

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times, errors[0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--campaigns", type=int, default=50)
    parser.add_argument("--page-loads", type=int, default=150)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="sparklio-bench-studio-"))
    os.environ["SPARKLIO_HOME"] = str(home)
    for name in ("SPARKLIO_S3_ENDPOINT", "DATABASE_URL", "DAGSTER_HOME", "SPARKLIO_WEBHOOK_URL"):
        os.environ.pop(name, None)
    os.environ.setdefault("SPARKLIO_MODELS_DIR", str(REPO / ".sparklio" / "models"))

    import requests

    from resources.embedded_postgres import (
        start_embedded_postgres,
        stop_embedded_postgres,
    )
    from sparklio_pipelines.defs.resources import resolved_resources
    from sparklio_pipelines.studio.auth import create_api_token, create_user
    from sparklio_pipelines.studio.dagster_client import DagsterClient
    from sparklio_pipelines.studio.service import Studio
    from sparklio_pipelines.studio.store import StudioStore
    from tests.support.studio_stack import DagsterStack, StudioServer, studio_env

    dsn = start_embedded_postgres()
    env = studio_env(DATABASE_URL=dsn)
    dagster = DagsterStack(env, daemon=False).start()
    server = None
    try:
        os.environ["DATABASE_URL"] = dsn
        store, db = resolved_resources("object_store", "campaign_db")
        studio = Studio(store=store, db=db, dagster=DagsterClient(dagster.url), studio_db=StudioStore(db))
        seed_start = time.perf_counter()
        ids = seed_campaigns(studio, args.campaigns)
        seed_seconds = time.perf_counter() - seed_start
        create_user(studio.studio_db, "bench", "benchmark password")
        token = create_api_token(studio.studio_db, "bench")
        server = StudioServer(env, dagster.url).start()

        browser = requests.Session()
        page = browser.get(f"{server.url}/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        browser.post(f"{server.url}/login", data={"username": "bench", "password": "benchmark password",
                                                   "csrf_token": csrf, "next": "/"})
        review_urls = [f"{server.url}/campaigns/{ids[i % len(ids)]}" for i in range(args.page_loads)]
        sequential(browser, review_urls[:10])  # warm-up: first connections, template compilation
        review = sequential(browser, review_urls)
        listing = sequential(browser, [f"{server.url}/"] * 20)

        auth = {"Authorization": f"Bearer {token}"}
        api_times, api_errors = load(lambda i: f"{server.url}/api/campaigns/{ids[i % len(ids)]}", auth,
                                     args.clients, args.seconds)
        floor_times, floor_errors = load(lambda i: f"{server.url}/health", {}, args.clients, min(10.0, args.seconds))
    except AssertionError:
        if server and server.process:
            print(server.process.log_tail(6000), file=sys.stderr)
        raise
    finally:
        if server:
            server.stop()
        dagster.stop()
        stop_embedded_postgres()

    ms = 1000
    print(f"\nSparklio Studio on loopback, {args.campaigns} campaigns stored (seeded in {seed_seconds:.1f} s)")
    print(f"machine: {machine()}\n")
    print(f"| {'what':<44} | {'requests':>8} | {'p50 ms':>7} | {'p95 ms':>7} | {'errors':>6} | goal |")
    print(f"|{'-' * 46}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 8}|------|")
    rows = [
        ("review page GET /campaigns/{id}, 1 client", review, 0, 300),
        ("campaign list GET /, 1 client", listing, 0, None),
        (f"GET /api/campaigns/{{id}}, {args.clients} clients, {args.seconds:.0f} s", api_times, api_errors, 100),
        (f"GET /health (floor), {args.clients} clients", floor_times, floor_errors, None),
    ]
    for name, times, errors, goal in rows:
        p95 = percentile(times, 95) * ms
        verdict = "" if goal is None else ("met" if p95 <= goal and errors == 0 else "MISSED")
        print(f"| {name:<44} | {len(times):>8} | {statistics.median(times) * ms:>7.1f} | {p95:>7.1f} | {errors:>6} | {verdict:<4} |")
    print(f"\nAPI p50 / floor p50: {statistics.median(api_times) / statistics.median(floor_times):.1f}x "
          f"({len(api_times) / args.seconds:.0f} req/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
