"""Tier 3: the refresh schedule picks exactly the active campaigns (status in Postgres)."""

import datetime as dt

import dagster as dg

from sparklio_pipelines.content.brief.parse import parse_brief_data
from sparklio_pipelines.defs.schedules import campaign_refresh_schedule

BASE = {
    "product": "Tea", "audience": "Everyone", "key_messages": ["Nutty"], "tone": "warm",
    "languages": ["en"], "channels": ["x"], "call_to_action": "Buy",
}


def add(db, instance, campaign_id, start, end):
    brief = parse_brief_data({**BASE, "campaign_id": campaign_id, "start_date": start, "end_date": end})
    db.upsert_campaign(brief, "sha-" + campaign_id)
    instance.add_dynamic_partitions("campaign", [campaign_id])


def test_schedule_picks_exactly_active_campaigns(campaign_db):
    with dg.instance_for_test() as instance:
        check_active_campaigns(campaign_db, instance)


def check_active_campaigns(campaign_db, instance):
    add(campaign_db, instance, "sched-active", "2026-11-01", "2026-12-31")
    add(campaign_db, instance, "sched-starts-today", "2026-11-30", "2027-01-31")
    add(campaign_db, instance, "sched-ended", "2026-10-01", "2026-11-29")
    add(campaign_db, instance, "sched-future", "2026-12-01", "2026-12-31")
    add(campaign_db, instance, "sched-archived", "2026-11-01", "2026-12-31")
    campaign_db.set_status("sched-archived", "archived")

    monday = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone.utc)
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=monday,
                                   resources={"campaign_db": campaign_db}) as context:
        requests = campaign_refresh_schedule(context)
    picked = sorted(r.partition_key for r in requests if r.partition_key.startswith("sched-"))
    assert picked == ["sched-active", "sched-starts-today"]
    for request in requests:
        assert {k.to_user_string() for k in request.asset_selection} == {"copy", "image", "video", "captions"}
        assert request.tags["sparklio/copy_seed"] != "0"

    with dg.build_schedule_context(instance=instance, scheduled_execution_time=monday + dt.timedelta(days=7),
                                   resources={"campaign_db": campaign_db}) as later:
        next_week = campaign_refresh_schedule(later)
    seeds = {r.partition_key: r.tags["sparklio/copy_seed"] for r in next_week}
    assert seeds["sched-active"] != {r.partition_key: r.tags["sparklio/copy_seed"] for r in requests}["sched-active"]


def test_schedule_skips_when_nothing_is_active(campaign_db):
    with dg.instance_for_test() as instance:
        with dg.build_schedule_context(
            instance=instance, scheduled_execution_time=dt.datetime(2030, 1, 7, tzinfo=dt.timezone.utc),
            resources={"campaign_db": campaign_db},
        ) as context:
            assert isinstance(campaign_refresh_schedule(context), dg.SkipReason)
