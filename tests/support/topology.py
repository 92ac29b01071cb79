"""Sparklio's three-node deployment as real processes on loopback, for tests and benchmarks.

Desktop role: `deploy/desktop/start-code-server.sh` (the gRPC code server; runs execute under it).
Mac mini role: `deploy/mac-mini/start-control-plane.sh` (dagster-webserver + dagster-daemon) with
`deploy/mac-mini/workspace.yaml` and the repo's production dagster.yaml, its Postgres given as one URL
because the embedded Postgres listens on a unix socket only.
Each role gets its own .env file (read by the deploy scripts), state dir and DAGSTER_HOME; only the
Desktop's has DATABASE_URL and the product's S3 settings, like production.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import yaml

from tests.support.processes import stop_process_group

REPO_ROOT = Path(__file__).resolve().parents[2]
CODE_SERVER_PORTS = range(11000, 12000)  # AI-worker range
WEBSERVER_PORTS = range(8002, 8100)  # backend range; never 3000
LOCATION_NAME = "sparklio"
LOOPBACK = "127.0.0.1"

# Nothing from the caller's environment may leak into a node: each node's settings come from its .env.
_NODE_ENV_PREFIXES = ("SPARKLIO_", "DAGSTER_", "AWS_")
_NODE_ENV_NAMES = {"DATABASE_URL", "OLLAMA_HOST", "COMFYUI_URL", "REDIS_URL"}


def free_port(ports: range, host: str = LOOPBACK) -> int:
    """A port from `ports` nobody listens on (random order, so concurrent sessions rarely collide)."""
    candidates = list(ports)
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


def create_database(dsn: str, prefix: str) -> str:
    """A new, empty database on the server at `dsn`; returns the libpq URL for it."""
    import psycopg2

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(dsn)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


def dagster_storage_url(dsn: str) -> str:
    # SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3, which breaks Dagster's NOTIFY (see dagster.yaml)
    return "postgresql+psycopg2://" + dsn.split("://", 1)[1]


def production_instance_yaml(storage_url: str) -> str:
    """The repo's dagster.yaml as deployed (compute logs, pools, run monitoring), storage as a URL."""
    config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    config["storage"] = {"postgres": {"postgres_url": storage_url}}
    return yaml.safe_dump(config, sort_keys=False)


def write_env_file(path: Path, values: dict[str, str]) -> Path:
    # The deploy scripts default to the production profile; here the Desktop's models run embedded (no GPU,
    # no Ollama or ComfyUI) beside real S3 and Postgres servers: a mixed setup, which is the embedded profile.
    values = {"SPARKLIO_PROFILE": "embedded", **values}
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def clean_base_env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items()
        if not k.startswith(_NODE_ENV_PREFIXES) and k not in _NODE_ENV_NAMES
    }


@dataclass
class ManagedProcess:
    """A process group started by the harness, logging to a file."""

    name: str
    proc: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def assert_running(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")

    def stop(self, timeout: float = 30) -> None:
        if self.proc.poll() is None:
            stop_process_group(self.proc, timeout)
        # children that outlived their parent (e.g. a run worker) are still in the group
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kill_group(proc: ManagedProcess | None) -> None:
    """SIGKILL a harness process and everything in its group (children included), and reap it."""
    if proc is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.proc.wait(timeout=30)


def launch(name: str, cmd: list[str], env: dict[str, str], log_dir: Path) -> ManagedProcess:
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:  # a restarted node appends to its first log
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return ManagedProcess(name, proc, log_path)


class NotRecoverable(RuntimeError):
    """Raised by a readiness check when waiting longer cannot help (e.g. the definitions fail to load)."""


def wait_until(predicate, timeout: float, what: str, *, interval: float = 0.5, alive: Iterable[ManagedProcess] = ()):
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        for proc in alive:
            proc.assert_running()
        try:
            result = predicate()
            if result:
                return result
        except NotRecoverable:
            raise
        except Exception as exc:  # not up yet
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s (last error: {last_error})")


class ProcessTreeSampler:
    """Samples, every `interval` s, which pids live under each watched process (psutil).

    Run and step processes are gone once a run ends, so ancestry is recorded while they live.
    """

    def __init__(self, roots: dict[str, int], interval: float = 0.1):
        self.roots = roots
        self.interval = interval
        self.seen: dict[str, set[int]] = {name: set() for name in roots}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="process-tree-sampler", daemon=True)

    def _loop(self) -> None:
        import psutil

        while not self._stop.is_set():
            for name, pid in self.roots.items():
                try:
                    self.seen[name].update(p.pid for p in psutil.Process(pid).children(recursive=True))
                except psutil.Error:
                    pass
            self._stop.wait(self.interval)

    def __enter__(self) -> "ProcessTreeSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def owner(self, pid: int) -> str | None:
        return next((name for name, pids in self.seen.items() if pid in pids), None)


@dataclass
class LoopbackTopology:
    """Desktop code server + Mac mini webserver/daemon on loopback, sharing Postgres and S3.

    One bucket on `s3_endpoint` holds media and compute logs (SPARKLIO_S3_BUCKET, as in production);
    `desktop_env` adds the Desktop's own settings (DATABASE_URL, OLLAMA_HOST, COMFYUI_URL, ...).
    """

    workdir: Path
    postgres_dsn: str
    s3_endpoint: str
    bucket: str
    desktop_env: dict[str, str] = field(default_factory=dict)
    mac_mini_env: dict[str, str] = field(default_factory=dict)
    s3_access_key: str = "test"
    s3_secret_key: str = "test"
    code_server: ManagedProcess | None = None
    control_plane: ManagedProcess | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.code_server_port = free_port(CODE_SERVER_PORTS)
        self.webserver_port = free_port(WEBSERVER_PORTS)
        self.instance_yaml = production_instance_yaml(dagster_storage_url(create_database(self.postgres_dsn, "dagster")))

    # --- per-node settings -------------------------------------------------------------------

    def _instance_env(self) -> dict[str, str]:
        """What both nodes' .env need for the shared instance (dagster.yaml's {env: ...} values)."""
        return {
            "SPARKLIO_S3_ENDPOINT": self.s3_endpoint,
            "SPARKLIO_S3_BUCKET": self.bucket,
            "SPARKLIO_S3_ACCESS_KEY_ID": self.s3_access_key,
            "SPARKLIO_S3_SECRET_ACCESS_KEY": self.s3_secret_key,
            "SPARKLIO_CODE_SERVER_HOST": LOOPBACK,
            "SPARKLIO_CODE_SERVER_PORT": str(self.code_server_port),
        }

    def _node_home(self, node: str) -> tuple[Path, Path]:
        home = self.workdir / node
        dagster_home = home / "dagster-home"
        dagster_home.mkdir(parents=True, exist_ok=True)
        (dagster_home / "dagster.yaml").write_text(self.instance_yaml)
        return home, dagster_home

    def desktop_settings(self) -> dict[str, str]:
        home, dagster_home = self._node_home("desktop")
        return {**self._instance_env(), "SPARKLIO_HOME": str(home), "DAGSTER_HOME": str(dagster_home),
                **self.desktop_env}

    def mac_mini_settings(self) -> dict[str, str]:
        home, dagster_home = self._node_home("mac-mini")
        return {**self._instance_env(), "SPARKLIO_HOME": str(home), "DAGSTER_HOME": str(dagster_home),
                "DAGSTER_WEBSERVER_HOST": LOOPBACK, "DAGSTER_WEBSERVER_PORT": str(self.webserver_port),
                **self.mac_mini_env}

    def _node_env(self, node: str, settings: dict[str, str]) -> dict[str, str]:
        env_file = write_env_file(self.workdir / f"{node}.env", settings)
        return {**clean_base_env(), "SPARKLIO_ENV_FILE": str(env_file)}

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 600) -> "LoopbackTopology":
        self._ensure_bucket()
        self.start_code_server(timeout)
        self.start_control_plane(timeout)
        return self

    def start_code_server(self, timeout: float = 600) -> None:
        """The Desktop's code server (again, after `kill_code_server`: same port, same settings)."""
        self.code_server = launch(
            "desktop-code-server", ["bash", str(REPO_ROOT / "deploy/desktop/start-code-server.sh")],
            self._node_env("desktop", self.desktop_settings()), self.workdir,
        )
        wait_until(self._code_server_serves, timeout, "code server", interval=1, alive=[self.code_server])

    def start_control_plane(self, timeout: float = 600) -> None:
        """The Mac mini's webserver and daemon (again, after `kill_control_plane`)."""
        self.control_plane = launch(
            "mac-mini-control-plane", ["bash", str(REPO_ROOT / "deploy/mac-mini/start-control-plane.sh")],
            self._node_env("mac-mini", self.mac_mini_settings()), self.workdir,
        )
        wait_until(self._location_loaded, timeout, "webserver with the sparklio location", interval=1,
                   alive=[self.code_server, self.control_plane])

    def kill_code_server(self) -> None:
        """SIGKILL the code server and every run worker under it, as a Desktop reboot does."""
        kill_group(self.code_server)

    def kill_control_plane(self) -> None:
        """SIGKILL the webserver and the daemon, as a Mac mini restart does."""
        kill_group(self.control_plane)

    def stop(self) -> None:
        for proc in (self.control_plane, self.code_server):
            if proc is not None:
                proc.stop()

    def __enter__(self) -> "LoopbackTopology":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    def _ensure_bucket(self) -> None:
        import boto3

        s3 = boto3.client("s3", endpoint_url=self.s3_endpoint, aws_access_key_id=self.s3_access_key,
                          aws_secret_access_key=self.s3_secret_key, region_name="us-east-1")
        if self.bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
            s3.create_bucket(Bucket=self.bucket)

    def _code_server_serves(self) -> bool:
        from dagster._api.list_repositories import sync_list_repositories_grpc
        from dagster._core.errors import DagsterUserCodeProcessError
        from dagster._grpc.client import DagsterGrpcClient

        try:
            sync_list_repositories_grpc(DagsterGrpcClient(port=self.code_server_port, host=LOOPBACK))
        except DagsterUserCodeProcessError as exc:
            raise NotRecoverable(f"the code server cannot load the definitions:\n{exc}") from None
        return True

    def _location_loaded(self) -> bool:
        data = self.graphql_client()._execute(WORKSPACE_QUERY)
        entries = {e["name"]: e for e in data["workspaceOrError"]["locationEntries"]}
        entry = entries.get(LOCATION_NAME)
        if entry is None or entry["loadStatus"] != "LOADED":
            return False
        location = entry["locationOrLoadError"]
        if location["__typename"] == "PythonError":
            raise NotRecoverable(f"location failed to load: {location['message']}")
        return True

    # --- clients -----------------------------------------------------------------------------

    def graphql_client(self):
        from dagster_graphql import DagsterGraphQLClient

        return DagsterGraphQLClient(LOOPBACK, port_number=self.webserver_port, timeout=60)

    @property
    def desktop_dagster_home(self) -> Path:
        return self.workdir / "desktop" / "dagster-home"

    @property
    def mac_mini_dagster_home(self) -> Path:
        return self.workdir / "mac-mini" / "dagster-home"

    def instance_settings(self) -> dict[str, str]:
        """Variables a test process needs (e.g. via monkeypatch) to open the shared instance as the Mac mini."""
        return {**self._instance_env(), "DAGSTER_HOME": str(self.mac_mini_dagster_home),
                "AWS_ACCESS_KEY_ID": self.s3_access_key, "AWS_SECRET_ACCESS_KEY": self.s3_secret_key,
                "AWS_DEFAULT_REGION": "us-east-1"}

    def open_instance(self):
        """The shared Dagster instance, read from the Mac mini's DAGSTER_HOME (env: `instance_settings`)."""
        import dagster as dg
        from dagster._core.instance.ref import InstanceRef

        return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(self.mac_mini_dagster_home)))

    def submit_partition_run(self, job_name: str, partition: str, *, asset_selection: list[str] | None = None,
                             run_config: dict | None = None, tags: dict | None = None,
                             include_checks: bool = True) -> str:
        """Launch one partition's run through the GraphQL API, as the UI's Launchpad does."""
        client = self.graphql_client()
        tags = {"dagster/partition": partition, **(tags or {})}
        if include_checks:
            return client.submit_job_execution(
                job_name, repository_location_name=LOCATION_NAME, repository_name="__repository__",
                run_config=run_config or {}, tags=tags, asset_selection=asset_selection,
            )
        # the client has no asset-check selection: its own mutation, with an empty one
        from dagster_graphql.client.client_queries import (
            CLIENT_SUBMIT_PIPELINE_RUN_MUTATION,
        )

        selector = {"repositoryLocationName": LOCATION_NAME, "repositoryName": "__repository__",
                    "pipelineName": job_name, "assetCheckSelection": []}
        if asset_selection:
            selector["assetSelection"] = [{"path": [key]} for key in asset_selection]
        data = client._execute(CLIENT_SUBMIT_PIPELINE_RUN_MUTATION, {"executionParams": {
            "selector": selector, "runConfigData": run_config or {}, "mode": "default",
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
        }})
        result = data["launchPipelineExecution"]
        if result["__typename"] not in ("LaunchRunSuccess", "LaunchPipelineRunSuccess"):
            raise RuntimeError(f"run not launched: {result}")
        return result["run"]["runId"]

    def launch_backfill(self, job_name: str, partitions: list[str], *, asset_selection: list[str] | None = None,
                        run_config: dict | None = None) -> str:
        """A job backfill over `partitions` through the GraphQL API; the daemon then queues one run each."""
        params: dict = {
            "selector": {"partitionSetName": f"{job_name}_partition_set",
                         "repositorySelector": {"repositoryName": "__repository__",
                                                "repositoryLocationName": LOCATION_NAME}},
            "partitionNames": partitions,
        }
        if asset_selection:
            params["assetSelection"] = [{"path": [key]} for key in asset_selection]
        if run_config:
            params["runConfigData"] = run_config
        data = self.graphql_client()._execute(LAUNCH_BACKFILL_MUTATION, {"backfillParams": params})
        result = data["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise RuntimeError(f"backfill not launched: {result}")
        return result["backfillId"]

    def backfill_run_ids(self, instance, backfill_id: str) -> list[str]:
        from dagster import RunsFilter

        return [run.run_id for run in instance.get_runs(filters=RunsFilter(tags={"dagster/backfill": backfill_id}))]

    def wait_for_runs(self, run_ids: list[str], timeout: float) -> dict[str, str]:
        """Poll the GraphQL API until every run ends; returns run_id -> final status name."""
        from dagster import DagsterRunStatus

        client = self.graphql_client()
        ended = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
        statuses: dict[str, DagsterRunStatus] = {}

        def all_ended() -> bool:
            for run_id in run_ids:
                statuses[run_id] = client.get_run_status(run_id)
            return all(s in ended for s in statuses.values())

        try:
            wait_until(all_ended, timeout, "runs", interval=1, alive=[p for p in (self.code_server, self.control_plane) if p])
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; statuses: {statuses}") from None
        return {run_id: status.value for run_id, status in statuses.items()}

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log_tail()}" for p in (self.code_server, self.control_plane) if p)


WORKSPACE_QUERY = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
}
"""

LAUNCH_BACKFILL_MUTATION = """
mutation LaunchBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
    ... on PartitionSetNotFoundError { message }
    ... on UnauthorizedError { message }
  }
}
"""


# --- reading runs back from the instance ------------------------------------------------------


@dataclass(frozen=True)
class StepWindow:
    run_id: str
    step_key: str
    pool: str | None
    start: float
    end: float
    pid: int | None

    @property
    def seconds(self) -> float:
        return self.end - self.start


def step_windows(instance, run_id: str) -> list[StepWindow]:
    """Each step attempt's [start, end] from the instance's event log, with its pool and process id."""
    from dagster import DagsterEventType

    run = instance.get_run_by_id(run_id)
    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    pools = {step.key: step.pool for step in plan.steps}
    begins = {DagsterEventType.STEP_START, DagsterEventType.STEP_RESTARTED}
    ends = {DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE, DagsterEventType.STEP_UP_FOR_RETRY}
    open_steps: dict[str, tuple[float, int | None]] = {}
    windows = []
    for entry in instance.all_logs(run_id, of_type=begins | ends):
        event = entry.dagster_event
        if event.event_type in begins:
            open_steps[event.step_key] = (entry.timestamp, event.pid)
        elif event.step_key in open_steps:
            start, pid = open_steps.pop(event.step_key)
            windows.append(StepWindow(run_id, event.step_key, pools.get(event.step_key), start, entry.timestamp, pid))
    return windows


def max_concurrency(windows: list[StepWindow]) -> int:
    """The most windows open at one instant (an end at the same instant as a start does not overlap)."""
    edges = sorted([(w.start, 1) for w in windows] + [(w.end, -1) for w in windows], key=lambda e: (e[0], e[1]))
    current = peak = 0
    for _, delta in edges:
        current += delta
        peak = max(peak, current)
    return peak


def busy_fraction(windows: list[StepWindow]) -> float:
    """Share of the span from the first start to the last end covered by at least one window."""
    if not windows:
        return 0.0
    spans = sorted((w.start, w.end) for w in windows)
    covered, cur_start, cur_end = 0.0, *spans[0]
    for start, end in spans[1:]:
        if start > cur_end:
            covered += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    covered += cur_end - cur_start
    total = max(w.end for w in windows) - min(w.start for w in windows)
    return covered / total if total > 0 else 1.0
