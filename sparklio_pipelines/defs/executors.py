"""Where a run's steps execute: on this machine (the default) or on Celery workers across the boxes.

`SPARKLIO_EXECUTOR=celery` selects dagster-celery with Redis (`REDIS_URL`) as broker and result backend.
Steps in the `gpu` pool carry the `dagster-celery/queue: gpu` op tag (`gpu_step()` in
defs/assets/common.py) and go to the `gpu` queue (a worker on each GPU box); every other step goes to
`cpu` (the Mac mini's worker). Step outputs then travel through S3/MinIO (`SPARKLIO_S3_*`), which every box
reads. Unset (or `default`): each run's steps execute in its run worker (in_process_executor.py),
with Dagster's default IO manager.

Workers get the same Celery settings from `python -m sparklio_pipelines.defs.executors worker-config`
(YAML for `dagster-celery worker start -y`); see deploy/*/start-celery-worker.sh.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from dagster import EnvVar

from sparklio_common.settings import seconds_from_env, settings
from sparklio_pipelines.defs.dagster_compat.executors import WORKER_CHECK_INTERVAL_S

EXECUTOR_ENV = "SPARKLIO_EXECUTOR"
EXECUTOR_CHOICES = ("default", "celery")
WORKER_LOST_ENV = "SPARKLIO_CELERY_WORKER_LOST_SECONDS"
DEFAULT_WORKER_LOST_S = 60.0

GPU_QUEUE = "gpu"
CPU_QUEUE = "cpu"
IO_MANAGER_PREFIX = "dagster-io"  # step outputs, next to the media in the same bucket

# Celery settings the executor and every worker share (worker-config writes them for the workers).
CELERY_SETTINGS: dict[str, Any] = {
    "task_default_queue": CPU_QUEUE,
    # a started task records its worker, so the executor can notice when that worker is gone
    "task_track_started": True,
    # a busy worker holds no queued step that an idle box could run (Redis brokers only)
    "worker_disable_prefetch": True,
    "worker_prefetch_multiplier": 1,
    "broker_connection_retry_on_startup": True,
    # dagster-celery's defaults, plus: a message a worker took but never started (it died in between)
    # goes back to the queue after 15 min instead of Redis's default hour. Started steps are acked.
    "broker_transport_options": {
        "max_retries": 3, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5,
        "visibility_timeout": 900,
    },
}


def selected_executor() -> str:
    value = settings().executor
    if value not in EXECUTOR_CHOICES:
        raise ValueError(f"{EXECUTOR_ENV}={value!r}: must be one of {', '.join(EXECUTOR_CHOICES)}")
    return value


def celery_selected() -> bool:
    if selected_executor() != "celery":
        return False
    missing = [name for name in ("REDIS_URL", "SPARKLIO_S3_ENDPOINT") if not os.environ.get(name)]
    if missing:
        raise ValueError(
            f"{EXECUTOR_ENV}=celery needs {' and '.join(missing)}: Redis carries the steps to the workers"
            " and S3 their outputs between boxes (see .env.example)"
        )
    return True


def worker_lost_seconds() -> float:
    # at least two checks, so one slow answer is never a lost worker
    return seconds_from_env(WORKER_LOST_ENV, DEFAULT_WORKER_LOST_S, 2 * WORKER_CHECK_INTERVAL_S, 3600)


def executor_config() -> dict:
    """The celery executor's config; `{env: ...}` so the Redis URL (and its password) stays out of the UI."""
    return {
        "broker": {"env": "REDIS_URL"},
        "backend": {"env": "REDIS_URL"},
        "config_source": CELERY_SETTINGS,
    }


def worker_config() -> dict:
    """`dagster-celery worker start -y` reads the executor's config from `execution.config`."""
    return {"execution": {"config": executor_config()}}


def s3_io_manager():
    """Step outputs as pickles in the project's bucket, readable from every box."""
    from dagster_aws.s3 import S3PickleIOManager, S3Resource

    from sparklio_pipelines.defs.resources import env_or

    return S3PickleIOManager(
        s3_resource=S3Resource(
            endpoint_url=EnvVar("SPARKLIO_S3_ENDPOINT"),
            region_name=env_or("SPARKLIO_S3_REGION", "us-east-1"),
            aws_access_key_id=env_or("SPARKLIO_S3_ACCESS_KEY_ID", None),
            aws_secret_access_key=env_or("SPARKLIO_S3_SECRET_ACCESS_KEY", None),
        ),
        s3_bucket=env_or("SPARKLIO_S3_BUCKET", "sparklio"),
        s3_prefix=IO_MANAGER_PREFIX,
    )


def run_executor():
    """The executor for every job: Celery workers when selected, else the run worker itself."""
    from sparklio_pipelines.defs.dagster_compat.executors import (
        celery_executor_def,
        in_process_or_multiprocess_executor,
    )

    if celery_selected():
        return celery_executor_def(executor_config(), worker_lost_seconds())
    return in_process_or_multiprocess_executor


def executor_resources() -> dict:
    """Resources the selected executor needs on top of `build_resources()`."""
    return {"io_manager": s3_io_manager()} if celery_selected() else {}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["worker-config"]:
        print("usage: python -m sparklio_pipelines.defs.executors worker-config  (YAML for dagster-celery -y)",
              file=sys.stderr)
        return 2
    import yaml

    sys.stdout.write(yaml.safe_dump(worker_config(), sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
