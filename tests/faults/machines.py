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
OLLAMA_LATENCY_S = 0.5  # per model call: a copy step lasts a few seconds, long enough to be killed inside
COMFYUI_LATENCY_S = 0.3
SENSOR_INTERVAL_S = 30  # brief_upload_sensor's minimum_interval_seconds


class MacMiniServers:
    """The Mac mini's Postgres (an embedded server of its own: Dagster's and the campaign database) and its
    S3 server (a SeaweedFS of its own), so the Mac-mini scenario can stop and start them."""

    def __init__(self, workdir: Path):
        from tests.support.seaweedfs import SeaweedS3

        self.pgdata = workdir / "mac-mini-postgres"
        self.s3 = SeaweedS3(workdir / "mac-mini-seaweed")
        self.dsn = ""

    def start(self) -> "MacMiniServers":
        from resources.embedded_postgres import start_embedded_postgres

        dsn = start_embedded_postgres(self.pgdata)
        assert self.dsn in ("", dsn), "a restarted Postgres must keep its address"
        self.dsn = dsn
        if self.s3.proc is None or self.s3.proc.poll() is not None:
            self.s3.data_dir.mkdir(parents=True, exist_ok=True)
            self.s3.start()
        return self

    def stop(self) -> None:
        """Both go down as with the machine: S3 killed, Postgres stopped (clients cut off)."""
        from resources.embedded_postgres import stop_embedded_postgres

        self.s3.kill()
        stop_embedded_postgres(self.pgdata)

    def __enter__(self) -> "MacMiniServers":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class Deployment:
    topology: LoopbackTopology
    instance: dg.DagsterInstance
    store: object
    db: object
    ollama: object
    comfyui: object
    servers: MacMiniServers


@contextlib.contextmanager
def machine_deployment(workdir: Path):
    """The topology on Mac-mini servers of its own, with the fake GPU services."""
    from resources.database import CampaignDatabaseResource
    from resources.object_store import S3ObjectStoreResource
    from tests.support.fake_comfyui import FakeComfyUI
    from tests.support.fake_copywriter import Copywriter
    from tests.support.fake_ollama import FakeOllama

    bucket = f"machines-{uuid.uuid4().hex[:8]}"
    with MacMiniServers(workdir) as servers, FakeOllama(responder=Copywriter()) as ollama, FakeComfyUI() as comfyui, \
            contextlib.ExitStack() as stack:
        postgres_dsn, s3_endpoint = servers.dsn, servers.s3.endpoint
        store = S3ObjectStoreResource(endpoint_url=s3_endpoint, bucket=bucket, access_key_id="test",
                                      secret_access_key="test")
        db = CampaignDatabaseResource(database_url=postgres_dsn)
        ollama.latency = OLLAMA_LATENCY_S
        comfyui.latency_seconds = COMFYUI_LATENCY_S
        topology = LoopbackTopology(
            workdir, postgres_dsn, s3_endpoint, bucket,
            mac_mini_env={"DAGSTER_GRPC_TIMEOUT_SECONDS": "300"},
            # the step RetryPolicy as in production (2 s base delay): an outage of a few seconds is ridden out
            desktop_env={"DATABASE_URL": postgres_dsn, "OLLAMA_HOST": ollama.url, "COMFYUI_URL": comfyui.url,
                         "SPARKLIO_MODELS_DIR": str(REPO_ROOT / ".sparklio" / "models")},
        )
        stack.enter_context(topology)
        stack.enter_context(_patched_env(topology.instance_settings()))
        instance = topology.open_instance()
        stack.callback(instance.dispose)
        yield Deployment(topology, instance, store, db, ollama, comfyui, servers)


@contextlib.contextmanager
def _patched_env(values: dict[str, str]):
    import pytest

    with pytest.MonkeyPatch.context() as mp:
        for name, value in values.items():
            mp.setenv(name, value)
        yield


def add_campaigns(deployment: Deployment, count: int, tag: str) -> list[str]:
    from sparklio_pipelines.defs.partitions import submit_brief
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
    sensor_runs: int | None = None  # runs the inbox sensor made for one dropped brief (must be 1)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {**super().summary(), "retried_automatically": len(self.retried),
                "recoveries_s": [round(s, 1) for s in self.recoveries],
                "detections_s": [round(s, 1) for s in self.detections],
                "stuck": len(self.stuck), "sensor_runs": self.sensor_runs, "notes": self.notes}

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


def assert_gpu_slot_given_back(instance: dg.DagsterInstance, timeout_s: float = 90) -> None:
    """The one `gpu` slot is free again: a run that ended (killed, cancelled) gives it back within run
    monitoring's poll interval (30 s) plus free_slots_after_run_end_seconds (15 s)."""

    def free() -> bool:
        info = instance.event_log_storage.get_concurrency_info("gpu")
        return info.slot_count == 1 and not info.claimed_slots and not info.pending_steps

    try:
        wait_until(free, timeout_s, "the gpu slot to be free", interval=2)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: {instance.event_log_storage.get_concurrency_info('gpu')}") from None


# ------------------------------------------------------------------------------------- scenarios


def wait_for_gpu_step_in_flight(instance: dg.DagsterInstance, campaign_ids: list[str], in_flight: int,
                                timeout_s: float) -> list[str]:
    """Wait until `in_flight` runs are started and one of them is inside a gpu step; returns the started runs."""

    def ready() -> list[str]:
        started = started_runs(instance, campaign_ids)
        return started if len(started) >= in_flight and gpu_steps_in_progress(instance, started) else []

    wait_until(ready, timeout_s, f"{in_flight} runs in flight with a gpu step running", interval=0.5)
    time.sleep(0.5)  # inside the step (a model call under way)
    return started_runs(instance, campaign_ids)


def run_with_fault(deployment: Deployment, record: MachineRecord, campaigns: int, inject, *, in_flight: int,
                   timeout_s: float) -> None:
    """Backfill `campaigns` new campaigns; with `in_flight` runs started and a gpu step running, call
    `inject(started_run_ids)`; then wait, clicking nothing, until every campaign has succeeded."""
    instance = deployment.instance
    record.campaigns = add_campaigns(deployment, campaigns, record.scenario.replace("_", "-"))
    deployment.topology.launch_backfill("campaign_job", record.campaigns, asset_selection=list(SERVICE_CHAIN))
    started = wait_for_gpu_step_in_flight(instance, record.campaigns, min(campaigns, in_flight), timeout_s)
    fault_wall, fault_at = time.time(), time.monotonic()
    inject(started)
    record.faults_injected += 1
    try:
        wait_for_campaigns(deployment, record.campaigns, timeout_s)
        record.recoveries.append(time.monotonic() - fault_at)
    except AssertionError as exc:  # the audit shows the incomplete campaigns; the reason goes in the notes
        record.notes.append(str(exc)[:2000])
    ended = [instance.get_run_record_by_id(r).end_time for r in started]
    failed = [r for r in started if instance.get_run_by_id(r).status == dg.DagsterRunStatus.FAILURE]
    if failed:  # fault -> the last run it killed marked failed
        record.detections.append(max(instance.get_run_record_by_id(r).end_time for r in failed) - fault_wall)
    record.notes.append(f"{len(started)} runs in flight, {len(failed)} of them failed and retried"
                        if ended else "no run in flight")


def desktop_reboot(deployment: Deployment, campaigns: int = 4, *, down_s: float = 10,
                   timeout_s: float = 900) -> MachineRecord:
    """The code server and its run workers SIGKILLed mid-step; the code server is back `down_s` later."""
    record = MachineRecord("desktop_reboot", f"code server + run workers SIGKILLed mid-step, back {down_s:.0f} s later",
                           services=("code server", "run worker"), causes=("died", "killed", "restart"),
                           assets=SERVICE_CHAIN)

    def reboot(_started: list[str]) -> None:
        deployment.topology.kill_code_server()
        time.sleep(down_s)
        deployment.topology.start_code_server()

    run_with_fault(deployment, record, campaigns, reboot, in_flight=3, timeout_s=timeout_s)
    return finish(deployment, record)


def brief_runs(instance: dg.DagsterInstance, key: str) -> list[dg.DagsterRun]:
    """The runs brief_upload_sensor made for the inbox object `key` (its run key starts with the key)."""
    return [r for r in instance.get_runs(dg.RunsFilter(job_name="campaign_job"))
            if r.tags.get("dagster/run_key", "").startswith(f"brief:{key}@")]


def mac_mini_restart(deployment: Deployment, campaigns: int = 3, *, down_s: float = 15,
                     timeout_s: float = 900) -> MachineRecord:
    """Postgres (Dagster's and the campaign database), SeaweedFS, the webserver and the daemon go down
    mid-step and come back `down_s` later. A brief dropped into the inbox just before must give exactly one
    run: no sensor tick lost or doubled."""
    from tests.support.briefs import sample_brief

    instance, topology, store = deployment.instance, deployment.topology, deployment.store
    record = MachineRecord("mac_mini_restart", f"Postgres, S3, webserver and daemon stopped mid-step, back "
                           f"{down_s:.0f} s later", services=("postgres", "s3", "object store", "code server",
                                                             "run worker"),
                           causes=("connect", "refused", "died", "killed", "restart", "closed"),
                           assets=SERVICE_CHAIN)
    dropped_id = f"inbox-{uuid.uuid4().hex[:6]}"
    dropped = f"briefs/{dropped_id}.yaml"

    def restart(_started: list[str]) -> None:
        store.put_bytes(dropped, sample_brief(dropped_id))
        topology.kill_control_plane()
        deployment.servers.stop()
        time.sleep(down_s)
        deployment.servers.start()
        topology.start_control_plane()

    def restarted_and_inbox_handled(started: list[str]) -> None:
        restart(started)
        # the inbox brief gets its run; its full chain (video, captions on CPU) is not this scenario's: stop it
        [run] = wait_until(lambda: brief_runs(instance, dropped), 180, f"the sensor's run for {dropped}", interval=1)
        instance.run_coordinator.cancel_run(run.run_id)

    run_with_fault(deployment, record, campaigns, restarted_and_inbox_handled, in_flight=2, timeout_s=timeout_s)

    def settled() -> bool:  # moved to briefs/processed/<version>-<name>
        return not store.exists(dropped) and any(o.key.endswith(f"-{dropped_id}.yaml")
                                                 for o in store.list("briefs/processed/"))

    wait_until(settled, 180, f"{dropped} moved to briefs/processed/", interval=2)
    time.sleep(SENSOR_INTERVAL_S + 5)  # one more sensor tick: a doubled request would show now
    record.sensor_runs = len(brief_runs(instance, dropped))
    record.notes.append(f"inbox brief {dropped}: {record.sensor_runs} run(s)")
    return finish(deployment, record)


def finish(deployment: Deployment, record: MachineRecord) -> MachineRecord:
    record.collect_runs(deployment.instance)
    record.finish(deployment.instance, deployment.store, deployment.db)
    return record
