#!/usr/bin/env bash
# GPU box (the Desktop, and each GPU box added later): a Celery worker for the steps in the `gpu` pool
# (copy on Ollama, images on ComfyUI, video, captions), one at a time, for runs with SPARKLIO_EXECUTOR=celery.
#
#   deploy/desktop/start-celery-worker.sh [celery worker options, e.g. --loglevel=DEBUG]   # Git Bash on Windows, or any bash
#
# Settings (see deploy/lib/celery-worker.sh): REDIS_URL, DAGSTER_HOME, SPARKLIO_CELERY_WORKER_NAME
# (default `gpu`), SPARKLIO_CELERY_QUEUES (default `gpu`), plus everything the steps need:
# SPARKLIO_S3_*, DATABASE_URL, DAGSTER_PG_*, OLLAMA_HOST, COMFYUI_URL.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../lib/celery-worker.sh
source "$repo/deploy/lib/celery-worker.sh"

# Celery's prefork pool does not run on Windows; threads do. One step at a time: the card is shared.
case "$(uname -s)" in
  MINGW* | MSYS* | CYGWIN*) pool=threads ;;
  *) pool=prefork ;;
esac
start_celery_worker "$repo" gpu gpu "$pool" 1 "$@"
