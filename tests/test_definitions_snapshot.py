"""Tier 1: the definitions' shape against a committed snapshot (assets, checks, jobs, schedules, sensors).

A change to the graph shows up here as a diff. After an intended change:
`SPARKLIO_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest tests/test_definitions_snapshot.py`, then review
and commit tests/snapshots/definitions.json.
"""

import json
import os
from pathlib import Path

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def definitions_shape() -> dict:
    from sparklio_pipelines.definitions import defs

    repo = defs.get_repository_def()
    graph = repo.asset_graph
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": getattr(node.partitions_def, "name", None),
            "pools": sorted(node.pools or []),
            "kinds": sorted(node.kinds),
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
        }
    checks = {}
    for checks_def in defs.asset_checks:
        for spec in checks_def.check_specs:
            checks[f"{spec.asset_key.to_user_string()}:{spec.name}"] = {"blocking": spec.blocking}
    return {
        "assets": assets,
        "checks": dict(sorted(checks.items())),
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        "schedules": {s.name: s.cron_schedule for s in defs.schedules},
        "sensors": sorted(s.name for s in defs.sensors),
        "resources": sorted(defs.resources),
    }


def test_definitions_match_the_snapshot():
    shape = definitions_shape()
    if os.environ.get("SPARKLIO_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(shape, indent=1, sort_keys=True) + "\n")
    assert shape == json.loads(SNAPSHOT.read_text()), "definitions changed: see the module docstring"
