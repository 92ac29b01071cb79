"""Jobs for the executor tests: importable by module path, as `execute_job(reconstructable(...))` needs."""

import dagster as dg

from sparklio_pipelines.defs.dagster_compat.executors import (
    in_process_or_multiprocess_executor,
)


@dg.op(pool="gpu")
def gpu_step() -> int:
    return 1


@dg.op
def cpu_step(value: int) -> int:
    return value + 1


@dg.job(executor_def=in_process_or_multiprocess_executor)
def gpu_then_cpu_job():
    cpu_step(gpu_step())
