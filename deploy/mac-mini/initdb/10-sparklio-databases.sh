#!/bin/bash
# Runs once, when the pgvector container starts on an empty data volume: the campaign database
# (with pgvector) and Dagster's instance database, each owned by its own role. Names and passwords
# come from the container's environment (docker-compose.yml, from .env).
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v sparklio_user="$SPARKLIO_PG_USER" -v sparklio_password="$SPARKLIO_PG_PASSWORD" -v sparklio_db="$SPARKLIO_PG_DB" \
  -v dagster_user="$DAGSTER_PG_USER" -v dagster_password="$DAGSTER_PG_PASSWORD" -v dagster_db="$DAGSTER_PG_DB" <<'SQL'
CREATE ROLE :"sparklio_user" LOGIN PASSWORD :'sparklio_password';
CREATE DATABASE :"sparklio_db" OWNER :"sparklio_user";
CREATE ROLE :"dagster_user" LOGIN PASSWORD :'dagster_password';
CREATE DATABASE :"dagster_db" OWNER :"dagster_user";
\connect :"sparklio_db"
-- the extension needs a superuser; the migrations' CREATE EXTENSION IF NOT EXISTS then has nothing to do
CREATE EXTENSION IF NOT EXISTS vector;
SQL
