"""The run launcher of the 3-node deployment: Dagster's default one, plus a health check of run workers.

Dagster's `DefaultRunLauncher` starts each run in a child process of the Desktop's code server, but it
cannot tell run monitoring whether that process still lives. A code server that dies with its run workers
(the Desktop reboots for updates) leaves their runs STARTED forever, so run retries never see a failure.

This launcher asks the code server at the run's address (its `dagster/grpc_info` tag):
- a plain code server (`dagster api grpc`, as `dagster dev` starts) lists the runs it executes: listed is
  RUNNING, not listed is NOT_FOUND (the server restarted, or the worker is gone);
- `dagster code-server start` (the Desktop) is a proxy that cannot list runs, so the launcher records the
  server id when it launches a run (`sparklio/code_server_id`; start-code-server.sh gives each start its own
  `--fixed-server-id`, kept across reloads). The same id is RUNNING (that server watches its own workers
  and reports a dead one itself); another id is NOT_FOUND: the server that ran the run restarted;
- no answer (the Desktop asleep or rebooting, the tailnet blinking): RUNNING, since nothing is known.
  Marking the run failed could start a retry next to a worker that is still writing. After
  `unreachable_grace_seconds` of silence the worker counts as gone (UNKNOWN; the retry then waits in the
  run queue until a code server answers).

NOT_FOUND and UNKNOWN make run monitoring mark the run failed, and `run_retries` re-executes it from failure.
Only Dagster is imported: the Mac mini's webserver and daemon load this module, and they have no Sparklio
code or dependencies (deploy/mac-mini mounts this file into their image).
"""

from __future__ import annotations

import time

from dagster import DefaultRunLauncher, Field, IntSource
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus

CODE_SERVER_QUERY_TIMEOUT_S = 10  # one unreachable Desktop must not stall the monitoring of every run
DEFAULT_UNREACHABLE_GRACE_S = 900  # a Windows update reboot takes 5-15 minutes
SERVER_ID_TAG = "sparklio/code_server_id"  # the id of the code server that started the run


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

    def launch_run(self, context) -> None:
        from dagster._core.remote_representation.code_location import (
            GrpcServerCodeLocation,
        )

        location = context.workspace.get_code_location(
            context.dagster_run.remote_job_origin.repository_origin.code_location_origin.location_name)
        if isinstance(location, GrpcServerCodeLocation):
            self._instance.add_run_tags(context.dagster_run.run_id,
                                        {SERVER_ID_TAG: location.client.get_server_id(timeout=CODE_SERVER_QUERY_TIMEOUT_S)})
        super().launch_run(context)

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        import grpc
        from dagster._grpc.__generated__ import dagster_api_pb2
        from dagster._grpc.types import GetCurrentRunsResult
        from dagster._serdes import deserialize_value

        client = self._get_grpc_client_for_termination(run.run_id)
        if client is None:  # not launched by a code server (e.g. `sparklio campaign run` in-process): no worker to ask
            return CheckRunHealthResult(WorkerStatus.RUNNING, "the run has no code server address")
        where = f"{client.host}:{client.port or client.socket}"
        try:
            try:
                reply = client._query("GetCurrentRuns", dagster_api_pb2.Empty, timeout=CODE_SERVER_QUERY_TIMEOUT_S)
                listed = run.run_id in deserialize_value(reply.serialized_current_runs, GetCurrentRunsResult).current_runs
                recorded_id = current_id = None
            except Exception as exc:
                if not _is_unimplemented(exc, grpc):
                    raise
                listed = None  # a proxy: compare server ids instead
                recorded_id = run.tags.get(SERVER_ID_TAG)
                current_id = client.get_server_id(timeout=CODE_SERVER_QUERY_TIMEOUT_S)
        except Exception as exc:  # unreachable: cannot tell, so leave the run alone for a while
            silent_s = time.monotonic() - self._silent_since.setdefault(run.run_id, time.monotonic())
            message = f"code server {where} not answering for {silent_s:.0f} s ({type(exc).__name__})"
            if silent_s < self.unreachable_grace_seconds:
                return CheckRunHealthResult(WorkerStatus.RUNNING, message, transient=True)
            self._silent_since.pop(run.run_id, None)
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, f"{message}: its run worker counts as gone")
        self._silent_since.pop(run.run_id, None)
        if listed or (listed is None and recorded_id in (None, current_id)):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"running under code server {where}")
        reason = ("is not running it" if listed is False
                  else f"restarted since it started the run (server id {recorded_id} -> {current_id})")
        return CheckRunHealthResult(WorkerStatus.NOT_FOUND, f"code server {where} {reason}: the run worker died "
                                    "with it, or was killed")


def _is_unimplemented(exc: Exception, grpc) -> bool:
    """Whether the server answered that it has no such call (Dagster wraps the gRPC error in its own)."""
    for err in (exc, exc.__cause__, exc.__context__):
        if isinstance(err, grpc.RpcError) and err.code() == grpc.StatusCode.UNIMPLEMENTED:
            return True
    return "UNIMPLEMENTED" in str(exc)
