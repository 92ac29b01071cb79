"""The code location: every asset, check, job, schedule, sensor and resource."""

import dagster as dg

from sensors.brief_upload import brief_upload_sensor
from sensors.launched_campaign import launched_campaign_sensor
from sensors.video_upload import video_upload_sensor
from sparklio_pipelines.defs import assets
from sparklio_pipelines.defs.checks import ALL_CHECKS
from sparklio_pipelines.defs.executors import executor_resources, run_executor
from sparklio_pipelines.defs.jobs import (
    approve_copy_job,
    campaign_job,
    launch_campaign_job,
    upload_captions_job,
)
from sparklio_pipelines.defs.resources import build_resources
from sparklio_pipelines.defs.schedules import campaign_refresh_schedule

defs = dg.Definitions(
    assets=dg.load_assets_from_package_module(assets),
    asset_checks=ALL_CHECKS,
    jobs=[campaign_job, launch_campaign_job, upload_captions_job, approve_copy_job],
    schedules=[campaign_refresh_schedule],
    sensors=[brief_upload_sensor, video_upload_sensor, launched_campaign_sensor],
    resources={**build_resources(), **executor_resources()},
    executor=run_executor(),  # in-process by default; SPARKLIO_EXECUTOR=celery: Celery workers
)
