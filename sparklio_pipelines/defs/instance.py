"""The Dagster instance for the embedded default: SQLite under `$SPARKLIO_HOME/dagster`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sparklio_common.settings import REPO_ROOT, sparklio_home

EMBEDDED_INSTANCE_YAML = REPO_ROOT / "deploy" / "embedded" / "dagster.yaml"


def ensure_dagster_home() -> Path:
    """Use `$DAGSTER_HOME` when set (production); otherwise prepare the embedded one."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    home = sparklio_home() / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(EMBEDDED_INSTANCE_YAML, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance():
    from dagster import DagsterInstance

    ensure_dagster_home()
    return DagsterInstance.get()
