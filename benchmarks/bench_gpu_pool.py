"""GPU busy fraction: a backfill of N campaigns through the 3-node topology, `gpu` pool limited to 1.

Real processes on loopback (tests/support/topology.py): the Desktop's code server, the Mac mini's
webserver + daemon on dagster-postgres (embedded Postgres) with S3 compute logs (SeaweedFS). The GPU
work is the fake Ollama and ComfyUI at fixed latencies. A job backfill over N campaign partitions is
launched through the GraphQL API; each gpu step's STEP_START..STEP_SUCCESS window is read back from
the instance.
  busy fraction = time at least one gpu step ran / first gpu step start .. last gpu step end
Goal: >= 95% busy, never more than 1 gpu step at a time.
Run: .venv/bin/python benchmarks/bench_gpu_pool.py [--campaigns 20] [--ollama-latency 2] [--comfyui-latency 1]
     [--assets brief,copy,image] [--start-method spawn|forkserver]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return f"{os.cpu_count()} cores, {model}, {platform.system()} {platform.release()}"


def gaps(windows) -> list[float]:
    ordered = sorted(windows, key=lambda w: w.start)
    return [max(0.0, b.start - a.end) for a, b in zip(ordered, ordered[1:])]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--ollama-latency", type=float, default=2.0, help="seconds per Ollama inference request")
    parser.add_argument("--comfyui-latency", type=float, default=1.0, help="seconds per ComfyUI prompt")
    parser.add_argument("--assets", default="brief,copy,image",
                        help="comma-separated campaign assets to backfill ('all' for the whole job)")
    parser.add_argument("--start-method", choices=["spawn", "forkserver", "in_process"], default="spawn",
                        help="how the run worker starts step processes (the Windows Desktop can only spawn); "
                             "in_process runs every step in the run worker itself")
    parser.add_argument("--timeout", type=float, default=4 * 3600)
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="bench-gpu-pool-"))
    os.environ["SPARKLIO_HOME"] = str(state)
    for name in ("DATABASE_URL", "SPARKLIO_S3_ENDPOINT", "DAGSTER_HOME", "OLLAMA_HOST", "COMFYUI_URL"):
        os.environ.pop(name, None)
    os.environ.setdefault("SPARKLIO_MODELS_DIR", str(REPO / ".sparklio" / "models"))

    from resources.database import CampaignDatabaseResource
    from resources.embedded_postgres import start_embedded_postgres, stop_embedded_postgres
    from resources.object_store import S3ObjectStoreResource
    from sparklio_pipelines.campaigns import submit_brief
    from tests.support.fake_comfyui import FakeComfyUI
    from tests.support.briefs import sample_brief
    from tests.support.fake_ollama import FakeOllama
    from tests.support.seaweedfs import SeaweedS3
    from tests.support.topology import LoopbackTopology, busy_fraction, max_concurrency, step_windows

    dsn = start_embedded_postgres()
    seaweed = SeaweedS3().start()
    bucket = "bench-gpu-pool"
    try:
        with FakeOllama() as ollama, FakeComfyUI() as comfyui:
            ollama.latency = args.ollama_latency
            comfyui.latency_seconds = args.comfyui_latency
            topology = LoopbackTopology(
                state / "topology", dsn, seaweed.endpoint, bucket,
                desktop_env={"DATABASE_URL": dsn, "OLLAMA_HOST": ollama.url, "COMFYUI_URL": comfyui.url,
                             "SPARKLIO_MODELS_DIR": os.environ["SPARKLIO_MODELS_DIR"]},
                mac_mini_env={"DAGSTER_GRPC_TIMEOUT_SECONDS": "300"},
            )
            with topology:
                os.environ.update(topology.instance_settings())
                instance = topology.open_instance()
                store = S3ObjectStoreResource(endpoint_url=seaweed.endpoint, bucket=bucket,
                                              access_key_id="test", secret_access_key="test")
                db = CampaignDatabaseResource(database_url=dsn)
                campaigns = [f"bench-{i:02d}-{uuid.uuid4().hex[:6]}" for i in range(args.campaigns)]
                for campaign_id in campaigns:
                    submit_brief(sample_brief(campaign_id), f"{campaign_id}.yaml", store=store, db=db, instance=instance)

                run_config = {"execution": {"config": (
                    {"in_process": {}} if args.start_method == "in_process"
                    else {"multiprocess": {"start_method": {args.start_method: {}}}})}}
                assets = None if args.assets == "all" else args.assets.split(",")
                started = time.monotonic()
                backfill_id = topology.launch_backfill("campaign_job", campaigns, asset_selection=assets,
                                                       run_config=run_config)
                run_ids: list[str] = []
                while len(run_ids) < len(campaigns) and time.monotonic() - started < args.timeout:
                    time.sleep(2)
                    run_ids = topology.backfill_run_ids(instance, backfill_id)
                statuses = topology.wait_for_runs(run_ids, args.timeout)
                wall = time.monotonic() - started

                windows = [w for run_id in run_ids for w in step_windows(instance, run_id)]
                gpu = [w for w in windows if w.pool == "gpu"]
                failed = sum(status != "SUCCESS" for status in statuses.values())
                instance.dispose()
    finally:
        seaweed.stop()
        stop_embedded_postgres()
        shutil.rmtree(state, ignore_errors=True)

    gap = gaps(gpu)
    print(f"# GPU pool busy fraction — {machine()}")
    print(f"fake latencies: Ollama {args.ollama_latency}s/request, ComfyUI {args.comfyui_latency}s/prompt; "
          f"assets: {args.assets}; step start method: {args.start_method}; {failed} failed run(s)")
    print()
    print("| campaigns | gpu steps | busy fraction | max concurrent gpu steps | median gpu step | median gap | wall |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {len(run_ids)} | {len(gpu)} | {busy_fraction(gpu):.1%} | {max_concurrency(gpu)} "
          f"| {statistics.median(w.seconds for w in gpu):.1f} s | {statistics.median(gap) if gap else 0:.1f} s "
          f"| {wall:.0f} s |")
    by_step: dict[str, list[float]] = {}
    for w in gpu:
        by_step.setdefault(w.step_key, []).append(w.seconds)
    print()
    print("| gpu step | count | median | max |")
    print("|---|---:|---:|---:|")
    for key, seconds in sorted(by_step.items()):
        print(f"| {key} | {len(seconds)} | {statistics.median(seconds):.1f} s | {max(seconds):.1f} s |")
    ok = max_concurrency(gpu) <= 1 and busy_fraction(gpu) >= 0.95 and not failed
    print(f"\ngoal (>= 95% busy, never > 1 at a time, no failed runs): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
