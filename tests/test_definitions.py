"""Tier 1: the code location loads and validates."""

import subprocess
import sys
from pathlib import Path

import dagster as dg

REPO = Path(__file__).resolve().parent.parent


def test_definitions_load_and_resolve():
    from sparklio_pipelines.definitions import defs

    repo = defs.get_repository_def()
    job = defs.resolve_job_def("campaign_job")
    assert job.partitions_def is not None and job.partitions_def.name == "campaign"
    keys = {key.to_user_string() for key in repo.asset_graph.get_all_asset_keys()}
    assert "brief" in keys
    for name in ("object_store", "campaign_db"):
        assert name in defs.resources


def test_every_campaign_asset_is_partitioned_by_campaign():
    from sparklio_pipelines.definitions import defs

    graph = defs.get_repository_def().asset_graph
    for key in graph.get_all_asset_keys():
        partitions = graph.get(key).partitions_def
        assert isinstance(partitions, dg.DynamicPartitionsDefinition) and partitions.name == "campaign", key


def test_dagster_definitions_validate_cli():
    out = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-m", "sparklio_pipelines.definitions"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Validation successful" in (out.stdout + out.stderr)
