"""A fake Ollama server for tests and benchmarks: Ollama's documented HTTP API on 127.0.0.1.

Ollama needs a GPU box, so tests run the real `ollama` client and the real resource against this
real HTTP server instead (https://github.com/ollama/ollama/blob/main/docs/api.md):
POST /api/generate, /api/chat (NDJSON stream unless "stream": false), /api/embed; GET /api/tags,
/api/ps, /api/version. Errors are {"error": "..."}: 404 for an unknown model, 400 for a bad request.

Every request is checked against the documented API: known fields and options with their types,
chat messages with known roles, `format` "json" or a valid JSON schema, `keep_alive` a duration;
anything else is a 400 naming it. Replies come from a pluggable responder (`responder(body) -> text`, may raise `ScriptedError`); the
default one answers a JSON-schema `format` with a schema-valid instance. Faults for the reliability
suite are set at runtime and consumed in order: `fail_next`, `hang_next`, `malformed_next`,
`drop_next`, `refuse_connections()`, and a fixed `latency` per inference request.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

DEFAULT_MODELS = ("qwen2.5:7b", "qwen2.5:14b", "nomic-embed-text:latest")
INFERENCE_PATHS = frozenset({"/api/generate", "/api/chat", "/api/embed"})
DEFAULT_KEEP_ALIVE_S = 300.0  # Ollama's default: a model stays loaded 5 minutes after its last request
EMBED_DIM = 16

Responder = Callable[[dict], str]


class ScriptedError(Exception):
    """Raised by a responder to answer with an Ollama error body instead of a reply."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class _BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class RecordedRequest:
    method: str
    path: str
    body: Any  # parsed JSON, or the raw text when it was not JSON
    status: int = 0
    fault: str | None = None
    seconds: float = 0.0


@dataclass
class _Fault:
    kind: str  # "fail" | "hang" | "malformed" | "drop"
    remaining: int
    paths: frozenset[str]
    status: int = 500
    message: str = ""
    seconds: float = 0.0


# --- schema-valid instances (the default responder) -------------------------------------------


def schema_instance(schema: Any, root: Any = None, variant: int = 0) -> Any:
    """A small value valid against `schema` (types, enum/const, $ref, anyOf/oneOf/allOf, bounds).

    `variant` makes sibling array items differ, so `uniqueItems` holds. Not a full generator:
    `pattern` is ignored, so a test with a pattern schema scripts its own reply.
    """
    root = schema if root is None else root
    if schema is True or not isinstance(schema, dict):
        return f"fake {variant}"
    if "$ref" in schema:
        return schema_instance(_resolve_ref(root, schema["$ref"]), root, variant)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][variant % len(schema["enum"])]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return schema_instance(schema[key][0], root, variant)
    if "allOf" in schema:
        merged: dict = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = _resolve_ref(root, part["$ref"]) if "$ref" in part else part
            for k, v in part.items():
                if k in ("properties",) and k in merged:
                    merged[k] = {**merged[k], **v}
                elif k == "required" and k in merged:
                    merged[k] = list(dict.fromkeys([*merged[k], *v]))
                else:
                    merged.setdefault(k, v)
        return schema_instance(merged, root, variant)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        return {name: schema_instance(sub, root, variant) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        count = max(int(schema.get("minItems", 1)), 0)
        count = min(count, int(schema.get("maxItems", count)))
        prefix = schema.get("prefixItems", [])
        items = schema.get("items", {})
        return [
            schema_instance(prefix[i] if i < len(prefix) else items, root, variant * 31 + i) for i in range(count)
        ]
    if kind in ("integer", "number"):
        return _number(schema, kind, variant)
    if kind == "boolean":
        return variant % 2 == 0
    if kind == "null":
        return None
    return _string(schema, variant)


def _resolve_ref(root: Any, ref: str) -> Any:
    if not ref.startswith("#"):
        raise ValueError(f"fake Ollama resolves only local $refs, not {ref!r}")
    node = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if part:
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _number(schema: dict, kind: str, variant: int) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
    if "exclusiveMinimum" in schema and "minimum" not in schema:
        low = low + 1
    high = schema.get("maximum", schema.get("exclusiveMaximum", low + 100))
    if "exclusiveMaximum" in schema and "maximum" not in schema:
        high = high - 1
    value = min(low + variant, high)
    step = schema.get("multipleOf")
    if step:
        value = -(-low // step) * step
    return int(value) if kind == "integer" else float(value)


def _string(schema: dict, variant: int) -> str:
    formats = {"date": "2026-01-01", "date-time": "2026-01-01T00:00:00Z", "email": "fake@example.com",
               "uri": "https://example.com/fake", "uuid": "00000000-0000-4000-8000-000000000000"}
    text = formats.get(schema.get("format", ""), f"fake text {variant}" if variant else "fake text")
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    if len(text) < low:
        text = text + "x" * (low - len(text))
    if high is not None:
        text = text[: int(high)]
    return text


def default_responder(body: dict) -> str:
    """A schema-valid instance for a schema `format`, `{}` for "json", else a fixed sentence."""
    fmt = body.get("format")
    if isinstance(fmt, dict):
        return json.dumps(schema_instance(fmt))
    if fmt == "json":
        return "{}"
    return "A fake reply from the test Ollama server."


# --- tokens, durations, model names ---------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:\w+|[^\w\s])|\s+$")


def tokens(text: str) -> list[str]:
    """Word/punctuation pieces, each with its leading space: ''.join(tokens(t)) == t."""
    return _TOKEN.findall(text)


def full_name(model: str) -> str:
    """Ollama's canonical name: a missing tag is `latest`."""
    return model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"


_DURATION = re.compile(r"(-?\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def keep_alive_seconds(value: Any) -> float | None:
    """Seconds to keep a model loaded; None = forever (negative). Numbers are seconds, strings Go durations."""
    if value is None:
        return DEFAULT_KEEP_ALIVE_S
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _BadRequest(400, f"invalid keep_alive: {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif value.strip() in ("0", "-0"):
        seconds = 0.0
    else:
        text = value.strip()
        sign = -1.0 if text.startswith("-") else 1.0
        parts = _DURATION.findall(text.lstrip("+-"))
        if not parts or "".join(n + u for n, u in parts) != text.lstrip("+-"):
            raise _BadRequest(400, f"time: invalid duration {value!r}")
        seconds = sign * sum(float(n) * _UNIT_S[u] for n, u in parts)
    return None if seconds < 0 else seconds


def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _fake_digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _details(name: str) -> dict:
    family = name.split(":")[0].split("/")[-1].rstrip("0123456789.")
    return {"parent_model": "", "format": "gguf", "family": family, "families": [family],
            "parameter_size": name.split(":")[-1].upper() if ":" in name else "", "quantization_level": "Q4_K_M"}


# --- the server -----------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], fake: FakeOllama):
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def get_request(self):
        sock, addr = super().get_request()
        # Headers and body go out in separate writes: without NODELAY, Nagle adds ~40 ms a reply.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.conn_lock:
            self.connections.add(sock)
        return sock, addr

    def shutdown_request(self, request):
        with self.conn_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self.conn_lock:
            open_now = list(self.connections)
        for sock in open_now:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass  # a client that timed out or a dropped connection is expected here, not a failure


class FakeOllama:
    """Start with `.start()`, point the client at `.url`, stop with `.stop()` (or use `with`)."""

    def __init__(self, models: Iterable[str] = DEFAULT_MODELS, responder: Responder | None = None,
                 host: str = "127.0.0.1", port: int = 0, version: str = "0.9.0"):
        self.host, self.port, self.version = host, port, version
        self.models: set[str] = {full_name(m) for m in models}
        self.responder: Responder = responder or default_responder
        self.latency = 0.0  # seconds added to every inference request (benchmarks)
        self.requests: list[RecordedRequest] = []
        self.errors: list[Exception] = []  # exceptions raised by the responder (each answered with 500)
        self._loaded: dict[str, float | None] = {}  # model -> monotonic expiry (None: forever)
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeOllama:
        self._stopping.clear()
        self._listen()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes hanging handlers
        self._close_listener()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _listen(self) -> None:
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]  # keep it: accept_connections() rebinds the same port
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-ollama-{self.port}", daemon=True)
        self._thread.start()

    def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.drop_connections()  # pooled keep-alive connections must not keep answering
        if self._thread is not None:
            self._thread.join(timeout=5)

    # faults

    def refuse_connections(self) -> None:
        """Stop listening: new connections are refused, open ones are closed."""
        self._close_listener()

    def accept_connections(self) -> None:
        """Listen again on the same port."""
        if self._server is None:
            self._listen()

    @property
    def listening(self) -> bool:
        return self._server is not None

    def fail_next(self, count: int = 1, status: int = 500, message: str = "llama runner process has terminated",
                  paths: Iterable[str] = INFERENCE_PATHS) -> None:
        """The next `count` matching requests get HTTP `status` with {"error": message}."""
        self._add_fault(_Fault("fail", count, frozenset(paths), status=status, message=message))

    def hang_next(self, count: int = 1, seconds: float = 5.0, paths: Iterable[str] = INFERENCE_PATHS) -> None:
        """The next `count` matching requests wait `seconds` (cut short by stop()) before answering."""
        self._add_fault(_Fault("hang", count, frozenset(paths), seconds=seconds))

    def malformed_next(self, count: int = 1, paths: Iterable[str] = INFERENCE_PATHS) -> None:
        """The next `count` matching requests get HTTP 200 with a truncated JSON body."""
        self._add_fault(_Fault("malformed", count, frozenset(paths)))

    def drop_next(self, count: int = 1, paths: Iterable[str] = INFERENCE_PATHS) -> None:
        """The next `count` matching requests have their connection closed with no reply (a reset)."""
        self._add_fault(_Fault("drop", count, frozenset(paths)))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
        self.latency = 0.0
        self.accept_connections()

    def _add_fault(self, fault: _Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("a fault needs count >= 1")
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and path in fault.paths:
                    fault.remaining -= 1
                    return fault
            self._faults = [f for f in self._faults if f.remaining > 0]
        return None

    # state for assertions

    def loaded_models(self) -> list[str]:
        now = time.monotonic()
        with self._lock:
            for name, expiry in list(self._loaded.items()):
                if expiry is not None and expiry <= now:
                    del self._loaded[name]
            return sorted(self._loaded)

    def count(self, path: str | None = None, method: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests
                       if (path is None or r.path == path) and (method is None or r.method == method))

    def bodies(self, path: str) -> list[Any]:
        with self._lock:
            return [r.body for r in self.requests if r.path == path]

    def _record(self, entry: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(entry)

    # model bookkeeping (called by the handler)

    def _require_model(self, body: dict) -> str:
        name = body.get("model")
        if not isinstance(name, str) or not name:
            raise _BadRequest(400, "model is required")
        name = full_name(name)
        if name not in self.models:
            raise _BadRequest(404, f'model "{body["model"]}" not found, try pulling it first')
        return name

    def _touch(self, name: str, keep_alive: float | None) -> bool:
        """Load `name` (or refresh its expiry); True when it was not loaded (a cold start)."""
        was_loaded = name in self.loaded_models()
        with self._lock:
            if keep_alive == 0:
                self._loaded.pop(name, None)
            else:
                self._loaded[name] = None if keep_alive is None else time.monotonic() + keep_alive
        return not was_loaded

    def _ps(self) -> dict:
        now, wall = time.monotonic(), datetime.now(UTC)
        names = self.loaded_models()
        with self._lock:
            expiries = {n: self._loaded.get(n) for n in names}
        models = []
        for name in names:
            expiry = expiries[name]
            expires = wall + timedelta(days=365 * 100) if expiry is None else wall + timedelta(seconds=expiry - now)
            models.append({"name": name, "model": name, "size": 4_000_000_000, "digest": _fake_digest(name),
                           "details": _details(name), "expires_at": expires.isoformat(),
                           "size_vram": 4_000_000_000, "context_length": 4096})
        return {"models": models}

    def _tags(self) -> dict:
        return {"models": [
            {"name": name, "model": name, "modified_at": "2026-01-01T00:00:00Z", "size": 4_000_000_000,
             "digest": _fake_digest(name), "details": _details(name)}
            for name in sorted(self.models)
        ]}


# --- request handling ---------------------------------------------------------------------


# The request fields and model options Ollama documents (docs/api.md, docs/modelfile.md). Ollama
# itself ignores unknown ones; the stand-in refuses them, so a misspelt field fails a test.
REQUEST_FIELDS = {
    "/api/generate": {"model", "prompt", "suffix", "images", "think", "format", "options", "system", "template",
                      "stream", "raw", "keep_alive", "context"},
    "/api/chat": {"model", "messages", "tools", "think", "format", "options", "stream", "keep_alive"},
}
MESSAGE_FIELDS = {"role", "content", "thinking", "images", "tool_calls", "tool_name"}
MESSAGE_ROLES = {"system", "user", "assistant", "tool"}
OPTION_TYPES: dict[str, type | tuple[type, ...]] = {
    "num_ctx": int, "num_predict": int, "num_keep": int, "seed": int, "top_k": int, "repeat_last_n": int,
    "mirostat": int, "num_batch": int, "num_gpu": int, "main_gpu": int, "num_thread": int,
    "temperature": (int, float), "top_p": (int, float), "min_p": (int, float), "typical_p": (int, float),
    "repeat_penalty": (int, float), "presence_penalty": (int, float), "frequency_penalty": (int, float),
    "mirostat_eta": (int, float), "mirostat_tau": (int, float), "tfs_z": (int, float),
    "penalize_newline": bool, "numa": bool, "use_mmap": bool, "stop": list,
}


def _check_fields(path: str, body: dict) -> None:
    unknown = sorted(set(body) - REQUEST_FIELDS[path])
    if unknown:
        raise _BadRequest(400, f"{path}: unknown fields {unknown}")


def _options(body: dict) -> dict:
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise _BadRequest(400, "options must be an object")
    for name, value in options.items():
        kind = OPTION_TYPES.get(name)
        if kind is None:
            raise _BadRequest(400, f"unknown option {name!r}")
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            raise _BadRequest(400, f"option {name!r} has the wrong type: {value!r}")
        if name == "stop" and not all(isinstance(v, str) for v in value):
            raise _BadRequest(400, "option 'stop' must be a list of strings")
    return options


def _check_format(body: dict) -> None:
    fmt = body.get("format")
    if fmt in (None, "", "json"):
        return
    if not isinstance(fmt, dict):
        raise _BadRequest(400, f'invalid format: {json.dumps(fmt)}; expected "json" or a valid JSON schema')
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(fmt)
    except jsonschema.SchemaError as exc:
        raise _BadRequest(400, f"invalid JSON schema in format: {exc.message}") from exc


def _check_messages(messages: Any) -> list[dict]:
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise _BadRequest(400, "messages must be a list of objects")
    for m in messages:
        if m.get("role") not in MESSAGE_ROLES:
            raise _BadRequest(400, f"invalid message role {m.get('role')!r}")
        if not isinstance(m.get("content", ""), str):
            raise _BadRequest(400, "message content must be a string")
        unknown = sorted(set(m) - MESSAGE_FIELDS)
        if unknown:
            raise _BadRequest(400, f"unknown message fields {unknown}")
    return messages


def _shape_reply(text: str, options: dict) -> tuple[list[str], str]:
    """Cut at the first stop sequence and at num_predict tokens, like the runner: (tokens, done_reason)."""
    reason = "stop"
    stops = options.get("stop") or []
    cuts = [text.find(s) for s in stops if isinstance(s, str) and s and s in text]
    if cuts:
        text = text[: min(cuts)]
    pieces = tokens(text)
    limit = options.get("num_predict")
    if isinstance(limit, int) and limit >= 0 and len(pieces) > limit:
        pieces, reason = pieces[:limit], "length"
    return pieces, reason


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx pools connections
    server: _Server

    def log_message(self, format, *args):
        pass

    # plumbing

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_raw(self, status: int, data: bytes, content_type: str = "application/json; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, parts: Iterable[dict]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in parts:
            line = json.dumps(part).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return raw.decode("utf-8", "replace")

    # dispatch

    def do_GET(self):
        self._handle("GET")

    def do_HEAD(self):
        self._handle("HEAD")

    def do_POST(self):
        self._handle("POST")

    def _handle(self, method: str) -> None:
        fake = self.server.fake
        started = time.perf_counter()
        path = self.path.split("?", 1)[0]
        body = self._read_body() if method == "POST" else None
        entry = RecordedRequest(method=method, path=path, body=body)
        fake._record(entry)
        try:
            entry.status = self._respond(fake, method, path, body, entry, started)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            entry.status = entry.status or -1  # the client gave up (timeout) or the connection was dropped
            self.close_connection = True
        entry.seconds = time.perf_counter() - started

    def _respond(self, fake: FakeOllama, method: str, path: str, body: Any, entry: RecordedRequest,
                 started: float) -> int:
        if path in INFERENCE_PATHS and fake.latency > 0:
            fake._stopping.wait(fake.latency)
        fault = fake._take_fault(path)
        if fault is not None:
            entry.fault = fault.kind
            if fault.kind == "fail":
                self._send_json(fault.status, {"error": fault.message})
                return fault.status
            if fault.kind == "malformed":
                self._send_raw(200, b'{"model": "broken", "created_at": "2026-01-01T00:00:00Z", "respo')
                return 200
            if fault.kind == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return -1
            if fault.kind == "hang":
                fake._stopping.wait(fault.seconds)
        try:
            routes = {
                ("GET", "/"): lambda: self._send_raw(200, b"Ollama is running", "text/plain; charset=utf-8"),
                ("HEAD", "/"): lambda: self._send_raw(200, b"", "text/plain; charset=utf-8"),
                ("GET", "/api/version"): lambda: self._send_json(200, {"version": fake.version}),
                ("GET", "/api/tags"): lambda: self._send_json(200, fake._tags()),
                ("GET", "/api/ps"): lambda: self._send_json(200, fake._ps()),
                ("POST", "/api/generate"): lambda: self._generate(fake, body, started, chat=False),
                ("POST", "/api/chat"): lambda: self._generate(fake, body, started, chat=True),
                ("POST", "/api/embed"): lambda: self._embed(fake, body, started),
            }
            route = routes.get((method, path))
            if route is None:
                self._send_raw(404, b"404 page not found", "text/plain")
                return 404
            route()
            return 200
        except (_BadRequest, ScriptedError) as exc:
            self._send_json(exc.status, {"error": exc.message})
            return exc.status
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            raise
        except Exception as exc:  # noqa: BLE001 - a broken responder: answer 500, keep it for the test
            fake.errors.append(exc)
            self._send_json(500, {"error": f"fake Ollama failed: {type(exc).__name__}: {exc}"})
            return 500

    # endpoints

    def _generate(self, fake: FakeOllama, body: Any, started: float, chat: bool) -> None:
        if not isinstance(body, dict):
            raise _BadRequest(400, "invalid request body: expected a JSON object")
        _check_fields("/api/chat" if chat else "/api/generate", body)
        name = fake._require_model(body)
        options = _options(body)
        _check_format(body)
        keep_alive = keep_alive_seconds(body.get("keep_alive"))
        if chat:
            messages = _check_messages(body.get("messages") or [])
            prompt_text = "\n".join(str(m.get("content") or "") for m in messages)
        else:
            prompt = body.get("prompt")
            if prompt is not None and not isinstance(prompt, str):
                raise _BadRequest(400, "prompt must be a string")
            prompt_text = prompt or ""
        stream = body.get("stream", True) is not False

        if not prompt_text:  # Ollama's load / unload request: no prompt, no reply
            cold = fake._touch(name, keep_alive)
            reason = "unload" if keep_alive == 0 else "load"
            final = {"model": body["model"], "created_at": _now_iso(), "done": True, "done_reason": reason,
                     **({"message": {"role": "assistant", "content": ""}} if chat else {"response": ""})}
            if reason == "load":
                final["load_duration"] = int((time.perf_counter() - started) * 1e9) + (50_000_000 if cold else 0)
            if stream:
                self._send_stream([final])
            else:
                self._send_json(200, final)
            return

        cold = fake._touch(name, keep_alive if keep_alive != 0 else DEFAULT_KEEP_ALIVE_S)
        text = fake.responder(body)
        if not isinstance(text, str):
            raise TypeError(f"a fake Ollama responder must return str, not {type(text).__name__}")
        pieces, reason = _shape_reply(text, options)
        if keep_alive == 0:  # answer, then unload
            fake._touch(name, 0)
        prompt_tokens = len(tokens(prompt_text))
        total_ns = max(int((time.perf_counter() - started) * 1e9), 1000)
        load_ns = 50_000_000 if cold else 10_000
        prompt_ns, eval_ns = total_ns // 4, total_ns // 2
        stats = {"total_duration": total_ns + load_ns, "load_duration": load_ns,
                 "prompt_eval_count": prompt_tokens, "prompt_eval_duration": prompt_ns,
                 "eval_count": len(pieces), "eval_duration": eval_ns}

        def part(content: str, done: bool) -> dict:
            out: dict[str, Any] = {"model": body["model"], "created_at": _now_iso()}
            out.update({"message": {"role": "assistant", "content": content}} if chat else {"response": content})
            out["done"] = done
            return out

        final = part("" if stream else "".join(pieces), True)
        final["done_reason"] = reason
        if not chat:
            final["context"] = list(range(1, prompt_tokens + len(pieces) + 1))
        final.update(stats)
        if stream:
            self._send_stream([*(part(p, False) for p in pieces), final])
        else:
            self._send_json(200, final)

    def _embed(self, fake: FakeOllama, body: Any, started: float) -> None:
        if not isinstance(body, dict):
            raise _BadRequest(400, "invalid request body: expected a JSON object")
        name = fake._require_model(body)
        texts = body.get("input", [])
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise _BadRequest(400, "invalid input type")
        keep_alive = keep_alive_seconds(body.get("keep_alive"))
        cold = fake._touch(name, keep_alive)
        vectors = []
        for text in texts:  # deterministic: the same text always gets the same vector
            digest = hashlib.sha256(text.encode()).digest()
            vectors.append([(b - 127.5) / 127.5 for b in digest[:EMBED_DIM]])
        total_ns = max(int((time.perf_counter() - started) * 1e9), 1000)
        self._send_json(200, {"model": body["model"], "embeddings": vectors, "total_duration": total_ns,
                              "load_duration": 50_000_000 if cold else 10_000,
                              "prompt_eval_count": sum(len(tokens(t)) for t in texts)})
