"""Which step failures are worth a retry.

Dagster's RetryPolicy retries any exception. A GPU box that is down or an S3 server under load
(connection refused/reset, timeout, HTTP 429/5xx) may answer on the next attempt; a bad brief,
a 4xx or an LLM reply that breaks the schema will fail the same way every time. `service_step`
lets transient errors reach the RetryPolicy and turns every other error into
`Failure(allow_retries=False)`, so the step fails at once with a clear message and metadata.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterator

from dagster import DagsterError, Failure, MetadataValue, RetryRequested

from sparklio_common.errors import is_transient
from sparklio_common.settings import settings

MAX_METADATA_CHARS = 20_000  # an LLM reply can be long; the UI only needs enough to see what went wrong


def retry_delay_seconds() -> float:
    """Base delay between retries: `$SPARKLIO_RETRY_DELAY_SECONDS`, default 2 s."""
    return settings().retry_delay_s


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
