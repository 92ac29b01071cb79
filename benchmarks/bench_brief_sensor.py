"""Tick cost of brief_upload_sensor against SeaweedFS S3 with 1,000 and 100,000 objects already
under briefs/ (plus 10 new briefs per tick), and the ratio between the two.

The alternative, for comparison: listing the whole prefix each tick (what dagster-aws's
`get_objects` does). Run: .venv/bin/python benchmarks/bench_brief_sensor.py [--sizes 1000 100000]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("SPARKLIO_HOME", tempfile.mkdtemp(prefix="sparklio-bench-"))

import dagster as dg  # noqa: E402

from resources.database import CampaignDatabaseResource  # noqa: E402
from resources.embedded_postgres import start_embedded_postgres, stop_embedded_postgres  # noqa: E402
from resources.object_store import S3ObjectStoreResource  # noqa: E402
from sensors.brief_upload import brief_upload_sensor  # noqa: E402
from tests.support.seaweedfs import SeaweedS3  # noqa: E402

BRIEF = (REPO / "examples" / "briefs" / "glow-serum-en.yaml").read_text()
NEW_PER_TICK = 10


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return f"{os.cpu_count()} cores, {model}, {platform.system()} {platform.release()}"


def fill(server: SeaweedS3, store: S3ObjectStoreResource, count: int) -> None:
    """Put `count` old briefs under briefs/processed/ through the filer's HTTP API.

    An S3 PUT per object runs ~100/s here (boto3's per-request cost); the filer stores these small
    bodies inline (-filer.saveToFilerLimit) and takes concurrent PUTs several times faster. The
    objects are ordinary S3 objects of the bucket: the sensor lists and reads them through S3.
    """
    import asyncio

    import aiohttp

    store.put_bytes("briefs/processed/.keep", b"")  # creates the bucket through S3
    base = f"http://127.0.0.1:{server.filer}/buckets/{store.bucket}/briefs/processed"
    body = b"campaign_id: old\n"

    async def put_all() -> None:
        limit = asyncio.Semaphore(32)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as session:

            async def put(i: int) -> None:
                async with limit, session.put(f"{base}/{i:08d}-old-brief.yaml", data=body) as reply:
                    if reply.status >= 300:
                        raise RuntimeError(f"filer PUT failed: {reply.status} {await reply.text()}")

            await asyncio.gather(*(put(i) for i in range(count - 1)))

    asyncio.run(put_all())


def measure(store, db, repeats: int) -> tuple[list[float], list[float]]:
    instance = dg.DagsterInstance.ephemeral()
    cursor, ticks, full_lists = None, [], []
    for r in range(repeats + 1):
        for i in range(NEW_PER_TICK):
            cid = f"bench-{uuid.uuid4().hex[:8]}"
            store.put_bytes(f"briefs/new-{r:03d}-{i:02d}.yaml", BRIEF.replace("glow-serum-launch", cid).encode())
        with dg.build_sensor_context(instance=instance, cursor=cursor,
                                     resources={"object_store": store, "campaign_db": db}) as context:
            started = time.perf_counter()
            result = brief_upload_sensor(context)
            elapsed = time.perf_counter() - started
        assert len(result.run_requests) == NEW_PER_TICK, len(result.run_requests)
        cursor = result.cursor
        started = time.perf_counter()
        sum(1 for _ in store.list("briefs/"))  # the whole-prefix alternative
        full = time.perf_counter() - started
        if r:  # the first tick warms connections and has nothing to settle
            ticks.append(elapsed)
            full_lists.append(full)
    return ticks, full_lists


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100000])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    server = SeaweedS3(extra_args=("-filer.saveToFilerLimit=4096",)).start()
    db = CampaignDatabaseResource(database_url=start_embedded_postgres())
    rows = []
    try:
        for size in args.sizes:
            store = S3ObjectStoreResource(endpoint_url=server.endpoint, bucket=f"bench-{size}",
                                          access_key_id="bench", secret_access_key="bench")
            started = time.perf_counter()
            fill(server, store, size)
            print(f"filled {size:,} objects in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            ticks, full = measure(store, db, args.repeats)
            rows.append((size, statistics.median(ticks) * 1000, statistics.median(full) * 1000))
    finally:
        server.stop()
        stop_embedded_postgres()
    print(f"\nbrief_upload_sensor tick cost, SeaweedFS S3 on loopback; {NEW_PER_TICK} new briefs per tick; "
          f"medians of {args.repeats} ticks\nmachine: {machine()}\n")
    print("| objects under briefs/ | sensor tick (ms) | whole-prefix listing (ms) |")
    print("|---:|---:|---:|")
    for size, tick, full in rows:
        print(f"| {size:,} | {tick:.1f} | {full:.1f} |")
    if len(rows) >= 2:
        (small, t_small, f_small), (big, t_big, f_big) = rows[0], rows[-1]
        print(f"\nratio {big:,} / {small:,}: sensor tick {t_big / t_small:.2f}x (goal <= 1.5); "
              f"whole-prefix listing {f_big / f_small:.1f}x")


if __name__ == "__main__":
    main()
