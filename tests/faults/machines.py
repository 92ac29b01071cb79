"""Whole machines going away, on the loopback 3-node topology (tests/support/topology.py).

- Desktop reboot: the code server and every run worker under it are SIGKILLed mid-step, and the code server
  comes back `down_s` later. Nothing is clicked: run monitoring (the MonitoredRunLauncher in dagster.yaml)
  marks the dead runs failed, and run_retries re-executes each from failure.
- Mac mini restart: Postgres (Dagster's and the campaign database), SeaweedFS, the webserver and the
  daemon stop mid-run and come back `down_s` later.

Both use the repo's production dagster.yaml as deployed (retries, monitoring, pools), and the product's
code with the fake Ollama/ComfyUI of tests/support. Each returns a `MachineRecord`: the row of the fault
report, with the runs retried automatically and how long each recovery took.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from tests.faults.harness import PARTITION_TAG, SERVICE_CHAIN, ScenarioRecord
from tests.support.topology import REPO_ROOT, LoopbackTopology, wait_until

RETRY_NUMBER_TAG = "dagster/retry_number"
GPU_STEPS = ("copy", "image")
OLLAMA_LATENCY_S = 1.0
COMFYUI_LATENCY_S = 0.5


@dataclass
class Deployment:
    topology: LoopbackTopology
    instance: dg.DagsterInstance
    store: object
    db: object
    ollama: object
    comfyui: object


@contextlib.contextmanager
def machine_deployment(workdir: Path, postgres_dsn: str, s3_endpoint: str):
    """The topology with the fake GPU services; the caller's process opens the shared instance."""
    from resources.database import CampaignDatabaseResource
    from resources.object_store import S3ObjectStoreResource
    from sparklio_pipelines.retries import RETRY_DELAY_ENV
    from tests.support.fake_comfyui import FakeComfyUI
    from tests.support.fake_ollama import FakeOllama

    bucket = f"machines-{uuid.uuid4().hex[:8]}"
    store = S3ObjectStoreResource(endpoint_url=s3_endpoint, bucket=bucket, access_key_id="test",
                                  secret_access_key="test")
    db = CampaignDatabaseResource(database_url=postgres_dsn)
    with FakeOllama() as ollama, FakeComfyUI() as comfyui, contextlib.ExitStack() as stack:
        ollama.latency = OLLAMA_LATENCY_S
        comfyui.latency_seconds = COMFYUI_LATENCY_S
        topology = LoopbackTopology(
            workdir, postgres_dsn, s3_endpoint, bucket,
            mac_mini_env={"DAGSTER_GRPC_TIMEOUT_SECONDS": "300"},
            desktop_env={"DATABASE_URL": postgres_dsn, "OLLAMA_HOST": ollama.url, "COMFYUI_URL": comfyui.url,
                         "SPARKLIO_MODELS_DIR": str(REPO_ROOT / ".sparklio" / "models"),
                         RETRY_DELAY_ENV: "0.2"},
        )
        stack.enter_context(topology)
        stack.enter_context(_patched_env(topology.instance_settings()))
        instance = topology.open_instance()
        stack.callback(instance.dispose)
        yield Deployment(topology, instance, store, db, ollama, comfyui)


@contextlib.contextmanager
def _patched_env(values: dict[str, str]):
    import pytest

    with pytest.MonkeyPatch.context() as mp:
        for name, value in values.items():
            mp.setenv(name, value)
        yield


def add_campaigns(deployment: Deployment, count: int, tag: str) -> list[str]:
    from sparklio_pipelines.campaigns import submit_brief
    from tests.support.briefs import sample_brief

    campaign_ids = [f"{tag}-{i}-{uuid.uuid4().hex[:6]}" for i in range(count)]
    for campaign_id in campaign_ids:  # as `sparklio campaign add` does
        submit_brief(sample_brief(campaign_id), f"{campaign_id}.yaml", store=deployment.store, db=deployment.db,
                     instance=deployment.instance)
    return campaign_ids


# ------------------------------------------------------------------------------------- the record


@dataclass
class MachineRecord(ScenarioRecord):
    """A scenario row plus what whole-machine faults add: automatic retries and recovery times."""

    retried: list[str] = field(default_factory=list)  # runs the daemon started (dagster/retry_number set)
    recoveries: list[float] = field(default_factory=list)  # fault -> every affected campaign complete, s
    detections: list[float] = field(default_factory=list)  # fault -> the dead runs marked failed, s
    stuck: list[str] = field(default_factory=list)  # runs neither finished nor retried at the end
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {**super().summary(), "retried_automatically": len(self.retried),
                "recoveries_s": [round(s, 1) for s in self.recoveries],
                "detections_s": [round(s, 1) for s in self.detections],
                "stuck": len(self.stuck), "notes": self.notes}

    def collect_runs(self, instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
        runs = [run for campaign_id in self.campaigns
                for run in instance.get_runs(dg.RunsFilter(tags={PARTITION_TAG: campaign_id}))]
        for run in runs:
            if run.run_id not in self.runs:
                self.add_run(instance, run.run_id)
        self.retried = sorted(r.run_id for r in runs if RETRY_NUMBER_TAG in r.tags)
        self.stuck = sorted(r.run_id for r in runs if not r.is_finished)
        return runs


def campaign_runs(instance: dg.DagsterInstance, campaign_id: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(dg.RunsFilter(tags={PARTITION_TAG: campaign_id})))


def all_campaigns_succeeded(instance: dg.DagsterInstance, campaign_ids: list[str]) -> bool:
    return all(any(r.status == dg.DagsterRunStatus.SUCCESS for r in campaign_runs(instance, c))
               for c in campaign_ids)


def gpu_steps_in_progress(instance: dg.DagsterInstance, run_ids: list[str]) -> list[str]:
    """Runs with a gpu step started and not ended: where a kill lands mid-step."""
    busy = []
    for run_id in run_ids:
        for stats in instance.get_run_step_stats(run_id):
            if stats.step_key in GPU_STEPS and stats.start_time and stats.end_time is None:
                busy.append(run_id)
    return busy


def started_runs(instance: dg.DagsterInstance, campaign_ids: list[str]) -> list[str]:
    return [r.run_id for c in campaign_ids for r in campaign_runs(instance, c)
            if r.status == dg.DagsterRunStatus.STARTED]


def wait_for_campaigns(deployment: Deployment, campaign_ids: list[str], timeout_s: float) -> None:
    topology = deployment.topology
    try:
        wait_until(lambda: all_campaigns_succeeded(deployment.instance, campaign_ids), timeout_s,
                   "every campaign to succeed", interval=2)
    except TimeoutError as exc:
        statuses = {c: [(r.run_id[:8], r.status.value, r.tags.get(RETRY_NUMBER_TAG))
                        for r in campaign_runs(deployment.instance, c)] for c in campaign_ids}
        raise AssertionError(f"{exc}\n{statuses}\n{topology.logs()}") from None


def assert_retries_resumed_from_failure(instance: dg.DagsterInstance, retried: list[str]) -> None:
    """Each automatic retry ran only what its parent had not finished, and says which attempt it is."""
    for run_id in retried:
        run = instance.get_run_by_id(run_id)
        assert run.parent_run_id, run.tags
        assert int(run.tags[RETRY_NUMBER_TAG]) >= 1
        parent_done = {s.step_key for s in instance.get_run_step_stats(run.parent_run_id)
                       if s.status and s.status.value == "SUCCESS"}
        redone = {s.step_key for s in instance.get_run_step_stats(run_id)} & parent_done
        assert not redone, f"retry {run_id} re-ran steps its parent had finished: {redone}"


def gpu_slots_free(instance: dg.DagsterInstance) -> bool:
    info = instance.event_log_storage.get_concurrency_info("gpu")
    return info.slot_count == 1 and not info.claimed_slots and not info.pending_steps


# ------------------------------------------------------------------------------------- scenarios


def desktop_reboot(deployment: Deployment, campaigns: int = 4, *, down_s: float = 10,
                   timeout_s: float = 900) -> MachineRecord:
    """A backfill of `campaigns`; once a gpu step is running and several runs are in flight, the Desktop
    'reboots' (code server + run workers SIGKILLed), and its code server is back `down_s` later."""
    instance, topology = deployment.instance, deployment.topology
    record = MachineRecord("desktop_reboot", f"code server + run workers SIGKILLed mid-step, back {down_s:.0f} s later",
                           services=("code server", "run worker"), causes=("died", "killed", "restart"),
                           assets=SERVICE_CHAIN)
    record.campaigns = add_campaigns(deployment, campaigns, "reboot")
    topology.launch_backfill("campaign_job", record.campaigns, asset_selection=list(SERVICE_CHAIN))
    in_flight = min(campaigns, 3)

    def ready() -> list[str]:
        started = started_runs(instance, record.campaigns)
        return started if len(started) >= in_flight and gpu_steps_in_progress(instance, started) else []

    wait_until(ready, timeout_s, f"{in_flight} runs in flight with a gpu step running", interval=0.5)
    time.sleep(1.0)  # well inside the step (a model call under way)
    killed = started_runs(instance, record.campaigns)
    fault_at = time.monotonic()
    topology.kill_code_server()
    record.faults_injected += 1
    time.sleep(down_s)
    topology.start_code_server()
    wait_until(lambda: all(instance.get_run_by_id(r).is_finished for r in killed), timeout_s,
               "the killed runs to be marked failed", interval=1)
    record.detections.append(time.monotonic() - fault_at)
    wait_for_campaigns(deployment, record.campaigns, timeout_s)
    record.recoveries.append(time.monotonic() - fault_at)
    record.notes.append(f"{len(killed)} runs killed mid-flight")
    record.collect_runs(instance)
    record.finish(instance, deployment.store, deployment.db)
    return record
