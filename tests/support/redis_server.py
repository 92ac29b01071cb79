"""A real Redis server for tests: Debian's `redis-server` on 127.0.0.1, an ephemeral port, a temp dir.

No persistence (nothing to clean up but the dir), protected mode on. Stopped with SIGKILL if SIGTERM is ignored.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.processes import stop_process_group

LOOPBACK = "127.0.0.1"


def _ephemeral_port() -> int:
    """A port the kernel just handed out and nobody listens on (Redis cannot bind port 0 itself)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _ping(port: int, timeout: float = 1.0) -> bool:
    """Redis's inline PING, spoken over a raw socket: no client library needed to know it is up."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    def __init__(self, data_dir: Path | None = None):
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="redis-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"

    def start(self, timeout: float = 20, attempts: int = 5) -> "RedisServer":
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found: `apt-get install redis-server` (scripts/setup.sh does)")
        for _ in range(attempts):  # another process may take the port between picking and binding it
            self.port = _ephemeral_port()
            cmd = [
                binary, "--bind", LOOPBACK, "--port", str(self.port), "--dir", str(self.data_dir),
                "--save", "", "--appendonly", "no", "--protected-mode", "yes", "--daemonize", "no",
                "--logfile", str(self.log_path),
            ]
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                         start_new_session=True)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                if _ping(self.port):
                    return self
                time.sleep(0.1)
            self._kill()
        raise RuntimeError(f"redis-server did not start:\n{self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def _kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            stop_process_group(self.proc)

    def stop(self) -> None:
        self._kill()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
