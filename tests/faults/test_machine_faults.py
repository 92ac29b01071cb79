"""Whole machines failing, short versions (tests/faults/machines.py has the scenarios; the soak,
`python -m tests.faults.report --soak N`, draws many of them from a seeded schedule).

A real daemon with the repo's production dagster.yaml runs these, so they also show that its
run_retries and run_monitoring settings are applied, not just written.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import dagster as dg
import pytest

from tests.faults.machines import (
    RETRY_NUMBER_TAG,
    assert_gpu_slot_given_back,
    assert_retries_resumed_from_failure,
    desktop_reboot,
    mac_mini_restart,
    machine_deployment,
)


@pytest.fixture(scope="module")
def deployment():
    # not under pytest's tmp_path: a concurrent session's pruning of old basetemp dirs would pull the
    # Postgres data dir away mid-test (as tests/conftest.py says of SPARKLIO_HOME)
    workdir = Path(tempfile.mkdtemp(prefix="sparklio-machines-"))
    with machine_deployment(workdir) as deployed:
        yield deployed
    shutil.rmtree(workdir, ignore_errors=True)


def test_instance_has_run_retries_and_worker_monitoring(deployment):
    from sparklio_pipelines.defs.dagster_compat.run_launcher import MonitoredRunLauncher

    instance = deployment.instance
    assert isinstance(instance.run_launcher, MonitoredRunLauncher)
    assert instance.run_launcher.supports_check_run_worker_health
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 3
    assert instance.run_retries_retry_on_asset_or_op_failure is False
    assert instance.run_monitoring_enabled and instance.run_monitoring_poll_interval_seconds == 30


def test_desktop_reboot_mid_backfill_completes_every_campaign_without_a_click(deployment):
    record = desktop_reboot(deployment, campaigns=3, down_s=10)
    instance = deployment.instance
    record.assert_clean()
    assert record.stuck == []
    killed = [r for c in record.campaigns for r in instance.get_runs(dg.RunsFilter(tags={"dagster/partition": c}))
              if r.status == dg.DagsterRunStatus.FAILURE]
    assert len(killed) >= 3, "the reboot should have caught several runs in flight"
    assert record.retried, "no run was retried automatically"
    for run in killed:  # every killed run has exactly one automatic retry, attempt 1
        children = [r for r in instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": run.run_id}))]
        assert [c.tags.get(RETRY_NUMBER_TAG) for c in children] == ["1"], (run.run_id, children)
    assert_retries_resumed_from_failure(instance, record.retried)
    assert_gpu_slot_given_back(instance)


def test_mac_mini_restart_mid_run_recovers_runs_and_loses_no_sensor_tick(deployment):
    record = mac_mini_restart(deployment, campaigns=2, down_s=15)
    record.assert_clean()
    assert record.stuck == []
    assert record.sensor_runs == 1, record.notes
    assert_retries_resumed_from_failure(deployment.instance, record.retried)
    assert_gpu_slot_given_back(deployment.instance)
