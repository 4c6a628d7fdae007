"""docker-compose.prod.yml as Debian's docker-compose 1.29 resolves it (``config``).

No Docker engine runs here: ``config`` parses, validates against the compose
schema, interpolates ``.env.example`` and reads the seccomp and env files; the
tests then assert what the stack would do from that resolved file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from flower.options import options as flower_options

from matf.agents import AGENTS
from matf.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / ".env.example"
# prometheus.yml scrapes these names; the README and the alerts name them too.
SERVICES = {
    "redis",
    "migrate",
    "api",
    *(f"worker-{agent}" for agent in AGENTS),
    "beat",
    "flower",
    "prometheus",
    "alertmanager",
    "grafana",
    "node-exporter",
    "redis-exporter",
}
MATF_IMAGE = "matf:0.1.0"


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed: apt-get install docker-compose")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MATF_", "COMPOSE_"))}
    done = subprocess.run(
        [binary, "--env-file", str(EXAMPLE), "-f", "docker-compose.prod.yml", "config"],
        cwd=ROOT,
        env={**env, "MATF_ENV_FILE": ".env.example"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(yaml.safe_load(done.stdout))


def _seconds(text: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    return sum(float(n) * units[u] for n, u in re.findall(r"([\d.]+)(ms|us|h|m|s)", text))


def _example_settings() -> Any:
    return load_settings(_env_file=str(EXAMPLE), matf_env="development")


def test_the_stack_has_every_service_under_the_names_prometheus_scrapes(
    stack: dict[str, Any],
) -> None:
    assert set(stack["services"]) == SERVICES
    assert {s.get("image") for s in stack["services"].values()} >= {MATF_IMAGE}


def test_every_agent_has_its_own_worker_pool_consuming_only_its_queue(
    stack: dict[str, Any],
) -> None:
    for agent in AGENTS:
        service = stack["services"][f"worker-{agent}"]
        command = service["command"]
        assert command[:4] == ["celery", "-A", "tasks", "worker"]
        assert command[command.index("-Q") + 1] == agent
        assert command[command.index("-n") + 1] == f"{agent}@%h"  # unique per replica
        assert service["image"] == MATF_IMAGE


def test_the_executor_pool_is_sized_for_chromium_and_outlasts_a_test_on_shutdown(
    stack: dict[str, Any],
) -> None:
    executor = stack["services"]["worker-executor"]
    settings = _example_settings()

    command = executor["command"]
    assert command[command.index("--concurrency") + 1] == str(settings.browser_pool_size)
    assert _seconds(executor["stop_grace_period"]) > settings.test_timeout / 1000
    assert executor["stop_signal"] == "SIGTERM"
    assert executor["shm_size"] in ("1gb", 1073741824)
    # stateless: no volume at all, artifacts and baselines travel in the messages
    assert executor.get("volumes", []) == []
    assert settings.artifact_transport == "message"
    # every pool stopped runs Celery's soft shutdown, and the kill comes only after it
    for agent in AGENTS:
        pool = stack["services"][f"worker-{agent}"]
        assert pool["environment"]["REMAP_SIGTERM"] == "SIGQUIT"
        assert _seconds(pool["stop_grace_period"]) > settings.worker_soft_shutdown_timeout
    for agent in ("context", "writer", "executor", "reporter"):  # each launches Chromium
        pool = stack["services"][f"worker-{agent}"]
        assert "shm_size" in pool
        assert "no-new-privileges:true" in pool["security_opt"] and pool["cap_drop"] == ["ALL"]
        assert "--no-sandbox" not in str(pool)  # non-root: Chromium keeps its sandbox


def test_flower_purges_offline_workers_and_asks_for_basic_auth(stack: dict[str, Any]) -> None:
    flower = stack["services"]["flower"]
    command = flower["command"]
    assert command[:4] == ["celery", "-A", "tasks", "flower"]
    given = {arg[2:].split("=")[0]: arg.split("=", 1)[1] for arg in command[4:]}
    assert int(given["purge_offline_workers"]) > 0
    known = set(flower_options._options)  # Flower 2.x's own option names (tornado: dashes)
    assert {name.replace("_", "-") for name in given} <= known
    # FLOWER_<OPTION> is read by Flower itself (flower.command.apply_env_options)
    assert "basic-auth" in known
    user, _, password = flower["environment"]["FLOWER_BASIC_AUTH"].partition(":")
    assert user and password
    assert str(flower["ports"][0]).split("/")[0].endswith(":5555")


def test_matf_roles_start_after_migrate_and_a_healthy_redis(stack: dict[str, Any]) -> None:
    services = stack["services"]
    assert services["migrate"]["command"] == ["matf", "migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in ["api", "beat", *(f"worker-{agent}" for agent in AGENTS)]:
        after = services[name]["depends_on"]
        assert after["migrate"]["condition"] == "service_completed_successfully", name
        assert after["redis"]["condition"] == "service_healthy", name
        assert services[name]["environment"]["REDIS_URL"].endswith("@redis:6379/0"), name
    assert services["api"]["command"][:2] == ["matf", "serve"]
    assert services["beat"]["command"][3:6] == [
        "beat",
        "--schedule",
        "/app/data/celerybeat-schedule",
    ]


def test_redis_persists_never_evicts_queues_and_has_a_ping_healthcheck(
    stack: dict[str, Any],
) -> None:
    redis = stack["services"]["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command
    assert "--requirepass" in command
    assert "redis-cli ping" in " ".join(redis["healthcheck"]["test"])
    assert "redis-data:/data" in " ".join(redis["volumes"])


def test_third_party_images_are_pinned_and_every_service_restarts_and_rotates_logs(
    stack: dict[str, Any],
) -> None:
    for name, service in stack["services"].items():
        image = service["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image else "latest"
        assert re.search(r"\d+\.\d+", tag), f"{name}: {image} is not pinned to a version"
        if name != "migrate":
            assert service["restart"] == "unless-stopped", name
        assert service["logging"]["options"]["max-size"], name


def test_every_file_the_stack_mounts_is_in_the_repository(stack: dict[str, Any]) -> None:
    # monitoring/ is written alongside; until it exists only what is there is checked
    missing: list[str] = []
    for name, service in stack["services"].items():
        for volume in service.get("volumes", []):
            source = Path(str(volume).split(":")[0])
            if not source.is_absolute() or ROOT not in source.parents:
                continue  # a named volume, or the host's /proc and /sys
            relative = source.relative_to(ROOT)
            if relative.parts[0] == "secrets":
                continue  # the operator's own files, never in git
            if source.exists():
                continue
            if relative.parts[0] == "monitoring" and not (ROOT / "monitoring").is_dir():
                continue  # not merged yet: checked in full once monitoring/ exists
            missing.append(f"{name}: {relative}")
    assert missing == []
    named = {str(v).split(":")[0] for s in stack["services"].values() for v in s.get("volumes", [])}
    assert {"matf-data", "matf-artifacts", "matf-backups", "redis-data"} <= named
    assert {"prometheus-data", "grafana-data"} <= named
