"""Scale-out on Celery, on loopback: a real redis-server, two real workers started by the deploy scripts
(deploy/desktop/start-celery-worker.sh on the `gpu` queue, deploy/mac-mini/start-celery-worker.sh on
`cpu`), step outputs through the S3 IO manager on SeaweedFS, the Dagster instance and campaign metadata
in the embedded Postgres. Ollama and ComfyUI are the fakes that speak their HTTP APIs.

One English campaign (x + shorts) runs campaign_job with `SPARKLIO_EXECUTOR=celery` in a run-worker
process. Mid-`copy`, the gpu worker is killed with SIGKILL and a new one started: the lost attempt goes
to the step's RetryPolicy, the retry runs on the new worker, and the campaign completes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
import yaml

from sparklio_pipelines.defs.executors import CPU_QUEUE, GPU_QUEUE, IO_MANAGER_PREFIX
from tests.support.briefs import EXAMPLE, sample_brief
from tests.support.redis_server import RedisServer
from tests.support.topology import (
    REPO_ROOT,
    clean_base_env,
    create_database,
    dagster_storage_url,
    launch,
    wait_until,
    write_env_file,
)

GPU_ASSETS = {"copy", "image", "video", "captions"}  # the campaign assets with pool="gpu"
CAMPAIGN_ASSETS = {"brief", *GPU_ASSETS, "campaign_bundle"}
WORKER_LOST_S = 30  # how long a started step's worker may be silent before the attempt counts as lost
RUN_TIMEOUT_S = 1800  # video and captions encode 1080x1920 on CPU here; a busy 2-core box needs long
WORKER_START_TIMEOUT_S = 300  # dagster-celery and celery each import dagster: slow on a busy 2-core box


# The run worker: campaign_job for one partition, as the code server's run worker would execute it. The campaign
# assets only: the asset checks are more `cpu` steps like `brief`, and would add minutes on a 2-core box.
RUN_WORKER = f"""
import sys
import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository

job = ReconstructableRepository.for_module("sparklio_pipelines.definitions", "defs").get_reconstructable_job(
    "campaign_job").get_subset(asset_selection={{dg.AssetKey(a) for a in {sorted(CAMPAIGN_ASSETS)!r}}},
                               asset_check_selection=set())
with dg.DagsterInstance.get() as instance:
    result = dg.execute_job(job, instance, tags={{"dagster/partition": sys.argv[1]}})
sys.exit(0 if result.success else 1)
"""


# --- routing and configuration, no servers --------------------------------------------------------


def test_gpu_pool_steps_route_to_the_gpu_queue_and_the_rest_to_cpu():
    from dagster._core.execution.api import create_execution_plan
    from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG

    from sparklio_pipelines.definitions import defs
    from sparklio_pipelines.defs.executors import CELERY_SETTINGS

    for job_name, gpu_steps in (("campaign_job", GPU_ASSETS), ("upload_captions_job", {"uploaded_video_captions"})):
        plan = create_execution_plan(defs.resolve_job_def(job_name))  # the queue tag is set on the asset
        queues = {step.key: step.tags.get(DAGSTER_CELERY_QUEUE_TAG, CELERY_SETTINGS["task_default_queue"])
                  for step in plan.get_all_steps_in_topo_order()}
        assert {key for key, queue in queues.items() if queue == GPU_QUEUE} == gpu_steps, queues
        assert set(queues.values()) == ({GPU_QUEUE, CPU_QUEUE} if len(queues) > len(gpu_steps) else {GPU_QUEUE})
        assert plan.artifacts_persisted  # dagster-celery refuses plans whose outputs stay in memory


def test_worker_config_is_valid_celery_executor_config(monkeypatch):
    from dagster_celery.cli import get_validated_config

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6390/2")
    out = subprocess.run([sys.executable, "-m", "sparklio_pipelines.defs.executors", "worker-config"],
                         capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert "6390" not in out.stdout  # the URL (and any password in it) is read from the env, not written out
    path = Path(os.environ["SPARKLIO_HOME"]) / "celery-worker.yaml"
    path.write_text(out.stdout)
    config = get_validated_config(str(path))
    assert config["broker"] == config["backend"] == "redis://127.0.0.1:6390/2"
    assert config["config_source"]["task_default_queue"] == CPU_QUEUE
    assert config["config_source"]["task_track_started"] is True


def test_celery_selection_is_checked(monkeypatch):
    from sparklio_pipelines.defs.executors import celery_selected, run_executor

    for name in ("SPARKLIO_EXECUTOR", "REDIS_URL", "SPARKLIO_S3_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert run_executor().name == "in_process_or_multiprocess"  # the default: steps in the run worker
    monkeypatch.setenv("SPARKLIO_EXECUTOR", "celery")
    with pytest.raises(ValueError, match="REDIS_URL and SPARKLIO_S3_ENDPOINT"):
        celery_selected()
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6390/0")
    monkeypatch.setenv("SPARKLIO_S3_ENDPOINT", "http://127.0.0.1:9")
    assert run_executor().name == "sparklio_celery"
    monkeypatch.setenv("SPARKLIO_EXECUTOR", "kubernetes")
    with pytest.raises(ValueError, match="must be one of default, celery"):
        celery_selected()


# --- the cluster ----------------------------------------------------------------------------------


def instance_yaml(storage_url: str) -> str:
    """Postgres storage shared by every process; the `gpu` pool limited to one step, as in dagster.yaml."""
    return yaml.safe_dump({
        "storage": {"postgres": {"postgres_url": storage_url}},
        "concurrency": {"pools": {"default_limit": 1}},
        "telemetry": {"enabled": False},
    })


def celery_app(redis_url: str):
    from celery import Celery

    return Celery("sparklio-test", broker=redis_url, backend=redis_url)


def worker_names(app) -> set[str]:
    return {name for reply in (app.control.ping(timeout=1.0) or []) for name in reply}


def process_tree(pid: int) -> set[int]:
    import psutil

    try:
        root = psutil.Process(pid)
        return {pid, *(p.pid for p in root.children(recursive=True))}
    except psutil.Error:
        return set()


class Cluster:
    def __init__(self, workdir: Path, redis: RedisServer, settings: dict[str, str]):
        self.workdir, self.redis, self.settings = workdir, redis, settings
        self.app = celery_app(redis.url)
        self.workers: dict[str, object] = {}
        self.host = os.uname().nodename

    def node_env(self, node: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        home = self.workdir / node
        (home / "dagster-home").mkdir(parents=True, exist_ok=True)
        (home / "dagster-home" / "dagster.yaml").write_text(self.settings["INSTANCE_YAML"])
        values = {k: v for k, v in self.settings.items() if k != "INSTANCE_YAML"}
        values |= {"SPARKLIO_HOME": str(home), "DAGSTER_HOME": str(home / "dagster-home"), **(extra or {})}
        env_file = write_env_file(self.workdir / f"{node}.env", values)
        return {**clean_base_env(), "SPARKLIO_ENV_FILE": str(env_file)}

    def start_worker(self, role: str, generation: int = 1):
        script = {"gpu": "deploy/desktop/start-celery-worker.sh", "cpu": "deploy/mac-mini/start-celery-worker.sh"}[role]
        node = "desktop" if role == "gpu" else "mac-mini"
        proc = launch(f"{role}-worker-{generation}", ["bash", str(REPO_ROOT / script)], self.node_env(node), self.workdir)
        self.workers[f"{role}-{generation}"] = proc
        return proc

    def wait_for_workers(self, *procs) -> None:
        names = {f"{p.name.split('-')[0]}@{self.host}" for p in procs}
        wait_until(lambda: names <= worker_names(self.app), WORKER_START_TIMEOUT_S, f"workers {sorted(names)}",
                   interval=2, alive=procs)

    def stop(self) -> None:
        for proc in self.workers.values():
            proc.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, seaweed, postgres_dsn):
    from resources.object_store import S3ObjectStoreResource

    workdir = tmp_path_factory.mktemp("celery")
    bucket = f"celery-{uuid.uuid4().hex[:10]}"
    S3ObjectStoreResource(endpoint_url=seaweed.endpoint, bucket=bucket, access_key_id="test",
                          secret_access_key="test").head("none")  # creates the bucket
    redis = RedisServer(workdir / "redis").start()
    settings = {
        "INSTANCE_YAML": instance_yaml(dagster_storage_url(create_database(postgres_dsn, "dagster_celery"))),
        "REDIS_URL": redis.url,
        "SPARKLIO_EXECUTOR": "celery",
        "SPARKLIO_S3_ENDPOINT": seaweed.endpoint,
        "SPARKLIO_S3_BUCKET": bucket,
        "SPARKLIO_S3_ACCESS_KEY_ID": "test",
        "SPARKLIO_S3_SECRET_ACCESS_KEY": "test",
        "DATABASE_URL": postgres_dsn,
        "SPARKLIO_MODELS_DIR": os.environ["SPARKLIO_MODELS_DIR"],
        "SPARKLIO_RETRY_DELAY_SECONDS": "1",
        "SPARKLIO_CELERY_WORKER_LOST_SECONDS": str(WORKER_LOST_S),
    }
    cluster = Cluster(workdir, redis, settings)
    try:
        yield cluster
    finally:
        cluster.stop()
        redis.stop()


def open_instance(cluster: Cluster):
    from dagster._core.instance.ref import InstanceRef

    cluster.node_env("test")  # writes the instance's dagster.yaml
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(cluster.workdir / "test" / "dagster-home")))


def celery_workers_by_step(instance, run_id: str) -> dict[str, list[str]]:
    """Step key -> the Celery worker of each attempt, from dagster-celery's engine event in the worker."""
    workers: dict[str, list[str]] = {}
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        metadata = entry.dagster_event.engine_event_data.metadata
        if "Celery worker" in metadata:
            workers.setdefault(entry.step_key, []).append(metadata["Celery worker"].value)
    return workers


def submitted_queues(instance, run_id: str) -> dict[str, set[str]]:
    queues: dict[str, set[str]] = {}
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        message = entry.dagster_event.message or ""
        if message.startswith("Submitting celery task"):
            queues.setdefault(entry.step_key, set()).add(message.rsplit('to queue "', 1)[1].rstrip('".'))
    return queues


def step_events(instance, run_id: str, event_type) -> list:
    return [e for e in instance.all_logs(run_id, of_type=event_type)]


@pytest.fixture(scope="module")
def campaign_run(cluster, postgres_dsn):
    from resources.database import CampaignDatabaseResource
    from resources.object_store import S3ObjectStoreResource
    from sparklio_pipelines.defs.partitions import submit_brief
    from tests.support.fake_comfyui import FakeComfyUI
    from tests.support.fake_copywriter import Copywriter
    from tests.support.fake_ollama import FakeOllama

    ollama = FakeOllama(responder=Copywriter()).start()
    comfyui = FakeComfyUI().start()
    cluster.settings |= {"OLLAMA_HOST": ollama.url, "COMFYUI_URL": comfyui.url}
    started = time.monotonic()
    gpu_first = cluster.start_worker("gpu")
    cluster.wait_for_workers(gpu_first, cluster.start_worker("cpu"))
    workers_up_s = time.monotonic() - started

    store = S3ObjectStoreResource(endpoint_url=cluster.settings["SPARKLIO_S3_ENDPOINT"],
                                  bucket=cluster.settings["SPARKLIO_S3_BUCKET"],
                                  access_key_id="test", secret_access_key="test")
    db = CampaignDatabaseResource(database_url=postgres_dsn)
    campaign_id = f"celery-{uuid.uuid4().hex[:8]}"
    instance = open_instance(cluster)
    submit_brief(sample_brief(campaign_id), EXAMPLE.name, store=store, db=db, instance=instance)

    # the run worker: the orchestrator submits each step to Redis and waits for the workers
    ollama.latency = 1.0  # the first copy attempt takes long enough to be killed in the middle
    run_started = time.monotonic()
    orchestrator = launch(
        "orchestrator", [sys.executable, "-c", RUN_WORKER, campaign_id],
        {**clean_base_env(), **{k: v for k, v in cluster.settings.items() if k != "INSTANCE_YAML"},
         "SPARKLIO_HOME": str(cluster.workdir / "test"), "DAGSTER_HOME": str(cluster.workdir / "test" / "dagster-home")},
        cluster.workdir,
    )
    try:
        run_id = wait_until(lambda: next(iter(r.run_id for r in instance.get_runs()), None), 300, "the run",
                            alive=[orchestrator])

        def copy_mid_flight():
            on_worker = celery_workers_by_step(instance, run_id).get("copy")
            asked = [r for r in ollama.requests if r.path in ("/api/generate", "/api/chat")]
            return on_worker and asked

        wait_until(copy_mid_flight, 300, "copy running on the gpu worker", alive=[orchestrator])
        first_attempt_pids = process_tree(gpu_first.pid)
        os.killpg(gpu_first.pid, signal.SIGKILL)  # the GPU box goes away mid-step
        gpu_first.proc.wait(timeout=30)
        killed_at = time.monotonic() - run_started
        ollama.latency = 0.0
        gpu_second = cluster.start_worker("gpu", generation=2)
        cluster.wait_for_workers(gpu_second)

        orchestrator.proc.wait(timeout=RUN_TIMEOUT_S)
        run_seconds = time.monotonic() - run_started
        second_attempt_pids = process_tree(gpu_second.pid)
        yield {
            "instance": instance, "run_id": run_id, "campaign_id": campaign_id, "store": store, "db": db,
            "ollama": ollama, "comfyui": comfyui, "host": cluster.host, "orchestrator": orchestrator,
            "first_pids": first_attempt_pids, "second_pids": second_attempt_pids,
            "timing": {"workers_up_s": round(workers_up_s, 1), "killed_at_s": round(killed_at, 1),
                       "run_s": round(run_seconds, 1)},
        }
    finally:
        orchestrator.stop()
        ollama.stop()
        comfyui.stop()


def test_campaign_completes_through_celery_after_the_gpu_worker_is_killed(campaign_run):
    instance, run_id = campaign_run["instance"], campaign_run["run_id"]
    print("celery campaign timing:", campaign_run["timing"])
    run = instance.get_run_by_id(run_id)
    assert run.status == dg.DagsterRunStatus.SUCCESS, campaign_run["orchestrator"].log_tail()
    assert campaign_run["orchestrator"].proc.returncode == 0

    succeeded = {e.step_key for e in step_events(instance, run_id, dg.DagsterEventType.STEP_SUCCESS)}
    assert CAMPAIGN_ASSETS <= succeeded
    materialized = {e.dagster_event.asset_key.to_user_string()
                    for e in step_events(instance, run_id, dg.DagsterEventType.ASSET_MATERIALIZATION)}
    assert CAMPAIGN_ASSETS <= materialized


def test_gpu_steps_ran_on_the_gpu_worker_and_the_rest_on_the_cpu_worker(campaign_run):
    instance, run_id, host = campaign_run["instance"], campaign_run["run_id"], campaign_run["host"]
    workers = celery_workers_by_step(instance, run_id)
    queues = submitted_queues(instance, run_id)
    assert set(workers) == set(queues) == CAMPAIGN_ASSETS
    for step, names in workers.items():
        role = "gpu" if step in GPU_ASSETS else "cpu"
        assert set(names) == {f"{role}@{host}"}, (step, names)
        assert queues[step] == {role}, (step, queues[step])


def test_killed_gpu_attempt_was_retried_on_the_new_worker(campaign_run):
    instance, run_id = campaign_run["instance"], campaign_run["run_id"]
    # a retry's attempt begins with STEP_RESTARTED, the first with STEP_START
    starts = [e for e in instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_START,
                                                           dg.DagsterEventType.STEP_RESTARTED})
              if e.step_key == "copy"]
    retries = [e for e in step_events(instance, run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY) if e.step_key == "copy"]
    assert [e.dagster_event.event_type for e in starts] == [dg.DagsterEventType.STEP_START,
                                                            dg.DagsterEventType.STEP_RESTARTED]
    assert len(retries) == 1
    error = retries[0].dagster_event.step_retry_data.error
    assert error.cls_name == "CeleryWorkerLost" and "gpu@" in error.message
    assert starts[0].timestamp < retries[0].timestamp < starts[1].timestamp
    # attempt 1 ran in a process of the killed worker, attempt 2 (and every later GPU step) in the new one
    first_pid, second_pid = starts[0].dagster_event.pid, starts[1].dagster_event.pid
    assert first_pid in campaign_run["first_pids"] and first_pid not in campaign_run["second_pids"]
    assert second_pid in campaign_run["second_pids"]
    later_gpu = [e.dagster_event.pid for e in step_events(instance, run_id, dg.DagsterEventType.STEP_START)
                 if e.step_key in GPU_ASSETS - {"copy"}]
    assert later_gpu and set(later_gpu) <= campaign_run["second_pids"]
    # no other step needed a retry: the kill cost exactly one attempt of one step
    assert {e.step_key for e in step_events(instance, run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY)} == {"copy"}


def test_outputs_went_through_s3_and_the_campaign_is_complete(campaign_run):
    from sparklio_common.keys import manifest_key

    store, campaign_id = campaign_run["store"], campaign_run["campaign_id"]
    handed_over = {o.key for o in store.list(f"{IO_MANAGER_PREFIX}/")}
    for asset in ("brief", "copy", "image", "video", "captions"):
        assert f"{IO_MANAGER_PREFIX}/{asset}/{campaign_id}" in handed_over, handed_over
    manifest = json.loads(store.get_bytes(manifest_key(campaign_id)))
    assert {entry["asset"] for entry in manifest["outputs"]} == CAMPAIGN_ASSETS
    for entry in manifest["outputs"]:
        assert store.head(entry["key"]).sha256 == entry["sha256"], entry["key"]
    assert any(entry["key"].endswith("video.mp4") for entry in manifest["outputs"])
    # the copy really came from the Ollama API, the art from the ComfyUI API
    assert campaign_run["ollama"].bodies("/api/chat") or campaign_run["ollama"].bodies("/api/generate")
    assert campaign_run["comfyui"].executed_prompts
