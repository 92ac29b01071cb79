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
"""

from __future__ import annotations

import os
import time
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
from dagster._utils.timing import time_execution_scope
from dagster_shared.utils.timing import format_duration

from sparklio_common.settings import seconds_from_env

POOL_POLL_ENV = "SPARKLIO_POOL_POLL_SECONDS"
DEFAULT_POOL_POLL_S = 0.5


def pool_poll_seconds() -> float:
    # below 0.1 s it is a busy loop on the database; 15 s is Dagster's own cap
    return seconds_from_env(POOL_POLL_ENV, DEFAULT_POOL_POLL_S, 0.1, 15)


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
