# Desktop (GPU worker), PowerShell: serve Sparklio's definitions over gRPC to the Mac mini's
# webserver and daemon. Runs launched from the Mac mini execute here, as children of this server.
#
#   powershell -ExecutionPolicy Bypass -File deploy\desktop\start-code-server.ps1
#
# Settings come from the environment, then from $env:SPARKLIO_ENV_FILE (default: <repo>\.env):
#   SPARKLIO_CODE_SERVER_HOST  address to listen on: the Desktop's Tailscale IP (default 127.0.0.1)
#   SPARKLIO_CODE_SERVER_PORT  11000-11999 (e.g. 11100)
# plus everything the runs need: SPARKLIO_S3_*, DATABASE_URL, DAGSTER_PG_*, OLLAMA_HOST, COMFYUI_URL.
$ErrorActionPreference = "Stop"

$Repo = (Resolve-Path (Join-Path $PSScriptRoot "..\..")).Path
. (Join-Path $Repo "deploy\lib\load-env.ps1")
Import-SparklioEnvFile $(if ($env:SPARKLIO_ENV_FILE) { $env:SPARKLIO_ENV_FILE } else { Join-Path $Repo ".env" })
Set-SparklioS3CredentialsForDagster
# a deployed node never falls back to an embedded part: a missing service stops it at start
if (-not $env:SPARKLIO_PROFILE) { $env:SPARKLIO_PROFILE = "production" }

$HostAddr = if ($env:SPARKLIO_CODE_SERVER_HOST) { $env:SPARKLIO_CODE_SERVER_HOST } else { "127.0.0.1" }
$Port = 0
if (-not [int]::TryParse("$env:SPARKLIO_CODE_SERVER_PORT", [ref]$Port) -or $Port -lt 11000 -or $Port -gt 11999) {
    throw "SPARKLIO_CODE_SERVER_PORT='$env:SPARKLIO_CODE_SERVER_PORT': must be a port in 11000-11999"
}

$Dagster = Join-Path $Repo ".venv\Scripts\dagster.exe"
if (-not (Test-Path $Dagster)) { $Dagster = (Get-Command dagster -ErrorAction Stop).Source }

Set-Location $Repo
Write-Host "sparklio code server on ${HostAddr}:$Port (location 'sparklio')"
# A server id of this start's own, kept across code reloads (see start-code-server.sh)
$ServerId = "sparklio-{0}-{1}" -f (Get-Date -Format "yyyyMMddTHHmmss"), ([guid]::NewGuid().ToString("N").Substring(0, 8))
& $Dagster code-server start -m sparklio_pipelines.definitions --location-name sparklio `
    -h $HostAddr -p $Port --use-python-environment-entry-point --fixed-server-id $ServerId @args
exit $LASTEXITCODE
