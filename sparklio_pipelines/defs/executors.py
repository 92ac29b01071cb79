"""Where a run's steps execute: on this machine (the default) or on Celery workers across the boxes.

`SPARKLIO_EXECUTOR=celery` selects dagster-celery with Redis (`REDIS_URL`) as broker and result backend.
Steps in the `gpu` pool go to the `gpu` queue (a worker on each GPU box), every other step to `cpu`
(the Mac mini's worker). Step outputs then travel through S3/MinIO (`SPARKLIO_S3_*`), which every box
reads. Unset (or `default`): each run's steps execute in its run worker (in_process_executor.py),
with Dagster's default IO manager.

Workers get the same Celery settings from `python -m sparklio_pipelines.defs.executors worker-config`
(YAML for `dagster-celery worker start -y`); see deploy/*/start-celery-worker.sh.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from typing import Any

from dagster import EnvVar

from sparklio_common.settings import seconds_from_env

EXECUTOR_ENV = "SPARKLIO_EXECUTOR"
EXECUTOR_CHOICES = ("default", "celery")
WORKER_LOST_ENV = "SPARKLIO_CELERY_WORKER_LOST_SECONDS"
DEFAULT_WORKER_LOST_S = 60.0
WORKER_CHECK_INTERVAL_S = 5.0  # how often a started step's worker is asked whether it still runs it
WORKER_REPLY_TIMEOUT_S = 2.0  # a busy box can be slow to answer; silence only counts once it lasts

GPU_QUEUE = "gpu"
CPU_QUEUE = "cpu"
POOL_QUEUES = {"gpu": GPU_QUEUE}  # concurrency pool -> Celery queue; steps in no listed pool go to CPU_QUEUE
IO_MANAGER_PREFIX = "dagster-io"  # step outputs, next to the media in the same bucket

# Celery settings the executor and every worker share (worker-config writes them for the workers).
CELERY_SETTINGS: dict[str, Any] = {
    "task_default_queue": CPU_QUEUE,
    # a started task records its worker, so the executor can notice when that worker is gone
    "task_track_started": True,
    # a busy worker holds no queued step that an idle box could run (Redis brokers only)
    "worker_disable_prefetch": True,
    "worker_prefetch_multiplier": 1,
    "broker_connection_retry_on_startup": True,
    # dagster-celery's defaults, plus: a message a worker took but never started (it died in between)
    # goes back to the queue after 15 min instead of Redis's default hour. Started steps are acked.
    "broker_transport_options": {
        "max_retries": 3, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5,
        "visibility_timeout": 900,
    },
}


def selected_executor() -> str:
    value = os.environ.get(EXECUTOR_ENV, "").strip().lower() or "default"
    if value not in EXECUTOR_CHOICES:
        raise ValueError(f"{EXECUTOR_ENV}={value!r}: must be one of {', '.join(EXECUTOR_CHOICES)}")
    return value


def celery_selected() -> bool:
    if selected_executor() != "celery":
        return False
    missing = [name for name in ("REDIS_URL", "SPARKLIO_S3_ENDPOINT") if not os.environ.get(name)]
    if missing:
        raise ValueError(
            f"{EXECUTOR_ENV}=celery needs {' and '.join(missing)}: Redis carries the steps to the workers"
            " and S3 their outputs between boxes (see .env.example)"
        )
    return True


def worker_lost_seconds() -> float:
    # at least two checks, so one slow answer is never a lost worker
    return seconds_from_env(WORKER_LOST_ENV, DEFAULT_WORKER_LOST_S, 2 * WORKER_CHECK_INTERVAL_S, 3600)


def executor_config() -> dict:
    """The celery executor's config; `{env: ...}` so the Redis URL (and its password) stays out of the UI."""
    return {
        "broker": {"env": "REDIS_URL"},
        "backend": {"env": "REDIS_URL"},
        "config_source": CELERY_SETTINGS,
    }


def worker_config() -> dict:
    """`dagster-celery worker start -y` reads the executor's config from `execution.config`."""
    return {"execution": {"config": executor_config()}}


# --- routing: the `gpu` pool to the `gpu` queue ------------------------------------------------------


def queue_for(step, default: str) -> str:
    """An explicit `dagster-celery/queue` op tag wins; otherwise the step's pool decides."""
    from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG

    return step.tags.get(DAGSTER_CELERY_QUEUE_TAG) or POOL_QUEUES.get(step.pool or "", default)


def route_by_pool(plan):
    """The plan with a queue tag on each step whose pool has a queue: dagster-celery routes by that tag.

    Done here, not with `op_tags` on each asset, so `pool="gpu"` stays the one place a step says it needs
    the GPU. Steps resolved later from dynamic outputs are routed at submission (`_submit_step`).
    """
    from dagster._core.execution.plan.step import ExecutionStep
    from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG

    routed = {}
    for handle, step in plan.step_dict.items():
        queue = POOL_QUEUES.get(step.pool or "") if isinstance(step, ExecutionStep) else None
        if queue and DAGSTER_CELERY_QUEUE_TAG not in step.tags:
            step = step._replace(tags={**step.tags, DAGSTER_CELERY_QUEUE_TAG: queue})
        routed[handle] = step
    return plan._replace(step_dict=routed, step_dict_by_key={step.key: step for step in routed.values()})


# --- a lost worker is a failed step attempt ---------------------------------------------------------

RUNS, WITHOUT_TASK, SILENT = "runs", "without_task", "silent"


class WatchedStepTask:
    """A step's Celery task, watched for the worker that runs it going away.

    Celery never finishes such a task by itself: a killed pool process fails it with WorkerLostError,
    and a worker that is gone altogether (power, reboot, kill -9) leaves it STARTED forever. Both are
    reported as a failed attempt, so the step's RetryPolicy resubmits it to its queue or fails the run,
    as Dagster's step-delegating executors do for a lost step process. A step waiting in its queue
    (no worker up yet) just waits.

    The worker is asked every few seconds whether it still runs the task. Answering without it (it
    restarted) twice in a row means lost. No answer only counts once it has lasted `lost_after_s`:
    broadcast replies are often late or missing on a busy box, so silence alone proves little.
    """

    def __init__(self, app, result, plan_context, step, known_state, lost_after_s: float):
        self.app, self.result, self.plan_context, self.step = app, result, plan_context, step
        self.known_state, self.lost_after_s = known_state, lost_after_s
        self.lost_event = None
        self._unconfirmed_since: float | None = None  # since when no answer said "running it"
        self._denials = 0  # consecutive answers without the task
        self._next_check = 0.0

    def ready(self) -> bool:
        if self.lost_event is not None or self.result.ready():
            return True
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + WORKER_CHECK_INTERVAL_S
        worker = self._started_on()
        answer = self._ask(worker) if worker else RUNS
        if answer == RUNS:
            self._unconfirmed_since, self._denials = None, 0
            return False
        self._unconfirmed_since = self._unconfirmed_since or now
        self._denials = self._denials + 1 if answer == WITHOUT_TASK else 0
        silent_s = now - self._unconfirmed_since
        if (self._denials >= 2 or silent_s >= self.lost_after_s) and not self.result.ready():
            why = "answers without it" if self._denials >= 2 else f"has not answered for {silent_s:.0f}s"
            self._report_lost(f"Celery worker {worker} no longer runs step {self.step.key!r}"
                              f" (task {self.result.id}): it {why}")
        return self.lost_event is not None

    def get(self) -> list:
        from dagster._serdes import serialize_value

        if self.lost_event is None:
            try:
                return self.result.get()
            except Exception as exc:
                if type(exc).__name__ != "WorkerLostError":
                    raise
                self._report_lost(f"the Celery pool process running step {self.step.key!r} died: {exc}")
        return [serialize_value(self.lost_event)]

    def revoke(self, *args, **kwargs):
        return self.result.revoke(*args, **kwargs)

    def _started_on(self) -> str | None:
        """The worker's name once the task started (`task_track_started`), else None."""
        if self.result.state != "STARTED":
            return None
        info = self.result.info
        return info.get("hostname") if isinstance(info, dict) else None

    def _ask(self, worker: str) -> str:
        """RUNS, WITHOUT_TASK (it answered: restarted, or lost the task) or SILENT."""
        try:
            inspect = self.app.control.inspect(destination=[worker], timeout=WORKER_REPLY_TIMEOUT_S)
            replies = inspect.query_task(self.result.id)
        except Exception:  # the broker itself is unreachable: that says nothing about the worker
            return RUNS
        if not replies or worker not in replies:
            return SILENT
        return RUNS if replies[worker].get(self.result.id) else WITHOUT_TASK

    def _report_lost(self, message: str) -> None:
        from dagster._utils.error import SerializableErrorInfo

        step_context = self.plan_context.for_step(self.step)
        error = SerializableErrorInfo(message=message, stack=[], cls_name="CeleryWorkerLost")
        # RetryPolicy and attempt count decide: STEP_UP_FOR_RETRY, or STEP_FAILURE when none are left
        self.lost_event = self.plan_context.executor.log_failure_or_retry_event_after_error(
            step_context, error, self.known_state
        )
        with contextlib.suppress(Exception):  # a worker that was only unreachable must not finish it too
            self.result.revoke(terminate=True)


def _celery_executor_class():
    from dagster_celery.executor import CeleryExecutor, _submit_task

    class PoolRoutedCeleryExecutor(CeleryExecutor):
        """dagster-celery's executor, routing by pool and turning a lost worker into a step retry."""

        def __init__(self, *, lost_after_s: float, **kwargs):
            super().__init__(**kwargs)
            self.lost_after_s = lost_after_s

        def execute(self, plan_context, execution_plan):
            from dagster_celery.core_execution_loop import core_celery_execution_loop

            return core_celery_execution_loop(
                plan_context, route_by_pool(execution_plan), step_execution_fn=self._submit_step
            )

        def _submit_step(self, app, plan_context, step, queue, priority, known_state):
            from celery.exceptions import DuplicateTaskNameWarning

            queue = queue_for(step, queue)
            with warnings.catch_warnings():
                # dagster-celery declares its one task again for every step it submits; that is by design
                warnings.simplefilter("ignore", DuplicateTaskNameWarning)
                result = _submit_task(app, plan_context, step, queue, priority, known_state)
            return WatchedStepTask(app, result, plan_context, step, known_state, self.lost_after_s)

    return PoolRoutedCeleryExecutor


def celery_executor_def():
    """`dagster_celery.celery_executor` (same config schema), with pool routing and lost-worker retries."""
    import dagster as dg
    from dagster._core.execution.retries import RetryMode
    from dagster_celery.executor import CELERY_CONFIG

    executor_class = _celery_executor_class()

    @dg.executor(
        name="celery", config_schema=CELERY_CONFIG, requirements=dg.multiple_process_executor_requirements()
    )
    def sparklio_celery_executor(init_context):
        config = init_context.executor_config
        return executor_class(
            broker=config.get("broker"),
            backend=config.get("backend"),
            config_source=config.get("config_source"),
            include=config.get("include"),
            retries=RetryMode.from_config(config["retries"]),
            lost_after_s=worker_lost_seconds(),
        )

    return sparklio_celery_executor.configured(executor_config(), name="sparklio_celery")


def s3_io_manager():
    """Step outputs as pickles in the project's bucket, readable from every box."""
    from dagster_aws.s3 import S3PickleIOManager, S3Resource

    from sparklio_pipelines.defs.resources import env_or

    return S3PickleIOManager(
        s3_resource=S3Resource(
            endpoint_url=EnvVar("SPARKLIO_S3_ENDPOINT"),
            region_name=env_or("SPARKLIO_S3_REGION", "us-east-1"),
            aws_access_key_id=env_or("SPARKLIO_S3_ACCESS_KEY_ID", None),
            aws_secret_access_key=env_or("SPARKLIO_S3_SECRET_ACCESS_KEY", None),
        ),
        s3_bucket=env_or("SPARKLIO_S3_BUCKET", "sparklio"),
        s3_prefix=IO_MANAGER_PREFIX,
    )


def run_executor():
    """The executor for every job: Celery workers when selected, else the run worker itself."""
    if celery_selected():
        return celery_executor_def()
    from sparklio_pipelines.defs.dagster_compat import (
        in_process_or_multiprocess_executor,
    )

    return in_process_or_multiprocess_executor


def executor_resources() -> dict:
    """Resources the selected executor needs on top of `build_resources()`."""
    return {"io_manager": s3_io_manager()} if celery_selected() else {}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["worker-config"]:
        print("usage: python -m sparklio_pipelines.defs.executors worker-config  (YAML for dagster-celery -y)",
              file=sys.stderr)
        return 2
    import yaml

    sys.stdout.write(yaml.safe_dump(worker_config(), sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
