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


# Time the assets report: model calls (LLM, TTS, whisper), the image backend (ComfyUI on the Desktop; here
# the procedural renderer, reported on its own row since it is not a model), and ffmpeg renders.
METADATA_OF = {"model": "model_seconds", "image backend": "art_seconds", "encode": "encode_seconds"}
PARTS = ("wall", *METADATA_OF)


def one_run(brief_path: Path) -> dict:
    import dagster as dg

    from resources.embedded_postgres import stop_embedded_postgres
    from sparklio_pipelines.definitions import defs
    from sparklio_pipelines.defs.partitions import submit_brief
    from sparklio_pipelines.defs.resources import resolved_resources

    store, db = resolved_resources("object_store", "campaign_db")
    with dg.instance_for_test() as instance:
        submission = submit_brief(brief_path.read_bytes(), brief_path.name, store=store, db=db, instance=instance,
                                  base_dir=brief_path.parent)
        started = time.perf_counter()
        result = defs.resolve_job_def("campaign_job").execute_in_process(
            partition_key=submission.brief.campaign_id, instance=instance)
        wall = time.perf_counter() - started
        steps: dict[str, dict[str, float]] = {}
        for entry in instance.all_logs(result.run_id):
            event = entry.dagster_event
            if event is None or not event.step_key:
                continue
            step = steps.setdefault(event.step_key, dict.fromkeys(PARTS, 0.0))
            if event.is_step_start:
                step["start"] = entry.timestamp
            elif event.is_step_success:
                step["wall"] = entry.timestamp - step["start"]
            elif event.is_step_materialization:
                metadata = event.step_materialization_data.materialization.metadata
                for part, name in METADATA_OF.items():
                    step[part] += float(metadata[name].value) if name in metadata else 0.0
    stop_embedded_postgres()
    steps = {key: s for key, s in steps.items() if "start" in s}
    totals = {part: sum(s[part] for s in steps.values()) for part in METADATA_OF}
    return {"wall": wall, **totals, "other": wall - sum(totals.values()),
            "steps": {key: {**s, "other": s["wall"] - sum(s[p] for p in METADATA_OF)} for key, s in steps.items()}}


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
    med = {k: statistics.median(r[k] for r in rows) for k in ("wall", *METADATA_OF, "other")}
    print(f"\nCampaign wall time split, {Path(args.brief).name}, median of {args.runs} run(s)\nmachine: {machine()}\n")
    print("| part | seconds | share |")
    print("|---|---:|---:|")
    for part in (*METADATA_OF, "other"):
        print(f"| {part} | {med[part]:.1f} | {med[part] / med['wall']:.1%} |")
    print(f"| total (wall) | {med['wall']:.1f} | 100% |")
    print("\nPer step (median seconds; other = step wall time not in model, image backend or encode):\n")
    print("| step | wall | model | image backend | encode | other |")
    print("|---|---:|---:|---:|---:|---:|")
    for key in rows[0]["steps"]:
        cells = [statistics.median(r["steps"][key][c] for r in rows if key in r["steps"]) for c in (*PARTS, "other")]
        print(f"| {key} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    print(f"\neverything else: {med['other'] / med['wall']:.1%} of wall time (goal <= 10%)")


if __name__ == "__main__":
    main()
