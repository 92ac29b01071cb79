"""The code location: every asset, check, job, schedule, sensor and resource."""

import dagster as dg

from sparklio_pipelines.assets import brief as brief_assets
from sparklio_pipelines.backends import build_resources
from sparklio_pipelines.jobs import campaign_job

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([brief_assets]),
    jobs=[campaign_job],
    resources=build_resources(),
)
