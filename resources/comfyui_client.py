"""A small synchronous client for ComfyUI's HTTP + websocket API.

Endpoints used (as ComfyUI's server.py defines them): POST /upload/image, POST /prompt,
GET /ws?clientId=..., GET /history/{prompt_id}, GET /view, POST /free. Failures are mapped onto
resources.errors: refused/reset connections, timeouts, 429/5xx and garbled replies are transient;
a rejected workflow (HTTP 400 with node_errors) and other 4xx are permanent.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import websocket

from sparklio_common.errors import (
    PermanentServiceError,
    TransientServiceError,
    is_transient_status,
)

SERVICE = "comfyui"
log = logging.getLogger("sparklio.comfyui")


@dataclass
class Progress:
    """One progress report from the websocket (or the /history fallback)."""

    prompt_id: str
    event: str  # queued | execution_start | executing | progress | executed | execution_success | polling
    node: str | None = None
    class_type: str | None = None
    value: int | None = None
    max: int | None = None


@dataclass
class RunResult:
    prompt_id: str
    history: dict[str, Any]
    seconds: float
    progress_events: int
    websocket_dropped: bool
    node_seconds: dict[str, float] = field(default_factory=dict)


def format_node_errors(workflow: str, body: Any) -> str:
    """ComfyUI's 400 body from /prompt as one readable message naming each node, class and error."""
    if not isinstance(body, dict):
        return f"workflow {workflow!r} rejected: {str(body)[:500]}"
    error = body.get("error")
    if isinstance(error, dict):
        head = f"{error.get('type', 'error')}: {error.get('message', '')}".strip()
    else:
        head = str(error or "rejected")
    parts = []
    node_errors = body.get("node_errors") or {}
    if isinstance(node_errors, dict):
        for node_id, info in node_errors.items():
            info = info if isinstance(info, dict) else {}
            reasons = []
            for err in info.get("errors") or []:
                detail = f" ({err.get('details')})" if err.get("details") else ""
                reasons.append(f"{err.get('type', 'error')}: {err.get('message', '')}{detail}")
            parts.append(f"node {node_id} ({info.get('class_type', '?')}): " + "; ".join(reasons or ["invalid"]))
    if not parts and isinstance(error, dict):
        # e.g. missing_node_type: the culprit is in extra_info / details, node_errors is empty
        extra = error.get("extra_info") or {}
        if extra.get("node_id") is not None:
            parts.append(f"node {extra['node_id']} ({extra.get('class_type', '?')})")
        if error.get("details"):
            parts.append(str(error["details"]))
    return f"workflow {workflow!r} rejected by ComfyUI ({head})" + (": " + " | ".join(parts) if parts else "")


def _execution_error_message(workflow: str, data: dict) -> str:
    return (
        f"workflow {workflow!r} failed on node {data.get('node_id')} ({data.get('node_type')}): "
        f"{data.get('exception_type', 'error')}: {data.get('exception_message', '').strip()}"
    )


def _is_transient_execution_error(data: dict) -> bool:
    # Out of GPU memory clears once other jobs finish; other node exceptions repeat.
    text = f"{data.get('exception_type', '')} {data.get('exception_message', '')}".lower()
    return "outofmemory" in text or "out of memory" in text


class ComfyUIClient:
    def __init__(
        self,
        base_url: str,
        *,
        request_timeout: float = 30.0,
        connect_timeout: float = 5.0,
        http_retries: int = 2,
        retry_backoff: float = 0.5,
        poll_interval: float = 1.0,
    ):
        if not base_url:
            raise PermanentServiceError(SERVICE, "no ComfyUI URL configured (set COMFYUI_URL)")
        self.base_url = base_url.rstrip("/")
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.http_retries = max(0, http_retries)
        self.retry_backoff = retry_backoff
        self.poll_interval = poll_interval
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    # --- HTTP -------------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, ambiguous_retry: bool = True, **kwargs) -> requests.Response:
        """One HTTP call with retries on transient failures.

        `ambiguous_retry=False` (POST /prompt): a read timeout may mean the job was queued, so
        only retry when the server clearly did not take the request (refused, 5xx, 429).
        """
        url = f"{self.base_url}{path}"
        last: TransientServiceError | None = None
        for attempt in range(self.http_retries + 1):
            if attempt:
                time.sleep(self.retry_backoff * (2 ** (attempt - 1)))
            try:
                resp = self.session.request(
                    method, url, timeout=(self.connect_timeout, self.request_timeout), **kwargs
                )
            except requests.Timeout as exc:
                last = TransientServiceError(SERVICE, f"{method} {path} timed out ({exc.__class__.__name__})")
                if not ambiguous_retry and not isinstance(exc, requests.ConnectTimeout):
                    raise last from None
                continue
            except requests.ConnectionError as exc:
                last = TransientServiceError(SERVICE, f"{method} {path}: cannot reach {self.base_url} ({_reason(exc)})")
                continue
            if is_transient_status(resp.status_code):
                last = TransientServiceError(SERVICE, f"{method} {path} -> HTTP {resp.status_code}: {resp.text[:200]}")
                continue
            return resp
        assert last is not None
        log.warning("comfyui %s %s failed after %d attempts: %s", method, path, self.http_retries + 1, last)
        raise last

    def _json(self, resp: requests.Response, what: str) -> Any:
        try:
            return resp.json()
        except ValueError:
            # A truncated or proxied reply, not a verdict on the request: retrying may succeed.
            raise TransientServiceError(
                SERVICE, f"{what} returned malformed JSON (HTTP {resp.status_code}): {resp.text[:120]!r}"
            ) from None

    def upload_image(self, data: bytes, filename: str, subfolder: str = "sparklio") -> str:
        """Upload into ComfyUI's input dir; returns the value a LoadImage node's `image` input takes."""
        resp = self._request(
            "POST",
            "/upload/image",
            files={"image": (filename, data, "image/png")},
            data={"overwrite": "true", "type": "input", "subfolder": subfolder},
        )
        if resp.status_code != 200:
            raise PermanentServiceError(SERVICE, f"upload of {filename} rejected: HTTP {resp.status_code} {resp.text[:200]}")
        body = self._json(resp, "POST /upload/image")
        name, sub = body.get("name"), body.get("subfolder") or ""
        if not name:
            raise TransientServiceError(SERVICE, f"POST /upload/image reply has no name: {body!r}")
        return f"{sub}/{name}" if sub else name

    def queue_prompt(self, workflow_name: str, graph: dict, client_id: str, prompt_id: str) -> str:
        # Modern ComfyUI honours a client-chosen prompt_id; older ones assign their own, so use the reply's.
        resp = self._request(
            "POST", "/prompt", json={"prompt": graph, "client_id": client_id, "prompt_id": prompt_id},
            ambiguous_retry=False,
        )
        if resp.status_code == 400:
            try:
                body = resp.json()
            except ValueError:
                body = resp.text
            raise PermanentServiceError(SERVICE, format_node_errors(workflow_name, body))
        if resp.status_code != 200:
            raise PermanentServiceError(SERVICE, f"POST /prompt -> HTTP {resp.status_code}: {resp.text[:300]}")
        body = self._json(resp, "POST /prompt")
        if not isinstance(body, dict) or not body.get("prompt_id"):
            raise TransientServiceError(SERVICE, f"POST /prompt reply has no prompt_id: {str(body)[:200]}")
        if body.get("node_errors"):
            # Queued, but some outputs were dropped as invalid: ours would be missing.
            raise PermanentServiceError(SERVICE, format_node_errors(workflow_name, body))
        return str(body["prompt_id"])

    def history(self, prompt_id: str) -> dict | None:
        """The finished entry for prompt_id, or None while it is queued or running."""
        for attempt in range(self.http_retries + 1):  # a GET: a garbled reply is simply asked again
            resp = self._request("GET", f"/history/{prompt_id}")
            if resp.status_code != 200:
                raise PermanentServiceError(SERVICE, f"GET /history/{prompt_id} -> HTTP {resp.status_code}")
            try:
                body = self._json(resp, f"GET /history/{prompt_id}")
            except TransientServiceError:
                if attempt == self.http_retries:
                    raise
                time.sleep(self.retry_backoff)
                continue
            if not isinstance(body, dict):
                raise TransientServiceError(SERVICE, f"GET /history/{prompt_id}: expected an object, got {str(body)[:120]}")
            return body.get(prompt_id)
        return None

    def view(self, filename: str, subfolder: str = "", folder_type: str = "output") -> bytes:
        resp = self._request(
            "GET", "/view", params={"filename": filename, "subfolder": subfolder, "type": folder_type}
        )
        if resp.status_code != 200:
            raise PermanentServiceError(
                SERVICE, f"output {subfolder}/{filename} not served: HTTP {resp.status_code}"
            )
        return resp.content

    def free(self) -> None:
        resp = self._request("POST", "/free", json={"unload_models": True, "free_memory": True})
        if resp.status_code != 200:
            raise PermanentServiceError(SERVICE, f"POST /free -> HTTP {resp.status_code}")

    # --- websocket --------------------------------------------------------------------------

    def _ws_url(self, client_id: str) -> str:
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, f"{parts.path}/ws", f"clientId={client_id}", ""))

    def open_socket(self, client_id: str) -> websocket.WebSocket | None:
        """Connect before queueing so no message is missed; None (poll instead) if it cannot."""
        try:
            return websocket.create_connection(self._ws_url(client_id), timeout=self.connect_timeout)
        except (websocket.WebSocketException, OSError) as exc:
            log.warning("comfyui websocket unavailable (%s); will poll /history", _reason(exc))
            return None

    # --- one run ----------------------------------------------------------------------------

    def run(
        self,
        workflow_name: str,
        graph: dict,
        timeout: float,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> RunResult:
        """Queue `graph`, follow it to completion, and return its /history entry."""
        started = time.monotonic()
        deadline = started + timeout
        client_id = uuid.uuid4().hex
        prompt_id = str(uuid.uuid4())
        class_of = {nid: node.get("class_type") for nid, node in graph.items()}
        notify = on_progress or (lambda _p: None)
        ws = self.open_socket(client_id)
        dropped = ws is None
        events = 0
        node_started: dict[str, float] = {}
        node_seconds: dict[str, float] = {}
        current: str | None = None
        error_data: dict | None = None
        try:
            prompt_id = self.queue_prompt(workflow_name, graph, client_id, prompt_id)
            finished = succeeded = False
            entry: dict | None = None
            while not finished and ws is not None:
                if time.monotonic() >= deadline:
                    break
                # After execution_success only the closing `executing` (sent once history is written) is due.
                quiet = self.poll_interval if succeeded else self.poll_interval * 5
                try:
                    ws.settimeout(max(0.05, min(quiet, deadline - time.monotonic())))
                    raw = ws.recv()
                except websocket.WebSocketTimeoutException:
                    # Quiet (model loading, or a message we missed): the history says if it is done.
                    entry = self.history(prompt_id)
                    finished = entry is not None
                    continue
                except (websocket.WebSocketException, OSError) as exc:
                    log.warning(
                        "comfyui websocket dropped during %s (%s); polling /history/%s",
                        workflow_name, _reason(exc), prompt_id,
                    )
                    dropped = True
                    ws = None
                    break
                if not isinstance(raw, str) or not raw:
                    continue  # binary preview frames
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                kind, data = message.get("type"), message.get("data") or {}
                if data.get("prompt_id") not in (None, prompt_id):
                    continue  # another client's job on a shared server
                if kind == "status" and not events:
                    # Before our job starts: how many jobs are ahead (the GPU box is shared).
                    remaining = ((data.get("status") or {}).get("exec_info") or {}).get("queue_remaining")
                    notify(Progress(prompt_id, "queued", value=remaining))
                elif kind == "execution_start":
                    events += 1
                    notify(Progress(prompt_id, kind))
                elif kind == "executing":
                    node = data.get("node")
                    now = time.monotonic()
                    if current is not None and current in node_started:
                        node_seconds[current] = now - node_started[current]
                    if node is None:
                        if data.get("prompt_id") == prompt_id:
                            finished = True
                        continue
                    current = str(node)
                    node_started[current] = now
                    events += 1
                    notify(Progress(prompt_id, kind, node=current, class_type=class_of.get(current)))
                elif kind == "progress":
                    events += 1
                    node = str(data.get("node")) if data.get("node") is not None else current
                    notify(Progress(prompt_id, kind, node=node, class_type=class_of.get(node),
                                    value=data.get("value"), max=data.get("max")))
                elif kind == "executed":
                    events += 1
                    node = str(data.get("node"))
                    notify(Progress(prompt_id, kind, node=node, class_type=class_of.get(node)))
                elif kind == "execution_success":
                    events += 1
                    notify(Progress(prompt_id, kind))
                    succeeded = True
                elif kind in ("execution_error", "execution_interrupted"):
                    error_data = dict(data, event=kind)
                    finished = True
            entry = entry or self._await_history(prompt_id, deadline, notify)
        finally:
            if ws is not None:
                try:
                    ws.close()
                except (websocket.WebSocketException, OSError) as exc:  # must not hide the real outcome
                    log.debug("comfyui websocket close failed: %s", exc)
        self._raise_for_status(workflow_name, entry, error_data)
        return RunResult(
            prompt_id=prompt_id,
            history=entry,
            seconds=time.monotonic() - started,
            progress_events=events,
            websocket_dropped=dropped,
            node_seconds=node_seconds,
        )

    def _await_history(self, prompt_id: str, deadline: float, notify: Callable[[Progress], None]) -> dict:
        """ComfyUI writes history just after `execution_success`, so poll briefly even when told it is done."""
        last_note = time.monotonic()
        while True:
            entry = self.history(prompt_id)
            if entry is not None:
                return entry
            now = time.monotonic()
            if now >= deadline:
                raise TransientServiceError(SERVICE, f"prompt {prompt_id} did not finish before the timeout")
            if now - last_note >= 10 * self.poll_interval:
                notify(Progress(prompt_id, "polling"))
                last_note = now
            time.sleep(min(self.poll_interval, max(0.01, deadline - now)))

    @staticmethod
    def _raise_for_status(workflow_name: str, entry: dict, error_data: dict | None) -> None:
        status = entry.get("status") or {}
        if status.get("status_str") != "error" and error_data is None:
            return
        if error_data is None:
            for event, data in status.get("messages") or []:
                if event in ("execution_error", "execution_interrupted"):
                    error_data = dict(data, event=event)
        error_data = error_data or {}
        if error_data.get("event") == "execution_interrupted":
            raise TransientServiceError(SERVICE, f"workflow {workflow_name!r} was interrupted on the server")
        message = _execution_error_message(workflow_name, error_data)
        if _is_transient_execution_error(error_data):
            raise TransientServiceError(SERVICE, message)
        raise PermanentServiceError(SERVICE, message)


def output_files(entry: dict, node_id: str) -> list[dict]:
    """Files a node saved, from a history entry: SaveImage lists `images`, VHS_VideoCombine `gifs`."""
    outputs = (entry.get("outputs") or {}).get(node_id) or {}
    files: list[dict] = []
    for key in ("images", "gifs", "videos", "animated"):
        for item in outputs.get(key) or []:
            if isinstance(item, dict) and item.get("filename"):
                files.append(item)
    return files


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Connection reset", "timed out", "Name or service not known"):
        if marker in text:
            return marker
    return text[:160] or exc.__class__.__name__
