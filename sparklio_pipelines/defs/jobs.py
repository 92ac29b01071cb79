"""Every job: the campaign, captions for an uploaded video, the Launchpad launch and copy approval."""

import dagster as dg

from sparklio_pipelines.defs.ops import approve_copy, register_campaign
from sparklio_pipelines.defs.partitions import campaign_partitions, upload_partitions

campaign_job = dg.define_asset_job(
    name="campaign_job",
    selection=dg.AssetSelection.groups("campaign"),
    partitions_def=campaign_partitions,
    description="Materialize a campaign end to end: brief → copy → image → video → captions.",
)

upload_captions_job = dg.define_asset_job(
    "upload_captions_job",
    selection=dg.AssetSelection.assets("uploaded_video_captions"),
    partitions_def=upload_partitions,
    description="Caption an uploaded video.",
)


@dg.job(description="Start a campaign from the Launchpad: fill in the brief, launch, and the campaign runs.")
def launch_campaign_job():
    register_campaign()


@dg.job(description="Approve a copy variant: it becomes a few-shot example for the brand's future copy.")
def approve_copy_job():
    approve_copy()
