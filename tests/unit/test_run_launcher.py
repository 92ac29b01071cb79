"""MonitoredRunLauncher's verdicts on a run worker, for each answer a code server can give.

tests/faults/test_machine_faults.py shows the proxy case end to end (a real daemon, a real code server
killed and restarted); this covers every branch, including the plain `dagster api grpc` server of
`dagster dev` and a server that never answers.
"""

from __future__ import annotations

from types import SimpleNamespace

import grpc
import pytest
from dagster._core.launcher import WorkerStatus
from dagster._grpc.types import GetCurrentRunsResult
from dagster._serdes import serialize_value

from sparklio_pipelines.defs.dagster_compat.run_launcher import (
    SERVER_ID_TAG,
    MonitoredRunLauncher,
)

RUN_ID = "run-1"


class Unimplemented(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.UNIMPLEMENTED


class FakeCodeServer:
    """`current_runs` None: a proxy (no GetCurrentRuns); `reachable` False: connection refused."""

    def __init__(self, *, current_runs=None, server_id="id-1", reachable=True):
        self.current_runs, self.server_id, self.reachable = current_runs, server_id, reachable
        self.host, self.port, self.socket = "127.0.0.1", 11100, None

    def _query(self, method, request_type, timeout):
        if not self.reachable:
            raise ConnectionRefusedError("connection refused")
        if self.current_runs is None:
            raise Exception("Could not reach user code server. gRPC Error code: UNIMPLEMENTED") from Unimplemented()
        return SimpleNamespace(serialized_current_runs=serialize_value(GetCurrentRunsResult(current_runs=self.current_runs, serializable_error_info=None)))

    def get_server_id(self, timeout):
        return self.server_id


def verdict(server: FakeCodeServer, tags: dict | None = None, launcher: MonitoredRunLauncher | None = None):
    launcher = launcher or MonitoredRunLauncher()
    launcher._get_grpc_client_for_termination = lambda run_id: server
    return launcher.check_run_worker_health(SimpleNamespace(run_id=RUN_ID, tags=tags or {}))


def test_a_plain_server_is_asked_for_its_runs():
    assert verdict(FakeCodeServer(current_runs=[RUN_ID])).status == WorkerStatus.RUNNING
    gone = verdict(FakeCodeServer(current_runs=["another"]))
    assert gone.status == WorkerStatus.NOT_FOUND and "is not running it" in gone.msg


def test_a_proxy_is_judged_by_the_server_id_recorded_at_launch():
    proxy = FakeCodeServer(server_id="sparklio-start-2")
    assert verdict(proxy, {SERVER_ID_TAG: "sparklio-start-2"}).status == WorkerStatus.RUNNING
    restarted = verdict(proxy, {SERVER_ID_TAG: "sparklio-start-1"})
    assert restarted.status == WorkerStatus.NOT_FOUND
    assert "sparklio-start-1 -> sparklio-start-2" in restarted.msg
    assert verdict(proxy, {}).status == WorkerStatus.RUNNING  # launched before this launcher: cannot tell


def test_a_silent_server_gets_the_grace_period_then_its_runs_count_as_gone():
    launcher = MonitoredRunLauncher(unreachable_grace_seconds=3600)
    silent = verdict(FakeCodeServer(reachable=False), launcher=launcher)
    assert silent.status == WorkerStatus.RUNNING and "not answering" in silent.msg
    launcher._silent_since[RUN_ID] -= 3601  # an hour later, still silent
    gone = verdict(FakeCodeServer(reachable=False), launcher=launcher)
    assert gone.status == WorkerStatus.UNKNOWN and "counts as gone" in gone.msg


def test_an_answer_resets_the_silence():
    launcher = MonitoredRunLauncher(unreachable_grace_seconds=3600)
    verdict(FakeCodeServer(reachable=False), launcher=launcher)
    assert verdict(FakeCodeServer(current_runs=[RUN_ID]), launcher=launcher).status == WorkerStatus.RUNNING
    assert RUN_ID not in launcher._silent_since


def test_a_run_without_a_code_server_address_is_left_alone():
    launcher = MonitoredRunLauncher()
    launcher._get_grpc_client_for_termination = lambda run_id: None
    assert launcher.check_run_worker_health(SimpleNamespace(run_id=RUN_ID, tags={})).status == WorkerStatus.RUNNING


@pytest.mark.parametrize("path", ["dagster.yaml", "deploy/embedded/dagster.yaml"])
def test_both_instances_configure_the_launcher_retries_and_monitoring(path):
    import yaml

    from sparklio_common.settings import REPO_ROOT

    config = yaml.safe_load((REPO_ROOT / path).read_text())
    assert config["run_launcher"]["module"] == "sparklio_pipelines.defs.dagster_compat.run_launcher"
    assert config["run_launcher"]["class"] == "MonitoredRunLauncher"
    assert config["run_retries"] == {"enabled": True, "max_retries": 3, "retry_on_asset_or_op_failure": False}
    assert config["run_monitoring"]["enabled"] is True
