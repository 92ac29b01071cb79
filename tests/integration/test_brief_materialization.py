"""Tier 3: materialize `brief` against the embedded Postgres and SeaweedFS S3, read the manifest back."""

import json
from pathlib import Path

import dagster as dg
import pytest

from sparklio_common.keys import brief_input_key, manifest_key
from sparklio_pipelines.defs.assets.brief import brief as brief_asset
from sparklio_pipelines.defs.partitions import CAMPAIGN_PARTITION_NAME, submit_brief

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "briefs"


def materialize_brief(campaign_id, store, db, instance):
    return dg.materialize(
        [brief_asset],
        partition_key=campaign_id,
        instance=instance,
        resources={"object_store": store, "campaign_db": db},
        raise_on_error=False,
    )


@pytest.mark.parametrize("example", ["hanbit-tea-ko.yaml", "glow-serum-en.yaml"])
def test_brief_on_s3_and_postgres(example, s3_store, campaign_db):
    instance = dg.DagsterInstance.ephemeral()
    path = EXAMPLES / example
    submission = submit_brief(path.read_bytes(), path.name, store=s3_store, db=campaign_db, instance=instance)
    campaign_id = submission.brief.campaign_id
    assert submission.partition_added
    assert instance.has_dynamic_partition(CAMPAIGN_PARTITION_NAME, campaign_id)

    result = materialize_brief(campaign_id, s3_store, campaign_db, instance)
    assert result.success
    assert result.output_for_node("brief")["campaign_id"] == campaign_id
    materialization = result.asset_materializations_for_node("brief")[0]
    assert materialization.metadata["cached"].value is False

    manifest = json.loads(s3_store.get_bytes(manifest_key(campaign_id)))
    assert manifest["campaign_id"] == campaign_id
    entries = {e["key"]: e for e in manifest["outputs"]}
    expected = {brief_input_key(campaign_id)} | ({submission.brief.brand.logo_path} if submission.brief.brand.logo_path else set())
    assert set(entries) == expected and {e["asset"] for e in entries.values()} == {"brief"}
    entry = entries[brief_input_key(campaign_id)]
    assert entry["sha256"] == s3_store.head(entry["key"]).sha256
    assert entry["bytes"] == len(s3_store.get_bytes(entry["key"]))
    row = campaign_db.get_campaign(campaign_id)
    assert row["status"] == "active" and row["brief"]["product"] == submission.brief.product

    again = materialize_brief(campaign_id, s3_store, campaign_db, instance)
    assert again.success
    assert again.asset_materializations_for_node("brief")[0].metadata["cached"].value is True
    assert {o.key for o in s3_store.list(f"campaigns/{campaign_id}/")} == expected | {manifest_key(campaign_id)}


def test_changed_brief_updates_the_row_and_is_not_cached(local_store, campaign_db):
    instance = dg.DagsterInstance.ephemeral()
    raw = (EXAMPLES / "glow-serum-en.yaml").read_text().replace("glow-serum-launch", "glow-serum-v2")
    submit_brief(raw.encode(), "b.yaml", store=local_store, db=campaign_db, instance=instance)
    assert materialize_brief("glow-serum-v2", local_store, campaign_db, instance).success
    changed = raw.replace("Shop the launch offer", "Try it today")
    second = submit_brief(changed.encode(), "b.yaml", store=local_store, db=campaign_db, instance=instance)
    assert not second.partition_added
    result = materialize_brief("glow-serum-v2", local_store, campaign_db, instance)
    assert result.asset_materializations_for_node("brief")[0].metadata["cached"].value is False
    assert campaign_db.get_campaign("glow-serum-v2")["brief"]["call_to_action"] == "Try it today"


def test_missing_brief_fails_clearly(local_store, campaign_db):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(CAMPAIGN_PARTITION_NAME, ["ghost-campaign"])
    result = materialize_brief("ghost-campaign", local_store, campaign_db, instance)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "No brief stored for campaign 'ghost-campaign'" in failure.step_failure_data.error.message


def test_migrations_are_versioned_and_idempotent(campaign_db):
    versions = campaign_db.migrate()
    assert versions == ["0001_campaigns", "0002_text_embeddings", "0003_embedding_runs", "0004_studio"]
    assert campaign_db.migrate() == versions


def test_pgvector_nearest_only_compares_same_model(campaign_db):
    campaign_db.add_embedding(content="hello", embedding=[1.0] + [0.0] * 383, model="m1", kind="t", language="en")
    campaign_db.add_embedding(content="hello", embedding=[1.0] + [0.0] * 383, model="m1", kind="t", language="en")
    campaign_db.add_embedding(content="other", embedding=[0.0, 1.0] + [0.0] * 382, model="m2", kind="t", language="en")
    hits = campaign_db.nearest([1.0] + [0.0] * 383, model="m1", kind="t")
    assert [h["content"] for h in hits] == ["hello"] and hits[0]["similarity"] == pytest.approx(1.0)
