"""The soak: many campaigns through the loopback 3-node topology, with faults drawn from a seeded random
schedule across the fault suite's scenarios (tests/faults) and the two whole-machine ones (machines.py).

    python -m tests.faults.report --soak 20 --seed 7

Campaigns go in as backfills of `BATCH` (brief -> copy -> image, the steps that call the GPU services); each
batch gets one fault, injected once runs are in flight and a gpu step is running. Nothing is clicked:
runs recover through the step RetryPolicy, or die and are retried by the daemon (run_retries).
The audit afterwards: lost / duplicated / orphaned objects against every manifest and Postgres, runs
left stuck, runs retried automatically, and how long each recovery took.
"""

from __future__ import annotations

import os
import random
import signal
import tempfile
import time
from pathlib import Path

import dagster as dg

from tests.faults.harness import RESULTS_ENV
from tests.faults.machines import (
    Deployment,
    MachineRecord,
    desktop_reboot,
    finish,
    mac_mini_restart,
    machine_deployment,
    run_with_fault,
)

BATCH = 3
BATCH_TIMEOUT_S = 600  # a batch not complete by then counts as incomplete in the audit
OUTAGE_S = (3.0, 8.0)  # a service outage inside the step RetryPolicy's budget (2 + 4 + 8 s)


def service_fault(deployment: Deployment, kind: str, rng: random.Random) -> MachineRecord:
    """One of the fault suite's scenarios, injected into a live backfill on the topology."""
    outage = round(rng.uniform(*OUTAGE_S), 1)
    ollama, comfyui, servers = deployment.ollama, deployment.comfyui, deployment.servers

    def ollama_500(_started):
        ollama.fail_next(2)

    def ollama_down(_started):
        ollama.refuse_connections()
        time.sleep(outage)
        ollama.accept_connections()

    def comfyui_500(_started):
        comfyui.fail_next(2)

    def comfyui_down(_started):
        comfyui.refuse_connections(True)
        time.sleep(outage)
        comfyui.refuse_connections(False)

    def s3_killed(_started):
        servers.s3.kill()
        time.sleep(outage)
        servers.s3.start()

    def run_killed(started):  # one run worker SIGKILLed; its code server lives and reports it
        victim = rng.choice(started)
        [start] = deployment.instance.all_logs(victim, of_type=dg.DagsterEventType.RUN_START)
        os.kill(start.dagster_event.pid, signal.SIGKILL)

    injections = {"ollama_500": (ollama_500, "Ollama answers 500 twice"),
                  "ollama_down": (ollama_down, f"Ollama refuses connections for {outage} s"),
                  "comfyui_500": (comfyui_500, "ComfyUI answers 500 twice"),
                  "comfyui_down": (comfyui_down, f"ComfyUI refuses connections for {outage} s"),
                  "s3_killed": (s3_killed, f"SeaweedFS SIGKILLed, back {outage} s later"),
                  "run_killed": (run_killed, "one run worker SIGKILLed mid-step")}
    inject, fault = injections[kind]
    record = MachineRecord(kind, fault, services=("ollama", "comfyui", "s3", "object store", "run worker"),
                           causes=("500", "refused", "connect", "killed", "died", "terminated", "timed out"))
    run_with_fault(deployment, record, BATCH, inject, in_flight=2, timeout_s=BATCH_TIMEOUT_S)
    return finish(deployment, record)


SERVICE_KINDS = ("ollama_500", "ollama_down", "comfyui_500", "comfyui_down", "s3_killed", "run_killed")
MACHINE_KINDS = ("desktop_reboot", "mac_mini_restart")


def schedule(campaigns: int, seed: int) -> list[str]:
    """The fault of each batch: every kind once (when there are enough batches), the rest drawn at random."""
    rng = random.Random(seed)
    batches = max(1, -(-campaigns // BATCH))
    kinds = list(MACHINE_KINDS + SERVICE_KINDS)
    rng.shuffle(kinds)
    return (kinds + [rng.choice(kinds) for _ in range(batches)])[:batches]


def run_soak(campaigns: int, seed: int, workdir: Path | None = None, progress=print,
             budget_s: float | None = None) -> list[MachineRecord]:
    """Run the schedule; with `budget_s`, start no new batch once that much time has gone."""
    rng = random.Random(seed)
    plan = schedule(campaigns, seed)
    soak_started = time.monotonic()
    progress(f"soak: {campaigns} campaigns in {len(plan)} batches of {BATCH}, seed {seed}: {', '.join(plan)}",
             flush=True)
    records = []
    workdir = workdir or Path(tempfile.mkdtemp(prefix="sparklio-soak-"))
    os.environ[RESULTS_ENV] = str(workdir / "results")  # the fault suite's own rows stay as they are
    with machine_deployment(workdir) as deployment:
        for kind in plan:
            started = time.monotonic()
            if budget_s is not None and started - soak_started > budget_s:
                progress(f"  time budget of {budget_s:.0f} s spent: {len(records)} of {len(plan)} batches run",
                         flush=True)
                break
            if kind == "desktop_reboot":
                record = desktop_reboot(deployment, BATCH, down_s=10, timeout_s=BATCH_TIMEOUT_S)
            elif kind == "mac_mini_restart":
                record = mac_mini_restart(deployment, BATCH, down_s=15, timeout_s=BATCH_TIMEOUT_S)
            else:
                record = service_fault(deployment, kind, rng)
            records.append(record)
            summary = record.summary()
            progress(f"  {kind}: {summary['campaigns_completed']}/{summary['campaigns']} completed, lost/duplicated/"
                     f"orphaned {summary['lost']}/{summary['duplicated']}/{summary['orphaned']}, {summary['stuck']} "
                     f"stuck, {summary['retried_automatically']} retried, failure marked after "
                     f"{summary['detections_s']} s, recovery {summary['recoveries_s']} s ({time.monotonic() - started:.0f} s)",
                     flush=True)
    return records


def soak_table(records: list[MachineRecord], seed: int) -> tuple[list[str], bool]:
    """The soak's table and whether the audit is clean."""
    lines = [f"Soak, seed {seed}: {sum(len(r.campaigns) for r in records)} campaigns, {len(records)} faults",
             *[f"- {r.scenario}: {note}" for r in records for note in r.notes if "not ready after" in note],
             "",
             "| # | scenario | fault | campaigns completed | lost / duplicated / orphaned | stuck runs "
             "| runs retried automatically | fault → failure marked (s) | fault → all complete (s) |",
             "|---:|---|---|---|---|---:|---:|---:|---:|"]
    ok = True
    totals = {"campaigns": 0, "completed": 0, "lost": 0, "duplicated": 0, "orphaned": 0, "stuck": 0, "retried": 0}
    for i, record in enumerate(records, 1):
        s = record.summary()
        row_ok = (s["campaigns_completed"] == s["campaigns"] and not (s["lost"] or s["duplicated"] or s["orphaned"]
                  or s["manifest_vs_db"] or s["stuck"]) and s.get("sensor_runs") in (None, 1))
        ok = ok and row_ok
        detections = ", ".join(f"{d:.0f}" for d in s["detections_s"]) or "—"
        sensor = f"; inbox brief → {s['sensor_runs']} run" if s.get("sensor_runs") is not None else ""
        lines.append(f"| {i} | {s['scenario']} | {s['fault']}{sensor} | {s['campaigns_completed']}/{s['campaigns']} | "
                     f"{s['lost']} / {s['duplicated']} / {s['orphaned']} | {s['stuck']} | "
                     f"{s['retried_automatically']} | {detections} | "
                     f"{', '.join(f'{r:.0f}' for r in s['recoveries_s'])} |")
        for key, name in (("campaigns", "campaigns"), ("completed", "campaigns_completed"), ("lost", "lost"),
                          ("duplicated", "duplicated"), ("orphaned", "orphaned"), ("stuck", "stuck"),
                          ("retried", "retried_automatically")):
            totals[key] += s[name]
    lines.append(f"| | **total** | {len(records)} faults | {totals['completed']}/{totals['campaigns']} | "
                 f"{totals['lost']} / {totals['duplicated']} / {totals['orphaned']} | {totals['stuck']} | "
                 f"{totals['retried']} | | |")
    return lines, ok
