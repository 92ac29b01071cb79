"""The fault-injection suite: the product's campaign job against the fake Ollama and ComfyUI (given
faults), a real SeaweedFS S3 and the embedded Postgres.

Each scenario injects one kind of fault, then requires every campaign to end complete, in the same
run or through a re-execution from failure after a clear failure, and audits the stored objects
against each campaign's manifest: 0 lost, 0 duplicated, 0 orphaned temp keys, and every failed step
attempt names the service and the cause. Each writes its row for `python -m tests.faults.report`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import dagster as dg
import pytest

from sparklio_common.settings import REPO_ROOT
from sparklio_pipelines.defs.assets.common import SERVICE_RETRY
from sparklio_pipelines.defs.partitions import submit_brief
from tests.faults.harness import (
    FULL_CHAIN,
    ScenarioRecord,
    reexecute_from_failure,
    run_campaign,
    step_keys,
    wait_until,
)
from tests.support.briefs import sample_brief

OLLAMA = ("Ollama at http://127.0.0.1",)
COMFYUI = ("comfyui",)


@pytest.fixture()
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def new_campaign(record: ScenarioRecord, instance, store, db) -> str:
    campaign_id = f"{record.scenario.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
    submit_brief(sample_brief(campaign_id), "brief.yaml", store=store, db=db, instance=instance)
    record.campaigns.append(campaign_id)
    return campaign_id


def run(record: ScenarioRecord, instance, campaign_id: str) -> dg.JobExecutionResult:
    result = run_campaign(instance, campaign_id, record.assets)
    record.add_run(instance, result.run_id)
    return result


def reexecute(record: ScenarioRecord, instance, run_id: str) -> dg.JobExecutionResult:
    result = reexecute_from_failure(instance, run_id)
    record.add_run(instance, result.run_id)
    return result


def ollama_faults_served(ollama) -> int:
    return sum(1 for r in ollama.requests if r.fault)


# ------------------------------------------------------------------------------------ Ollama
# Copy is the step that calls Ollama; its faults are checked on brief -> copy.

COPY_CHAIN = ("brief", "copy")
OLLAMA_DOWN = ("connection refused", "disconnected", "reset", "closed", "ConnectError")


def test_ollama_refuses_connections(product_env, scenario_io, instance, ollama):
    store, db = scenario_io
    record = ScenarioRecord("ollama_refused", "Ollama refuses connections for a whole run, then is back",
                            OLLAMA, OLLAMA_DOWN, assets=COPY_CHAIN)
    campaign_id = new_campaign(record, instance, store, db)
    ollama.refuse_connections()
    record.faults_injected = 1  # one outage

    first = run(record, instance, campaign_id)
    assert not first.success
    assert step_keys(instance, first.run_id, dg.DagsterEventType.STEP_FAILURE) == ["copy"]
    assert step_keys(instance, first.run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY) == ["copy"] * SERVICE_RETRY.max_retries
    final = next(e for e in record.errors if e.final)
    assert "connection refused: is Ollama running?" in final.text

    ollama.accept_connections()
    second = reexecute(record, instance, first.run_id)
    record.finish(instance, store, db)

    assert second.success
    assert step_keys(instance, second.run_id, dg.DagsterEventType.STEP_START) == ["copy"]  # brief is not redone
    record.assert_clean()


def test_ollama_returns_500_n_times(product_env, scenario_io, instance, ollama):
    store, db = scenario_io
    record = ScenarioRecord("ollama_500", "Ollama answers HTTP 500 three times", OLLAMA, ("HTTP 500",),
                            assets=COPY_CHAIN)
    campaign_id = new_campaign(record, instance, store, db)
    ollama.fail_next(3, status=500, message="llama runner process has terminated: signal: killed")

    result = run(record, instance, campaign_id)
    record.faults_injected = ollama_faults_served(ollama)
    record.finish(instance, store, db)

    assert result.success
    assert record.faults_injected == 3  # generate and the step's model unload both meet them
    assert 1 <= len(step_keys(instance, result.run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY)) <= 3
    assert all("llama runner process has terminated" in e.text for e in record.errors)
    record.assert_clean()


def test_ollama_hangs_past_the_client_timeout(product_env, scenario_io, instance, ollama, monkeypatch):
    store, db = scenario_io
    monkeypatch.setenv("SPARKLIO_OLLAMA_TIMEOUT_SECONDS", "2")
    record = ScenarioRecord("ollama_hang", "Ollama hangs on a request far past the client's 2 s timeout", OLLAMA,
                            ("did not answer within 2 s",), assets=COPY_CHAIN)
    campaign_id = new_campaign(record, instance, store, db)
    ollama.hang_next(1, seconds=600)  # cut short when the fake stops

    result = run(record, instance, campaign_id)
    record.faults_injected = ollama_faults_served(ollama)
    record.finish(instance, store, db)

    assert result.success
    assert record.faults_injected == 1
    assert step_keys(instance, result.run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY) == ["copy"]
    (hung,) = [r for r in ollama.requests if r.fault == "hang"]
    assert hung.seconds == 0.0, "the run waited for the hung request instead of timing out"  # still hanging
    record.assert_clean()


def test_ollama_returns_malformed_json(product_env, scenario_io, instance, ollama):
    store, db = scenario_io
    record = ScenarioRecord("ollama_malformed_json", "Ollama answers HTTP 200 with a cut-off JSON body, twice",
                            OLLAMA, ("malformed reply",), assets=COPY_CHAIN)
    campaign_id = new_campaign(record, instance, store, db)
    ollama.malformed_next(2)

    result = run(record, instance, campaign_id)
    record.faults_injected = ollama_faults_served(ollama)
    record.finish(instance, store, db)

    assert result.success
    assert record.faults_injected == 2
    assert len(step_keys(instance, result.run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY)) >= 1
    record.assert_clean()


def test_ollama_goes_down_mid_backfill_then_recovers(product_env, scenario_io, instance, ollama):
    """Three campaigns one after another, as a backfill launches them; Ollama dies in the middle of the
    second one's copy (mid-request) and stays down through the third; once it is back, re-executing
    the failed runs from failure completes both."""
    store, db = scenario_io
    record = ScenarioRecord("ollama_down_mid_backfill", "Ollama dies mid-request in campaign 2 of 3, back after",
                            OLLAMA, OLLAMA_DOWN, assets=COPY_CHAIN)
    campaigns = [new_campaign(record, instance, store, db) for _ in range(3)]

    first = run(record, instance, campaigns[0])
    assert first.success
    per_campaign = ollama.count("/api/chat")
    went_down = threading.Event()
    answer = ollama.responder

    def dies_mid_reply(body: dict) -> str:
        if ollama.count("/api/chat") >= per_campaign + 2 and not went_down.is_set():
            went_down.set()
            ollama.refuse_connections()  # closes this request's socket too: the reply never arrives
        return answer(body)

    ollama.responder = dies_mid_reply
    failed = [run(record, instance, campaign_id) for campaign_id in campaigns[1:]]
    record.faults_injected = 1  # one outage
    assert went_down.is_set()
    assert [r.success for r in failed] == [False, False]
    for result in failed:
        assert step_keys(instance, result.run_id, dg.DagsterEventType.STEP_FAILURE) == ["copy"]

    ollama.accept_connections()
    recovered = [reexecute(record, instance, r.run_id) for r in failed]
    record.finish(instance, store, db)

    assert [r.success for r in recovered] == [True, True]
    assert record.completed == campaigns
    record.assert_clean()


# ------------------------------------------------------------------------------------ ComfyUI
# Image is the step that calls ComfyUI: brief -> copy -> image.

COMFYUI_CAUSES = ("HTTP 500", "cannot reach", "timed out", "dropped")


def test_comfyui_returns_500_n_times(product_env, scenario_io, instance, comfyui):
    store, db = scenario_io
    record = ScenarioRecord("comfyui_500", "ComfyUI answers POST /prompt with HTTP 500 four times", COMFYUI,
                            COMFYUI_CAUSES)
    campaign_id = new_campaign(record, instance, store, db)
    comfyui.fail_next(4, status=500, path="/prompt")

    result = run(record, instance, campaign_id)
    record.faults_injected = sum(1 for r in comfyui.requests("POST", "/prompt") if r.status == 500)
    record.finish(instance, store, db)

    assert result.success
    assert record.faults_injected == 4
    # the client retries each request twice itself; the step retry covers the rest
    assert step_keys(instance, result.run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY) == ["image"]
    assert "POST /prompt -> HTTP 500" in record.errors[0].text
    record.assert_clean()


def test_comfyui_drops_the_websocket_mid_prompt(product_env, scenario_io, instance, comfyui):
    store, db = scenario_io
    record = ScenarioRecord("comfyui_websocket_drop", "ComfyUI closes the progress websocket mid-sampling, every prompt",
                            COMFYUI, COMFYUI_CAUSES)
    campaign_id = new_campaign(record, instance, store, db)
    comfyui.drop_websocket_after = 3  # after the 3rd sampler step of each prompt

    result = run(record, instance, campaign_id)
    record.faults_injected = comfyui.websocket_drops
    record.finish(instance, store, db)

    assert result.success
    prompts = len(comfyui.requests("POST", "/prompt"))
    assert prompts >= 7 and record.faults_injected == prompts  # every art prompt lost its socket
    assert len(comfyui.history) == prompts  # and was followed to the end through /history
    record.assert_clean()


# ------------------------------------------------------------------------------------ S3
# The whole chain, so "every campaign complete" is shown end to end: brief -> ... -> campaign_bundle.

STORE = ("object store",)
STORE_DOWN = ("could not connect", "connection refused", "connect timeout", "read timeout", "unavailable")


class S3Outages:
    """SIGKILL the S3 server, restart it on the same ports and data after `down_s` seconds."""

    def __init__(self, server, down_s: float):
        self.server, self.down_s = server, down_s
        self.kills = 0
        self.restarts: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def kill_for_a_while(self) -> None:
        self.server.kill()
        self.kills += 1

        def restart() -> None:
            time.sleep(self.down_s)
            try:
                self.server.start()
            except BaseException as exc:  # noqa: BLE001 - reported by wait_until_up
                self.errors.append(exc)

        thread = threading.Thread(target=restart, name="s3-restart", daemon=True)
        thread.start()
        self.restarts.append(thread)

    def wait_until_up(self) -> None:
        for thread in self.restarts:
            thread.join(timeout=90)
        assert not self.errors, self.errors
        assert self.server.proc is not None and self.server.proc.poll() is None, "SeaweedFS did not come back"


def test_s3_server_killed_for_a_while_then_restarted(product_env, scenario_io, instance, fault_s3, monkeypatch):
    """SeaweedFS is SIGKILLed twice during one full campaign and restarted on its data each time:
    when the video step starts, and between the bundle's Postgres commit and its manifest write
    (the last write of the campaign, so no later step rewrites the manifest)."""
    from resources.database import CampaignDatabaseResource

    store, db = scenario_io
    record = ScenarioRecord("s3_killed", "SeaweedFS SIGKILLed at video start and after the bundle's DB commit; "
                            "restarted 2 s later", STORE, STORE_DOWN, assets=FULL_CHAIN)
    campaign_id = new_campaign(record, instance, store, db)
    outages = S3Outages(fault_s3, down_s=2.0)

    commit = CampaignDatabaseResource.replace_outputs

    def commit_then_lose_s3(self, campaign, asset, *args, **kwargs):
        result = commit(self, campaign, asset, *args, **kwargs)
        if asset == "campaign_bundle" and outages.kills == 1:
            outages.kill_for_a_while()
        return result

    monkeypatch.setattr(CampaignDatabaseResource, "replace_outputs", commit_then_lose_s3)
    watching = threading.Event()

    def kill_when_video_starts() -> None:
        while not watching.is_set():
            runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": campaign_id}), limit=1)
            if runs and "video" in step_keys(instance, runs[0].run_id, dg.DagsterEventType.STEP_START):
                outages.kill_for_a_while()
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=kill_when_video_starts, daemon=True)
    watcher.start()
    try:
        result = run(record, instance, campaign_id)
        for _ in range(2):  # an outage longer than the retries fails the run clearly; re-execute it
            if result.success:
                break
            outages.wait_until_up()
            result = reexecute(record, instance, result.run_id)
    finally:
        watching.set()
        outages.wait_until_up()
    record.faults_injected = outages.kills
    record.finish(instance, store, db)

    assert outages.kills == 2
    assert result.success
    record.assert_clean()


# ------------------------------------------------------------------------------------ the run's process

KILLED = ("run worker",)


def start_child_run(instance, campaign_id: str, assets: tuple[str, ...], *extra: str) -> subprocess.Popen:
    from dagster import serialize_value

    ref = os.path.join(instance.root_directory, "instance-ref.json")
    with open(ref, "w") as fh:
        fh.write(serialize_value(instance.get_ref()))
    with open(os.path.join(instance.root_directory, f"child-{campaign_id}.log"), "w") as log:  # the child keeps a copy
        return subprocess.Popen(
            [sys.executable, "-m", "tests.faults.child_run", ref, campaign_id, ",".join(assets), *extra],
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )


def mark_killed_run_failed(instance, campaign_id: str, pid: int) -> str:
    """What Dagster's run monitoring does when a run worker disappears: the run is marked failed."""
    (orphan,) = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": campaign_id}))
    assert orphan.status == dg.DagsterRunStatus.STARTED  # the process died without a word
    instance.report_run_failed(orphan, f"run worker (pid {pid}) was killed by SIGKILL")
    return orphan.run_id


def test_run_process_killed_mid_step(product_env, scenario_io, instance, ollama):
    """The run's process is SIGKILLed while copy waits on an Ollama request; re-executed from failure."""
    store, db = scenario_io
    record = ScenarioRecord("run_killed_mid_step", "the run's process SIGKILLed while copy waits on Ollama",
                            KILLED, ("killed",), assets=COPY_CHAIN)
    campaign_id = new_campaign(record, instance, store, db)
    ollama.hang_next(1, seconds=60)
    child = start_child_run(instance, campaign_id, record.assets)
    try:
        wait_until(lambda: any(r.fault == "hang" for r in ollama.requests) or child.poll() is not None, 180,
                   "the run to reach Ollama")
        assert child.poll() is None, "the run ended before it could be killed"
        os.killpg(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    record.faults_injected = 1
    killed = mark_killed_run_failed(instance, campaign_id, child.pid)
    record.add_run(instance, killed)
    assert step_keys(instance, killed, dg.DagsterEventType.STEP_SUCCESS) == ["brief"]

    result = reexecute(record, instance, killed)
    record.finish(instance, store, db)

    assert result.success
    assert step_keys(instance, result.run_id, dg.DagsterEventType.STEP_START) == ["copy"]
    record.assert_clean()


def test_run_process_killed_mid_object_write(product_env, scenario_io, instance):
    """The run's process dies right after uploading the body of an object (copy's first channel file),
    before the write is finished and recorded: nothing may be left half-written or orphaned."""
    store, db = scenario_io
    record = ScenarioRecord("run_killed_mid_write", "the run's process SIGKILLed right after an S3 object upload",
                            KILLED, ("killed",), assets=COPY_CHAIN)
    campaign_id = new_campaign(record, instance, store, db)
    target = f"campaigns/{campaign_id}/copy/en/x.json"
    child = start_child_run(instance, campaign_id, record.assets, "--crash-after-put", target)
    try:
        assert child.wait(timeout=300) == -signal.SIGKILL, "the crash point was not reached"
    finally:
        child.kill()
    record.faults_injected = 1
    killed = mark_killed_run_failed(instance, campaign_id, child.pid)
    record.add_run(instance, killed)

    result = reexecute(record, instance, killed)
    record.finish(instance, store, db)

    assert result.success
    assert store.head(target) is not None
    record.assert_clean()
