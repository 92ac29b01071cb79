"""`sparklio studio`: serve the Studio; `studio user add NAME`; `studio token create NAME`."""

from __future__ import annotations

import getpass
import os
import sys


def _store():
    from sparklio_pipelines.defs.resources import resolved_resources
    from sparklio_pipelines.studio.store import StudioStore

    return StudioStore(resolved_resources("campaign_db")[0])


def bind_address() -> tuple[str, int]:
    from sparklio_pipelines.studio.app import DEFAULT_HOST, DEFAULT_PORT

    host = os.environ.get("SPARKLIO_STUDIO_HOST") or DEFAULT_HOST
    raw = os.environ.get("SPARKLIO_STUDIO_PORT") or str(DEFAULT_PORT)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"SPARKLIO_STUDIO_PORT must be a port number, got {raw!r}")
    return host, int(raw)


def cmd_serve(args) -> int:
    import uvicorn

    from sparklio_pipelines.studio.app import create_app

    try:
        host, port = bind_address()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Sparklio Studio on http://{host}:{port} (Dagster: {os.environ.get('SPARKLIO_DAGSTER_URL') or 'http://127.0.0.1:8002'})")
    uvicorn.run(create_app(), host=host, port=port, log_level="warning", proxy_headers=False)
    return 0


def cmd_user_add(args) -> int:
    from sparklio_pipelines.studio.auth import create_user

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("Again: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 1
    try:
        created = create_user(_store(), args.name, password)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"User {args.name} {'created' if created else 'updated (new password)'}.")
    return 0


def cmd_token_create(args) -> int:
    from sparklio_pipelines.studio.auth import create_api_token, valid_username

    if not valid_username(args.name):
        print("error: a token name is 1-64 printable characters", file=sys.stderr)
        return 1
    print(create_api_token(_store(), args.name))
    return 0


def add_studio_parser(groups) -> None:
    studio = groups.add_parser("studio", help="the Studio web app and REST API (serve, users, API tokens)")
    studio.set_defaults(func=cmd_serve)
    sub = studio.add_subparsers(dest="command")
    user = sub.add_parser("user", help="Studio users").add_subparsers(dest="user_command", required=True)
    add = user.add_parser("add", help="create a user (or set a new password); prompts for the password")
    add.add_argument("name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    add.set_defaults(func=cmd_user_add)
    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="token_command", required=True)
    create = token.add_parser("create", help="create an API token and print it (only its hash is stored)")
    create.add_argument("name")
    create.set_defaults(func=cmd_token_create)
