"""Tier 3, end to end: a real `dagster-daemon` ticks brief_upload_sensor and queues the campaign run."""

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef

from resources.object_store import LocalObjectStoreResource
from tests.support.processes import stop_process_group

REPO = Path(__file__).resolve().parents[2]
BRIEF = (REPO / "examples" / "briefs" / "glow-serum-en.yaml").read_text()

# The queue holds runs instead of launching them: this test is about the sensor, not the content.
INSTANCE_YAML = """
run_queue:
  max_concurrent_runs: 0
telemetry:
  enabled: false
"""


def test_daemon_ticks_sensor_and_queues_a_run(tmp_path, postgres_dsn):
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    objects = tmp_path / "objects"
    LocalObjectStoreResource(root=str(objects)).put_bytes(
        "briefs/daemon test 봄.yaml", BRIEF.replace("glow-serum-launch", "daemon-e2e").encode()
    )
    env = {**os.environ, "DAGSTER_HOME": str(home), "SPARKLIO_OBJECTS_DIR": str(objects), "DATABASE_URL": postgres_dsn}
    daemon = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(REPO / "workspace.yaml")],
        cwd=REPO, env=env, stdout=open(tmp_path / "daemon.log", "wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
        runs = []
        deadline = time.time() + 300
        while time.time() < deadline and not runs:
            assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
            runs = instance.get_runs(filters=dg.RunsFilter(job_name="campaign_job"))
            time.sleep(2)
        assert runs, "no run queued; daemon log:\n" + (tmp_path / "daemon.log").read_text()[-3000:]
        [run] = runs
        assert run.tags["dagster/partition"] == "daemon-e2e"
        assert run.tags["dagster/run_key"].startswith("brief:briefs/daemon test 봄.yaml@")
        assert run.status in (dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.QUEUED)  # held by the queue
        assert instance.has_dynamic_partition("campaign", "daemon-e2e")
        assert (objects / "campaigns" / "daemon-e2e" / "input" / "brief.json").is_file()
    finally:
        stop(daemon)


def stop(proc: subprocess.Popen) -> None:
    stop_process_group(proc, timeout=30)
