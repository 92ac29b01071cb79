#!/usr/bin/env bash
# Mac mini: a Celery worker for every step outside the `gpu` pool (brief, bundle, asset checks, Launchpad
# registration), for runs with SPARKLIO_EXECUTOR=celery. GPU steps go to the GPU boxes' workers.
#
#   deploy/mac-mini/start-celery-worker.sh [celery worker options, e.g. --concurrency=4]
#
# Settings come from the environment, then from $SPARKLIO_ENV_FILE (default: <repo>/.env):
#   REDIS_URL                    Redis on this Mac mini: broker and result backend
#   DAGSTER_HOME                 holds dagster.yaml (the shared Postgres instance) and the worker's config
#   SPARKLIO_CELERY_WORKER_NAME  default `cpu`; the worker is <name>@<hostname>
#   SPARKLIO_CELERY_QUEUES       default `cpu`; several as one comma-joined value
# plus everything the steps need: SPARKLIO_S3_*, DATABASE_URL, DAGSTER_PG_*.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../lib/load-env.sh
source "$repo/deploy/lib/load-env.sh"
load_env_file "${SPARKLIO_ENV_FILE:-$repo/.env}"
export_s3_credentials_for_dagster

: "${REDIS_URL:?set REDIS_URL, e.g. redis://127.0.0.1:6379/0}"
: "${DAGSTER_HOME:?set DAGSTER_HOME (its dagster.yaml points at the shared Postgres instance)}"
# the steps' outputs must go through S3 here too, whatever the .env says about the executor
export SPARKLIO_EXECUTOR=celery
queues="${SPARKLIO_CELERY_QUEUES:-cpu}"
name="${SPARKLIO_CELERY_WORKER_NAME:-cpu}"
python="$(venv_executable "$repo" python)"
dagster_celery="$(venv_executable "$repo" dagster-celery)"
# dagster-celery starts `celery` by name: the venv's must be first on PATH
PATH="$(dirname "$dagster_celery"):$PATH"
export PATH

mkdir -p "$DAGSTER_HOME"
[ -f "$DAGSTER_HOME/dagster.yaml" ] || cp "$repo/dagster.yaml" "$DAGSTER_HOME/dagster.yaml"
config="$DAGSTER_HOME/sparklio-celery-worker-$name.yaml"
"$python" -m sparklio_pipelines.executors worker-config > "$config"

cd "$repo"
echo "celery worker $name@$(hostname) on queue(s) $queues" >&2
# -q takes the queues comma-joined: dagster-celery turns each -q into a -Q and celery keeps only the last.
# -i: the definitions load once, before the pool starts, not on each pool process's first step.
exec "$dagster_celery" worker start -A dagster_celery.app -y "$config" -q "$queues" -n "$name" \
  -i sparklio_pipelines.definitions \
  -- --pool=prefork --concurrency=2 "$@"
