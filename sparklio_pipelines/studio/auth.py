"""Who may use the Studio: browser users (argon2 passwords, an HttpOnly SameSite session cookie, CSRF
tokens on every form and unsafe request) and API clients (`Authorization: Bearer <token>`).

Only hashes of passwords, session ids and API tokens are stored. Repeated failed logins for a name
from one address are slowed: after a few, that pair must wait, doubling up to a minute.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from sparklio_pipelines.studio.store import StudioStore

SESSION_COOKIE = "sparklio_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
SESSION_HOURS = 12
MAX_NAME_CHARS = 64
FREE_FAILURES = 3  # failed logins before the wait starts
MAX_WAIT_SECONDS = 60.0
FAILURE_WINDOW_SECONDS = 15 * 60

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password anyone has")  # unknown names cost the same time as known ones


class NotAuthenticated(Exception):
    """No valid session or token: 401 for the API, a redirect to the login page for pages."""


class CsrfRejected(Exception):
    """An unsafe request from a browser session without its CSRF token."""


@dataclass(frozen=True)
class Principal:
    name: str
    kind: str  # "user" (browser session) or "token" (API client)
    csrf_token: str | None = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def valid_username(name: str) -> bool:
    return 0 < len(name) <= MAX_NAME_CHARS and name.isprintable() and name.strip() == name


def check_password(store: StudioStore, username: str, password: str) -> bool:
    stored = store.password_hash(username) if valid_username(username) else None
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def create_user(store: StudioStore, username: str, password: str) -> bool:
    if not valid_username(username):
        raise ValueError(f"a user name is 1-{MAX_NAME_CHARS} printable characters without surrounding spaces")
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    return store.set_user(username, hash_password(password))


def create_api_token(store: StudioStore, name: str) -> str:
    token = "spk_" + secrets.token_urlsafe(32)
    store.add_api_token(token, name)
    return token


def start_session(store: StudioStore, username: str) -> str:
    token = secrets.token_urlsafe(32)
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=SESSION_HOURS)
    store.add_session(token, username, secrets.token_urlsafe(24), expires)
    return token


def principal_from(store: StudioStore, authorization: str | None, session_token: str | None) -> Principal:
    if authorization:
        scheme, _, token = authorization.partition(" ")
        name = store.api_token_name(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if name is None:
            raise NotAuthenticated("invalid API token")
        return Principal(name, "token")
    if session_token:
        found = store.session(session_token)
        if found:
            return Principal(found[0], "user", found[1])
    raise NotAuthenticated("sign in or send an API token")


def check_csrf(principal: Principal, sent: str | None) -> None:
    """Browser sessions must echo their CSRF token on unsafe requests; bearer tokens are not ambient."""
    if principal.kind != "user":
        return
    if not sent or not hmac.compare_digest(sent, principal.csrf_token or ""):
        raise CsrfRejected("this form has expired; reload the page and try again")


class LoginThrottle:
    """Failed logins per (name, address); after FREE_FAILURES the pair waits 1, 2, 4 ... 60 s."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._failures: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str]) -> list[float]:
        now = self.clock()
        recent = [t for t in self._failures.get(key, []) if now - t < FAILURE_WINDOW_SECONDS]
        self._failures[key] = recent
        return recent

    def wait_seconds(self, username: str, address: str) -> float:
        with self._lock:
            recent = self._recent((username.lower(), address))
            if len(recent) < FREE_FAILURES:
                return 0.0
            wait = min(2.0 ** (len(recent) - FREE_FAILURES), MAX_WAIT_SECONDS)
            return max(0.0, recent[-1] + wait - self.clock())

    def failed(self, username: str, address: str) -> None:
        with self._lock:
            self._recent((username.lower(), address)).append(self.clock())

    def succeeded(self, username: str, address: str) -> None:
        with self._lock:
            self._failures.pop((username.lower(), address), None)


async def current_principal(request: Request) -> Principal:
    """Every route but /health and the login page: a session or a bearer token; CSRF on unsafe session requests."""
    principal = await run_in_threadpool(principal_from, request.app.state.studio.studio_db, request.headers.get("authorization"),
                                        request.cookies.get(SESSION_COOKIE))
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and principal.kind == "user" and "form" in request.headers.get("content-type", ""):
            sent = (await request.form()).get(CSRF_FIELD)
        check_csrf(principal, sent)
    request.state.principal = principal
    return principal
