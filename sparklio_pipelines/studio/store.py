"""The Studio's rows in the campaign Postgres (migration 0004_studio.sql): users, sessions, API tokens,
copy revisions, rejections and webhook deliveries. Secrets are stored as hashes only."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import threading
import time
from typing import Iterator

from pydantic import PrivateAttr

from resources.database import CampaignDatabaseResource, DatabaseUnavailable

POOL_SIZE = 8  # connections kept open; requests beyond wait for one
TOKEN_CACHE_SECONDS = 30.0


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class PooledCampaignDatabase(CampaignDatabaseResource):
    """The campaign database with a connection pool: a web server's requests would otherwise each open
    several connections. Same contract as `connection()`: one transaction, committed or rolled back."""

    _pool = PrivateAttr(default=None)
    _slots = PrivateAttr(default=None)
    _pool_lock = PrivateAttr(default_factory=threading.Lock)

    def _ensure_pool(self):
        with self._pool_lock:
            if self._pool is None:
                from psycopg2.pool import ThreadedConnectionPool

                with super().connection():  # applies migrations; maps connection errors to DatabaseError
                    pass
                # minconn = maxconn: psycopg2's pool closes every returned connection beyond minconn, and
                # opens new ones while holding its lock, so a smaller minconn serializes requests on connects.
                self._pool = ThreadedConnectionPool(POOL_SIZE, POOL_SIZE, self.dsn, connect_timeout=self.connect_timeout_s)
                self._slots = threading.BoundedSemaphore(POOL_SIZE)  # wait for a free connection, never fail
        return self._pool

    @contextlib.contextmanager
    def connection(self) -> Iterator:
        import psycopg2

        pool = self._ensure_pool()
        with self._slots:
            try:
                conn = pool.getconn()
            except psycopg2.OperationalError as exc:
                raise DatabaseUnavailable("Postgres", f"cannot connect: {str(exc).strip()}") from exc
            broken = False
            try:
                with conn:
                    yield conn
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                broken = True
                raise
            finally:
                pool.putconn(conn, close=broken or bool(conn.closed))


class StudioStore:
    def __init__(self, db: CampaignDatabaseResource):
        self.db = db
        self._token_names: dict[str, tuple[str, float]] = {}  # token sha256 -> (name, known until)

    def _fetch(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.db.connection() as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    # users -----------------------------------------------------------------------------------

    def set_user(self, username: str, password_hash: str) -> bool:
        """Create the user or change their password; True when the user is new."""
        rows = self._fetch(
            "INSERT INTO studio_users (username, password_hash) VALUES (%s, %s)"
            " ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash"
            " RETURNING (xmax = 0)", (username, password_hash))
        return bool(rows[0][0])

    def password_hash(self, username: str) -> str | None:
        rows = self._fetch("SELECT password_hash FROM studio_users WHERE username = %s", (username,))
        return rows[0][0] if rows else None

    # sessions and tokens -----------------------------------------------------------------------

    def add_session(self, token: str, username: str, csrf_token: str, expires_at: dt.datetime) -> None:
        self._fetch("INSERT INTO studio_sessions (token_sha256, username, csrf_token, expires_at)"
                    " VALUES (%s, %s, %s, %s)", (sha256_hex(token), username, csrf_token, expires_at))

    def session(self, token: str) -> tuple[str, str] | None:
        """(username, csrf_token) of a live session."""
        rows = self._fetch("SELECT username, csrf_token FROM studio_sessions"
                           " WHERE token_sha256 = %s AND expires_at > now()", (sha256_hex(token),))
        return (rows[0][0], rows[0][1]) if rows else None

    def end_session(self, token: str) -> None:
        self._fetch("DELETE FROM studio_sessions WHERE token_sha256 = %s OR expires_at < now()",
                    (sha256_hex(token),))

    def add_api_token(self, token: str, name: str) -> None:
        self._fetch("INSERT INTO studio_api_tokens (token_sha256, name) VALUES (%s, %s)", (sha256_hex(token), name))

    def api_token_name(self, token: str) -> str | None:
        """The token's name, or None. A known token is remembered for TOKEN_CACHE_SECONDS: apps poll,
        and asking Postgres on every request costs more than the request (a deleted token stops
        working within that time); an unknown one is always looked up."""
        digest = sha256_hex(token)
        known = self._token_names.get(digest)
        if known and known[1] > time.monotonic():
            return known[0]
        rows = self._fetch("SELECT name FROM studio_api_tokens WHERE token_sha256 = %s", (digest,))
        if not rows:
            return None
        self._token_names[digest] = (rows[0][0], time.monotonic() + TOKEN_CACHE_SECONDS)
        return rows[0][0]

    # copy revisions and rejections ---------------------------------------------------------------

    def next_revision(self, campaign_id: str, language: str, channel: str, variant: str) -> int:
        rows = self._fetch(
            "SELECT coalesce(max(revision), 0) + 1 FROM copy_revisions"
            " WHERE campaign_id = %s AND language = %s AND channel = %s AND variant = %s",
            (campaign_id, language, channel, variant))
        return rows[0][0]

    def add_revision(self, campaign_id: str, language: str, channel: str, variant: str, revision: int,
                     fields: dict, stored, author: str) -> None:
        """`stored`: the revision's object (a StoredObject)."""
        self._fetch(
            "INSERT INTO copy_revisions (campaign_id, language, channel, variant, revision, fields, object_key,"
            " sha256, bytes, author) VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (campaign_id, language, channel, variant, revision, json.dumps(fields, ensure_ascii=False),
             stored.key, stored.sha256, stored.size, author))

    def revisions(self, campaign_id: str) -> list[dict]:
        rows = self._fetch(
            "SELECT language, channel, variant, revision, fields, object_key, sha256, bytes, author, created_at"
            " FROM copy_revisions WHERE campaign_id = %s ORDER BY language, channel, variant, revision", (campaign_id,))
        names = ("language", "channel", "variant", "revision", "fields", "object_key", "sha256", "bytes", "author",
                 "created_at")
        return [dict(zip(names, row)) for row in rows]

    def add_rejection(self, campaign_id: str, language: str, channel: str, variant: str, reason: str,
                      author: str) -> None:
        self._fetch("INSERT INTO copy_rejections (campaign_id, language, channel, variant, reason, author)"
                    " VALUES (%s, %s, %s, %s, %s, %s)", (campaign_id, language, channel, variant, reason, author))

    def rejections(self, campaign_id: str) -> list[dict]:
        rows = self._fetch("SELECT language, channel, variant, reason, author, created_at FROM copy_rejections"
                           " WHERE campaign_id = %s ORDER BY id", (campaign_id,))
        names = ("language", "channel", "variant", "reason", "author", "created_at")
        return [dict(zip(names, row)) for row in rows]

    # campaigns -----------------------------------------------------------------------------------

    def campaign_version(self, campaign_id: str) -> tuple:
        """What changes whenever anything the review shows from Postgres changes: the brief, the outputs
        (a write bumps updated_at; a removal the count), revisions and rejections. One round trip."""
        (row,) = self._fetch(
            "SELECT (SELECT updated_at FROM campaigns WHERE campaign_id = %(c)s),"
            " (SELECT max(updated_at) FROM campaign_outputs WHERE campaign_id = %(c)s),"
            " (SELECT count(*) FROM campaign_outputs WHERE campaign_id = %(c)s),"
            " (SELECT count(*) FROM copy_revisions WHERE campaign_id = %(c)s),"
            " (SELECT count(*) FROM copy_rejections WHERE campaign_id = %(c)s)", {"c": campaign_id})
        return row

    def campaigns(self) -> list[dict]:
        rows = self._fetch(
            "SELECT c.campaign_id, c.brand, c.status, c.start_date, c.end_date, c.created_at, c.updated_at,"
            " coalesce(array_agg(DISTINCT o.asset) FILTER (WHERE o.asset IS NOT NULL), '{}')"
            " FROM campaigns c LEFT JOIN campaign_outputs o USING (campaign_id)"
            " GROUP BY c.campaign_id ORDER BY c.updated_at DESC")
        names = ("campaign_id", "brand", "status", "start_date", "end_date", "created_at", "updated_at", "assets")
        return [dict(zip(names, row)) for row in rows]

    # webhooks ------------------------------------------------------------------------------------

    def claim_delivery(self, run_id: str, campaign_id: str, status: str) -> bool:
        """Record that this run's webhook is being sent; False when it already was (at most once)."""
        rows = self._fetch("INSERT INTO webhook_deliveries (run_id, campaign_id, status) VALUES (%s, %s, %s)"
                           " ON CONFLICT DO NOTHING RETURNING run_id", (run_id, campaign_id, status))
        return bool(rows)

    def record_delivery(self, run_id: str, http_status: int | None) -> None:
        self._fetch("UPDATE webhook_deliveries SET http_status = %s, delivered_at = now() WHERE run_id = %s",
                    (http_status, run_id))
