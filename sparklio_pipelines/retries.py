"""Which step failures are worth a retry.

Dagster's RetryPolicy retries any exception. A GPU box that is down or an S3 server under load
(connection refused/reset, timeout, HTTP 429/5xx) may answer on the next attempt; a bad brief,
a 4xx or an LLM reply that breaks the schema will fail the same way every time. `service_step`
lets transient errors reach the RetryPolicy and turns every other error into
`Failure(allow_retries=False)`, so the step fails at once with a clear message and metadata.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import http.client
import socket
import sys
import urllib.error
from typing import Any, Callable, Iterator

from dagster import DagsterError, Failure, MetadataValue, RetryRequested

from resources.errors import PermanentServiceError, TransientServiceError, is_transient_status
from sparklio_pipelines.settings import seconds_from_env

RETRY_DELAY_ENV = "SPARKLIO_RETRY_DELAY_SECONDS"
DEFAULT_RETRY_DELAY_S = 2.0
MAX_METADATA_CHARS = 20_000  # an LLM reply can be long; the UI only needs enough to see what went wrong

TRANSIENT_ERRNOS = frozenset({
    errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT, errno.EHOSTUNREACH,
    errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTDOWN, errno.EPIPE,
})
# S3 error codes that mean "try again later" even when the status code is missing.
TRANSIENT_S3_CODES = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
    "ServiceUnavailable", "InternalError", "RequestLimitExceeded", "TooManyRequests",
})


def retry_delay_seconds() -> float:
    """Base delay between retries: `$SPARKLIO_RETRY_DELAY_SECONDS`, default 2 s."""
    return seconds_from_env(RETRY_DELAY_ENV, DEFAULT_RETRY_DELAY_S, 0, 3600)


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


def _text(value: object) -> str:
    text = str(value)
    return text if len(text) <= MAX_METADATA_CHARS else text[:MAX_METADATA_CHARS] + "… (truncated)"


def failure_metadata(exc: BaseException) -> dict[str, Any]:
    """What the UI shows next to a permanent failure."""
    metadata: dict[str, Any] = {
        "error_type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "error": MetadataValue.text(_text(exc)),
        "retryable": False,
    }
    if service := getattr(exc, "service", None):
        metadata["service"] = str(service)
    if problems := getattr(exc, "problems", None):  # BriefError: (field, message) pairs
        metadata["problems"] = MetadataValue.json([{"field": f, "message": m} for f, m in problems])
    if hasattr(exc, "raw_reply") and hasattr(exc, "schema_error"):  # LLMOutputError
        metadata["raw_reply"] = MetadataValue.text(_text(exc.raw_reply))
        metadata["schema_error"] = MetadataValue.text(_text(exc.schema_error))
    if exc.__cause__ is not None:
        metadata["caused_by"] = MetadataValue.text(_text(f"{type(exc.__cause__).__name__}: {exc.__cause__}"))
    return metadata


@contextlib.contextmanager
def service_step(context=None, step: str | None = None) -> Iterator[None]:
    """Run a step body: transient errors go on to the RetryPolicy, others fail the step at once."""
    try:
        yield
    except (Failure, RetryRequested, DagsterError):
        raise  # the step already said what should happen
    except Exception as exc:
        name = step or _step_name(context)
        if is_transient(exc):
            if context is not None:
                context.log.warning(
                    f"{name}: transient error on attempt {getattr(context, 'retry_number', 0) + 1},"
                    f" retrying if the retry policy allows: {type(exc).__name__}: {exc}"
                )
            raise
        raise Failure(
            description=f"{name} failed and will not be retried ({type(exc).__name__}): {_text(exc)}",
            metadata=failure_metadata(exc),
            allow_retries=False,
        ) from exc


def _step_name(context) -> str:
    if context is None:
        return "step"
    with contextlib.suppress(Exception):
        return context.asset_key.to_user_string()
    with contextlib.suppress(Exception):
        return context.op.name
    return "step"


def retry_transient_only(fn: Callable) -> Callable:
    """Decorator form of `service_step` for an asset or op whose first argument is its context.

    Put it under `@dg.asset`: Dagster reads the wrapped function's signature through `functools.wraps`.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        context = kwargs.get("context", args[0] if args else None)
        with service_step(context):
            return fn(*args, **kwargs)

    return wrapper
