"""Orchestration overhead: a campaign's wall time split into model time, encode time and the rest.

Runs the sample campaign end to end on the embedded default (fresh state dir), then reads each
step's metadata: `model_seconds` (LLM, TTS, whisper) and `encode_seconds` (ffmpeg renders).
Everything else (Dagster, storage, Postgres, images, checks) is the overhead. Goal: <= 10%.
Run: .venv/bin/python benchmarks/bench_campaign_overhead.py [BRIEF] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return f"{os.cpu_count()} cores, {model}, {platform.system()} {platform.release()}"


def one_run(brief_path: Path) -> dict:
    import dagster as dg

    from resources.embedded_postgres import stop_embedded_postgres
    from sparklio_pipelines.backends import resolved_resources
    from sparklio_pipelines.campaigns import submit_brief
    from sparklio_pipelines.definitions import defs

    store, db = resolved_resources("object_store", "campaign_db")
    with dg.instance_for_test() as instance:
        submission = submit_brief(brief_path.read_bytes(), brief_path.name, store=store, db=db, instance=instance,
                                  base_dir=brief_path.parent)
        started = time.perf_counter()
        result = defs.resolve_job_def("campaign_job").execute_in_process(
            partition_key=submission.brief.campaign_id, instance=instance)
        wall = time.perf_counter() - started
        model = encode = 0.0
        for event in result.get_asset_materialization_events():
            metadata = event.materialization.metadata
            model += float(metadata["model_seconds"].value) if "model_seconds" in metadata else 0.0
            encode += float(metadata["encode_seconds"].value) if "encode_seconds" in metadata else 0.0
    stop_embedded_postgres()
    return {"wall": wall, "model": model, "encode": encode, "other": wall - model - encode}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("brief", nargs="?", default=str(REPO / "examples" / "briefs" / "glow-serum-en.yaml"))
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    rows = []
    for _ in range(args.runs):
        os.environ["SPARKLIO_HOME"] = tempfile.mkdtemp(prefix="sparklio-bench-")  # cold: nothing cached
        os.environ.setdefault("SPARKLIO_MODELS_DIR", str(REPO / ".sparklio" / "models"))
        rows.append(one_run(Path(args.brief)))
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(f"\nCampaign wall time split, {Path(args.brief).name}, median of {args.runs} run(s)\nmachine: {machine()}\n")
    print("| part | seconds | share |")
    print("|---|---:|---:|")
    for part in ("model", "encode", "other"):
        print(f"| {part} | {med[part]:.1f} | {med[part] / med['wall']:.1%} |")
    print(f"| total (wall) | {med['wall']:.1f} | 100% |")
    print(f"\neverything else: {med['other'] / med['wall']:.1%} of wall time (goal <= 10%)")


if __name__ == "__main__":
    main()
