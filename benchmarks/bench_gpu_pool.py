"""GPU busy fraction: a backfill of N campaigns through the 3-node topology, `gpu` pool limited to 1.

Real processes on loopback (tests/support/topology.py): the Desktop's code server, the Mac mini's
webserver + daemon on dagster-postgres (embedded Postgres) with S3 compute logs (SeaweedFS). The GPU
work is the fake Ollama and ComfyUI at fixed latencies. A job backfill over N campaign partitions is
launched through the GraphQL API; each gpu step's STEP_START..STEP_SUCCESS window is read back from
the instance.
  busy fraction = time at least one gpu step ran / first gpu step start .. last gpu step end
Goal: >= 95% busy, never more than 1 gpu step at a time.

Executors compared (each on a fresh topology):
  default    the product's: steps in the run worker, a blocked gpu step re-checks every
             SPARKLIO_POOL_POLL_SECONDS and sleeps in between (sparklio_pipelines/defs/dagster_compat/executors.py)
  spawn, forkserver
             Dagster's multiprocess executor as shipped: a process per step, claim back-off 1 s .. 15 s
Run: .venv/bin/python benchmarks/bench_gpu_pool.py [--campaigns 20] [--ollama-latency 2] [--comfyui-latency 1]
     [--assets brief,copy,image] [--executors default,spawn] [--pool-poll 0.5]
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
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
EXECUTORS = ("default", "spawn", "forkserver")


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return f"{os.cpu_count()} cores, {model}, {platform.system()} {platform.release()}"


def gaps(windows) -> list[float]:
    ordered = sorted(windows, key=lambda w: w.start)
    return [max(0.0, b.start - a.end) for a, b in zip(ordered, ordered[1:])]


@dataclass
class Outcome:
    executor: str
    runs: int
    failed: int
    gpu: list
    wall: float


def run_config_for(executor: str) -> dict | None:
    if executor == "default":
        return None  # what a launch from the UI gets
    return {"execution": {"config": {"multiprocess": {"start_method": {executor: {}}}}}}


def backfill(executor: str, args, dsn: str, seaweed_endpoint: str, state: Path) -> Outcome:
    from resources.database import CampaignDatabaseResource
    from resources.object_store import S3ObjectStoreResource
    from sparklio_pipelines.defs.partitions import submit_brief
    from tests.support.briefs import sample_brief
    from tests.support.fake_comfyui import FakeComfyUI
    from tests.support.fake_copywriter import Copywriter
    from tests.support.fake_ollama import FakeOllama
    from tests.support.topology import LoopbackTopology, step_windows

    bucket = f"bench-gpu-pool-{executor}"
    with FakeOllama(responder=Copywriter()) as ollama, FakeComfyUI() as comfyui:
        ollama.latency = args.ollama_latency
        comfyui.latency_seconds = args.comfyui_latency
        desktop_env = {"DATABASE_URL": dsn, "OLLAMA_HOST": ollama.url, "COMFYUI_URL": comfyui.url,
                       "SPARKLIO_MODELS_DIR": os.environ["SPARKLIO_MODELS_DIR"]}
        if args.pool_poll is not None:
            desktop_env["SPARKLIO_POOL_POLL_SECONDS"] = str(args.pool_poll)
        topology = LoopbackTopology(state / f"topology-{executor}", dsn, seaweed_endpoint,
                                    bucket, desktop_env=desktop_env,
                                    mac_mini_env={"DAGSTER_GRPC_TIMEOUT_SECONDS": "300"})
        with topology:
            os.environ.update(topology.instance_settings())  # this topology's instance; the next one overwrites them
            instance = topology.open_instance()
            try:
                store = S3ObjectStoreResource(endpoint_url=seaweed_endpoint, bucket=bucket,
                                              access_key_id="test", secret_access_key="test")
                db = CampaignDatabaseResource(database_url=dsn)
                campaigns = [f"bench-{i:02d}-{uuid.uuid4().hex[:6]}" for i in range(args.campaigns)]
                for campaign_id in campaigns:
                    submit_brief(sample_brief(campaign_id), f"{campaign_id}.yaml", store=store, db=db,
                                 instance=instance)
                assets = None if args.assets == "all" else args.assets.split(",")
                started = time.monotonic()
                backfill_id = topology.launch_backfill("campaign_job", campaigns, asset_selection=assets,
                                                       run_config=run_config_for(executor))
                run_ids: list[str] = []
                while len(run_ids) < len(campaigns) and time.monotonic() - started < args.timeout:
                    time.sleep(2)
                    run_ids = topology.backfill_run_ids(instance, backfill_id)
                statuses = topology.wait_for_runs(run_ids, args.timeout)
                wall = time.monotonic() - started
                windows = [w for run_id in run_ids for w in step_windows(instance, run_id)]
            finally:
                instance.dispose()
    return Outcome(executor, len(run_ids), sum(status != "SUCCESS" for status in statuses.values()),
                   [w for w in windows if w.pool == "gpu"], wall)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--ollama-latency", type=float, default=2.0, help="seconds per Ollama inference request")
    parser.add_argument("--comfyui-latency", type=float, default=1.0, help="seconds per ComfyUI prompt")
    parser.add_argument("--assets", default="brief,copy,image",
                        help="comma-separated campaign assets to backfill ('all' for the whole job)")
    parser.add_argument("--executors", default="default,spawn",
                        help=f"comma-separated, run one after the other: {', '.join(EXECUTORS)} "
                             "(the Windows Desktop can only spawn)")
    parser.add_argument("--pool-poll", type=float, default=None,
                        help="SPARKLIO_POOL_POLL_SECONDS for the default executor (unset: its default)")
    parser.add_argument("--timeout", type=float, default=4 * 3600)
    args = parser.parse_args()
    executors = args.executors.split(",")
    if unknown := set(executors) - set(EXECUTORS):
        parser.error(f"unknown executor(s) {sorted(unknown)}; choose from {', '.join(EXECUTORS)}")

    state = Path(tempfile.mkdtemp(prefix="bench-gpu-pool-"))
    os.environ["SPARKLIO_HOME"] = str(state)
    for name in ("DATABASE_URL", "SPARKLIO_S3_ENDPOINT", "DAGSTER_HOME", "OLLAMA_HOST", "COMFYUI_URL"):
        os.environ.pop(name, None)
    os.environ.setdefault("SPARKLIO_MODELS_DIR", str(REPO / ".sparklio" / "models"))

    from resources.embedded_postgres import (
        start_embedded_postgres,
        stop_embedded_postgres,
    )
    from sparklio_pipelines.defs.dagster_compat.executors import pool_poll_seconds
    from tests.support.seaweedfs import SeaweedS3
    from tests.support.topology import busy_fraction, max_concurrency

    dsn = start_embedded_postgres()
    seaweed = SeaweedS3().start()
    outcomes = []
    try:
        for executor in executors:
            outcomes.append(backfill(executor, args, dsn, seaweed.endpoint, state))
    finally:
        seaweed.stop()
        stop_embedded_postgres()
        shutil.rmtree(state, ignore_errors=True)

    poll = args.pool_poll if args.pool_poll is not None else pool_poll_seconds()
    print(f"# GPU pool busy fraction — {machine()}")
    print(f"{args.campaigns} campaigns; fake latencies: Ollama {args.ollama_latency}s/request, "
          f"ComfyUI {args.comfyui_latency}s/prompt; assets: {args.assets}; default executor's pool poll: {poll}s")
    print()
    print("| executor | runs (failed) | gpu steps | busy fraction | max concurrent gpu steps | median gpu step "
          "| median gap | wall |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for o in outcomes:
        gap = gaps(o.gpu)
        print(f"| {o.executor} | {o.runs} ({o.failed}) | {len(o.gpu)} | {busy_fraction(o.gpu):.1%} "
              f"| {max_concurrency(o.gpu)} | {statistics.median(w.seconds for w in o.gpu):.1f} s "
              f"| {statistics.median(gap) if gap else 0:.2f} s | {o.wall:.0f} s |")
    if len(outcomes) > 1:
        base = outcomes[0]
        print()
        for o in outcomes[1:]:
            print(f"{base.executor} vs {o.executor}: wall {o.wall / base.wall:.2f}x shorter, "
                  f"idle GPU time {(1 - busy_fraction(o.gpu)) / max(1e-9, 1 - busy_fraction(base.gpu)):.1f}x less")
    for o in outcomes:
        by_step: dict[str, list[float]] = {}
        for w in o.gpu:
            by_step.setdefault(w.step_key, []).append(w.seconds)
        print(f"\n{o.executor}:\n\n| gpu step | count | median | max |\n|---|---:|---:|---:|")
        for key, seconds in sorted(by_step.items()):
            print(f"| {key} | {len(seconds)} | {statistics.median(seconds):.1f} s | {max(seconds):.1f} s |")
        ok = max_concurrency(o.gpu) <= 1 and busy_fraction(o.gpu) >= 0.95 and not o.failed
        print(f"goal (>= 95% busy, never > 1 at a time, no failed runs): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
