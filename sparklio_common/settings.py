"""Where Sparklio keeps local state. Everything else comes from resources configured by EnvVar."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def sparklio_home() -> Path:
    """`$SPARKLIO_HOME`, default `.sparklio` in the repo: embedded object store, Postgres, models, Dagster."""
    home = Path(os.environ.get("SPARKLIO_HOME") or REPO_ROOT / ".sparklio").expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def models_dir() -> Path:
    """Model files assembled from PyPI packages (never downloaded from a hub).

    `$SPARKLIO_MODELS_DIR` lets several state dirs (tests, demo) share one cache.
    """
    path = Path(os.environ.get("SPARKLIO_MODELS_DIR") or sparklio_home() / "models").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def seconds_from_env(name: str, default: float, low: float, high: float) -> float:
    """`$name` as a number of seconds in [low, high]; `default` when unset or empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not low <= seconds <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g} seconds, got {raw!r}")
    return seconds
