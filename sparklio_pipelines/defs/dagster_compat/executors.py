"""The default executor: a run's steps execute in its run worker, and take their turn on the GPU promptly.

A campaign is one chain (brief → copy → image → video → captions), so a step process per step buys no
parallelism; it only costs an interpreter start and a code-location load per step (seconds on the Windows
Desktop, which can only spawn), during which the `gpu` slot is held and the card idles.

Dagster's wait for a pool slot has two problems this executor fixes (dagster 1.13,
`dagster._core.execution.plan.instance_concurrency_context`):
- a blocked step re-checks after 1 s, backing off to 15 s. When the GPU step ahead ends, its slot is
  assigned to the step that has waited longest, which has backed off furthest: the card idles up to 15 s.
  Here a blocked step re-checks every `SPARKLIO_POOL_POLL_SECONDS` (default 0.5 s), a few small queries.
- `interval_to_next_pending_claim_check()` returns `min(0, ...)`, never a positive wait, so a run
  waiting for the slot spins a whole CPU core until it gets it. Here it sleeps until its next re-check.

`execution: config: multiprocess: {}` still selects Dagster's multiprocess executor, unchanged.
Upstream: dagster-io/dagster#20367 fixed the sleep and was closed unmerged; 1.13 has no setting for either.

And the Celery executor's lost-worker watch (below): a step whose Celery worker died becomes a failed step
attempt, so its RetryPolicy resubmits it.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Iterator

import dagster as dg
from dagster._core.definitions.executor_definition import (
    IN_PROC_CONFIG,
    MULTI_PROC_CONFIG,
    _core_in_process_executor_creation,
    _core_multiprocess_executor_creation,
    _get_default_executor_requirements,
)
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.execution.api import ExecuteRunWithPlanIterable
from dagster._core.execution.context.system import (
    PlanExecutionContext,
    PlanOrchestrationContext,
)
from dagster._core.execution.context_creation_job import PlanExecutionContextManager
from dagster._core.execution.plan.execute_plan import inner_plan_execution_iterator
from dagster._core.execution.plan.instance_concurrency_context import (
    InstanceConcurrencyContext,
)
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.executor.in_process import InProcessExecutor
from dagster._utils.error import SerializableErrorInfo
from dagster._utils.timing import time_execution_scope
from dagster_shared.utils.timing import format_duration

from sparklio_common.settings import settings


def pool_poll_seconds() -> float:
    return settings().pool_poll_s


class PromptPoolClaims(InstanceConcurrencyContext):
    """Dagster's pool-slot bookkeeping (same queue, same priorities), re-checking a blocked step every
    `poll_seconds` and sleeping in between."""

    def __init__(self, instance, dagster_run, poll_seconds: float):
        super().__init__(instance, dagster_run)
        self.poll_seconds = poll_seconds

    def claim(self, concurrency_key: str, step_key: str, step_priority: int = 0) -> bool:
        claimed = super().claim(concurrency_key, step_key, step_priority)
        if not claimed and step_key in self._pending_timeouts:  # a blocked check: no back-off past the poll
            self._pending_timeouts[step_key] = min(self._pending_timeouts[step_key], time.time() + self.poll_seconds)
        return claimed

    def interval_to_next_pending_claim_check(self) -> float:
        """Seconds until the next blocked step is due a re-check: the executor sleeps that long."""
        if not self._pending_claims:
            return 0.0
        now = time.time()
        return max(0.0, min((ready_at - now for ready_at in self._pending_timeouts.values()), default=0.0))


class PoolAwareInProcessExecutor(InProcessExecutor):
    """Dagster's in-process executor, waiting for pool slots with `PromptPoolClaims`."""

    def __init__(self, *, poll_seconds: float, **kwargs):
        super().__init__(**kwargs)
        self.poll_seconds = poll_seconds

    def execute(self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan) -> Iterator[DagsterEvent]:
        """`InProcessExecutor.execute` (same engine events), iterating the plan with `PromptPoolClaims`."""
        poll_seconds = self.poll_seconds

        def execution_iterator(job_context: PlanExecutionContext, execution_plan: ExecutionPlan):
            with PromptPoolClaims(job_context.instance, job_context.dagster_run, poll_seconds) as claims:
                yield from inner_plan_execution_iterator(job_context, execution_plan, claims)

        step_keys = execution_plan.step_keys_to_execute
        pid = os.getpid()
        yield DagsterEvent.engine_event(plan_context, f"Executing steps in process (pid: {pid})",
                                        event_specific_data=EngineEventData.in_process(pid, step_keys))
        with time_execution_scope() as timer:
            yield from ExecuteRunWithPlanIterable(
                execution_plan=plan_context.execution_plan,
                iterator=execution_iterator,
                execution_context_manager=PlanExecutionContextManager(
                    job=plan_context.job,
                    retry_mode=plan_context.retry_mode,
                    execution_plan=plan_context.execution_plan,
                    run_config=plan_context.run_config,
                    dagster_run=plan_context.dagster_run,
                    instance=plan_context.instance,
                    raise_on_error=plan_context.raise_on_error,
                    output_capture=plan_context.output_capture,
                    step_dependency_config=self.step_dependency_config,
                ),
            )
        yield DagsterEvent.engine_event(
            plan_context, f"Finished steps in process (pid: {pid}) in {format_duration(timer.millis)}",
            event_specific_data=EngineEventData.in_process(pid, step_keys),
        )


@dg.executor(
    name="in_process_or_multiprocess",
    config_schema=dg.Field(
        dg.Selector({"in_process": IN_PROC_CONFIG, "multiprocess": MULTI_PROC_CONFIG}),
        default_value={"in_process": {}},
    ),
    requirements=_get_default_executor_requirements,
)
def in_process_or_multiprocess_executor(init_context: dg.InitExecutorContext):
    """In-process by default, with prompt gpu-pool turns; `multiprocess` is Dagster's own executor."""
    config = init_context.executor_config
    if "multiprocess" in config:
        return _core_multiprocess_executor_creation(config["multiprocess"])
    stock = _core_in_process_executor_creation(config["in_process"])
    return PoolAwareInProcessExecutor(
        poll_seconds=pool_poll_seconds(),
        retries=stock.retries,
        step_dependency_config=stock.step_dependency_config,
        marker_to_close=stock.marker_to_close,
    )


# --- Celery: a lost worker is a failed step attempt -------------------------------------------------
# dagster-celery leaves a step whose worker died STARTED forever; there is no public hook for it, so the
# executor submits through dagster-celery's `_submit_task` and reports the loss as Dagster's own
# step-delegating executors report a lost step process.

WORKER_CHECK_INTERVAL_S = 5.0  # how often a started step's worker is asked whether it still runs it
WORKER_REPLY_TIMEOUT_S = 2.0  # a busy box can be slow to answer; silence only counts once it lasts
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
        if self.lost_event is None:
            try:
                return self.result.get()
            except Exception as exc:
                if type(exc).__name__ != "WorkerLostError":
                    raise
                self._report_lost(f"the Celery pool process running step {self.step.key!r} died: {exc}")
        return [dg.serialize_value(self.lost_event)]

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
        """dagster-celery's executor, turning a lost worker into a step retry."""

        def __init__(self, *, lost_after_s: float, **kwargs):
            super().__init__(**kwargs)
            self.lost_after_s = lost_after_s

        def execute(self, plan_context, execution_plan):
            from dagster_celery.core_execution_loop import core_celery_execution_loop

            return core_celery_execution_loop(plan_context, execution_plan, step_execution_fn=self._submit_step)

        def _submit_step(self, app, plan_context, step, queue, priority, known_state):
            from celery.exceptions import DuplicateTaskNameWarning

            with warnings.catch_warnings():
                # dagster-celery declares its one task again for every step it submits; that is by design
                warnings.simplefilter("ignore", DuplicateTaskNameWarning)
                result = _submit_task(app, plan_context, step, queue, priority, known_state)
            return WatchedStepTask(app, result, plan_context, step, known_state, self.lost_after_s)

    return PoolRoutedCeleryExecutor


def celery_executor_def(config: dict, lost_after_s: float):
    """`dagster_celery.celery_executor` (same config schema), with lost-worker retries."""
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
            lost_after_s=lost_after_s,
        )

    return sparklio_celery_executor.configured(config, name="sparklio_celery")
