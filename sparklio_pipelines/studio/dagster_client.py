"""The Studio's client for the Dagster webserver's GraphQL API (`SPARKLIO_DAGSTER_URL`).

The Studio never executes steps: it adds campaign partitions and submits `campaign_job` runs to the
run queue, so the daemon, pools, run monitoring, retries and the Dagster UI all see them; run status,
step progress and asset-check results are read back from Dagster's events.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field

import requests

from sparklio_pipelines.defs.partitions import CAMPAIGN_PARTITION_NAME

DEFAULT_URL = "http://127.0.0.1:8002"
LOCATION_NAME = "sparklio"
REPOSITORY_NAME = "__repository__"
CAMPAIGN_JOB = "campaign_job"
PARTITION_TAG = "dagster/partition"
TIMEOUT_SECONDS = 30

# Dagster's run statuses as a marketer reads them.
STATUS_WORDS = {
    "QUEUED": "queued", "NOT_STARTED": "queued", "STARTING": "queued", "MANAGED": "running",
    "STARTED": "running", "CANCELING": "running", "SUCCESS": "succeeded", "FAILURE": "failed",
    "CANCELED": "failed",
}
ENDED = {"succeeded", "failed"}


class DagsterUnavailable(RuntimeError):
    """The webserver cannot be reached or refused the request; the message says which, in words."""


@dataclass
class RunSummary:
    run_id: str
    status: str  # queued, running, succeeded or failed
    campaign_id: str | None
    created: float
    started: float | None = None
    ended: float | None = None
    assets: list[str] | None = None  # the run's asset selection; None: the whole job
    steps: dict[str, str] = field(default_factory=dict)  # step key -> SUCCESS / FAILURE / IN_PROGRESS / SKIPPED

    @property
    def finished(self) -> bool:
        return self.status in ENDED

    def progress(self) -> dict:
        """The current step and how many of the run's steps are done, for the live status line."""
        done = sum(1 for s in self.steps.values() if s in ("SUCCESS", "SKIPPED"))
        current = [k for k, s in self.steps.items() if s == "IN_PROGRESS"]
        total = max(len(self.steps), len(self.assets or []) or len(self.steps))
        return {"current_step": ", ".join(current) or None, "steps_done": done, "steps_total": total}

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "status": self.status, "created": self.created, "started": self.started,
                "ended": self.ended, "assets": self.assets, "steps": self.steps, **self.progress()}


RUNS_QUERY = """
query Runs($filter: RunsFilter, $limit: Int, $steps: Boolean!) {
  runsOrError(filter: $filter, limit: $limit) {
    __typename
    ... on Runs { results {
      runId status creationTime startTime endTime
      tags { key value }
      assetSelection { path }
      stepStats @include(if: $steps) { stepKey status }
    } }
    ... on PythonError { message }
    ... on InvalidPipelineRunsFilterError { message }
  }
}
"""

ADD_PARTITION_MUTATION = """
mutation AddPartition($key: String!, $name: String!, $repo: RepositorySelector!) {
  addDynamicPartition(partitionKey: $key, partitionsDefName: $name, repositorySelector: $repo) {
    __typename
    ... on PythonError { message }
    ... on UnauthorizedError { message }
    ... on DuplicateDynamicPartitionError { message }
  }
}
"""

LAUNCH_RUN_MUTATION = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on PipelineNotFoundError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on UnauthorizedError { message }
    ... on RunConflict { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { invalidOutputName }
    ... on ConflictingExecutionParamsError { message }
    ... on NoModeProvidedError { message }
    ... on PresetNotFoundError { message }
  }
}
"""

CHECK_EVENTS_QUERY = """
query Logs($runId: ID!, $cursor: String) {
  logsForRun(runId: $runId, afterCursor: $cursor, limit: 1000) {
    __typename
    ... on EventConnection {
      cursor hasMore
      events {
        __typename
        ... on AssetCheckEvaluationEvent {
          evaluation {
            checkName success severity partition timestamp description
            assetKey { path }
            metadataEntries { label ... on JsonMetadataEntry { jsonString } ... on IntMetadataEntry { intValue } }
          }
        }
        ... on ExecutionStepFailureEvent { stepKey error { message } }
        ... on LogMessageEvent { stepKey message level }
      }
    }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""


def dagster_url() -> str:
    return (os.environ.get("SPARKLIO_DAGSTER_URL") or DEFAULT_URL).rstrip("/")


def _summary(run: dict) -> RunSummary:
    tags = {t["key"]: t["value"] for t in run.get("tags") or []}
    selection = run.get("assetSelection")
    return RunSummary(
        run_id=run["runId"], status=STATUS_WORDS.get(run["status"], run["status"].lower()),
        campaign_id=tags.get(PARTITION_TAG), created=run["creationTime"], started=run.get("startTime"),
        ended=run.get("endTime"),
        assets=sorted("/".join(a["path"]) for a in selection) if selection else None,
        steps={s["stepKey"]: s["status"] for s in run.get("stepStats") or [] if s.get("status")},
    )


class DagsterClient:
    def __init__(self, url: str | None = None, *, location: str = LOCATION_NAME, repository: str = REPOSITORY_NAME,
                 timeout: float = TIMEOUT_SECONDS):
        self.url = (url or dagster_url()).rstrip("/")
        self.location, self.repository, self.timeout = location, repository, timeout
        self._local = threading.local()  # one HTTP session (keep-alive) per thread

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def execute(self, query: str, variables: dict | None = None) -> dict:
        try:
            response = self._session().post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}},
                                             timeout=self.timeout)
        except requests.RequestException as exc:
            raise DagsterUnavailable(f"the Dagster webserver at {self.url} cannot be reached ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise DagsterUnavailable(f"the Dagster webserver answered HTTP {response.status_code}")
        body = response.json()
        if body.get("errors"):
            raise DagsterUnavailable(f"the Dagster webserver refused the request: {body['errors'][0].get('message')}")
        return body["data"]

    def run_ui_url(self, run_id: str) -> str:
        return f"{self.url}/runs/{run_id}"

    # partitions and runs -------------------------------------------------------------------------

    def add_campaign_partition(self, campaign_id: str) -> bool:
        """Add the campaign's partition; False when it already existed."""
        data = self.execute(ADD_PARTITION_MUTATION, {
            "key": campaign_id, "name": CAMPAIGN_PARTITION_NAME,
            "repo": {"repositoryLocationName": self.location, "repositoryName": self.repository}})
        result = data["addDynamicPartition"]
        if result["__typename"] == "AddDynamicPartitionSuccess":
            return True
        if result["__typename"] == "DuplicateDynamicPartitionError":
            return False
        raise DagsterUnavailable(f"the campaign partition was not added: {result.get('message', result['__typename'])}")

    def launch_campaign_run(self, campaign_id: str, assets: list[str] | None = None,
                            tags: dict[str, str] | None = None) -> str:
        """Queue `campaign_job` for one campaign (optionally only `assets`, with their checks); returns the run id."""
        selector = {"repositoryLocationName": self.location, "repositoryName": self.repository,
                    "jobName": CAMPAIGN_JOB}
        if assets:
            selector["assetSelection"] = [{"path": [key]} for key in assets]
        all_tags = {PARTITION_TAG: campaign_id, "sparklio/source": "studio", **(tags or {})}
        data = self.execute(LAUNCH_RUN_MUTATION, {"params": {
            "selector": selector, "runConfigData": {}, "mode": "default",
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in all_tags.items()]}}})
        result = data["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            detail = result.get("message") or json.dumps({k: v for k, v in result.items() if k != "__typename"})
            raise DagsterUnavailable(f"the run was not started ({result['__typename']}): {detail}")
        return result["run"]["runId"]

    def runs(self, campaign_id: str | None = None, limit: int = 20, with_steps: bool = False) -> list[RunSummary]:
        """Newest first: `campaign_job` runs, of one campaign or all; `with_steps`: each step's status too."""
        run_filter: dict = {"pipelineName": CAMPAIGN_JOB}
        if campaign_id:
            run_filter["tags"] = [{"key": PARTITION_TAG, "value": campaign_id}]
        data = self.execute(RUNS_QUERY, {"filter": run_filter, "limit": limit, "steps": with_steps})["runsOrError"]
        if data["__typename"] != "Runs":
            raise DagsterUnavailable(f"runs could not be listed: {data.get('message')}")
        return [_summary(run) for run in data["results"]]

    def run(self, run_id: str, with_steps: bool = True) -> RunSummary | None:
        data = self.execute(RUNS_QUERY, {"filter": {"runIds": [run_id]}, "limit": 1, "steps": with_steps})["runsOrError"]
        results = data.get("results") or []
        return _summary(results[0]) if results else None

    def run_events(self, run_id: str) -> RunEvents:
        """The run's asset-check evaluations, step failures and each step's latest log line, from its event log."""
        events, cursor = RunEvents(), None
        while True:
            data = self.execute(CHECK_EVENTS_QUERY, {"runId": run_id, "cursor": cursor})["logsForRun"]
            if data["__typename"] != "EventConnection":
                return events
            for event in data["events"]:
                kind = event["__typename"]
                if kind == "AssetCheckEvaluationEvent":
                    events.checks.append(_check_result(event["evaluation"]))
                elif kind == "ExecutionStepFailureEvent":
                    events.failures.append({"step": event["stepKey"],
                                            "message": (event.get("error") or {}).get("message", "")})
                elif kind == "LogMessageEvent" and event.get("stepKey") and event.get("level") == "INFO":
                    # the step's own progress lines; Dagster's DEBUG ones name storage paths
                    events.step_messages[event["stepKey"]] = event["message"]
            if not data["hasMore"]:
                return events
            cursor = data["cursor"]


@dataclass
class RunEvents:
    checks: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    step_messages: dict[str, str] = field(default_factory=dict)  # step key -> its latest log line


def _check_result(evaluation: dict) -> dict:
    meta = {}
    for entry in evaluation.get("metadataEntries") or []:
        if "jsonString" in entry:
            meta[entry["label"]] = json.loads(entry["jsonString"])
        elif "intValue" in entry:
            meta[entry["label"]] = entry["intValue"]
    problems = meta.get("problems") if isinstance(meta.get("problems"), list) else []
    return {
        "asset": "/".join(evaluation["assetKey"]["path"]), "check": evaluation["checkName"],
        "passed": evaluation["success"], "severity": evaluation["severity"].lower(),
        "problems": [str(p) for p in problems], "timestamp": evaluation["timestamp"],
    }
