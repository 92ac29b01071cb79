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
        initialize_storage(home)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def initialize_storage(home: Path) -> None:
    """Create the instance's storage once, in this process. Left to the webserver, the daemon and their
    code servers, which start together, each creates the fresh SQLite schema at the same time and
    Dagster then refuses it ("alembic_version has more than one head")."""
    from dagster import DagsterInstance

    DagsterInstance.from_config(str(home)).dispose()


def get_instance():
    from dagster import DagsterInstance

    ensure_dagster_home()
    return DagsterInstance.get()
