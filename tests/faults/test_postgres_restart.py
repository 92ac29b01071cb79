"""Postgres restarts under the control plane: the embedded server comes back in the process that stopped
it, and `sparklio instance wait` (run by start-control-plane.sh) holds the webserver and daemon until
Postgres accepts connections, or fails with one clear line."""

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg2

from resources.embedded_postgres import start_embedded_postgres, stop_embedded_postgres
from tests.support.topology import dagster_storage_url, production_instance_yaml

SPARKLIO = str(Path(sys.executable).with_name("sparklio"))


def test_embedded_postgres_starts_again_after_a_stop_in_the_same_process(tmp_path):
    pgdata = tmp_path / "pg"
    dsn = start_embedded_postgres(pgdata)
    try:
        stop_embedded_postgres(pgdata)
        assert not (pgdata / "postmaster.pid").exists()
        assert start_embedded_postgres(pgdata) == dsn  # same socket, so clients find it again
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("select 1")
            assert cur.fetchone() == (1,)
    finally:
        stop_embedded_postgres(pgdata)


def wait_command(home: Path, timeout_s: float) -> subprocess.Popen:
    return subprocess.Popen([SPARKLIO, "instance", "wait", "--timeout", str(timeout_s)],
                            env={**os.environ, "DAGSTER_HOME": str(home)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_instance_wait_holds_until_postgres_is_back_and_fails_clearly_when_it_stays_down(tmp_path):
    pgdata = tmp_path / "pg"
    dsn = start_embedded_postgres(pgdata)
    home = tmp_path / "dagster-home"
    home.mkdir()
    (home / "dagster.yaml").write_text(production_instance_yaml(dagster_storage_url(dsn)))
    try:
        stop_embedded_postgres(pgdata)
        waiting = wait_command(home, 120)
        time.sleep(15)  # longer than Dagster's own ~6 s of connection retries: ours must have taken over
        assert waiting.poll() is None, waiting.communicate()
        start_embedded_postgres(pgdata)
        out, err = waiting.communicate(timeout=120)
        assert waiting.returncode == 0, err
        assert "waiting for Dagster's storage" in err

        stop_embedded_postgres(pgdata)
        started = time.monotonic()
        gave_up = wait_command(home, 4)
        out, err = gave_up.communicate(timeout=60)
        assert gave_up.returncode == 1
        assert "error: Dagster's storage did not accept connections within 4 s" in err
        assert "Traceback" not in err
        assert time.monotonic() - started < 40
    finally:
        stop_embedded_postgres(pgdata)
