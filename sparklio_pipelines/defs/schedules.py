"""`campaign_refresh_schedule`: fresh A/B copy (and everything downstream) for active campaigns."""

import datetime as dt

import dagster as dg

from resources.database import CampaignDatabaseResource
from sparklio_common.settings import settings
from sparklio_pipelines.defs.assets.copy import COPY_SEED_TAG
from sparklio_pipelines.defs.jobs import campaign_job

REFRESH_CRON = settings().refresh_cron  # Mondays 09:00 unless set
REFRESH_TIMEZONE = settings().timezone
REFRESHED_ASSETS = [dg.AssetKey(name) for name in ("copy", "image", "video", "captions")]


def refresh_seed(campaign_id: str, day: dt.date) -> int:
    """A new seed each refresh (so new variants), stable for one day (so a retry gives the same copy)."""
    return int(day.strftime("%Y%m%d")) * 1000 + sum(map(ord, campaign_id)) % 1000


@dg.schedule(
    job=campaign_job,
    cron_schedule=REFRESH_CRON,
    execution_timezone=REFRESH_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Weekly: re-materialize copy with fresh A/B variants, and everything downstream, "
    "for every campaign active that day. Archived and ended campaigns are skipped.",
)
def campaign_refresh_schedule(context: dg.ScheduleEvaluationContext, campaign_db: CampaignDatabaseResource):
    day = context.scheduled_execution_time.date()
    active = campaign_db.active_campaigns(day)
    known = set(context.instance.get_dynamic_partitions("campaign"))
    requests = [
        dg.RunRequest(
            run_key=f"refresh:{campaign_id}:{day.isoformat()}",
            partition_key=campaign_id,
            asset_selection=REFRESHED_ASSETS,
            tags={COPY_SEED_TAG: str(refresh_seed(campaign_id, day)), "sparklio/trigger": "refresh"},
        )
        for campaign_id in active
        if campaign_id in known
    ]
    if not requests:
        return dg.SkipReason(f"No active campaigns on {day.isoformat()}")
    return requests
