"""Service errors, split by whether a retry can help.

Every resource that calls a service (Ollama, ComfyUI, S3, Postgres) raises one of these, so the
step's retry logic can tell a GPU box that is down (retry with backoff) from a request that is
wrong (fail at once, with the message).
"""

from __future__ import annotations


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
