"""`sparklio`: the command line for marketers and operators.

    sparklio brief validate FILE...        check briefs, print every problem
    sparklio campaign add FILE [--launch]  store a brief, add its partition, optionally run it
    sparklio campaign run ID               materialize a campaign end to end
    sparklio campaign list | archive ID | activate ID
    sparklio copy approve CAMPAIGN LANG CHANNEL [VARIANT]
    sparklio search "QUERY" [--brand B]
    sparklio backup DEST | backup --verify SRC | restore SRC   (sparklio_pipelines/backup.py)
    sparklio studio [user add NAME | token create NAME]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sparklio_pipelines.content.brief.parse import load_brief
from sparklio_pipelines.content.brief.schema import BriefError


def _resources():
    from sparklio_pipelines.defs.resources import resolved_resources

    return resolved_resources("object_store", "campaign_db")


def _run_history():
    """Dagster's run history: production's Postgres database (DAGSTER_PG_*), else the embedded SQLite files."""
    import os

    from sparklio_common.settings import settings
    from sparklio_pipelines.campaigns.backup import RunHistory
    from sparklio_pipelines.defs.instance import ensure_dagster_home

    if settings().profile == "production":
        return RunHistory.postgres(*(os.environ.get(f"DAGSTER_PG_{name}", "")
                                     for name in ("HOST", "PORT", "USER", "PASSWORD", "DB")))
    return RunHistory(sqlite_home=ensure_dagster_home())


def cmd_validate(args) -> int:
    status = 0
    for name in args.files:
        try:
            brief = load_brief(name)
        except BriefError as exc:
            print(exc, file=sys.stderr)
            status = 1
        else:
            print(f"OK {name}: campaign {brief.campaign_id} ({', '.join(brief.languages)}; {', '.join(brief.channels)})")
    return status


def campaign_job_def():
    """The reconstructable target of `campaign run`: the code location's own campaign_job."""
    from sparklio_pipelines.definitions import defs

    return defs.resolve_job_def("campaign_job")


def run_campaign(campaign_id: str) -> int:
    """Materialize every campaign asset for one partition, recorded in the Dagster instance.

    Through `execute_job`, so the run gets the code location's executor and waits its turn for the `gpu`
    pool as a run from the UI does (`execute_in_process` would swap in Dagster's plain in-process one).
    """
    import dagster as dg

    from sparklio_common.keys import manifest_key
    from sparklio_pipelines.defs.instance import get_instance

    instance = get_instance()
    with dg.execute_job(dg.reconstructable(campaign_job_def), instance,
                        tags={"dagster/partition": campaign_id}) as result:
        success, run_id = result.success, result.run_id
        failures = [(e.step_key, e.step_failure_data.error.message.strip()) for e in result.all_events
                    if e.is_step_failure]
    store, _ = _resources()
    if not success:
        for step_key, message in failures:
            print(f"step {step_key} failed: {message}", file=sys.stderr)
        print(f"Run {run_id} failed. Re-execute it from failure in the Dagster UI.", file=sys.stderr)
        return 1
    key = manifest_key(campaign_id)
    print(f"Run {run_id} succeeded.")
    print(f"Outputs: {store.location}/campaigns/{campaign_id}/")
    print(f"Manifest: {store.url(key)}")
    return 0


def cmd_add(args) -> int:
    from sparklio_pipelines.defs.instance import get_instance
    from sparklio_pipelines.defs.partitions import submit_brief

    path = Path(args.file)
    store, db = _resources()
    try:
        raw = path.read_bytes()
        submission = submit_brief(raw, path.name, store=store, db=db, instance=get_instance(), base_dir=path.parent)
    except BriefError as exc:
        print(exc, file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"Cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 1
    brief = submission.brief
    state = "added" if submission.partition_added else "updated"
    print(f"Campaign {brief.campaign_id} {state}; brief stored at {submission.stored.key}")
    if args.launch:
        return run_campaign(brief.campaign_id)
    return 0


def cmd_run(args) -> int:
    return run_campaign(args.campaign_id)


def cmd_list(args) -> int:
    from sparklio_pipelines.defs.instance import get_instance
    from sparklio_pipelines.defs.partitions import CAMPAIGN_PARTITION_NAME

    _, db = _resources()
    for campaign_id in get_instance().get_dynamic_partitions(CAMPAIGN_PARTITION_NAME):
        row = db.get_campaign(campaign_id) or {}
        print(json.dumps({"campaign_id": campaign_id, "status": row.get("status"),
                          "start": str(row.get("start_date")), "end": str(row.get("end_date"))}, ensure_ascii=False))
    return 0


def cmd_status(args) -> int:
    _, db = _resources()
    db.set_status(args.campaign_id, "archived" if args.command == "archive" else "active")
    print(f"Campaign {args.campaign_id} is now {'archived' if args.command == 'archive' else 'active'}")
    return 0


def _embedder():
    from sparklio_pipelines.defs.resources import resolved_resources

    return resolved_resources("embedder")[0]


def cmd_search(args) -> int:
    from sparklio_pipelines.campaigns.brand_memory import search

    store, db = _resources()
    hits = search(args.query, db=db, embedder=_embedder(), brand=args.brand, k=args.k)
    if not hits:
        print("No approved or generated copy yet.")
        return 0
    for hit in hits:
        print(f"{hit['similarity']:.3f}  [{hit['kind']}, {hit['brand']}, {hit['language']}]  {hit['content']}")
        if hit["campaign_id"]:
            for rec in db.outputs(hit["campaign_id"]):
                if rec.asset in ("video", "captions", "campaign_bundle") and rec.key.endswith((".mp4", ".zip")):
                    print(f"         {rec.asset}: {store.url(rec.key)}")
    return 0


def cmd_approve(args) -> int:
    from sparklio_pipelines.campaigns.approvals import (
        ApprovalError,
        approve_variant,
    )

    store, db = _resources()
    try:
        text = approve_variant(args.campaign_id, args.language, args.channel, args.variant,
                               store=store, db=db, embedder=_embedder())
    except ApprovalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Approved ({args.language}/{args.channel}/{args.variant}): {text}")
    return 0


def cmd_backup(args) -> int:
    from sparklio_pipelines.campaigns import backup

    try:
        if args.verify:
            report = backup.verify(args.target, args.backup_id)
        else:
            report = backup.backup(*_resources(), args.target, history=_run_history())
    except backup.BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    return 1 if getattr(report, "bad", None) else 0


def cmd_restore(args) -> int:
    from sparklio_pipelines.campaigns import backup
    from sparklio_pipelines.defs.instance import get_instance
    from sparklio_pipelines.defs.partitions import CAMPAIGN_PARTITION_NAME

    try:
        report = backup.restore(*_resources(), args.source, args.backup_id, history=_run_history())
    except backup.BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    # a backup made before run history was kept brings none: the UI must still list the campaigns
    get_instance().add_dynamic_partitions(CAMPAIGN_PARTITION_NAME, report.campaigns)
    print("\n".join(report.lines()))
    return 0


def cmd_wait_for_storage(args) -> int:
    from sparklio_pipelines.defs.instance import StorageUnreachable, wait_for_storage

    try:
        wait_for_storage(args.timeout, say=lambda line: print(line, file=sys.stderr))
    except StorageUnreachable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sparklio", description="Sparklio AI Marketing Studio")
    groups = parser.add_subparsers(dest="group", required=True)

    brief = groups.add_parser("brief", help="work with brief files").add_subparsers(dest="command", required=True)
    validate = brief.add_parser("validate", help="validate brief files")
    validate.add_argument("files", nargs="+")
    validate.set_defaults(func=cmd_validate)

    campaign = groups.add_parser("campaign", help="manage campaigns").add_subparsers(dest="command", required=True)
    add = campaign.add_parser("add", help="store a brief and add its campaign partition")
    add.add_argument("file")
    add.add_argument("--launch", action="store_true", help="materialize the campaign now")
    add.set_defaults(func=cmd_add)
    run = campaign.add_parser("run", help="materialize a campaign end to end")
    run.add_argument("campaign_id")
    run.set_defaults(func=cmd_run)
    campaign.add_parser("list", help="list campaigns").set_defaults(func=cmd_list)
    for command in ("archive", "activate"):
        sub = campaign.add_parser(command, help=f"{command} a campaign (the refresh schedule skips archived ones)")
        sub.add_argument("campaign_id")
        sub.set_defaults(func=cmd_status)
    search = groups.add_parser("search", help="find approved copy and campaign assets like a query")
    search.add_argument("query")
    search.add_argument("--brand", default=None)
    search.add_argument("-k", type=int, default=5)
    search.set_defaults(func=cmd_search)

    copy_group = groups.add_parser("copy", help="work with copy").add_subparsers(dest="command", required=True)
    approve = copy_group.add_parser("approve", help="approve a variant into brand memory")
    approve.add_argument("campaign_id")
    approve.add_argument("language", choices=["ko", "en"])
    approve.add_argument("channel", choices=["instagram", "x", "linkedin", "email", "shorts"])
    approve.add_argument("variant", nargs="?", default="A")
    approve.set_defaults(func=cmd_approve)

    backup = groups.add_parser("backup", help="back up the campaign database and objects to a directory or s3:// URL")
    backup.add_argument("target", help="DEST (or SRC with --verify): a directory or s3://bucket/prefix")
    backup.add_argument("--verify", action="store_true", help="re-read every checksum of the newest backup in SRC")
    backup.add_argument("--backup-id", default=None, help="with --verify: this backup instead of the newest")
    backup.set_defaults(func=cmd_backup)
    restore = groups.add_parser("restore", help="restore a backup into an empty database and object store")
    restore.add_argument("source", help="a directory or s3://bucket/prefix holding backups")
    restore.add_argument("--backup-id", default=None, help="this backup instead of the newest")
    restore.set_defaults(func=cmd_restore)

    instance = groups.add_parser("instance", help="the Dagster instance").add_subparsers(dest="command",
                                                                                         required=True)
    wait = instance.add_parser("wait", help="wait until the instance's storage (Postgres) accepts connections")
    wait.add_argument("--timeout", type=float, default=120, help="seconds (default 120)")
    wait.set_defaults(func=cmd_wait_for_storage)

    from sparklio_pipelines.studio.cli import add_studio_parser

    add_studio_parser(groups)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the CLI speaks to people: one clear line, no stack trace
        from resources.database import DatabaseError
        from resources.object_store import ObjectStoreError

        if isinstance(exc, (DatabaseError, ObjectStoreError)):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
