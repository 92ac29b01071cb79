"""The default executor: steps in the run worker, a blocked `gpu` step re-checks promptly and sleeps between.

Real Dagster instance (SQLite storage, which enforces pools like Postgres), real runs through `execute_job`.
Another run holds the only `gpu` slot for HOLD_S seconds, as a GPU step of another campaign would.
"""

from __future__ import annotations

import os
import threading
import time

import dagster as dg
import pytest
from dagster import instance_for_test
from dagster._core.execution.plan.instance_concurrency_context import (
    InstanceConcurrencyContext,
)

from sparklio_common.settings import DEFAULT_POOL_POLL_S
from sparklio_pipelines.defs.dagster_compat.executors import (
    PoolAwareInProcessExecutor,
    PromptPoolClaims,
    pool_poll_seconds,
)
from tests.support import pool_jobs

HOLD_S = 3.0
POLL_S = 0.25


@pytest.fixture()
def gpu_instance():
    with instance_for_test(overrides={"concurrency": {"pools": {"default_limit": 1}}}) as instance:
        instance.event_log_storage.set_concurrency_slots("gpu", 1)
        yield instance


def hold_slot_then_release(instance, seconds: float) -> threading.Thread:
    status = instance.event_log_storage.claim_concurrency_slot("gpu", "other-campaign-run", "copy")
    assert status.is_claimed

    def release():
        time.sleep(seconds)
        instance.event_log_storage.free_concurrency_slot_for_step("other-campaign-run", "copy")

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    return thread


class CallCounter:
    def __init__(self):
        self.calls = 0

    def wrap(self, fn):
        def counted(*args, **kwargs):
            self.calls += 1
            return fn(*args, **kwargs)
        return counted


def run_blocked_job(instance, monkeypatch, run_config=None):
    """Run gpu_then_cpu_job while the slot is held; count claim attempts and database checks."""
    attempts, db_checks = CallCounter(), CallCounter()
    monkeypatch.setattr(InstanceConcurrencyContext, "claim", attempts.wrap(InstanceConcurrencyContext.claim))
    storage = instance.event_log_storage
    monkeypatch.setattr(storage, "claim_concurrency_slot", db_checks.wrap(storage.claim_concurrency_slot))
    releaser = hold_slot_then_release(instance, HOLD_S)
    with dg.execute_job(dg.reconstructable(pool_jobs.gpu_then_cpu_job), instance=instance,
                        run_config=run_config or {}) as result:
        success, run_id = result.success, result.run_id
    releaser.join()
    return success, run_id, attempts.calls, db_checks.calls


def test_definitions_default_to_the_pool_aware_in_process_executor():
    from sparklio_pipelines.definitions import defs

    executor_def = defs.resolve_job_def("campaign_job").executor_def
    assert executor_def.name == "in_process_or_multiprocess"
    config = executor_def.config_schema.as_field().default_value
    assert config == {"in_process": {}}


def test_a_blocked_gpu_step_rechecks_every_poll_and_sleeps_in_between(gpu_instance, monkeypatch):
    monkeypatch.setenv("SPARKLIO_POOL_POLL_SECONDS", str(POLL_S))
    success, run_id, attempts, db_checks = run_blocked_job(gpu_instance, monkeypatch)
    assert success
    print(f"blocked {HOLD_S}s: {db_checks} database checks, {attempts} claim attempts")

    # both steps ran in this process (the run worker), none in a step process of its own
    steps = gpu_instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)
    assert {e.step_key for e in steps} == {"gpu_step", "cpu_step"}
    assert {e.dagster_event.pid for e in steps} == {os.getpid()}

    # it asked the database about every POLL_S while blocked (Dagster's back-off: 1 s, 1.1 s, 1.21 s, ...)
    assert db_checks >= 0.6 * HOLD_S / POLL_S, db_checks
    # and slept in between: Dagster's own loop calls claim() thousands of times while it waits
    assert attempts <= 3 * db_checks + 5, (attempts, db_checks)

    # the slot is free again once the run ends
    assert gpu_instance.event_log_storage.get_concurrency_info("gpu").active_slot_count == 0


def test_multiprocess_config_still_selects_dagsters_executor(gpu_instance):
    from dagster._config import process_config
    from dagster._core.executor.multiprocess import MultiprocessExecutor

    job = pool_jobs.gpu_then_cpu_job
    executors = {}
    default = job.executor_def.config_schema.as_field().default_value
    for mode in ({"multiprocess": {"max_concurrent": 2}}, {"in_process": {}}, default):
        config = process_config(job.executor_def.config_schema.config_type, mode).value
        init = dg.InitExecutorContext(job=dg.reconstructable(job), executor_def=job.executor_def,
                                      executor_config=config, instance=gpu_instance)
        executors["default" if mode is default else next(iter(mode))] = job.executor_def.executor_creation_fn(init)
    assert isinstance(executors["multiprocess"], MultiprocessExecutor)
    assert isinstance(executors["in_process"], PoolAwareInProcessExecutor)
    assert isinstance(executors["default"], PoolAwareInProcessExecutor)


def test_dagster_still_spins_while_a_claim_is_pending(gpu_instance):
    """Guards the reason PromptPoolClaims exists: if Dagster's own context starts returning a positive wait,
    this fails, and the override can go."""
    releaser = hold_slot_then_release(gpu_instance, 0.5)
    run = gpu_instance.create_run_for_job(pool_jobs.gpu_then_cpu_job)
    with InstanceConcurrencyContext(gpu_instance, run) as stock:
        assert not stock.claim("gpu", "gpu_step")
        assert stock.interval_to_next_pending_claim_check() == 0  # a pending check ~1 s away, yet no wait
    with PromptPoolClaims(gpu_instance, run, poll_seconds=POLL_S) as prompt:
        assert not prompt.claim("gpu", "gpu_step")
        assert 0 < prompt.interval_to_next_pending_claim_check() <= POLL_S
    releaser.join()


@pytest.mark.parametrize("raw, expected", [("", DEFAULT_POOL_POLL_S), ("0.25", 0.25), ("2", 2.0)])
def test_pool_poll_seconds_from_the_environment(monkeypatch, raw, expected):
    monkeypatch.setenv("SPARKLIO_POOL_POLL_SECONDS", raw)
    assert pool_poll_seconds() == expected


@pytest.mark.parametrize("raw", ["0", "0.05", "60", "fast"])
def test_pool_poll_seconds_refuses_busy_loops_and_nonsense(monkeypatch, raw):
    monkeypatch.setenv("SPARKLIO_POOL_POLL_SECONDS", raw)
    with pytest.raises(ValueError, match="SPARKLIO_POOL_POLL_SECONDS"):
        pool_poll_seconds()
