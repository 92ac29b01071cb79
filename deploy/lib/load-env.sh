# Sourced by the deploy scripts: export the variables of a .env file.
# Variables already set in the environment win over the file (one-off overrides on the command line);
# empty values count as unset. Works with macOS's bash 3.2 and Git Bash on Windows (CRLF files).

load_env_file() {
  local file="$1" line key value
  [ -f "$file" ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line%$'\r'}"
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    if [[ ! "$line" =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
      echo "load-env: ignoring malformed line in $file: $line" >&2
      continue
    fi
    key="${BASH_REMATCH[2]}"
    value="${BASH_REMATCH[3]}"
    if [[ "$value" =~ ^\"(.*)\"$ ]] || [[ "$value" =~ ^\'(.*)\'$ ]]; then
      value="${BASH_REMATCH[1]}"
    fi
    [ -n "$value" ] || continue
    [ -n "${!key:-}" ] && continue
    export "$key=$value"
  done < "$file"
}

# Dagster's S3 compute log manager reads boto3's standard variables; default them to Sparklio's.
export_s3_credentials_for_dagster() {
  if [ -n "${SPARKLIO_S3_ACCESS_KEY_ID:-}" ] && [ -z "${AWS_ACCESS_KEY_ID:-}" ]; then
    export AWS_ACCESS_KEY_ID="$SPARKLIO_S3_ACCESS_KEY_ID"
  fi
  if [ -n "${SPARKLIO_S3_SECRET_ACCESS_KEY:-}" ] && [ -z "${AWS_SECRET_ACCESS_KEY:-}" ]; then
    export AWS_SECRET_ACCESS_KEY="$SPARKLIO_S3_SECRET_ACCESS_KEY"
  fi
  if [ -z "${AWS_DEFAULT_REGION:-}" ]; then
    export AWS_DEFAULT_REGION="${SPARKLIO_S3_REGION:-us-east-1}"
  fi
}

# The venv's executable NAME (bin/ on macOS/Linux, Scripts/ on Windows), else the one on PATH.
venv_executable() {
  local repo="$1" name="$2" candidate
  for candidate in "$repo/.venv/bin/$name" "$repo/.venv/Scripts/$name.exe"; do
    if [ -x "$candidate" ]; then
      echo "$candidate"
      return 0
    fi
  done
  command -v "$name" || { echo "cannot find $name: run 'make setup' (or activate the venv)" >&2; return 1; }
}

# Fail unless PORT is a number in [LOW, HIGH].
require_port_in_range() {
  local name="$1" port="$2" low="$3" high="$4"
  if [[ ! "$port" =~ ^[0-9]+$ ]] || [ "$port" -lt "$low" ] || [ "$port" -gt "$high" ]; then
    echo "$name=$port: must be a port in $low-$high" >&2
    return 1
  fi
}
