# GPU box (the Desktop, and each GPU box added later), PowerShell: a Celery worker for the steps in the
# `gpu` pool (copy on Ollama, images on ComfyUI, video, captions), one at a time, for runs with
# SPARKLIO_EXECUTOR=celery.
#
#   powershell -ExecutionPolicy Bypass -File deploy\desktop\start-celery-worker.ps1 [celery worker options]
#
# Settings come from the environment, then from $env:SPARKLIO_ENV_FILE (default: <repo>\.env):
#   REDIS_URL                    the Mac mini's Redis: broker and result backend
#   DAGSTER_HOME                 holds dagster.yaml (the shared Postgres instance) and the worker's config
#   SPARKLIO_CELERY_WORKER_NAME  default `gpu`; the worker is <name>@<hostname>, so each box is distinct
#   SPARKLIO_CELERY_QUEUES       default `gpu`; several as one comma-joined value (e.g. gpu,cpu)
# plus everything the steps need: SPARKLIO_S3_*, DATABASE_URL, DAGSTER_PG_*, OLLAMA_HOST, COMFYUI_URL.
$ErrorActionPreference = "Stop"

$Repo = (Resolve-Path (Join-Path $PSScriptRoot "..\..")).Path
. (Join-Path $Repo "deploy\lib\load-env.ps1")
Import-SparklioEnvFile $(if ($env:SPARKLIO_ENV_FILE) { $env:SPARKLIO_ENV_FILE } else { Join-Path $Repo ".env" })
Set-SparklioS3CredentialsForDagster
# a deployed node never falls back to an embedded part: a missing service stops it at start
if (-not $env:SPARKLIO_PROFILE) { $env:SPARKLIO_PROFILE = "production" }

if (-not $env:REDIS_URL) { throw "set REDIS_URL to the Mac mini Redis, e.g. redis://mac-mini.tailnet.example:6379/0" }
if (-not $env:DAGSTER_HOME) { throw "set DAGSTER_HOME (its dagster.yaml points at the shared Postgres instance)" }
# the steps' outputs must go through S3 here too, whatever the .env says about the executor
$env:SPARKLIO_EXECUTOR = "celery"
$Queues = if ($env:SPARKLIO_CELERY_QUEUES) { $env:SPARKLIO_CELERY_QUEUES } else { "gpu" }
$Name = if ($env:SPARKLIO_CELERY_WORKER_NAME) { $env:SPARKLIO_CELERY_WORKER_NAME } else { "gpu" }

$Scripts = Join-Path $Repo ".venv\Scripts"
$Python = Join-Path $Scripts "python.exe"
$DagsterCelery = Join-Path $Scripts "dagster-celery.exe"
if (-not (Test-Path $DagsterCelery)) { throw "cannot find $DagsterCelery: run 'make setup' (scripts/setup.sh)" }
# dagster-celery starts `celery` by name: the venv's must be first on PATH
$env:PATH = "$Scripts;$env:PATH"

New-Item -ItemType Directory -Force -Path $env:DAGSTER_HOME | Out-Null
$InstanceYaml = Join-Path $env:DAGSTER_HOME "dagster.yaml"
if (-not (Test-Path $InstanceYaml)) { Copy-Item (Join-Path $Repo "dagster.yaml") $InstanceYaml }
$Config = Join-Path $env:DAGSTER_HOME "sparklio-celery-worker-$Name.yaml"
& $Python -m sparklio_pipelines.defs.executors worker-config | Set-Content -Encoding ascii $Config
if ($LASTEXITCODE -ne 0) { throw "could not write the worker config" }

Set-Location $Repo
Write-Host "celery worker $Name@$env:COMPUTERNAME on queue(s) $Queues (threads pool)"
# Celery's prefork pool does not run on Windows; threads do. One step at a time: the card is shared.
# -q takes the queues comma-joined: dagster-celery turns each -q into a -Q and celery keeps only the last.
# "--" quoted: Windows PowerShell would otherwise swallow it instead of passing it on.
# -i: the definitions load once at start, not on the first step.
& $DagsterCelery worker start -A dagster_celery.app -y $Config -q $Queues -n $Name `
    -i sparklio_pipelines.definitions `
    "--" --pool=threads --concurrency=1 @args
exit $LASTEXITCODE
