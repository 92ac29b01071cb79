"""Service errors, split by whether a retry can help.

Every resource that calls a service (Ollama, ComfyUI, S3, Postgres) raises one of these, so the
step's retry logic can tell a GPU box that is down (retry with backoff) from a request that is
wrong (fail at once, with the message).
"""

from __future__ import annotations

import errno
import http.client
import socket
import sys
import urllib.error


class ServiceError(RuntimeError):
    """A call to an external service failed. `service` names it for the operator."""

    def __init__(self, service: str, message: str):
        super().__init__(f"{service}: {message}")
        self.service = service


class TransientServiceError(ServiceError):
    """Connection refused or reset, timeout, HTTP 429 or 5xx: the same call may succeed later."""


class PermanentServiceError(ServiceError):
    """HTTP 4xx, a missing model, a rejected workflow: retrying the same call cannot help."""


def is_transient_status(status: int) -> bool:
    return status == 429 or status >= 500


TRANSIENT_ERRNOS = frozenset({
    errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT, errno.EHOSTUNREACH,
    errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTDOWN, errno.EPIPE,
})
# S3 error codes that mean "try again later" even when the status code is missing.
TRANSIENT_S3_CODES = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
    "ServiceUnavailable", "InternalError", "RequestLimitExceeded", "TooManyRequests",
})


def _optional(module: str, *names: str) -> tuple[type, ...]:
    """Exception classes from a library, if it is loaded: an error cannot come from one that is not."""
    mod = sys.modules.get(module)
    return tuple(getattr(mod, n) for n in names if hasattr(mod, n)) if mod is not None else ()


def _classify_one(exc: BaseException) -> bool | None:
    """True transient, False permanent, None: this exception alone does not say."""
    if isinstance(exc, TransientServiceError):
        return True
    if isinstance(exc, PermanentServiceError):
        return False

    # botocore: connection and timeout errors are transient; a ClientError by its HTTP status
    boto_client = _optional("botocore.exceptions", "ClientError")
    if boto_client and isinstance(exc, boto_client):
        response = getattr(exc, "response", {}) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in TRANSIENT_S3_CODES:
            return True
        if isinstance(status, int):
            return is_transient_status(status)
        return code.isdigit() and is_transient_status(int(code))
    if isinstance(exc, _optional("botocore.exceptions", "ConnectionError", "HTTPClientError")):
        return True

    # psycopg2: a lost or refused connection (OperationalError) may come back; SQL errors will not
    psycopg2_transient = _optional("psycopg2", "OperationalError", "InterfaceError")
    if psycopg2_transient and isinstance(exc, psycopg2_transient):
        return True
    if isinstance(exc, _optional("psycopg2", "Error")):
        return False

    # requests / httpx / ollama: status errors by their status, transport errors transient
    for module, status_cls in (("requests", "HTTPError"), ("httpx", "HTTPStatusError")):
        if isinstance(exc, _optional(module, status_cls)):
            status = getattr(getattr(exc, "response", None), "status_code", None)
            return isinstance(status, int) and is_transient_status(status)
    if isinstance(exc, _optional("requests", "ConnectionError", "Timeout")):
        return True
    if isinstance(exc, _optional("httpx", "TimeoutException", "NetworkError", "RemoteProtocolError")):
        return True
    if isinstance(exc, _optional("ollama", "ResponseError")):
        status = getattr(exc, "status_code", None)
        return isinstance(status, int) and is_transient_status(status)
    if isinstance(exc, _optional("urllib3.exceptions", "ProtocolError", "NewConnectionError", "TimeoutError",
                                 "MaxRetryError")):
        return True

    # the standard library: urllib, http.client, sockets
    if isinstance(exc, urllib.error.HTTPError):
        return is_transient_status(exc.code)
    if isinstance(exc, urllib.error.URLError):
        return _classify_one(exc.reason) if isinstance(exc.reason, BaseException) else False
    if isinstance(exc, (ConnectionError, TimeoutError, http.client.IncompleteRead)):
        return True
    if isinstance(exc, socket.gaierror):
        return exc.errno == socket.EAI_AGAIN  # a name that is unknown is a setting, not an outage
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.errno in TRANSIENT_ERRNOS

    # bad input or a bad reply (BriefError, CopyError, UnsafeKeyError, pydantic and JSON errors are
    # ValueErrors; LLMOutputError carries the reply): the code decided, whatever it was handling
    if isinstance(exc, (ValueError, TypeError, LookupError)) or hasattr(exc, "schema_error"):
        return False
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same call could succeed. Unknown errors are permanent.

    A wrapper (ObjectStoreError, DatabaseError, …) is judged by what it was raised from.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        verdict = _classify_one(current)
        if verdict is not None:
            return verdict
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return False
