"""A real Dagster webserver (and optionally its daemon) on the embedded SQLite instance, plus the Studio
served by `sparklio studio`, as the Studio tests and benchmark use them.

Each stack gets its own DAGSTER_HOME (a copy of deploy/embedded/dagster.yaml). The pipeline processes
(code location, run workers) share the test's Postgres and object store through the environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import requests

from sparklio_pipelines.defs.instance import EMBEDDED_INSTANCE_YAML, initialize_storage
from tests.support.topology import (
    LOCATION_NAME,
    LOOPBACK,
    REPO_ROOT,
    WEBSERVER_PORTS,
    WORKSPACE_QUERY,
    ManagedProcess,
    NotRecoverable,
    free_port,
    launch,
    wait_until,
)

STUDIO_PORTS = range(8001, 8100)  # 8001 is the test API port; the backend range when it is taken
BIN = Path(sys.executable).parent


def studio_env(**overrides: str) -> dict[str, str]:
    """The test process's environment (its SPARKLIO_HOME, models, DATABASE_URL, S3 settings) plus overrides."""
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    env.update(overrides)
    return env


@dataclass
class DagsterStack:
    """dagster-webserver (+ dagster-daemon when `daemon`) for the repo's code location, on loopback."""

    env: dict[str, str]
    daemon: bool = True
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sparklio-studio-stack-")))
    processes: list[ManagedProcess] = field(default_factory=list)

    def __post_init__(self):
        self.port = free_port(WEBSERVER_PORTS)
        self.dagster_home = self.workdir / "dagster-home"
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(EMBEDDED_INSTANCE_YAML, self.dagster_home / "dagster.yaml")
        initialize_storage(self.dagster_home)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 300) -> "DagsterStack":
        env = {**self.env, "DAGSTER_HOME": str(self.dagster_home)}
        target = ["-w", str(REPO_ROOT / "workspace.yaml")]  # the `sparklio` location, as `make dev` loads it
        self.processes.append(launch("dagster-webserver", [str(BIN / "dagster-webserver"), "-h", LOOPBACK, "-p",
                                                           str(self.port), *target], env, self.workdir))
        if self.daemon:
            self.processes.append(launch("dagster-daemon", [str(BIN / "dagster-daemon"), "run", *target], env,
                                         self.workdir))
        wait_until(self._location_loaded, timeout, "dagster webserver with the sparklio location", interval=1,
                   alive=self.processes)
        return self

    def _location_loaded(self) -> bool:
        response = requests.post(f"{self.url}/graphql", json={"query": WORKSPACE_QUERY}, timeout=10)
        entries = {e["name"]: e for e in response.json()["data"]["workspaceOrError"]["locationEntries"]}
        entry = entries.get(LOCATION_NAME)
        if entry is None or entry["loadStatus"] != "LOADED":
            return False
        if entry["locationOrLoadError"]["__typename"] == "PythonError":
            raise NotRecoverable(f"location failed to load: {entry['locationOrLoadError']['message']}")
        return True

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log_tail()}" for p in self.processes)


@dataclass
class StudioServer:
    """`sparklio studio` as its own process, bound to loopback."""

    env: dict[str, str]
    dagster_url: str
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sparklio-studio-")))
    process: ManagedProcess | None = None

    def __post_init__(self):
        self.port = free_port(STUDIO_PORTS)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 120) -> "StudioServer":
        env = {**self.env, "SPARKLIO_STUDIO_HOST": LOOPBACK, "SPARKLIO_STUDIO_PORT": str(self.port),
               "SPARKLIO_DAGSTER_URL": self.dagster_url, "SPARKLIO_STUDIO_URL": self.url}
        self.process = launch("studio", [sys.executable, "-m", "sparklio_pipelines.cli", "studio"], env, self.workdir)
        wait_until(lambda: requests.get(f"{self.url}/health", timeout=2).ok, timeout, "studio", alive=[self.process])
        return self

    def stop(self) -> None:
        if self.process:
            self.process.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def add_user(name: str, password: str, env: dict[str, str]) -> None:
    """`sparklio studio user add NAME --password-stdin`, as an admin would run it."""
    result = subprocess.run([sys.executable, "-m", "sparklio_pipelines.cli", "studio", "user", "add", name,
                             "--password-stdin"], input=password + "\n", env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


def create_token(name: str, env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-m", "sparklio_pipelines.cli", "studio", "token", "create", name],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--autoplay-policy=no-user-gesture-required", "--window-size=1400,1000")


def headless_chromium(user_data_dir: Path):
    """Debian's chromium through Debian's chromedriver (never a downloaded browser), with a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}"):
        options.add_argument(flag)
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service)
