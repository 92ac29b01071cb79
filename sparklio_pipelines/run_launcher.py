"""The run launcher of the 3-node deployment: Dagster's default one, plus a health check of run workers.

Dagster's `DefaultRunLauncher` starts each run in a child process of the Desktop's code server, but it
cannot tell run monitoring whether that process still lives. A code server that dies with its run workers
(the Desktop reboots for updates) leaves their runs STARTED forever, so run retries never see a failure.

This launcher asks the code server that started the run (its address is in the run's `dagster/grpc_info`
tag) which runs it is executing:
- the server answers and lists the run: RUNNING;
- the server answers and does not list it (a restarted server, or a worker gone): NOT_FOUND, and run
  monitoring marks the run failed, which `run_retries` then re-executes from failure;
- the server does not answer (the Desktop is asleep or rebooting, or the tailnet blinked): RUNNING, since
  nothing is known; the verdict waits until the server is back. Marking the run failed here could start a
  retry next to a worker that is still writing. After `unreachable_grace_seconds` of silence the worker
  counts as gone (UNKNOWN, so the run fails and is retried; the retry waits in the run queue until a code
  server answers).

Only Dagster is imported: the Mac mini's webserver and daemon load this module, and they have no Sparklio
code or dependencies (deploy/mac-mini mounts this file into their image).
"""

from __future__ import annotations

import time

from dagster import DefaultRunLauncher, Field, IntSource
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus

CODE_SERVER_QUERY_TIMEOUT_S = 10  # one unreachable Desktop must not stall the monitoring of every run
DEFAULT_UNREACHABLE_GRACE_S = 900  # a Windows update reboot takes 5-15 minutes


class MonitoredRunLauncher(DefaultRunLauncher):
    """`DefaultRunLauncher` whose run workers run monitoring can check (see the module docstring)."""

    def __init__(self, inst_data=None, unreachable_grace_seconds: int = DEFAULT_UNREACHABLE_GRACE_S):
        super().__init__(inst_data=inst_data)
        self.unreachable_grace_seconds = unreachable_grace_seconds
        self._silent_since: dict[str, float] = {}  # run id -> when its code server first did not answer

    @classmethod
    def config_type(cls):
        return {"unreachable_grace_seconds": Field(IntSource, is_required=False,
                                                   default_value=DEFAULT_UNREACHABLE_GRACE_S)}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        from dagster._grpc.__generated__ import dagster_api_pb2
        from dagster._grpc.types import GetCurrentRunsResult
        from dagster._serdes import deserialize_value

        client = self._get_grpc_client_for_termination(run.run_id)
        if client is None:  # not launched by a code server (e.g. `sparklio campaign run` in-process): no worker to ask
            return CheckRunHealthResult(WorkerStatus.RUNNING, "the run has no code server address")
        where = f"{client.host}:{client.port or client.socket}"
        try:
            reply = client._query("GetCurrentRuns", dagster_api_pb2.Empty, timeout=CODE_SERVER_QUERY_TIMEOUT_S)
        except Exception as exc:  # unreachable: cannot tell, so leave the run alone for a while
            silent_s = time.monotonic() - self._silent_since.setdefault(run.run_id, time.monotonic())
            message = f"code server {where} not answering for {silent_s:.0f} s ({type(exc).__name__})"
            if silent_s < self.unreachable_grace_seconds:
                return CheckRunHealthResult(WorkerStatus.RUNNING, message, transient=True)
            self._silent_since.pop(run.run_id, None)
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, f"{message}: its run worker counts as gone")
        self._silent_since.pop(run.run_id, None)
        current = deserialize_value(reply.serialized_current_runs, GetCurrentRunsResult)
        if run.run_id in current.current_runs:
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"running on code server {where}")
        return CheckRunHealthResult(
            WorkerStatus.NOT_FOUND,
            f"code server {where} is not running this run: its run worker died (the code server restarted "
            "or the process was killed)",
        )
