"""Retries and re-execution through Dagster itself, against real sockets, SeaweedFS S3 and the embedded Postgres.

(a) a transient error is retried by SERVICE_RETRY; a permanent one fails the step after exactly one attempt.
(b) a campaign chain whose hand-off store is unreachable fails; re-executing it from failure runs only the
    failed step and what is downstream of it, and the manifest then matches the stored objects.
"""

import json
import socket
import uuid
from pathlib import Path

import dagster as dg
import pytest

from resources.database import CampaignDatabaseResource, DatabaseRejected
from resources.object_store import (
    ObjectStoreResource,
    ObjectStoreUnavailable,
    S3ObjectStoreResource,
)
from sparklio_common.errors import is_transient
from sparklio_common.keys import campaign_key, manifest_key
from sparklio_pipelines.campaigns.manifest import fingerprint, output_record
from sparklio_pipelines.content.brief.schema import BriefError
from sparklio_pipelines.defs.assets.brief import brief as brief_asset
from sparklio_pipelines.defs.assets.common import CAMPAIGN_GROUP, SERVICE_RETRY, publish
from sparklio_pipelines.defs.partitions import (
    CAMPAIGN_PARTITION_NAME,
    campaign_partitions,
    submit_brief,
)
from sparklio_pipelines.defs.retries import retry_transient_only, service_step

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "briefs"
# The product policy (3 retries, exponential backoff, jitter) with a delay short enough for a test.
FAST_RETRY = SERVICE_RETRY._replace(delay=0.05)
RETRY_CHAIN_JOB = "retry_chain_job"
CHAIN_ENV = {  # the reconstructable job reads its resources from these, like the product reads EnvVar
    "endpoint": "SPARKLIO_TEST_CHAIN_S3_ENDPOINT",
    "bucket": "SPARKLIO_TEST_CHAIN_S3_BUCKET",
    "handoff_endpoint": "SPARKLIO_TEST_CHAIN_HANDOFF_ENDPOINT",
    "handoff_bucket": "SPARKLIO_TEST_CHAIN_HANDOFF_BUCKET",
    "database_url": "SPARKLIO_TEST_CHAIN_DATABASE_URL",
}


def refused_socket() -> socket.socket:
    """Bound, never listening: a connection to it is refused by the kernel."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def step_events(instance: dg.DagsterInstance, run_id: str, event_type: dg.DagsterEventType) -> list[str]:
    records = instance.get_records_for_run(run_id, of_type=event_type).records
    return [r.event_log_entry.dagster_event.step_key for r in records]


# ----------------------------------------------------------------- (a) retry classification in a real run

REFUSED_ADDRESS: dict[str, tuple] = {}


@dg.asset(retry_policy=FAST_RETRY)
def flaky_service_step(context: dg.AssetExecutionContext) -> int:
    """Refused twice (a real ECONNREFUSED), then the service is back."""
    with service_step(context):
        if context.retry_number < 2:
            socket.create_connection(REFUSED_ADDRESS["address"], timeout=2).close()
        return context.retry_number


@dg.asset(retry_policy=FAST_RETRY)
def always_refused_step(context: dg.AssetExecutionContext) -> None:
    with service_step(context):
        socket.create_connection(REFUSED_ADDRESS["address"], timeout=2).close()


@dg.asset(retry_policy=FAST_RETRY)
def bad_input_step(context: dg.AssetExecutionContext) -> None:
    with service_step(context):
        raise BriefError([("languages[0]", "must be one of 'ko', 'en', got 'fr'")], "brief.yaml")


@dg.asset(retry_policy=FAST_RETRY)
def unguarded_bad_input_step(context: dg.AssetExecutionContext) -> None:
    """The same bad input without `service_step`: Dagster alone would retry it."""
    raise BriefError([("languages[0]", "must be one of 'ko', 'en', got 'fr'")], "brief.yaml")


@pytest.fixture()
def refused_address():
    with refused_socket() as sock:
        REFUSED_ADDRESS["address"] = sock.getsockname()
        yield sock.getsockname()
    REFUSED_ADDRESS.clear()


def run_one(asset) -> tuple[dg.ExecuteInProcessResult, dg.DagsterInstance]:
    instance = dg.DagsterInstance.ephemeral()
    return dg.materialize([asset], instance=instance, raise_on_error=False), instance


def test_transient_error_is_retried_until_the_service_answers(refused_address):
    result, instance = run_one(flaky_service_step)
    assert result.success
    assert result.output_for_node("flaky_service_step") == 2  # succeeded on the third attempt
    assert step_events(instance, result.run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY) == ["flaky_service_step"] * 2
    assert len(step_events(instance, result.run_id, dg.DagsterEventType.STEP_RESTARTED)) == 2


def test_transient_error_that_never_clears_uses_every_retry(refused_address):
    result, instance = run_one(always_refused_step)
    assert not result.success
    assert len(step_events(instance, result.run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY)) == FAST_RETRY.max_retries
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "ConnectionRefusedError" in failure.step_failure_data.error.to_string()


def test_permanent_error_fails_after_exactly_one_attempt_with_a_clear_message():
    result, instance = run_one(bad_input_step)
    assert not result.success
    assert step_events(instance, result.run_id, dg.DagsterEventType.STEP_START) == ["bad_input_step"]
    assert step_events(instance, result.run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []
    assert step_events(instance, result.run_id, dg.DagsterEventType.STEP_RESTARTED) == []
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "will not be retried (BriefError)" in failure.step_failure_data.error.message
    assert "languages[0]: must be one of 'ko', 'en', got 'fr'" in failure.step_failure_data.error.message
    metadata = failure.step_failure_data.user_failure_data.metadata
    assert metadata["retryable"].value is False
    assert metadata["problems"].value == [{"field": "languages[0]", "message": "must be one of 'ko', 'en', got 'fr'"}]


def test_without_service_step_dagster_would_retry_the_same_bad_input():
    result, instance = run_one(unguarded_bad_input_step)
    assert not result.success
    for retried in (dg.DagsterEventType.STEP_UP_FOR_RETRY, dg.DagsterEventType.STEP_RESTARTED):
        assert len(step_events(instance, result.run_id, retried)) == FAST_RETRY.max_retries


def test_brief_asset_treats_an_unreachable_store_as_transient_not_as_a_missing_brief(campaign_db):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(CAMPAIGN_PARTITION_NAME, ["store-down"])
    with refused_socket() as sock:
        store = S3ObjectStoreResource(endpoint_url=f"http://127.0.0.1:{sock.getsockname()[1]}", create_bucket=False,
                                      access_key_id="k", secret_access_key="s", max_attempts=1)
        with dg.build_asset_context(partition_key="store-down", instance=instance) as context:
            with pytest.raises(ObjectStoreUnavailable) as info:
                brief_asset(context, object_store=store, campaign_db=campaign_db)
    assert is_transient(info.value)


def test_wrong_database_name_is_rejected_not_retried(postgres_dsn):
    from resources.database import normalize_dsn

    dsn = normalize_dsn(postgres_dsn)
    base, _, query = dsn.partition("?")
    wrong = base.rsplit("/", 1)[0] + "/no_such_db_" + uuid.uuid4().hex[:6] + (f"?{query}" if query else "")
    with pytest.raises(DatabaseRejected) as info:
        CampaignDatabaseResource(database_url=wrong, connect_timeout_s=5).migrate()
    assert "does not exist" in str(info.value) and not is_transient(info.value)


# ----------------------------------------------------------------- (b) re-execution from failure


def _handoff_key(campaign_id: str) -> str:
    return campaign_key(campaign_id, "handoff", "summary.json")


@dg.asset(partitions_def=campaign_partitions, group_name=CAMPAIGN_GROUP, retry_policy=FAST_RETRY)
@retry_transient_only
def brief_summary(context: dg.AssetExecutionContext, brief: dict, object_store: ObjectStoreResource,
                  campaign_db: CampaignDatabaseResource) -> dict:
    body = json.dumps({"product": brief["product"], "cta": brief["call_to_action"]}, sort_keys=True).encode()
    stored = object_store.put_bytes(campaign_key(context.partition_key, "summary", "summary.json"), body)
    publish(context, object_store, campaign_db, "brief_summary", [output_record(stored, "brief_summary")],
            fingerprint(body.decode()))
    return {"key": stored.key, "sha256": stored.sha256}


@dg.asset(partitions_def=campaign_partitions, group_name=CAMPAIGN_GROUP, retry_policy=FAST_RETRY)
@retry_transient_only
def handed_off_summary(context: dg.AssetExecutionContext, brief_summary: dict, object_store: ObjectStoreResource,
                       handoff_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource) -> dict:
    """Copies the summary to a second store (an agency's bucket); that store is down in the first run."""
    body = object_store.get_bytes(brief_summary["key"])
    delivered = handoff_store.put_bytes(_handoff_key(context.partition_key), body)
    receipt = json.dumps({"delivered": delivered.key, "sha256": delivered.sha256}, sort_keys=True).encode()
    stored = object_store.put_bytes(campaign_key(context.partition_key, "handoff", "receipt.json"), receipt)
    publish(context, object_store, campaign_db, "handed_off_summary", [output_record(stored, "handed_off_summary")],
            fingerprint(receipt.decode()))
    return {"receipt": stored.key, "sha256": delivered.sha256}


@dg.asset(partitions_def=campaign_partitions, group_name=CAMPAIGN_GROUP, retry_policy=FAST_RETRY)
@retry_transient_only
def handoff_report(context: dg.AssetExecutionContext, handed_off_summary: dict, object_store: ObjectStoreResource,
                   campaign_db: CampaignDatabaseResource) -> str:
    body = f"handed off {handed_off_summary['sha256']}\n".encode()
    stored = object_store.put_bytes(campaign_key(context.partition_key, "handoff", "report.txt"), body)
    publish(context, object_store, campaign_db, "handoff_report", [output_record(stored, "handoff_report")],
            fingerprint(body.decode()))
    return stored.key


def retry_chain_job() -> dg.JobDefinition:
    """The reconstructable target: `brief` (the product asset) and three steps downstream of it."""

    def s3(endpoint_env: str, bucket_env: str) -> S3ObjectStoreResource:
        return S3ObjectStoreResource(endpoint_url=dg.EnvVar(endpoint_env), bucket=dg.EnvVar(bucket_env),
                                     access_key_id="test", secret_access_key="test", max_attempts=1)

    defs = dg.Definitions(
        assets=[brief_asset, brief_summary, handed_off_summary, handoff_report],
        jobs=[dg.define_asset_job(RETRY_CHAIN_JOB, partitions_def=campaign_partitions)],
        resources={
            "object_store": s3(CHAIN_ENV["endpoint"], CHAIN_ENV["bucket"]),
            "handoff_store": s3(CHAIN_ENV["handoff_endpoint"], CHAIN_ENV["handoff_bucket"]),
            "campaign_db": CampaignDatabaseResource(database_url=dg.EnvVar(CHAIN_ENV["database_url"])),
        },
        executor=dg.in_process_executor,
    )
    return defs.resolve_job_def(RETRY_CHAIN_JOB)


def test_reexecution_from_failure_runs_only_the_failed_step_and_downstream(
    seaweed, s3_store, campaign_db, postgres_dsn, monkeypatch
):
    campaign_id = f"retry-chain-{uuid.uuid4().hex[:8]}"
    raw = (EXAMPLES / "glow-serum-en.yaml").read_text().replace("glow-serum-launch", campaign_id)
    monkeypatch.setenv(CHAIN_ENV["endpoint"], seaweed.endpoint)
    monkeypatch.setenv(CHAIN_ENV["bucket"], s3_store.bucket)
    monkeypatch.setenv(CHAIN_ENV["handoff_bucket"], f"{s3_store.bucket}-handoff")
    monkeypatch.setenv(CHAIN_ENV["database_url"], postgres_dsn)
    tags = {"dagster/partition": campaign_id}
    job = dg.reconstructable(retry_chain_job)

    with dg.instance_for_test() as instance:
        submit_brief(raw.encode(), "brief.yaml", store=s3_store, db=campaign_db, instance=instance)

        with refused_socket() as down:  # the hand-off store is down for the whole first run
            monkeypatch.setenv(CHAIN_ENV["handoff_endpoint"], f"http://127.0.0.1:{down.getsockname()[1]}")
            first = dg.execute_job(job, instance, tags=tags)
        assert not first.success
        assert step_events(instance, first.run_id, dg.DagsterEventType.STEP_SUCCESS) == ["brief", "brief_summary"]
        assert step_events(instance, first.run_id, dg.DagsterEventType.STEP_FAILURE) == ["handed_off_summary"]
        assert step_events(instance, first.run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY) == (
            ["handed_off_summary"] * FAST_RETRY.max_retries  # the outage was transient: every retry was used
        )
        assert "handoff_report" not in step_events(instance, first.run_id, dg.DagsterEventType.STEP_START)

        monkeypatch.setenv(CHAIN_ENV["handoff_endpoint"], seaweed.endpoint)  # the store is back
        second = dg.execute_job(
            job, instance, tags=tags, reexecution_options=dg.ReexecutionOptions.from_failure(first.run_id, instance)
        )
        assert second.success
        assert instance.get_run_by_id(second.run_id).parent_run_id == first.run_id
        assert step_events(instance, second.run_id, dg.DagsterEventType.STEP_START) == [
            "handed_off_summary", "handoff_report"
        ]
        materialized = instance.get_records_for_run(second.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        assert sorted(r.event_log_entry.dagster_event.asset_key.to_user_string() for r in materialized.records) == [
            "handed_off_summary", "handoff_report"
        ]
        # the assets that had succeeded keep their first-run materialization
        for key in ("brief", "brief_summary"):
            latest = instance.get_latest_materialization_event(dg.AssetKey(key))
            assert latest.run_id == first.run_id
        for key in ("handed_off_summary", "handoff_report"):
            assert instance.get_latest_materialization_event(dg.AssetKey(key)).run_id == second.run_id

    # Postgres says which run produced each asset's outputs; the manifest matches the objects
    with campaign_db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT asset, run_id FROM asset_fingerprints WHERE campaign_id = %s", (campaign_id,))
        producers = dict(cur.fetchall())
    assert producers == {"brief": first.run_id, "brief_summary": first.run_id,
                         "handed_off_summary": second.run_id, "handoff_report": second.run_id}
    manifest = json.loads(s3_store.get_bytes(manifest_key(campaign_id)))
    assert {e["asset"] for e in manifest["outputs"]} == set(producers)
    for entry in manifest["outputs"]:
        info = s3_store.head(entry["key"])
        assert info is not None, entry["key"]
        assert (info.sha256, info.size) == (entry["sha256"], entry["bytes"])
    summary_sha = next(e["sha256"] for e in manifest["outputs"] if e["asset"] == "brief_summary")
    handoff = S3ObjectStoreResource(endpoint_url=seaweed.endpoint, bucket=f"{s3_store.bucket}-handoff",
                                    access_key_id="test", secret_access_key="test")
    assert handoff.head(_handoff_key(campaign_id)).sha256 == summary_sha
