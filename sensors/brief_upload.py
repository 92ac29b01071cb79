"""`brief_upload_sensor`: a brief dropped into `briefs/` starts (or updates) its campaign."""

import hashlib

import dagster as dg

from resources.database import CampaignDatabaseResource
from resources.object_store import ObjectStoreResource
from sensors.inbox import Inbox, InboxCursor, version_of
from sparklio_pipelines.campaigns.briefs import store_brief
from sparklio_pipelines.content.brief.parse import parse_brief_bytes
from sparklio_pipelines.content.brief.schema import MAX_BRIEF_BYTES, BriefError
from sparklio_pipelines.defs.jobs import campaign_job
from sparklio_pipelines.defs.partitions import campaign_partitions

BRIEF_INBOX = "briefs/"
BRIEF_SUFFIXES = (".yaml", ".yml", ".json")
BATCH_LIMIT = 50  # files handled per tick; the rest wait for the next tick


def brief_run_key(key: str, content_sha256: str) -> str:
    """Same key and content: same run key, so Dagster never runs an unchanged brief twice."""
    return f"brief:{key}@{content_sha256[:16]}"


@dg.sensor(
    job=campaign_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Validates briefs dropped into briefs/, adds their campaign partitions and runs them. "
    "Bad briefs go to briefs/rejected/ with a .error.txt naming every problem.",
)
def brief_upload_sensor(
    context: dg.SensorEvaluationContext, object_store: ObjectStoreResource, campaign_db: CampaignDatabaseResource
) -> dg.SensorResult:
    inbox = Inbox(object_store, BRIEF_INBOX)
    cursor = InboxCursor.parse(context.cursor)
    moved = inbox.settle(cursor)
    pending: dict[str, str] = {}
    run_requests: list[dg.RunRequest] = []
    new_partitions: list[str] = []
    rejected: list[str] = []

    for info in inbox.new_files(BATCH_LIMIT):
        try:
            if not info.key.lower().endswith(BRIEF_SUFFIXES):
                inbox.reject(info, ["not a brief: expected a .yaml, .yml or .json file"])
                rejected.append(info.key)
                continue
            if info.size > MAX_BRIEF_BYTES:
                inbox.reject(info, [f"is {info.size:,} bytes; a brief may be at most {MAX_BRIEF_BYTES:,}"])
                rejected.append(info.key)
                continue
            raw = object_store.get_bytes(info.key)
            try:
                brief = parse_brief_bytes(raw, info.key)
            except BriefError as exc:
                inbox.reject(info, [f"{field}: {message}" for field, message in exc.problems])
                rejected.append(info.key)
                continue
            brief, stored = store_brief(brief, object_store)
            pending[info.key] = version_of(info)
            row = campaign_db.get_campaign(brief.campaign_id)
            if row is not None and row["brief_sha256"] == stored.sha256:
                context.log.info(f"{info.key}: campaign {brief.campaign_id} already has this exact brief; no run")
                continue
            if brief.campaign_id not in new_partitions:
                new_partitions.append(brief.campaign_id)
            run_requests.append(dg.RunRequest(
                run_key=brief_run_key(info.key, hashlib.sha256(raw).hexdigest()),
                partition_key=brief.campaign_id,
                tags={"sparklio/source": info.key[:200]},
            ))
        except Exception as exc:  # one bad object never stops the others
            context.log.warning(f"{info.key}: skipped this tick: {exc}")

    cursor = InboxCursor(pending=pending, ticks=cursor.ticks + 1)
    context.log.info(f"briefs: {len(run_requests)} run(s), {len(rejected)} rejected, {len(moved)} settled")
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[campaign_partitions.build_add_request(new_partitions)] if new_partitions else [],
        cursor=cursor.dump(),
    )
