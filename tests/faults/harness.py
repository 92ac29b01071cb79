"""What every fault scenario shares: the product's campaign job, runs and re-executions, the audit of
stored objects against each campaign's manifest, and the per-scenario record the report reads.

The job is the product's `campaign_job` with the product's resources from `build_resources()`, so
OLLAMA_HOST, COMFYUI_URL, SPARKLIO_S3_* and DATABASE_URL select the backends exactly as in
production, and the executor is the product's default: steps run in the run's own process, so the kill
scenarios kill that one run process.
"""

from __future__ import annotations

import json
import os
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import dagster as dg

from resources.object_store import TEMP_PREFIX
from sparklio_common.keys import manifest_key
from sparklio_common.settings import REPO_ROOT

SERVICE_CHAIN = ("brief", "copy", "image")  # the steps that call Ollama and ComfyUI
FULL_CHAIN = ("brief", "copy", "image", "video", "captions", "campaign_bundle")
RESULTS_ENV = "SPARKLIO_FAULT_RESULTS_DIR"
PARTITION_TAG = "dagster/partition"


def fault_campaign_job() -> dg.JobDefinition:
    """The reconstructable target: product assets, product job, product resources (read from the env now)."""
    from sparklio_pipelines.defs.assets import (
        brief,
        bundle,
        captions,
        copy,
        image,
        video,
    )
    from sparklio_pipelines.defs.executors import run_executor
    from sparklio_pipelines.defs.jobs import campaign_job
    from sparklio_pipelines.defs.resources import build_resources

    defs = dg.Definitions(
        assets=dg.load_assets_from_modules([brief, copy, image, video, captions, bundle]),
        jobs=[campaign_job],
        resources=build_resources(),
        executor=run_executor(),
    )
    return defs.resolve_job_def(campaign_job.name)


def cpu_seconds() -> float:
    """CPU used by this process and its finished children: a cost that does not depend on the load."""
    mine, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


def results_dir() -> Path:
    path = Path(os.environ.get(RESULTS_ENV) or REPO_ROOT / ".sparklio" / "fault-results")
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------------------- runs


def run_campaign(instance: dg.DagsterInstance, campaign_id: str, assets: tuple[str, ...]) -> dg.JobExecutionResult:
    return dg.execute_job(
        dg.reconstructable(fault_campaign_job), instance, tags={PARTITION_TAG: campaign_id},
        asset_selection=[dg.AssetKey(a) for a in assets],
    )


def reexecute_from_failure(instance: dg.DagsterInstance, run_id: str) -> dg.JobExecutionResult:
    parent = instance.get_run_by_id(run_id)
    return dg.execute_job(
        dg.reconstructable(fault_campaign_job), instance, tags=dict(parent.tags),
        reexecution_options=dg.ReexecutionOptions.from_failure(run_id, instance),
    )


def step_keys(instance: dg.DagsterInstance, run_id: str, event_type: dg.DagsterEventType) -> list[str]:
    return [r.event_log_entry.dagster_event.step_key
            for r in instance.get_records_for_run(run_id, of_type=event_type).records]


def error_text(error) -> str:
    """The messages a person reads in the UI: the error and every cause and context under it."""
    parts, seen = [], set()
    stack = [error]
    while stack:
        err = stack.pop(0)
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        parts.append(f"{err.cls_name}: {err.message.strip()}")
        stack += [err.cause, err.context]
    return "\n".join(parts)


@dataclass
class StepError:
    run_id: str
    step: str
    final: bool  # False: an attempt the retry policy retried
    text: str
    metadata: dict = field(default_factory=dict)


def step_errors(instance: dg.DagsterInstance, run_id: str) -> list[StepError]:
    """Every failed step attempt in a run: retried ones (STEP_UP_FOR_RETRY) and final ones (STEP_FAILURE)."""
    errors = []
    for event_type in (dg.DagsterEventType.STEP_UP_FOR_RETRY, dg.DagsterEventType.STEP_FAILURE):
        for record in instance.get_records_for_run(run_id, of_type=event_type).records:
            event = record.event_log_entry.dagster_event
            if event_type == dg.DagsterEventType.STEP_FAILURE:
                data = event.step_failure_data
                metadata = {k: getattr(v, "value", v) for k, v in (data.user_failure_data.metadata.items()
                                                                   if data.user_failure_data else [])}
                errors.append(StepError(run_id, event.step_key, True, error_text(data.error), metadata))
            else:
                errors.append(StepError(run_id, event.step_key, False, error_text(event.event_specific_data.error)))
    return errors


def is_clear(text: str, services: tuple[str, ...], causes: tuple[str, ...]) -> bool:
    """A clear error names the service (or the store/URL) and the cause, so the operator knows where to look."""
    lowered = text.lower()
    return any(s.lower() in lowered for s in services) and any(c.lower() in lowered for c in causes)


def run_succeeded(instance: dg.DagsterInstance, run_id: str) -> bool:
    return instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS


def wait_until(condition, timeout_s: float, what: str, interval_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


# --------------------------------------------------------------------------------------- audit


@dataclass
class Audit:
    """Stored objects against one campaign's manifest (and the manifest against Postgres)."""

    campaign_id: str
    entries: int = 0
    objects: int = 0
    lost: list[str] = field(default_factory=list)  # listed, but missing or with another hash/size
    duplicated: list[str] = field(default_factory=list)  # a key listed twice, or an object no entry lists
    orphaned: list[str] = field(default_factory=list)  # temp keys / unfinished uploads left in the bucket
    manifest_vs_db: list[str] = field(default_factory=list)  # entries the manifest and Postgres disagree on
    assets: list[str] = field(default_factory=list)


def audit_campaign(store, db, campaign_id: str) -> Audit:
    from resources.object_store import sha256_bytes

    audit = Audit(campaign_id)
    manifest_name = manifest_key(campaign_id)
    if store.head(manifest_name) is None:
        audit.lost.append(manifest_name)
        return audit
    manifest = json.loads(store.get_bytes(manifest_name))
    entries = manifest["outputs"]
    audit.entries = len(entries)
    audit.assets = sorted({e["asset"] for e in entries})
    listed: dict[str, dict] = {}
    for entry in entries:
        if entry["key"] in listed:
            audit.duplicated.append(f"listed twice: {entry['key']}")
        listed[entry["key"]] = entry
    stored = {o.key for o in store.list(f"campaigns/{campaign_id}/")}
    audit.objects = len(stored - {manifest_name})
    for key, entry in listed.items():
        info = store.head(key)
        if info is None:
            audit.lost.append(f"missing: {key}")
            continue
        digest = info.sha256 or sha256_bytes(store.get_bytes(key))
        if (digest, info.size) != (entry["sha256"], entry["bytes"]):
            audit.lost.append(f"hash/size differs from the manifest: {key}")
    for key in sorted(stored - set(listed) - {manifest_name}):
        audit.duplicated.append(f"stored but not in the manifest: {key}")
    db_rows = {(r.key, r.sha256) for r in db.outputs(campaign_id)}
    listed_rows = {(k, e["sha256"]) for k, e in listed.items()}
    audit.manifest_vs_db = sorted(f"{k} ({'db only' if (k, s) in db_rows else 'manifest only'})"
                                  for k, s in db_rows ^ listed_rows)
    return audit


def orphaned_in_bucket(store) -> list[str]:
    """Temp keys and unfinished multipart uploads anywhere in the bucket: what a crashed write leaves."""
    client = store.client
    orphans = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket,
                                                                                      Prefix=TEMP_PREFIX)
               for o in page.get("Contents", [])]
    uploads = client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    return orphans + [f"unfinished upload: {u['Key']}" for u in uploads]


# --------------------------------------------------------------------------------------- the record


@dataclass
class ScenarioRecord:
    """One row of the report, written as JSON by the test and read by tests/faults/report.py."""

    scenario: str
    fault: str
    services: tuple[str, ...]  # what a clear error names: the service, its URL, the store
    causes: tuple[str, ...]  # and what went wrong
    assets: tuple[str, ...] = SERVICE_CHAIN
    runs: list[str] = field(default_factory=list)
    faults_injected: int = 0
    campaigns: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    errors: list[StepError] = field(default_factory=list)
    audits: list[Audit] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    cpu_started: float = field(default_factory=cpu_seconds)
    seconds: float = 0.0
    cpu: float = 0.0

    def add_run(self, instance: dg.DagsterInstance, run_id: str) -> None:
        self.runs.append(run_id)
        self.errors += step_errors(instance, run_id)

    @property
    def unclear(self) -> list[StepError]:
        return [e for e in self.errors if not is_clear(e.text, self.services, self.causes)]

    def finish(self, instance: dg.DagsterInstance, store, db) -> None:
        """Audit every campaign; a campaign is complete when its last run succeeded and the manifest
        lists every asset of the chain with nothing lost, duplicated or orphaned."""
        self.orphaned = orphaned_in_bucket(store)
        for campaign_id in self.campaigns:
            audit = audit_campaign(store, db, campaign_id)
            self.audits.append(audit)
            runs = instance.get_runs(dg.RunsFilter(tags={PARTITION_TAG: campaign_id}), limit=1)
            done = bool(runs) and runs[0].status == dg.DagsterRunStatus.SUCCESS
            if done and set(self.assets) <= set(audit.assets) and not (audit.lost or audit.duplicated
                                                                        or audit.manifest_vs_db):
                self.completed.append(campaign_id)
        self.seconds = round(time.monotonic() - self.started, 1)
        self.cpu = round(cpu_seconds() - self.cpu_started, 1)
        self.write()

    def summary(self) -> dict:
        from sparklio_pipelines.defs.assets.common import SERVICE_RETRY

        return {
            "scenario": self.scenario,
            "fault": self.fault,
            "runs": len(self.runs),
            "faults_injected": self.faults_injected,
            "campaigns": len(self.campaigns),
            "campaigns_completed": len(self.completed),
            "assets": list(self.assets),
            "lost": sum(len(a.lost) for a in self.audits),
            "duplicated": sum(len(a.duplicated) for a in self.audits),
            "orphaned": len(self.orphaned),
            "manifest_vs_db": sum(len(a.manifest_vs_db) for a in self.audits),
            "failures": len(self.errors),
            "clear_failures": len(self.errors) - len(self.unclear),
            "seconds": self.seconds,
            "cpu_seconds": self.cpu,
            "retry_delay_s": SERVICE_RETRY.delay,
            "details": {
                "audits": [asdict(a) for a in self.audits],
                "orphaned": self.orphaned,
                "unclear": [asdict(e) for e in self.unclear][:5],
                "errors": [{"step": e.step, "final": e.final, "text": e.text[:400]} for e in self.errors][:20],
            },
        }

    def write(self) -> Path:
        path = results_dir() / f"{self.scenario}.json"
        path.write_text(json.dumps(self.summary(), indent=2, default=str))
        return path

    def assert_clean(self) -> None:
        """What every scenario must end with."""
        summary = self.summary()
        assert summary["campaigns_completed"] == summary["campaigns"] > 0, summary["details"]
        assert (summary["lost"], summary["duplicated"], summary["orphaned"]) == (0, 0, 0), summary["details"]
        assert summary["manifest_vs_db"] == 0, summary["details"]
        assert self.unclear == [], [e.text for e in self.unclear]
