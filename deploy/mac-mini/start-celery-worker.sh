#!/usr/bin/env bash
# Mac mini: a Celery worker for every step outside the `gpu` pool (brief, bundle, asset checks, Launchpad
# registration), for runs with SPARKLIO_EXECUTOR=celery. GPU steps go to the GPU boxes' workers.
#
#   deploy/mac-mini/start-celery-worker.sh [celery worker options, e.g. --concurrency=4]
#
# Settings (see deploy/lib/celery-worker.sh): REDIS_URL, DAGSTER_HOME, SPARKLIO_CELERY_WORKER_NAME
# (default `cpu`), SPARKLIO_CELERY_QUEUES (default `cpu`), plus everything the steps need:
# SPARKLIO_S3_*, DATABASE_URL, DAGSTER_PG_*.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../lib/celery-worker.sh
source "$repo/deploy/lib/celery-worker.sh"

start_celery_worker "$repo" cpu cpu prefork 2 "$@"
