"""Which errors a step retries: a classification table, real connection failures, and the Failure it raises."""

import errno
import socket
import urllib.error

import botocore.exceptions as boto
import dagster as dg
import httpx
import psycopg2
import pytest
import requests

from resources.database import (
    CampaignDatabaseResource,
    DatabaseError,
    DatabaseUnavailable,
)
from resources.llm import LLMOutputError
from resources.object_store import (
    ObjectStoreError,
    ObjectStoreUnavailable,
    S3ObjectStoreResource,
)
from sparklio_common.errors import (
    PermanentServiceError,
    TransientServiceError,
    is_transient,
)
from sparklio_common.keys import UnsafeKeyError
from sparklio_common.settings import RETRY_DELAY_ENV
from sparklio_pipelines.content.brief.schema import BriefError
from sparklio_pipelines.content.copy.schemas import CopyError
from sparklio_pipelines.defs.retries import (
    retry_delay_seconds,
    service_step,
)


def client_error(status: int, code: str) -> boto.ClientError:
    return boto.ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                            "GetObject")


def http_status(module, status: int):
    request = httpx.Request("GET", "http://127.0.0.1/x")
    if module == "httpx":
        return httpx.HTTPStatusError(f"{status}", request=request, response=httpx.Response(status, request=request))
    response = requests.Response()
    response.status_code = status
    return requests.HTTPError(f"{status}", response=response)


def raised_from(outer: Exception, cause: Exception) -> Exception:
    try:
        try:
            raise cause
        except Exception as inner:
            raise outer from inner
    except Exception as exc:
        return exc


def raised_while_handling(outer: Exception, context: Exception) -> Exception:
    try:
        try:
            raise context
        except Exception:
            raise outer  # noqa: B904 - the implicit __context__ is what is tested
    except Exception as exc:
        return exc


def suppressed(outer: Exception, cause: Exception) -> Exception:
    try:
        try:
            raise cause
        except Exception:
            raise outer from None
    except Exception as exc:
        return exc


URL = "http://127.0.0.1:9/"
TRANSIENT = {
    "TransientServiceError": TransientServiceError("ollama", "503"),
    "ConnectionRefusedError": ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
    "ConnectionResetError": ConnectionResetError(errno.ECONNRESET, "reset"),
    "BrokenPipeError": BrokenPipeError(errno.EPIPE, "broken pipe"),
    "TimeoutError": TimeoutError("timed out"),
    "socket.timeout": socket.timeout("timed out"),
    "OSError ENETUNREACH": OSError(errno.ENETUNREACH, "network unreachable"),
    "gaierror EAI_AGAIN": socket.gaierror(socket.EAI_AGAIN, "temporary failure in name resolution"),
    "botocore EndpointConnectionError": boto.EndpointConnectionError(endpoint_url=URL),
    "botocore ConnectTimeoutError": boto.ConnectTimeoutError(endpoint_url=URL),
    "botocore ReadTimeoutError": boto.ReadTimeoutError(endpoint_url=URL),
    "botocore ConnectionClosedError": boto.ConnectionClosedError(endpoint_url=URL),
    "S3 500 InternalError": client_error(500, "InternalError"),
    "S3 503 SlowDown": client_error(503, "SlowDown"),
    "S3 429": client_error(429, "TooManyRequests"),
    "psycopg2 OperationalError": psycopg2.OperationalError("server closed the connection unexpectedly"),
    "psycopg2 InterfaceError": psycopg2.InterfaceError("connection already closed"),
    "requests ConnectionError": requests.ConnectionError("refused"),
    "requests Timeout": requests.Timeout("read timed out"),
    "requests 502": http_status("requests", 502),
    "httpx ConnectError": httpx.ConnectError("refused"),
    "httpx ReadTimeout": httpx.ReadTimeout("slow"),
    "httpx 503": http_status("httpx", 503),
    "httpx 429": http_status("httpx", 429),
    "urllib HTTPError 504": urllib.error.HTTPError(URL, 504, "Gateway Timeout", {}, None),
    "urllib URLError(refused)": urllib.error.URLError(ConnectionRefusedError(errno.ECONNREFUSED, "refused")),
    "ObjectStoreUnavailable": ObjectStoreUnavailable("object store", "503"),
    "DatabaseUnavailable": DatabaseUnavailable("Postgres", "refused"),
    "ObjectStoreError from EndpointConnectionError": raised_from(ObjectStoreError("x"), boto.EndpointConnectionError(endpoint_url=URL)),
    "DatabaseError from OperationalError": raised_from(DatabaseError("x"), psycopg2.OperationalError("refused")),
    "RuntimeError during ConnectionResetError": raised_while_handling(RuntimeError("x"), ConnectionResetError()),
}
PERMANENT = {
    "PermanentServiceError": PermanentServiceError("comfyui", "workflow rejected"),
    "BriefError": BriefError([("product", "is required")]),
    "LLMOutputError": LLMOutputError("no valid JSON", "{oops", "not valid JSON"),
    "CopyError": CopyError("required term is banned"),
    "UnsafeKeyError": UnsafeKeyError("../etc"),
    "ValueError": ValueError("bad"),
    "KeyError": KeyError("languages"),
    "RuntimeError": RuntimeError("bug"),
    "FileNotFoundError": FileNotFoundError(errno.ENOENT, "no such file"),
    "OSError ENOSPC": OSError(errno.ENOSPC, "disk full"),
    "gaierror EAI_NONAME": socket.gaierror(socket.EAI_NONAME, "name or service not known"),
    "S3 404 NoSuchKey": client_error(404, "NoSuchKey"),
    "S3 403 AccessDenied": client_error(403, "AccessDenied"),
    "S3 400 InvalidArgument": client_error(400, "InvalidArgument"),
    "botocore NoCredentialsError": boto.NoCredentialsError(),
    "psycopg2 ProgrammingError": psycopg2.ProgrammingError("syntax error"),
    "psycopg2 IntegrityError": psycopg2.IntegrityError("duplicate key"),
    "requests 404": http_status("requests", 404),
    "httpx 400": http_status("httpx", 400),
    "urllib HTTPError 401": urllib.error.HTTPError(URL, 401, "Unauthorized", {}, None),
    "urllib URLError(unknown url type)": urllib.error.URLError("unknown url type: ftp"),
    "ObjectStoreError (missing object)": ObjectStoreError("no object at 'x'"),
    "ObjectStoreError from S3 404": raised_from(ObjectStoreError("x"), client_error(404, "NoSuchKey")),
    "BriefError while handling a timeout": raised_while_handling(BriefError([("x", "y")]), TimeoutError()),
    "RuntimeError from None (context suppressed)": suppressed(RuntimeError("x"), ConnectionResetError()),
}


@pytest.mark.parametrize("name", list(TRANSIENT))
def test_transient_errors_retry(name):
    assert is_transient(TRANSIENT[name]) is True


@pytest.mark.parametrize("name", list(PERMANENT))
def test_permanent_errors_do_not_retry(name):
    assert is_transient(PERMANENT[name]) is False


def closed_port() -> socket.socket:
    """A port that is bound but not listening: connecting to it is refused, for real."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def test_a_real_refused_connection_is_transient():
    with closed_port() as sock, pytest.raises(OSError) as info:
        socket.create_connection(sock.getsockname(), timeout=2)
    assert is_transient(info.value)


def test_unreachable_s3_surfaces_as_transient_object_store_error():
    with closed_port() as sock:
        store = S3ObjectStoreResource(endpoint_url=f"http://127.0.0.1:{sock.getsockname()[1]}", create_bucket=False,
                                      access_key_id="k", secret_access_key="s", max_attempts=1)
        for call in (lambda: store.get_bytes("a/b.json"), lambda: store.head("a/b.json")):
            with pytest.raises(ObjectStoreUnavailable) as info:
                call()
            assert isinstance(info.value, ObjectStoreError) and isinstance(info.value, TransientServiceError)
            assert is_transient(info.value)


def test_unreachable_postgres_surfaces_as_transient_database_error():
    with closed_port() as sock:
        db = CampaignDatabaseResource(database_url=f"postgresql://u:p@127.0.0.1:{sock.getsockname()[1]}/x",
                                      connect_timeout_s=2)
        with pytest.raises(DatabaseUnavailable) as info:
            db.migrate()
    assert isinstance(info.value, DatabaseError) and is_transient(info.value)


def test_permanent_error_becomes_failure_without_retries_and_names_the_fields():
    with pytest.raises(dg.Failure) as info, service_step(step="brief"):
        raise BriefError([("product", "is required"), ("languages[0]", "must be one of 'ko', 'en'")], "b.yaml")
    failure = info.value
    assert failure.allow_retries is False
    assert failure.description.startswith("brief failed and will not be retried (BriefError)")
    assert "product: is required" in failure.description
    assert failure.metadata["retryable"].value is False
    assert failure.metadata["error_type"].value == "sparklio_pipelines.content.brief.schema.BriefError"
    assert [p["field"] for p in failure.metadata["problems"].value] == ["product", "languages[0]"]
    assert isinstance(failure.__cause__, BriefError)


def test_llm_output_error_failure_carries_the_raw_reply_and_schema_error():
    reply = '{"caption": 42' + " " * 30_000
    with pytest.raises(dg.Failure) as info, service_step(step="copy"):
        raise LLMOutputError("qwen gave no schema-valid JSON after 3 attempt(s)", reply, "not valid JSON (x at char 14)")
    metadata = info.value.metadata
    assert metadata["schema_error"].value == "not valid JSON (x at char 14)"
    assert metadata["raw_reply"].value.startswith('{"caption": 42') and metadata["raw_reply"].value.endswith("(truncated)")
    assert info.value.allow_retries is False


def test_service_error_failure_names_the_service_and_cause():
    with pytest.raises(dg.Failure) as info, service_step(step="image"):
        raise raised_from(PermanentServiceError("comfyui", "node CheckpointLoader rejected"), ValueError("400"))
    assert info.value.metadata["service"].value == "comfyui"
    assert info.value.metadata["caused_by"].value == "ValueError: 400"


def test_transient_errors_and_dagster_failures_pass_through_unchanged():
    error = ConnectionResetError(errno.ECONNRESET, "reset by peer")
    with pytest.raises(ConnectionResetError) as info, service_step(step="copy"):
        raise error
    assert info.value is error
    chosen = dg.Failure("the step chose to retry", allow_retries=True)
    with pytest.raises(dg.Failure) as failure, service_step(step="copy"):
        raise chosen
    assert failure.value is chosen and failure.value.allow_retries is True


def test_retry_delay_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(RETRY_DELAY_ENV, raising=False)
    assert retry_delay_seconds() == 2.0
    monkeypatch.setenv(RETRY_DELAY_ENV, "0.25")
    assert retry_delay_seconds() == 0.25
    for bad in ("soon", "-1", "1e9"):
        monkeypatch.setenv(RETRY_DELAY_ENV, bad)
        with pytest.raises(ValueError, match=RETRY_DELAY_ENV):
            retry_delay_seconds()


def test_service_assets_keep_the_retry_policy():
    from sparklio_pipelines.defs.assets import (
        brief,
        bundle,
        captions,
        copy,
        image,
        uploads,
        video,
    )
    from sparklio_pipelines.defs.assets.common import SERVICE_RETRY

    assets = [brief.brief, copy.copy, image.image, video.video, captions.captions, bundle.campaign_bundle,
              uploads.uploaded_video_captions]
    for asset in assets:
        assert asset.op.retry_policy == SERVICE_RETRY
        assert asset.op.compute_fn.decorated_fn.__wrapped__  # the body runs under retry_transient_only
