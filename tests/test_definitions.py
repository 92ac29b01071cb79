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
    assert repo.asset_graph.get_all_asset_keys()  # the names are in the snapshot (test_definitions_snapshot.py)


def test_every_campaign_asset_is_partitioned_by_campaign():
    from sparklio_pipelines.definitions import defs

    graph = defs.get_repository_def().asset_graph
    campaign_assets = [key for key in graph.get_all_asset_keys() if graph.get(key).group_name == "campaign"]
    assert campaign_assets
    for key in campaign_assets:
        partitions = graph.get(key).partitions_def
        assert isinstance(partitions, dg.DynamicPartitionsDefinition) and partitions.name == "campaign", key


def test_gpu_steps_declare_the_gpu_pool():
    from sparklio_pipelines.definitions import defs

    graph = defs.get_repository_def().asset_graph
    for name in ("copy", "image", "video", "captions", "uploaded_video_captions"):
        assert graph.get(dg.AssetKey(name)).pools == {"gpu"}, name


def test_dagster_definitions_validate_cli(tmp_path):
    """No flags: pyproject's [tool.dagster] names the module, as `dagster dev` finds it."""
    import os
    import shutil

    shutil.copyfile(REPO / "deploy" / "embedded" / "dagster.yaml", tmp_path / "dagster.yaml")
    out = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "definitions", "validate"],
        cwd=REPO, capture_output=True, text=True, timeout=600, env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Validation successful" in (out.stdout + out.stderr)
