"""Where Sparklio keeps local state, and the one settings object for everything else read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
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


def _number(name: str, default: float, low: float, high: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Every setting Sparklio reads from the environment (service hosts and secrets excepted: those
    are `EnvVar`s on the resources, see defs/resources.py). Documented here and in .env.example."""

    profile: str  # SPARKLIO_PROFILE: embedded (default) | production
    brands_dir: Path  # SPARKLIO_BRANDS_DIR: brand kits; default brands/ in the repo
    refresh_cron: str  # SPARKLIO_REFRESH_CRON: when active campaigns get fresh copy; default Mondays 09:00
    timezone: str  # SPARKLIO_TIMEZONE: the schedule's time zone; default Asia/Seoul
    max_video_mb: float  # SPARKLIO_MAX_VIDEO_MB: largest video upload captioned; default 500
    max_video_seconds: float  # SPARKLIO_MAX_VIDEO_SECONDS: longest video upload captioned; default 600
    retry_delay_s: float  # SPARKLIO_RETRY_DELAY_SECONDS: base delay of the step retry policy; default 2
    pool_poll_s: float  # SPARKLIO_POOL_POLL_SECONDS: re-check of a step waiting for the gpu slot; default 0.5
    executor: str  # SPARKLIO_EXECUTOR: default (steps in the run worker) | celery
    video_encoder: str  # SPARKLIO_VIDEO_ENCODER: auto | an ffmpeg H.264 encoder name
    ffmpeg: str  # SPARKLIO_FFMPEG: ffmpeg binary; default the one on PATH
    ffprobe: str  # SPARKLIO_FFPROBE: ffprobe binary; default the one on PATH


RETRY_DELAY_ENV, DEFAULT_RETRY_DELAY_S = "SPARKLIO_RETRY_DELAY_SECONDS", 2.0
POOL_POLL_ENV, DEFAULT_POOL_POLL_S = "SPARKLIO_POOL_POLL_SECONDS", 0.5


def settings() -> Settings:
    """The settings as the environment says now (read on each call: tests and the CLI change it)."""
    env = os.environ.get
    return Settings(
        profile=(env("SPARKLIO_PROFILE") or "embedded").strip().lower(),
        brands_dir=Path(env("SPARKLIO_BRANDS_DIR") or REPO_ROOT / "brands"),
        refresh_cron=env("SPARKLIO_REFRESH_CRON") or "0 9 * * 1",
        timezone=env("SPARKLIO_TIMEZONE") or "Asia/Seoul",
        max_video_mb=_number("SPARKLIO_MAX_VIDEO_MB", 500, 0.001, 100_000),
        max_video_seconds=_number("SPARKLIO_MAX_VIDEO_SECONDS", 600, 0.1, 86_400),
        retry_delay_s=seconds_from_env(RETRY_DELAY_ENV, DEFAULT_RETRY_DELAY_S, 0, 3600),
        # below 0.1 s it is a busy loop on the database; 15 s is Dagster's own cap
        pool_poll_s=seconds_from_env(POOL_POLL_ENV, DEFAULT_POOL_POLL_S, 0.1, 15),
        executor=(env("SPARKLIO_EXECUTOR") or "default").strip().lower(),
        video_encoder=(env("SPARKLIO_VIDEO_ENCODER") or "auto").strip() or "auto",
        ffmpeg=env("SPARKLIO_FFMPEG") or "",
        ffprobe=env("SPARKLIO_FFPROBE") or "",
    )
