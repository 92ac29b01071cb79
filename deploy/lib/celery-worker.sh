# Sourced by deploy/*/start-celery-worker.sh: start a dagster-celery worker for Sparklio's steps.
#
#   start_celery_worker REPO DEFAULT_NAME DEFAULT_QUEUES POOL CONCURRENCY [celery worker options]
#
# Settings come from the environment, then from $SPARKLIO_ENV_FILE (default: <repo>/.env):
#   REDIS_URL                    the Mac mini's Redis: broker and result backend
#   DAGSTER_HOME                 holds dagster.yaml (the shared Postgres instance) and the worker's config
#   SPARKLIO_CELERY_WORKER_NAME  the worker is <name>@<hostname>, so each box is distinct
#   SPARKLIO_CELERY_QUEUES       several as one comma-joined value (e.g. gpu,cpu)

# shellcheck source=load-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/load-env.sh"

start_celery_worker() {
  local repo="$1" default_name="$2" default_queues="$3" pool="$4" concurrency="$5"
  shift 5
  load_env_file "${SPARKLIO_ENV_FILE:-$repo/.env}"
  export_s3_credentials_for_dagster
  # a deployed node never falls back to an embedded part: a missing service stops it at start
  export SPARKLIO_PROFILE="${SPARKLIO_PROFILE:-production}"

  : "${REDIS_URL:?set REDIS_URL to the Mac mini Redis, e.g. redis://mac-mini.tailnet.example:6379/0}"
  : "${DAGSTER_HOME:?set DAGSTER_HOME (its dagster.yaml points at the shared Postgres instance)}"
  # the steps' outputs must go through S3 here too, whatever the .env says about the executor
  export SPARKLIO_EXECUTOR=celery
  local queues="${SPARKLIO_CELERY_QUEUES:-$default_queues}"
  local name="${SPARKLIO_CELERY_WORKER_NAME:-$default_name}"
  local python dagster_celery
  python="$(venv_executable "$repo" python)"
  dagster_celery="$(venv_executable "$repo" dagster-celery)"
  # dagster-celery starts `celery` by name: the venv's must be first on PATH
  PATH="$(dirname "$dagster_celery"):$PATH"
  export PATH

  mkdir -p "$DAGSTER_HOME"
  [ -f "$DAGSTER_HOME/dagster.yaml" ] || cp "$repo/dagster.yaml" "$DAGSTER_HOME/dagster.yaml"
  local config="$DAGSTER_HOME/sparklio-celery-worker-$name.yaml"
  "$python" -m sparklio_pipelines.defs.executors worker-config > "$config"

  cd "$repo"
  echo "celery worker $name@$(hostname) on queue(s) $queues ($pool pool, concurrency $concurrency)" >&2
  # -q takes the queues comma-joined: dagster-celery turns each -q into a -Q and celery keeps only the last.
  # -i: the definitions load once, before the pool starts, not on each pool process's first step.
  exec "$dagster_celery" worker start -A dagster_celery.app -y "$config" -q "$queues" -n "$name" \
    -i sparklio_pipelines.definitions \
    -- --pool="$pool" --concurrency="$concurrency" "$@"
}
