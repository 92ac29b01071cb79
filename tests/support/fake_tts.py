"""A stand-in TTS server for tests: the OpenAI-compatible speech API on 127.0.0.1.

The production TTS service runs on the Desktop's GPU, so tests run the real resource against this
real HTTP server instead: `POST /v1/audio/speech` with JSON {model, voice, input, response_format}
answers a WAV (a tone as long as the text asks for); an unknown voice is a 400 with an OpenAI-style
error body naming it. `fail_next(n)` answers the next n requests with a 500.
"""

from __future__ import annotations

import io
import json
import math
import struct
import threading
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

RATE = 24000


def tone_wav(seconds: float, rate: int = RATE) -> bytes:
    """Mono 16-bit speech-like audio: a 180 Hz tone with syllable-rate amplitude wobble."""
    frames = bytearray()
    for n in range(int(seconds * rate)):
        t = n / rate
        level = 0.3 * (0.6 + 0.4 * math.sin(2 * math.pi * 4 * t))
        frames += struct.pack("<h", int(32767 * level * math.sin(2 * math.pi * 180 * t)))
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1), writer.setsampwidth(2), writer.setframerate(rate)
        writer.writeframes(bytes(frames))
    return out.getvalue()


class FakeTTSServer:
    def __init__(self, voices: tuple[str, ...] = ("ko-warm", "en-bright")):
        self.voices = set(voices)
        self.requests: list[dict] = []
        self._failures = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._failures = count

    def _take_failure(self) -> bool:
        with self._lock:
            if self._failures > 0:
                self._failures -= 1
                return True
            return False

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:  # keep test output clean
                pass

            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, message: str, param: str | None = None) -> None:
                body = {"error": {"message": message, "type": "invalid_request_error", "param": param}}
                self._reply(status, json.dumps(body).encode(), "application/json")

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                if self.path != "/v1/audio/speech":
                    return self._error(404, f"no route {self.path}")
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                except json.JSONDecodeError:
                    return self._error(400, "body is not JSON")
                server.requests.append(body)
                if server._take_failure():
                    return self._error(500, "model worker crashed")
                missing = [k for k in ("model", "voice", "input") if not body.get(k)]
                if missing:
                    return self._error(400, f"missing {', '.join(missing)}", missing[0])
                if body["voice"] not in server.voices:
                    return self._error(400, f"voice '{body['voice']}' not found; available voices: "
                                            f"{', '.join(sorted(server.voices))}", "voice")
                if body.get("response_format", "mp3") != "wav":
                    return self._error(400, "this stand-in only speaks wav", "response_format")
                seconds = max(0.5, len(body["input"]) / 15)  # ~15 characters a second
                self._reply(200, tone_wav(seconds), "audio/wav")

        return Handler

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._server.shutdown()
        self._server.server_close()
