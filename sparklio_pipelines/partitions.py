"""Campaigns are a dynamic partition: one set of content assets per campaign."""

from dagster import DynamicPartitionsDefinition

CAMPAIGN_PARTITION_NAME = "campaign"

campaign_partitions = DynamicPartitionsDefinition(name=CAMPAIGN_PARTITION_NAME)
