#!/usr/bin/env bash
# Mac mini, without Docker: the Dagster webserver and daemon for the Desktop's code server.
# (With Docker, `docker compose up -d` in this folder runs these plus Postgres, Redis and MinIO.)
#
#   deploy/mac-mini/start-control-plane.sh
#
# Settings come from the environment, then from $SPARKLIO_ENV_FILE (default: <repo>/.env):
#   DAGSTER_HOME               holds dagster.yaml (copied from the repo's dagster.yaml when missing)
#   DAGSTER_PG_*, SPARKLIO_S3_*  the instance's Postgres and the compute-log bucket
#   DAGSTER_WEBSERVER_HOST     the Mac mini's Tailscale IP or 127.0.0.1 (default), never 0.0.0.0
#   DAGSTER_WEBSERVER_PORT     8002-8099 (never 3000)
#   SPARKLIO_CODE_SERVER_HOST/PORT  where the Desktop's code server listens
#   SPARKLIO_STORAGE_WAIT_SECONDS   how long to wait for Postgres at start (default 120)
# Stops both processes when either exits or on Ctrl-C.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../lib/load-env.sh
source "$repo/deploy/lib/load-env.sh"
load_env_file "${SPARKLIO_ENV_FILE:-$repo/.env}"
export_s3_credentials_for_dagster

: "${DAGSTER_HOME:?set DAGSTER_HOME (e.g. /opt/sparklio/dagster-home)}"
: "${SPARKLIO_CODE_SERVER_HOST:?set SPARKLIO_CODE_SERVER_HOST to the Desktop Tailscale address}"
require_port_in_range SPARKLIO_CODE_SERVER_PORT "${SPARKLIO_CODE_SERVER_PORT:-}" 11000 11999
web_host="${DAGSTER_WEBSERVER_HOST:-127.0.0.1}"
web_port="${DAGSTER_WEBSERVER_PORT:-8002}"
require_port_in_range DAGSTER_WEBSERVER_PORT "$web_port" 8002 8099
if [ "$web_host" = "0.0.0.0" ] || [ "$web_host" = "::" ]; then
  echo "DAGSTER_WEBSERVER_HOST=$web_host: bind to the Tailscale IP or 127.0.0.1; Dagster OSS has no login" >&2
  exit 1
fi

mkdir -p "$DAGSTER_HOME"
[ -f "$DAGSTER_HOME/dagster.yaml" ] || cp "$repo/dagster.yaml" "$DAGSTER_HOME/dagster.yaml"
workspace="${SPARKLIO_WORKSPACE:-$repo/deploy/mac-mini/workspace.yaml}"
webserver="$(venv_executable "$repo" dagster-webserver)"
daemon="$(venv_executable "$repo" dagster-daemon)"
sparklio="$(venv_executable "$repo" sparklio)"

cd "$repo"
# after a restart Postgres may still be starting; the webserver and daemon would give up within a second
"$sparklio" instance wait --timeout "${SPARKLIO_STORAGE_WAIT_SECONDS:-120}"
"$daemon" run -w "$workspace" &
daemon_pid=$!
"$webserver" -h "$web_host" -p "$web_port" -w "$workspace" &
webserver_pid=$!
echo "dagster webserver on http://$web_host:$web_port (pid $webserver_pid), daemon pid $daemon_pid" >&2

stop_both() {
  kill "$webserver_pid" "$daemon_pid" 2>/dev/null || true
  wait "$webserver_pid" "$daemon_pid" 2>/dev/null || true
}
trap stop_both EXIT
trap 'exit 0' INT TERM
# bash 3.2 has no `wait -n`: poll until one of them exits
while kill -0 "$webserver_pid" 2>/dev/null && kill -0 "$daemon_pid" 2>/dev/null; do
  sleep 2
done
echo "a control-plane process exited; stopping the other" >&2
exit 1
