"""Campaigns are a dynamic partition: one set of content assets per campaign; submitting a brief adds one."""

from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance, DynamicPartitionsDefinition

from resources.database import CampaignDatabaseResource
from resources.object_store import ObjectStoreResource, StoredObject
from sparklio_pipelines.campaigns.briefs import store_brief
from sparklio_pipelines.content.brief.parse import parse_brief_bytes
from sparklio_pipelines.content.brief.schema import Brief

CAMPAIGN_PARTITION_NAME = "campaign"

campaign_partitions = DynamicPartitionsDefinition(name=CAMPAIGN_PARTITION_NAME)

UPLOAD_PARTITION_NAME = "uploaded_video"

# Videos marketers drop into uploads/video/ to get captions; one partition per accepted upload.
upload_partitions = DynamicPartitionsDefinition(name=UPLOAD_PARTITION_NAME)


@dataclass(frozen=True)
class Submission:
    brief: Brief
    stored: StoredObject
    partition_added: bool


def submit_brief(
    raw: bytes,
    name: str,
    *,
    store: ObjectStoreResource,
    db: CampaignDatabaseResource,
    instance: DagsterInstance,
    base_dir: Path | None = None,
) -> Submission:
    """Validate and store a brief and add its campaign partition. Raises BriefError on a bad brief."""
    brief, stored = store_brief(parse_brief_bytes(raw, name), store, base_dir)
    db.upsert_campaign(brief, stored.sha256)
    added = False
    if not instance.has_dynamic_partition(CAMPAIGN_PARTITION_NAME, brief.campaign_id):
        instance.add_dynamic_partitions(CAMPAIGN_PARTITION_NAME, [brief.campaign_id])
        added = True
    return Submission(brief, stored, added)
