#!/usr/bin/env bash
# Mac mini, every night (launchd: deploy/mac-mini/com.sparklio.backup.plist): back up the campaign database
# and the object store, then re-read every checksum of what was written.
#
#   deploy/mac-mini/nightly-backup.sh [DEST]
#
# Settings come from the environment, then from $SPARKLIO_ENV_FILE (default: <repo>/.env):
#   SPARKLIO_BACKUP_DEST   where backups go (default DEST): a directory on another disk, or s3://bucket/prefix
#   DATABASE_URL, SPARKLIO_S3_*   what is backed up; SPARKLIO_BACKUP_S3_* for an s3:// destination
#   SPARKLIO_PG_BIN_DIR    pg_dump/pg_restore of the server's major version (16 for the compose Postgres)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../lib/load-env.sh
source "$repo/deploy/lib/load-env.sh"
load_env_file "${SPARKLIO_ENV_FILE:-$repo/.env}"

dest="${1:-${SPARKLIO_BACKUP_DEST:-}}"
: "${dest:?set SPARKLIO_BACKUP_DEST (e.g. /Volumes/SparklioBackup/sparklio) or pass DEST}"
sparklio="$(venv_executable "$repo" sparklio)"

echo "$(date -u +%FT%TZ) sparklio backup $dest" >&2
"$sparklio" backup "$dest"
"$sparklio" backup --verify "$dest"
