"""Tier 3: `sparklio backup` / `backup --verify` / `restore` against the embedded Postgres (a database of
its own per test) and SeaweedFS, with the real MiniLM embedder for brand memory.

The source is a small campaign as the pipeline leaves it: the stored brief, copy and image outputs
recorded in Postgres with the campaign manifest, a brief and an upload waiting in their inboxes, one
approved line and one generated line in brand memory.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from resources.database import CampaignDatabaseResource
from resources.object_store import S3ObjectStoreResource
from sparklio_pipelines.campaigns import backup
from sparklio_pipelines.content.brief.parse import parse_brief_data
from tests.support.topology import create_database

CAMPAIGN = "backup-drill"
APPROVED_LINE = "Hanbit barley tea: roasted, nutty and calm, one warm cup at a time."
GENERATED_LINE = "Slow mornings start with Hanbit barley tea."
BRIEF = {
    "campaign_id": CAMPAIGN, "product": "Hanbit barley tea", "audience": "Office workers",
    "key_messages": ["Roasted and nutty", "Caffeine free"], "tone": "warm", "languages": ["en"],
    "channels": ["x"], "call_to_action": "Order today", "start_date": "2026-01-01", "end_date": "2026-12-31",
    "brand": {"name": "Hanbit Backup Test", "required_terms": ["Hanbit"]},
}


@dataclass
class Source:
    store: S3ObjectStoreResource
    db: CampaignDatabaseResource
    embedder: object

    def search(self, query: str = "warm roasted tea") -> list[tuple]:
        from sparklio_pipelines.campaigns.brand_memory import search

        hits = search(query, db=self.db, embedder=self.embedder, brand=None, k=5)
        return [(h["kind"], h["content"], h["campaign_id"], round(h["similarity"], 6)) for h in hits]


def new_store(seaweed) -> S3ObjectStoreResource:
    return S3ObjectStoreResource(endpoint_url=seaweed.endpoint, bucket=f"bk-{uuid.uuid4().hex[:12]}",
                                 access_key_id="test", secret_access_key="test")


@pytest.fixture(scope="module")
def embedder():
    from resources.embeddings import MiniLMEmbedderResource

    return MiniLMEmbedderResource()


@pytest.fixture()
def source(seaweed, postgres_dsn, embedder) -> Source:
    from sparklio_pipelines.campaigns.brand_memory import GENERATED, approve, brand_of
    from sparklio_pipelines.campaigns.briefs import store_brief
    from sparklio_pipelines.campaigns.manifest import output_record, publish_outputs

    store, db = new_store(seaweed), CampaignDatabaseResource(database_url=create_database(postgres_dsn, "bksrc"))
    brief, stored_brief = store_brief(parse_brief_data(BRIEF), store)
    db.upsert_campaign(brief, stored_brief.sha256)
    copy = store.put_bytes(f"campaigns/{CAMPAIGN}/copy/en/x.json",
                           json.dumps([{"channel": "x", "variant": "A", "text": APPROVED_LINE}]).encode())
    images = [store.put_bytes(f"campaigns/{CAMPAIGN}/image/en/{size}.png", bytes([i]) * 50_000)
              for i, size in enumerate(("1080x1080", "1920x1080"))]
    publish_outputs(store, db, CAMPAIGN, "brief", [output_record(stored_brief, "brief")], input_fingerprint="b",
                    run_id="r1")
    publish_outputs(store, db, CAMPAIGN, "copy", [output_record(copy, "copy", language="en", channel="x")],
                    input_fingerprint="c", run_id="r1")
    publish_outputs(store, db, CAMPAIGN, "image", [output_record(o, "image") for o in images],
                    input_fingerprint="i", run_id="r1")
    store.put_bytes("briefs/next-campaign.yaml", b"campaign_id: next\n")
    store.put_bytes("uploads/video/interview.mp4", b"\x00\x00\x00\x18ftypmp42" * 1000)
    store.put_bytes("dagster-compute-logs/run/out.log", b"not backed up")
    approve(APPROVED_LINE, brief=brief, language="en", db=db, embedder=embedder)
    db.add_embedding(content=GENERATED_LINE, embedding=embedder.embed([GENERATED_LINE])[0],
                     model=embedder.model_label, kind=GENERATED, language="en", brand=brand_of(brief),
                     campaign_id=CAMPAIGN, run_id="r1")
    return Source(store, db, embedder)


def backed_up_keys(store) -> dict[str, str]:
    """key -> sha256 of every object a backup must hold, read from the store itself."""
    return {info.key: hashlib.sha256(store.get_bytes(info.key)).hexdigest()
            for prefix in backup.BACKED_UP_PREFIXES for info in store.list(prefix)}


@pytest.fixture(params=["directory", "s3"])
def destination(request, tmp_path, seaweed, monkeypatch) -> str:
    """A local directory, or a second bucket reached through the SPARKLIO_BACKUP_S3_* settings."""
    if request.param == "directory":
        return str(tmp_path / "backups")
    monkeypatch.setenv("SPARKLIO_BACKUP_S3_ENDPOINT", seaweed.endpoint)
    monkeypatch.setenv("SPARKLIO_BACKUP_S3_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("SPARKLIO_BACKUP_S3_SECRET_ACCESS_KEY", "test")
    return f"s3://bk-dest-{uuid.uuid4().hex[:10]}/nightly"


def test_full_then_incremental_backup_copies_only_what_changed(source, destination):
    expected = backed_up_keys(source.store)
    assert len(expected) == 7 and not any(k.startswith("dagster-") for k in expected)

    first = backup.backup(source.store, source.db, destination)
    assert (first.objects, first.copied, first.skipped) == (7, 7, 0)
    assert first.rows == {"campaigns": 1, "campaign_outputs": 4, "asset_fingerprints": 3, "text_embeddings": 2}
    manifest = backup.load_manifest(backup.backup_location(destination))
    assert {e["key"]: e["sha256"] for e in manifest["objects"]} == expected
    assert manifest["database"]["bytes"] == first.dump_bytes > 0
    assert manifest["database"]["pg_dump"].startswith("pg_dump (PostgreSQL) 18")  # the embedded server's version

    # one object changes, one is new, the rest are as they were
    source.store.put_bytes(f"campaigns/{CAMPAIGN}/image/en/1080x1080.png", b"\x07" * 60_000)
    source.store.put_bytes("music/bed.mp3", b"ID3" + b"\x01" * 3000)
    second = backup.backup(source.store, source.db, destination)
    assert (second.objects, second.copied, second.skipped) == (8, 2, 6)
    assert second.copied_bytes == 60_000 + 3003
    assert second.backup_id != first.backup_id
    latest = backup.load_manifest(backup.backup_location(destination))
    assert latest["backup_id"] == second.backup_id
    assert {e["key"]: e["sha256"] for e in latest["objects"]} == backed_up_keys(source.store)
    assert backup.verify(destination).bad == []
    assert backup.verify(destination, first.backup_id).bad == []  # the older backup still reads back whole


def test_verify_detects_a_corrupted_and_a_missing_object(source, tmp_path, capsys):
    from sparklio_pipelines.cli import main

    destination = tmp_path / "backups"
    backup.backup(source.store, source.db, str(destination))
    assert main(["backup", "--verify", str(destination)]) == 0
    assert ": OK (" in capsys.readouterr().out

    manifest = backup.load_manifest(backup.backup_location(str(destination)))
    entries = {e["key"]: e for e in manifest["objects"]}
    png = entries[f"campaigns/{CAMPAIGN}/image/en/1920x1080.png"]["sha256"]
    blob = destination / "objects" / "sha256" / png[:2] / png
    blob.write_bytes(blob.read_bytes()[:-1] + b"X")  # one byte flipped on disk
    brief_blob = entries["briefs/next-campaign.yaml"]["sha256"]
    (destination / "objects" / "sha256" / brief_blob[:2] / brief_blob).unlink()

    report = backup.verify(str(destination))
    assert report.checked == 8  # the dump and 7 distinct objects
    assert len(report.bad) == 2, report.bad
    assert any("checksum differs" in line and png in line for line in report.bad)
    assert any("missing" in line and brief_blob in line for line in report.bad)
    assert main(["backup", "--verify", str(destination)]) == 1
    assert "2 BAD" in capsys.readouterr().out


def test_restore_drill_into_an_empty_database_and_store(source, seaweed, postgres_dsn, destination):
    from sparklio_common.keys import manifest_key
    from sparklio_pipelines.campaigns.brand_memory import APPROVED

    searched_before = source.search()
    assert searched_before and any(kind == APPROVED for kind, *_ in searched_before)
    made = backup.backup(source.store, source.db, destination)

    # the disk died: a new database and an empty bucket
    store, db = new_store(seaweed), CampaignDatabaseResource(database_url=create_database(postgres_dsn, "bkdst"))
    db.migrate()  # a first connection made the empty tables: restore replaces them
    restored = backup.restore(store, db, destination)
    assert restored.backup_id == made.backup_id
    assert restored.objects == 7 and restored.campaigns == [CAMPAIGN]
    assert restored.rows == made.rows

    # every backup-manifest checksum matches the stored object, and the campaign manifest still holds
    manifest = backup.load_manifest(backup.backup_location(destination))
    assert backed_up_keys(store) == {e["key"]: e["sha256"] for e in manifest["objects"]}
    campaign_manifest = json.loads(store.get_bytes(manifest_key(CAMPAIGN)))
    for entry in campaign_manifest["outputs"]:
        assert hashlib.sha256(store.get_bytes(entry["key"])).hexdigest() == entry["sha256"], entry["key"]
    assert {r.key for r in db.outputs(CAMPAIGN)} == {e["key"] for e in campaign_manifest["outputs"]}

    # brand memory answers as before, and the approved line is still approved
    after = Source(store, db, source.embedder)
    assert after.search() == searched_before
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT content FROM text_embeddings WHERE kind = %s", (APPROVED,))
        assert [row[0] for row in cur.fetchall()] == [APPROVED_LINE]
    assert db.get_campaign(CAMPAIGN)["status"] == "active"

    # restoring again over what is now there is refused: nothing stored is overwritten
    with pytest.raises(backup.BackupError, match="database is not empty"):
        backup.restore(store, db, destination)


def test_clear_errors_for_bad_destinations(source, tmp_path, monkeypatch):
    from sparklio_pipelines.cli import main

    monkeypatch.delenv("SPARKLIO_BACKUP_S3_ENDPOINT", raising=False)
    monkeypatch.delenv("SPARKLIO_S3_ENDPOINT", raising=False)
    with pytest.raises(backup.BackupError, match="SPARKLIO_BACKUP_S3_ENDPOINT"):
        backup.backup_location("s3://some-bucket/x")
    with pytest.raises(backup.BackupError, match="directory or an s3://"):
        backup.backup_location("ftp://host/x")
    (tmp_path / "file").write_text("x")
    with pytest.raises(backup.BackupError, match="not a directory"):
        backup.backup_location(str(tmp_path / "file"))
    with pytest.raises(backup.BackupError, match="no backup in"):
        backup.verify(str(tmp_path / "empty"))
    assert main(["restore", str(tmp_path / "empty")]) == 1


def test_pg_tool_matches_the_server_major_version():
    tool, version = backup.pg_tool("pg_dump", 16)
    assert "16." in version and Path(tool).name == "pg_dump"
    with pytest.raises(backup.BackupError, match="no pg_restore for PostgreSQL 9"):
        backup.pg_tool("pg_restore", 9)


def dagster_history(kind: str, home: Path, postgres_dsn: str) -> tuple[backup.RunHistory, object]:
    """A Dagster instance as each profile keeps it: SQLite files under DAGSTER_HOME, or its own database."""
    from urllib.parse import parse_qs, urlsplit

    import dagster as dg

    from tests.support.topology import dagster_storage_url

    home.mkdir(parents=True)
    if kind == "sqlite":
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        return backup.RunHistory(sqlite_home=home), dg.DagsterInstance.from_config(str(home))
    url = create_database(postgres_dsn, "bkdag")
    (home / "dagster.yaml").write_text(f"storage:\n  postgres:\n    postgres_url: {dagster_storage_url(url)}\n"
                                       "telemetry:\n  enabled: false\n")
    parts = urlsplit(url)  # as production names it: DAGSTER_PG_HOST, _PORT, _USER, _PASSWORD, _DB
    host = parse_qs(parts.query).get("host", [parts.hostname])[0]  # the embedded server's is a socket directory
    history = backup.RunHistory.postgres(host, str(parts.port or ""), parts.username or "", parts.password or "",
                                         parts.path.lstrip("/"))
    return history, dg.DagsterInstance.from_config(str(home))


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_run_history_comes_back_with_the_campaigns(source, seaweed, postgres_dsn, tmp_path, kind):
    """Runs, their events and the campaign partitions survive a dead disk, in either profile."""
    import dagster as dg

    history, instance = dagster_history(kind, tmp_path / "dagster-src", postgres_dsn)
    partitions = dg.DynamicPartitionsDefinition(name="campaign")

    @dg.asset(partitions_def=partitions)
    def copy() -> None:
        return None

    instance.add_dynamic_partitions("campaign", [CAMPAIGN])
    run = dg.materialize([copy], instance=instance, partition_key=CAMPAIGN).run_id
    materialized = instance.get_latest_materialization_event(dg.AssetKey("copy"))
    assert materialized and history.runs() == 1
    instance.dispose()

    destination = str(tmp_path / "backups")
    made = backup.backup(source.store, source.db, destination, history=history)
    assert made.history.startswith("1 runs")
    assert backup.verify(destination).checked > 8  # the run history's parts are re-read too

    store, db = new_store(seaweed), CampaignDatabaseResource(database_url=create_database(postgres_dsn, "bkdst"))
    restored_history, fresh = dagster_history(kind, tmp_path / "dagster-new", postgres_dsn)
    fresh.dispose()  # a new machine's instance: storage made, no runs
    assert restored_history.runs() == 0
    restored = backup.restore(store, db, destination, history=restored_history)
    assert restored.history == "1 runs"

    after = dg.DagsterInstance.from_config(str(tmp_path / "dagster-new"))
    try:
        assert [r.run_id for r in after.get_runs()] == [run]
        assert after.get_run_by_id(run).status == dg.DagsterRunStatus.SUCCESS
        assert after.get_dynamic_partitions("campaign") == [CAMPAIGN]
        event = after.get_latest_materialization_event(dg.AssetKey("copy"))
        assert event and event.run_id == run and event.dagster_event.partition == CAMPAIGN
    finally:
        after.dispose()

    # a second restore over an instance with runs is refused, before anything is written
    store2 = new_store(seaweed)
    db2 = CampaignDatabaseResource(database_url=create_database(postgres_dsn, "bkdst"))
    with pytest.raises(backup.BackupError, match="already has 1 runs"):
        backup.restore(store2, db2, destination, history=restored_history)
    assert not list(store2.list("campaigns/"))
