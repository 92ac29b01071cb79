"""Campaigns are a dynamic partition: one set of content assets per campaign."""

from dagster import DynamicPartitionsDefinition

CAMPAIGN_PARTITION_NAME = "campaign"

campaign_partitions = DynamicPartitionsDefinition(name=CAMPAIGN_PARTITION_NAME)

UPLOAD_PARTITION_NAME = "uploaded_video"

# Videos marketers drop into uploads/video/ to get captions; one partition per accepted upload.
upload_partitions = DynamicPartitionsDefinition(name=UPLOAD_PARTITION_NAME)
