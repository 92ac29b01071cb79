# Dot-sourced by the PowerShell deploy scripts (the PowerShell twin of load-env.sh).

# Set the variables of a .env file for this process. Variables already set win over the file
# (one-off overrides); empty values count as unset.
function Import-SparklioEnvFile([string]$EnvFile) {
    if (-not (Test-Path $EnvFile)) { return }
    foreach ($line in Get-Content $EnvFile) {
        if ($line -match '^\s*(#|$)') { continue }
        if ($line -notmatch '^\s*(export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$') {
            Write-Warning "ignoring malformed line in ${EnvFile}: $line"
            continue
        }
        $key = $Matches[2]
        $value = $Matches[3].Trim()
        if ($value -match '^"(.*)"$' -or $value -match "^'(.*)'$") { $value = $Matches[1] }
        if (-not $value) { continue }
        if ([Environment]::GetEnvironmentVariable($key)) { continue }
        [Environment]::SetEnvironmentVariable($key, $value, "Process")
    }
}

# Dagster's S3 compute log manager reads boto3's standard variables; default them to Sparklio's.
function Set-SparklioS3CredentialsForDagster {
    if (-not $env:AWS_ACCESS_KEY_ID) { $env:AWS_ACCESS_KEY_ID = $env:SPARKLIO_S3_ACCESS_KEY_ID }
    if (-not $env:AWS_SECRET_ACCESS_KEY) { $env:AWS_SECRET_ACCESS_KEY = $env:SPARKLIO_S3_SECRET_ACCESS_KEY }
    if (-not $env:AWS_DEFAULT_REGION) {
        $env:AWS_DEFAULT_REGION = if ($env:SPARKLIO_S3_REGION) { $env:SPARKLIO_S3_REGION } else { "us-east-1" }
    }
}
