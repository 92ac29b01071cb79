"""`launched_campaign_sensor`: runs the campaign a Launchpad launch registered."""

import dagster as dg

from sparklio_pipelines.defs.jobs import campaign_job, launch_campaign_job
from sparklio_pipelines.defs.ops import LAUNCHED_TAG


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[launch_campaign_job],
    request_job=campaign_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Runs the campaign a Launchpad launch registered.",
)
def launched_campaign_sensor(context: dg.RunStatusSensorContext):
    campaign_id = context.dagster_run.tags.get(LAUNCHED_TAG)
    if not campaign_id:
        return dg.SkipReason("launch run registered no campaign")
    return dg.RunRequest(run_key=f"launch:{context.dagster_run.run_id}", partition_key=campaign_id)
