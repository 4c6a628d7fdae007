"""KEDA's objects use the fields KEDA documents, and watch the Redis key Celery really fills.

kubernetes-validate has no schema for custom resources, so the fields are
checked against the lists in KEDA's documentation (v2.21):
- "ScaledObject specification", keda.sh/docs/2.21/reference/scaledobject-spec/
- "Redis Lists" scaler, keda.sh/docs/2.21/scalers/redis-lists/ (trigger
  metadata, and the authentication parameters a TriggerAuthentication gives)
- "Authentication", keda.sh/docs/2.21/concepts/authentication/ (secretTargetRef)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis
from k8s_manifests import BASE, KUSTOMIZATIONS, build, find

from matf.pipeline.fanout import ExecutorJob
from tasks.app import make_celery
from tasks.supervisor import queue_keys
from tests.conftest import make_settings
from tests.services import RedisServer

SCALED_OBJECT_SPEC = {
    "scaleTargetRef": {"apiVersion", "kind", "name", "envSourceContainerName"},
    "pollingInterval": None,
    "cooldownPeriod": None,
    "initialCooldownPeriod": None,
    "idleReplicaCount": None,
    "minReplicaCount": None,
    "maxReplicaCount": None,
    "fallback": {"failureThreshold", "replicas", "behavior"},
    "advanced": {
        "restoreToOriginalReplicaCount",
        "horizontalPodAutoscalerConfig",
        "scalingModifiers",
    },
    "triggers": None,
}
TRIGGER_FIELDS = {"type", "metadata", "name", "useCachedMetrics", "authenticationRef", "metricType"}
REDIS_METADATA = {
    "address", "host", "port", "usernameFromEnv", "passwordFromEnv", "listName", "listLength",
    "activationListLength", "enableTLS", "unsafeSsl", "databaseIndex", "addressFromEnv",
    "hostFromEnv", "portFromEnv",
}  # fmt: skip
REDIS_REQUIRED = {"listName", "listLength"}
REDIS_AUTH_PARAMETERS = {
    "address", "host", "port", "username", "password", "tls", "ca", "cert", "key", "keyPassword",
}  # fmt: skip
HPA_BEHAVIOR_RULE = {"stabilizationWindowSeconds", "selectPolicy", "policies", "tolerance"}
NUMERIC_STRINGS = ("listLength", "activationListLength", "databaseIndex")


def _keda(objects: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        find(objects, "ScaledObject", "matf-executor"),
        find(objects, "TriggerAuthentication", "matf-redis-auth"),
    )


@pytest.mark.parametrize("folder", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_the_scaled_object_uses_only_the_fields_keda_documents(folder: Path) -> None:
    scaled, _auth = _keda(build(folder))
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert set(spec) <= set(SCALED_OBJECT_SPEC)
    for field, known in SCALED_OBJECT_SPEC.items():
        if known is not None and field in spec:
            assert set(spec[field]) <= known, field
    hpa = spec["advanced"]["horizontalPodAutoscalerConfig"]
    assert set(hpa) <= {"name", "behavior"} and set(hpa["behavior"]) <= {"scaleUp", "scaleDown"}
    for rule in hpa["behavior"].values():
        assert set(rule) <= HPA_BEHAVIOR_RULE
        assert all(set(p) == {"type", "value", "periodSeconds"} for p in rule["policies"])
    (trigger,) = spec["triggers"]
    assert set(trigger) <= TRIGGER_FIELDS and trigger["type"] == "redis"
    metadata = trigger["metadata"]
    assert REDIS_REQUIRED <= set(metadata) <= REDIS_METADATA
    # KEDA's metadata values are strings: a YAML number here is refused by the API server
    assert all(isinstance(value, str) for value in metadata.values())
    assert all(metadata[name].isdigit() for name in NUMERIC_STRINGS if name in metadata)
    assert metadata["enableTLS"] in ("true", "false")


@pytest.mark.parametrize("folder", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_the_trigger_authentication_gives_the_redis_password_from_the_secret(folder: Path) -> None:
    objects = build(folder)
    scaled, auth = _keda(objects)
    assert set(auth["spec"]) == {"secretTargetRef"}
    (ref,) = auth["spec"]["secretTargetRef"]
    assert set(ref) == {"parameter", "name", "key"}
    assert ref["parameter"] in REDIS_AUTH_PARAMETERS and ref["parameter"] == "password"
    assert (ref["name"], ref["key"]) == ("matf-secrets", "REDIS_PASSWORD")
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}


@pytest.mark.parametrize("folder", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_the_scaled_object_scales_the_executors_from_one_warm_replica(folder: Path) -> None:
    objects = build(folder)
    scaled, _auth = _keda(objects)
    spec = scaled["spec"]
    executor = find(objects, "Deployment", spec["scaleTargetRef"]["name"])
    assert executor["metadata"]["labels"]["matf.io/queue"] == "executor"
    assert spec["minReplicaCount"] == 1 and spec["maxReplicaCount"] >= 10
    # The HPA owns the count: an apply must not reset it (and cut busy pods)
    assert "replicas" not in executor["spec"]
    # One listLength per replica: as many waiting tests as one pod runs at once
    (container,) = executor["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    (trigger,) = spec["triggers"]
    assert trigger["metadata"]["listLength"] == command[command.index("--concurrency") + 1]
    # KEDA's operator lives in its own namespace: Redis by the Service's full name
    host, port = trigger["metadata"]["address"].rsplit(":", 1)
    service = find(objects, "Service", "matf-redis")
    namespace = service["metadata"]["namespace"]
    assert host in (f"matf-redis.{namespace}.svc", f"matf-redis.{namespace}.svc.cluster.local")
    assert int(port) == service["spec"]["ports"][0]["port"]


def _secret_redis_database() -> int:
    """The database index of REDIS_URL in the Secret's example (the URL MATF uses)."""
    from k8s_manifests import load_documents

    (example,) = load_documents(BASE / "secret.example.yaml")
    return int(example["stringData"]["REDIS_URL"].rsplit("/", 1)[1])


def test_the_list_keda_watches_is_where_celery_puts_executor_tasks(tmp_path: Path) -> None:
    # Given a real Redis and MATF's Celery app on it, and no worker at all
    (trigger,) = _keda(build(BASE))[0]["spec"]["triggers"]
    database = int(trigger["metadata"]["databaseIndex"])
    assert database == _secret_redis_database()
    try:
        server = RedisServer(tmp_path)
    except FileNotFoundError as exc:
        pytest.fail(str(exc))
    url = f"redis://127.0.0.1:{server.port}/{database}"
    app = make_celery(make_settings(tmp_path, redis_url=url))
    client = redis.Redis.from_url(url)
    try:
        # When executor tasks are sent by name, routed by the app's own task routes
        spec = {
            "id": "k8s",
            "name": "k8s",
            "url": "https://example.com/",
            "steps": [{"action": "goto", "url": "https://example.com/"}],
        }
        job = ExecutorJob.model_validate({"run_id": "r-k8s", "spec": spec, "browser": "chromium"})
        for _ in range(3):
            app.send_task("matf.executor.execute", args=[job.model_dump(mode="json")])
        # Then the key the ScaledObject names holds them all, and no priority list any
        assert client.llen(trigger["metadata"]["listName"]) == 3
        with app.connection_for_write() as conn:
            channel = conn.default_channel
            others = [k for k in queue_keys(channel, "executor") if k != "executor"]
        assert others and all(client.llen(key) == 0 for key in others)
    finally:
        client.close()
        app.close()
        server.stop()
