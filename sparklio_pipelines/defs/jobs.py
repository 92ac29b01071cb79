"""Jobs marketers and automations launch."""

import dagster as dg

from sparklio_pipelines.defs.partitions import campaign_partitions

campaign_job = dg.define_asset_job(
    name="campaign_job",
    selection=dg.AssetSelection.groups("campaign"),
    partitions_def=campaign_partitions,
    description="Materialize a campaign end to end: brief → copy → image → video → captions.",
)
