"""Tier 3: brief_upload_sensor ticks against the local backend and the real S3 server."""

import json
from pathlib import Path

import dagster as dg

from sensors import brief_upload
from sensors.brief_upload import BRIEF_INBOX, brief_upload_sensor
from sensors.inbox import InboxCursor

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "briefs"
GOOD = (EXAMPLES / "glow-serum-en.yaml").read_text()


class Ticker:
    """Runs sensor ticks the way the daemon does: each tick gets the last tick's cursor."""

    def __init__(self, store, db):
        self.store, self.db = store, db
        self.instance = dg.DagsterInstance.ephemeral()
        self.cursor = None

    def tick(self) -> dg.SensorResult:
        with dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor,
            resources={"object_store": self.store, "campaign_db": self.db},
        ) as context:
            result = brief_upload_sensor(context)
        self.cursor = result.cursor
        for request in result.dynamic_partitions_requests:  # the daemon applies these
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        return result

    def run(self, result: dg.SensorResult) -> None:
        """Stand in for the requested runs' `brief` step: it records the brief in Postgres."""
        from sparklio_pipelines.defs.assets.brief import brief

        for request in result.run_requests:
            done = dg.materialize([brief], partition_key=request.partition_key, instance=self.instance,
                                  resources={"object_store": self.store, "campaign_db": self.db})
            assert done.success


def brief_text(campaign_id: str, cta: str = "Shop the launch offer") -> str:
    return GOOD.replace("glow-serum-launch", campaign_id).replace("Shop the launch offer", cta)


def drop(store, name: str, text: str) -> str:
    key = BRIEF_INBOX + name
    store.put_bytes(key, text.encode())
    return key


def test_drop_same_again_then_change(any_store, campaign_db, request):
    cid = f"sensor-{request.node.callspec.id}"
    ticker = Ticker(any_store, campaign_db)
    drop(any_store, "spring launch 봄.yaml", brief_text(cid))
    first = ticker.tick()
    assert [r.partition_key for r in first.run_requests] == [cid]
    assert first.dynamic_partitions_requests[0].partition_keys == [cid]
    assert ticker.instance.has_dynamic_partition("campaign", cid)
    ticker.run(first)

    assert ticker.tick().run_requests == []  # settles the file into processed/
    assert any_store.exists(f"campaigns/{cid}/input/brief.json")
    assert [o.key for o in any_store.list(BRIEF_INBOX, recursive=False)] == []
    assert len(list(any_store.list(BRIEF_INBOX + "processed/"))) == 1

    drop(any_store, "spring launch 봄.yaml", brief_text(cid))  # the same brief again
    assert ticker.tick().run_requests == []

    drop(any_store, "spring launch 봄.yaml", brief_text(cid, cta="Try it today"))  # changed
    changed = ticker.tick()
    assert [r.partition_key for r in changed.run_requests] == [cid]
    assert changed.run_requests[0].run_key != first.run_requests[0].run_key
    assert json.loads(any_store.get_bytes(f"campaigns/{cid}/input/brief.json"))["call_to_action"] == "Try it today"


MALFORMED = {
    "broken.yaml": "campaign_id: [oops\n",
    "no-product.yaml": GOOD.replace("product: Lumi Glow Vitamin C Serum\n", ""),
    "bad-language.yaml": GOOD.replace("languages: [en]", "languages: [fr]"),
    "traversal.yaml": GOOD.replace("campaign_id: glow-serum-launch", "campaign_id: ../x"),
    "dates.yaml": GOOD.replace("end_date: 2027-01-31", "end_date: 2020-01-01"),
    "list.json": "[1, 2, 3]",
    "bad.json": "{not json",
    "palette.yaml": GOOD.replace('palette: ["#1F2A44", "#F4B942", "#FFFFFF"]', "palette: [red]"),
    "notes.txt": "this is not a brief",
    "control.yaml": GOOD.replace("tone: warm", 'tone: "warm\\x07"'),
}


def test_ten_malformed_are_quarantined_and_good_ones_still_run(any_store, campaign_db, request):
    cid = f"good-{request.node.callspec.id}"
    ticker = Ticker(any_store, campaign_db)
    for name, text in MALFORMED.items():
        drop(any_store, name, text)
    drop(any_store, "zz-good.yaml", brief_text(cid))
    result = ticker.tick()
    assert [r.partition_key for r in result.run_requests] == [cid]
    rejected = {o.key.rsplit("/", 1)[-1] for o in any_store.list(BRIEF_INBOX + "rejected/")}
    for name in MALFORMED:
        assert name in rejected and f"{name}.error.txt" in rejected
    reasons = {name: any_store.get_bytes(f"{BRIEF_INBOX}rejected/{name}.error.txt").decode() for name in MALFORMED}
    assert "not valid YAML" in reasons["broken.yaml"]
    assert "product: is required" in reasons["no-product.yaml"]
    assert "'fr'" in reasons["bad-language.yaml"]
    assert "campaign_id" in reasons["traversal.yaml"]
    assert "end_date" in reasons["dates.yaml"]
    assert "not a brief" in reasons["notes.txt"]
    assert "not valid JSON" in reasons["bad.json"]


def test_batch_limit_advances_safely_and_deleted_keys_are_fine(any_store, campaign_db, monkeypatch):
    monkeypatch.setattr(brief_upload, "BATCH_LIMIT", 4)
    ticker = Ticker(any_store, campaign_db)
    keys = [drop(any_store, f"b{i:02d}.yaml", brief_text(f"batch-{i:02d}")) for i in range(10)]
    seen = []
    first = ticker.tick()
    seen += [r.partition_key for r in first.run_requests]
    any_store.delete(keys[1])  # deleted after its run was requested: settle skips it
    any_store.delete(keys[6])  # deleted before anyone saw it
    for _ in range(4):
        seen += [r.partition_key for r in ticker.tick().run_requests]
    assert len(first.run_requests) == 4
    assert sorted(seen) == [f"batch-{i:02d}" for i in range(10) if i != 6]
    assert list(any_store.list(BRIEF_INBOX, recursive=False)) == []
    assert InboxCursor.parse(ticker.cursor).pending == {}


def test_overwritten_before_settle_is_treated_as_new(any_store, campaign_db):
    ticker = Ticker(any_store, campaign_db)
    drop(any_store, "x.yaml", brief_text("overwrite-me"))
    first = ticker.tick()
    drop(any_store, "x.yaml", brief_text("overwrite-me", cta="Second version"))  # before it is settled
    second = ticker.tick()
    assert len(first.run_requests) == 1 and len(second.run_requests) == 1
    assert first.run_requests[0].run_key != second.run_requests[0].run_key
    assert [o.key for o in any_store.list(BRIEF_INBOX, recursive=False)] == [BRIEF_INBOX + "x.yaml"]
