"""What every asset check shares: which campaign it judges, and how a result names its problems.

Each check is a typed `@dg.asset_check` over one `judge_*` function. The judge takes the campaign id
and the resources, so tests call it on planted outputs; the check supplies them from the run. Checks read
the store and Postgres too, so they have the service retry policy: an outage of a few seconds is retried,
not a failed run.
"""

import dagster as dg

from resources.object_store import ObjectStoreResource
from sparklio_common.keys import brief_input_key
from sparklio_pipelines.content.brief.schema import Brief

WARN = dg.AssetCheckSeverity.WARN
ERROR = dg.AssetCheckSeverity.ERROR
MAX_PROBLEMS_SHOWN = 200


def campaign_of(context: dg.AssetCheckExecutionContext) -> str:
    """The campaign partition the run materialized (checks read what it published)."""
    return context.run.tags["dagster/partition"]


def result(problems: list[str], severity: dg.AssetCheckSeverity = ERROR, **metadata) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=not problems,
        severity=severity,
        metadata={
            "problems": dg.MetadataValue.json(problems[:MAX_PROBLEMS_SHOWN]),
            "problem_count": len(problems),
            **metadata,
        },
    )


def load_brief(store: ObjectStoreResource, campaign_id: str) -> Brief:
    return Brief.model_validate_json(store.get_bytes(brief_input_key(campaign_id)))
