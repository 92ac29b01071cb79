"""The Dagster instance for the embedded default: SQLite under `$SPARKLIO_HOME/dagster`."""

from __future__ import annotations

import os
import shutil
import time
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


class StorageUnreachable(RuntimeError):
    pass


def wait_for_storage(timeout_s: float, *, say=print) -> None:
    """Return once the instance's storage accepts connections. After a Mac mini restart Postgres may come
    up after the webserver and daemon, and they give up within a second ("too many retries for DB
    connection"); this waits first, with backoff."""
    from dagster import DagsterInstance

    from sparklio_common.errors import is_transient

    deadline = time.monotonic() + timeout_s
    delay = 1.0
    while True:
        try:
            DagsterInstance.get().dispose()
            return
        except Exception as exc:  # noqa: BLE001
            if not is_transient(exc):  # judged by the driver's error inside Dagster's
                raise
            if time.monotonic() + delay > deadline:
                raise StorageUnreachable(f"Dagster's storage did not accept connections within "
                                         f"{timeout_s:.0f} s: {_root_cause(exc)}") from exc
            say(f"waiting for Dagster's storage ({_root_cause(exc)}); next try in {delay:.0f} s")
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
