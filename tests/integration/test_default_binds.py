"""Every server Sparklio starts or configures listens on loopback unless told otherwise; presigned links expire.

Checked where it can be, by starting the server and asking the kernel (psutil) what it listens on:
the embedded Postgres, the test SeaweedFS, every server class in tests/support, and the Desktop's
code-server script. The Makefile's `dagster dev` and the Mac mini script are checked from their text.
"""

import contextlib
import importlib
import inspect
import ipaddress
import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from unittest import mock

import psutil
import pytest

from tests.support.processes import stop_process_group

REPO_ROOT = Path(__file__).resolve().parents[2]
SUPPORT_DIR = REPO_ROOT / "tests" / "support"
CODE_SERVER_SCRIPT = REPO_ROOT / "deploy" / "desktop" / "start-code-server.sh"
CODE_SERVER_PS1 = REPO_ROOT / "deploy" / "desktop" / "start-code-server.ps1"
CONTROL_PLANE_SCRIPT = REPO_ROOT / "deploy" / "mac-mini" / "start-control-plane.sh"
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
WILDCARDS = {"0.0.0.0", "::", "[::]", "*"}
# Server classes in tests/support the generic check must find, so it cannot pass by checking nothing.
KNOWN_SUPPORT_SERVERS = {"FakeOllama", "FakeComfyUI", "RedisServer"}


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    mapped = getattr(ip, "ipv4_mapped", None)  # gRPC listens on ::ffff:127.0.0.1 for an IPv4 host
    return (mapped or ip).is_loopback


def test_the_loopback_check_flags_wildcard_and_lan_addresses():
    assert all(map(is_loopback, ["127.0.0.1", "::1", "::ffff:127.0.0.1", "127.0.0.53"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "::ffff:0.0.0.0", "100.64.1.2", "192.168.1.10"]))


def listening(pids: set[int]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every TCP/UDP socket the processes listen on."""
    found = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            for conn in psutil.Process(pid).net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN or (conn.type == socket.SOCK_DGRAM and conn.laddr):
                    found.append((pid, conn.laddr.ip, conn.laddr.port))
    return found


def process_tree(pid: int) -> set[int]:
    root = psutil.Process(pid)
    return {pid, *(child.pid for child in root.children(recursive=True))}


def assert_loopback_only(sockets: list[tuple[int, str, int]], what: str) -> None:
    exposed = [s for s in sockets if not is_loopback(s[1])]
    assert not exposed, f"{what} listens beyond loopback: {exposed}"


# ----------------------------------------------------------------- servers started for real


def test_embedded_postgres_has_no_tcp_listener(postgres_dsn):
    if os.environ.get("SPARKLIO_TEST_DATABASE_URL"):
        pytest.skip("an external test database is configured; the embedded server is not running")
    import psycopg2

    from resources.embedded_postgres import embedded_pgdata

    with contextlib.closing(psycopg2.connect(postgres_dsn)) as conn, conn.cursor() as cur:
        cur.execute("SHOW listen_addresses")
        assert cur.fetchone()[0] == ""  # unix socket only
    assert "host=/" in postgres_dsn or "%2F" in postgres_dsn  # the DSN names a socket directory, not a host
    postmaster_pid = int((embedded_pgdata() / "postmaster.pid").read_text().split()[0])
    tree = process_tree(postmaster_pid)
    assert len(tree) > 1  # the postmaster and its workers: the check looked at a live server
    assert listening(tree) == []


def test_seaweedfs_test_server_listens_on_loopback_only(seaweed):
    sockets = listening(process_tree(seaweed.proc.pid))
    ports = {port for _, _, port in sockets}
    assert {seaweed.master, seaweed.volume, seaweed.filer, seaweed.s3} <= ports  # the check saw the real server
    assert_loopback_only(sockets, "SeaweedFS (tests/support/seaweedfs.py)")


def support_server_classes() -> dict[str, type]:
    """Classes in tests/support with start() and stop() that need no constructor arguments."""
    found = {}
    for path in sorted(SUPPORT_DIR.glob("*.py")):
        if path.stem in ("__init__", "seaweedfs"):  # SeaweedFS: the session fixture above, not a second server
            continue
        module = importlib.import_module(f"tests.support.{path.stem}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or not (hasattr(cls, "start") and hasattr(cls, "stop")):
                continue
            required = [p for p in list(inspect.signature(cls).parameters.values())
                        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            if not required:
                found[name] = cls
    return found


def test_every_support_server_listens_on_loopback_by_default():
    classes = support_server_classes()
    assert KNOWN_SUPPORT_SERVERS <= set(classes), f"found only {sorted(classes)}"
    me = os.getpid()
    for name, cls in classes.items():
        before = set(listening({me}))
        server = cls()
        server.start()
        try:
            proc = getattr(server, "proc", None)
            if proc is not None:  # a subprocess (redis-server): everything its tree listens on
                sockets = listening(process_tree(proc.pid))
            else:  # a thread in this process: the listeners it added
                sockets = [s for s in listening({me}) if s not in before]
        finally:
            server.stop()
        assert sockets, f"{name} started but listens on nothing the check can see"
        assert_loopback_only(sockets, f"tests/support {name}")


def _free_port(low: int, high: int) -> int:
    for port in range(low, high + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))  # free on every address, so the server can take it
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}-{high}")


@pytest.mark.skipif(not CODE_SERVER_SCRIPT.exists(), reason="no Desktop code-server script yet")
def test_desktop_code_server_script_listens_on_loopback_by_default(tmp_path):
    port = _free_port(11000, 11999)
    env = {
        "PATH": os.environ["PATH"], "HOME": str(tmp_path), "SPARKLIO_ENV_FILE": str(tmp_path / "empty.env"),
        "SPARKLIO_CODE_SERVER_PORT": str(port), "DAGSTER_HOME": str(tmp_path / "dagster"),
        "SPARKLIO_HOME": str(tmp_path / "state"), "SPARKLIO_MODELS_DIR": os.environ.get("SPARKLIO_MODELS_DIR", ""),
    }  # SPARKLIO_CODE_SERVER_HOST deliberately unset: the default is what is checked
    (tmp_path / "empty.env").write_text("")
    (tmp_path / "dagster").mkdir()
    log = open(tmp_path / "code-server.log", "wb")
    proc = subprocess.Popen(["bash", str(CODE_SERVER_SCRIPT)], env=env, cwd=REPO_ROOT, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, sockets = time.monotonic() + 300, []
        while time.monotonic() < deadline and proc.poll() is None:
            sockets = listening(process_tree(proc.pid))
            if any(p == port for _, _, p in sockets):
                break
            time.sleep(1)
        assert any(p == port for _, _, p in sockets), (
            f"code server never listened on {port}: {(tmp_path / 'code-server.log').read_text()[-3000:]}"
        )
        assert_loopback_only(listening(process_tree(proc.pid)), "deploy/desktop/start-code-server.sh")
    finally:
        stop_process_group(proc, timeout=30)
        log.close()


# ----------------------------------------------------------------- servers configured in scripts


def host_arguments(command: str) -> list[str]:
    return re.findall(r"(?:^|\s)(?:-h|--host)[ =]+(\"[^\"]*\"|'[^']*'|\S+)", command)


def test_makefile_dagster_dev_binds_loopback_on_an_allowed_port():
    makefile = (REPO_ROOT / "Makefile").read_text()
    commands = [line for line in makefile.splitlines() if re.search(r"\bdagster(-webserver)? dev\b|dagster-webserver", line)]
    assert commands, "no `dagster dev` in the Makefile"
    for command in commands:
        hosts = host_arguments(command)
        assert hosts and all(h.strip("\"'") in LOOPBACK_NAMES for h in hosts), command
        assert re.search(r"(?:-p|--port)[ =]+\S+", command), f"no explicit port (dagster's default is 3000): {command}"
    port = int(re.search(r"^DAGSTER_PORT \?= (\d+)$", makefile, re.M).group(1))
    assert 8002 <= port <= 8099


def shell_default(script: str, variable: str) -> str:
    match = re.search(r"\$\{" + variable + r":-([^}]*)\}", script)
    assert match, f"{variable} has no default"
    return match.group(1)


@pytest.mark.skipif(not CONTROL_PLANE_SCRIPT.exists(), reason="no Mac mini control-plane script yet")
def test_control_plane_script_defaults_to_loopback():
    script = CONTROL_PLANE_SCRIPT.read_text()
    assert shell_default(script, "DAGSTER_WEBSERVER_HOST") in LOOPBACK_NAMES
    assert re.search(r'-h "\$web_host"', script)
    assert not (WILDCARDS & set(h.strip("\"'") for h in host_arguments(script)))


@pytest.mark.skipif(not CODE_SERVER_PS1.exists(), reason="no PowerShell code-server script yet")
def test_powershell_code_server_script_defaults_to_loopback():
    script = CODE_SERVER_PS1.read_text()
    match = re.search(r"\$HostAddr = if \(\$env:SPARKLIO_CODE_SERVER_HOST\) \{[^}]*\} else \{ \"([^\"]+)\" \}", script)
    assert match and match.group(1) in LOOPBACK_NAMES
    assert "-h $HostAddr" in script


def test_no_wildcard_bind_in_product_or_test_servers():
    """No Python server code names a wildcard address; the only wildcards allowed are inside containers."""
    offenders = []
    for folder in ("sparklio_pipelines", "resources", "sensors", "tests/support", "benchmarks", "scripts", "deploy"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            text = path.read_text(errors="replace")
            for lineno, line in enumerate(text.splitlines(), 1):
                code = line.split("#", 1)[0]
                if re.search(r"[\"'](0\.0\.0\.0|::|\[::\])[\"']", code) or re.search(r"\bbind\(\(\s*[\"']{2}", code):
                    offenders.append(f"{path.relative_to(REPO_ROOT)}:{lineno}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


# ----------------------------------------------------------------- presigned URLs expire


def expiry_seconds(url: str) -> float:
    """Seconds a presigned URL stays valid: SigV4's X-Amz-Expires, or SigV2's absolute Expires."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    if "X-Amz-Expires" in query:
        return float(query["X-Amz-Expires"][0])
    assert "Expires" in query, f"presigned URL without an expiry: {url}"
    return float(query["Expires"][0]) - time.time()


def test_presigned_urls_carry_an_expiry(s3_store):
    s3_store.put_bytes("campaigns/presign/x.txt", b"hello")
    default = expiry_seconds(s3_store.url("campaigns/presign/x.txt"))
    assert 3500 <= default <= 3600  # an hour by default
    assert 50 <= expiry_seconds(s3_store.url("campaigns/presign/x.txt", expires_s=60)) <= 60
    from sparklio_pipelines.defs.assets import bundle

    source = inspect.getsource(bundle)
    for match in re.finditer(r"expires_s=([^)]+)\)", source):  # the longest link Sparklio hands out
        assert eval(match.group(1), {}) <= 7 * 24 * 3600, match.group(0)  # noqa: S307 - a literal from our source


class AuthenticatedSeaweedS3:
    """The test SeaweedFS with S3 identities, so it checks signatures and expiry (the shared one allows anonymous)."""

    def __init__(self, access_key: str, secret_key: str):
        from tests.support.seaweedfs import SeaweedS3

        self.server = SeaweedS3()
        self.config = self.server.data_dir / "s3.json"
        self.config.write_text(json.dumps({"identities": [{
            "name": "sparklio", "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))

    def __enter__(self):
        real_popen = subprocess.Popen

        def popen_with_auth(cmd, *args, **kwargs):
            return real_popen([*cmd, f"-s3.config={self.config}"], *args, **kwargs)

        with mock.patch("tests.support.seaweedfs.subprocess.Popen", popen_with_auth):
            self.server.start()
        return self.server

    def __exit__(self, *exc):
        self.server.stop()


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_presigned_url_stops_working_after_it_expires():
    from resources.object_store import S3ObjectStoreResource

    with AuthenticatedSeaweedS3("sparklio-test", "sparklio-test-secret") as server:
        store = S3ObjectStoreResource(endpoint_url=server.endpoint, bucket="presigned",
                                      access_key_id="sparklio-test", secret_access_key="sparklio-test-secret")
        store.put_bytes("campaigns/c/x.txt", b"hello")
        assert http_status(f"{server.endpoint}/presigned/campaigns/c/x.txt") == 403  # the server checks auth
        short = store.url("campaigns/c/x.txt", expires_s=2)
        assert http_status(short) == 200
        assert http_status(store.url("campaigns/c/x.txt").replace("Signature=", "Signature=A")) == 403
        time.sleep(4)
        assert http_status(short) == 403


def test_embedded_postgres_is_stopped_by_another_process(tmp_path):
    """`make demo-servers`, the benchmarks and the test session stop a server another process started."""
    import sys

    code = "from resources.embedded_postgres import {}; {}"
    env = {**os.environ, "SPARKLIO_HOME": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code.format("start_embedded_postgres", "start_embedded_postgres()")],
                   cwd=REPO_ROOT, env=env, check=True, timeout=300)
    pid_file = tmp_path / "postgres" / "postmaster.pid"
    pid = int(pid_file.read_text().split()[0])
    os.kill(pid, 0)  # running, after the process that started it has exited
    subprocess.run([sys.executable, "-c", code.format("stop_embedded_postgres", "stop_embedded_postgres()")],
                   cwd=REPO_ROOT, env=env, check=True, timeout=120)
    assert not pid_file.exists()
    # gone, or a zombie where nothing reaps the daemonized postmaster
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
