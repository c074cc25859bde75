"""docker-compose.yml is the production topology: a primary and a streaming replica, Redis, two web
processes behind a proxy, a worker for every workload queue, beat, an RQ worker and the simulators
in their own profile; every CRM process from the Dockerfile's image with a health check; secrets
only from the environment. `docker compose config` checks it where Docker's compose is installed."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from crm.queues import WORKLOADS
from tests.crm.subprocess_env import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yml"
SECRETS = ("SECRET_KEY", "POSTGRES_PASSWORD", "CRM_APP_DB_PASSWORD", "REPLICATION_PASSWORD", "CRM_ENCRYPTION_KEYS")


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_the_topology_has_every_piece(services):
    assert {"postgres", "postgres-replica", "redis", "migrate", "web-1", "web-2", "proxy", "beat", "rqworker",
            "mt5sim", "pspsim"} <= set(services)
    assert "pg_basebackup" in (REPO_ROOT / "scripts/postgres-replica/entrypoint.sh").read_text()
    proxy_conf = (REPO_ROOT / "scripts/proxy/nginx.conf").read_text()
    assert "server web-1:8000" in proxy_conf and "server web-2:8000" in proxy_conf


def test_every_workload_queue_has_a_worker(services):
    served: set[str] = set()
    for name, service in services.items():
        if name.startswith("worker-"):
            served |= set(service["environment"]["CELERY_WORKER_QUEUES"].split(","))
            assert "crm.queues" in " ".join(service["command"])
    assert served == {"default", *WORKLOADS}


def test_crm_processes_come_from_the_image_with_health_checks(services):
    for name, service in services.items():
        if name in ("postgres", "postgres-replica", "redis", "proxy"):
            assert "healthcheck" in service, name
            continue
        assert service.get("build") == "." and service.get("image") == "brokerage-crm:latest", name
        if name != "migrate":
            assert "healthcheck" in service, name
    assert services["mt5sim"]["profiles"] == ["simulators"] and services["pspsim"]["profiles"] == ["simulators"]
    env = services["web-1"]["environment"]
    assert "postgres-replica" in env["DATABASE_REPLICA_URL"]
    # Behind `proxy`, the per-address limits read the client's address from the proxy's X-Forwarded-For.
    assert "CRM_TRUSTED_PROXIES" in env and services["web-2"]["environment"] == env


def test_secrets_come_from_the_environment_only():
    text = COMPOSE.read_text()
    for name in SECRETS:
        uses = re.findall(r"\$\{" + name + r"([^}]*)\}", text)
        assert uses, name
        # Required where first used, never given a default.
        assert uses[0].startswith(":?"), (name, uses[0])
        assert not any(u.startswith((":-", "-")) for u in uses), name


def test_docker_compose_accepts_it():
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True,  # noqa: S603
                                        check=False).returncode != 0:
        pytest.skip("Docker's compose plugin is not installed here")
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", **{name: "x" * 40 for name in SECRETS},
           "CRM_DOMAIN": "crm.example.com", "DEFAULT_FROM_EMAIL": "crm@example.com", "EMAIL_HOST": "smtp.example.com"}
    for profile in ([], ["--profile", "simulators"]):
        result = subprocess.run([docker, "compose", "-f", str(COMPOSE), *profile, "config", "--quiet"],  # noqa: S603
                                capture_output=True, text=True, env=env, check=False)
        assert result.returncode == 0, result.stderr
