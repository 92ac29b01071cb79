#!/usr/bin/env bash
# Desktop (GPU worker): serve Sparklio's definitions over gRPC to the Mac mini's webserver and daemon.
# Runs launched from the Mac mini execute here, as child processes of this server, next to Ollama,
# ComfyUI, ffmpeg and faster-whisper.
#
#   deploy/desktop/start-code-server.sh          # Git Bash on Windows, or any bash
#
# Settings come from the environment, then from $SPARKLIO_ENV_FILE (default: <repo>/.env):
#   SPARKLIO_CODE_SERVER_HOST  address to listen on: the Desktop's Tailscale IP (default 127.0.0.1)
#   SPARKLIO_CODE_SERVER_PORT  11000-11999 (e.g. 11100)
# plus everything the runs need: SPARKLIO_S3_*, DATABASE_URL, DAGSTER_PG_*, OLLAMA_HOST, COMFYUI_URL.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../lib/load-env.sh
source "$repo/deploy/lib/load-env.sh"
load_env_file "${SPARKLIO_ENV_FILE:-$repo/.env}"
export_s3_credentials_for_dagster
# a deployed node never falls back to an embedded part: a missing service stops it at start
export SPARKLIO_PROFILE="${SPARKLIO_PROFILE:-production}"

host="${SPARKLIO_CODE_SERVER_HOST:-127.0.0.1}"
port="${SPARKLIO_CODE_SERVER_PORT:-}"
require_port_in_range SPARKLIO_CODE_SERVER_PORT "$port" 11000 11999
dagster="$(venv_executable "$repo" dagster)"

cd "$repo"
echo "sparklio code server on $host:$port (location 'sparklio')" >&2
# A server id of this start's own, kept across code reloads: run monitoring (sparklio_pipelines/defs/dagster_compat/run_launcher.py)
# tells a restarted server, whose run workers died with the old one, from a reloaded one.
exec "$dagster" code-server start \
  -m sparklio_pipelines.definitions --location-name sparklio \
  -h "$host" -p "$port" --use-python-environment-entry-point \
  --fixed-server-id "sparklio-$(date +%Y%m%dT%H%M%S)-$$-$RANDOM" "$@"
