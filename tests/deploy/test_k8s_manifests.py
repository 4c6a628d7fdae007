"""k8s/ validates offline and resolves: schemas, kustomizations, the workloads' contracts.

kubernetes-validate (PyPI) checks every object against the Kubernetes API's
own schemas, strictly (no unknown field). KEDA's kinds are custom resources it
has no schema for: tests/deploy/test_k8s_keda.py checks those.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from k8s_manifests import (
    BASE,
    KUSTOMIZATIONS,
    OVERLAYS,
    ROOT,
    build,
    containers,
    env_of,
    find,
    kustomization,
    load_documents,
    pod_labels,
    workloads,
)

from matf.agents import AGENTS
from matf.settings import Settings

# The oldest Kubernetes the manifests promise (CronJob timeZone is GA since 1.27),
# and the newest kubernetes-validate knows.
VERSIONS = ("1.30.0", kubernetes_validate.utils.latest_version())
CUSTOM_KINDS = {("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication")}
NAMESPACE = "matf"
CLI = Path(sys.executable).with_name("kubernetes-validate")


def _rendered() -> list[tuple[str, list[dict[str, Any]]]]:
    return [(folder.name, build(folder)) for folder in KUSTOMIZATIONS]


RENDERED = _rendered()


def _base_files() -> list[Path]:
    return sorted(BASE.glob("*.yaml"))


@pytest.mark.parametrize("version", VERSIONS)
def test_every_base_manifest_validates_with_kubernetes_validate(version: str) -> None:
    # Given every manifest file of the base (the Secret's example included), not the kustomization
    files = [p for p in _base_files() if p.name != "kustomization.yaml"]
    # When the real tool checks them, strictly
    done = subprocess.run(
        [str(CLI), "--strict", "-k", version, *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    # Then every object passed, and only KEDA's custom kinds had no schema
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    passed = [line for line in lines if line.startswith("INFO") and " passed " in line]
    others = [line for line in lines if line not in passed]
    assert all("keda.sh/v1alpha1" in line and line.startswith("WARN") for line in others), others
    expected = sum(len(load_documents(p)) for p in files) - sum(
        (d["apiVersion"], d["kind"]) in CUSTOM_KINDS for p in files for d in load_documents(p)
    )
    assert len(passed) == expected


@pytest.mark.parametrize(("name", "objects"), RENDERED, ids=[name for name, _ in RENDERED])
@pytest.mark.parametrize("version", VERSIONS)
def test_every_rendered_object_of_each_kustomization_validates(
    name: str, objects: list[dict[str, Any]], version: str
) -> None:
    failures = {}
    for obj in objects:
        if (obj["apiVersion"], obj["kind"]) in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            failures[f"{obj['kind']}/{obj['metadata']['name']}"] = exc.message
    assert failures == {}
    assert {(o["apiVersion"], o["kind"]) for o in objects} >= CUSTOM_KINDS  # KEDA in every build


@pytest.mark.parametrize("folder", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_each_kustomization_lists_only_files_that_exist(folder: Path) -> None:
    spec = kustomization(folder)
    missing = [entry for entry in spec["resources"] if not (folder / entry).exists()]
    assert missing == []
    assert "secret.example.yaml" not in spec["resources"]  # an example is never applied


def test_every_base_file_is_in_the_kustomization_but_the_secret_example() -> None:
    listed = set(kustomization(BASE)["resources"])
    on_disk = {p.name for p in _base_files()} - {"kustomization.yaml"}
    assert on_disk - listed == {"secret.example.yaml"}


@pytest.mark.parametrize(("name", "objects"), RENDERED, ids=[name for name, _ in RENDERED])
def test_every_object_is_in_the_matf_namespace(name: str, objects: list[dict[str, Any]]) -> None:
    outside = [
        f"{o['kind']}/{o['metadata']['name']}"
        for o in objects
        if o["kind"] != "Namespace" and o["metadata"].get("namespace") != NAMESPACE
    ]
    assert outside == []
    (namespace,) = [o for o in objects if o["kind"] == "Namespace"]
    assert namespace["metadata"]["name"] == NAMESPACE
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("folder", OVERLAYS, ids=lambda p: p.name)
def test_overlay_patches_change_what_they_claim(folder: Path) -> None:
    objects = build(folder)
    images = {c["image"] for c in containers(objects) if not c["image"].startswith("redis:")}
    assert images == {"registry.example.com/matf:0.1.0"}
    if folder.name != "postgresql":
        return
    # The database leaves the node: no database client mounts matf-data or needs its node
    for queue in ("api", "context", "writer", "reporter", "optimizer", "logger"):
        deployment = find(objects, "Deployment", f"matf-{queue}")
        spec = deployment["spec"]["template"]["spec"]
        assert deployment["spec"]["replicas"] == 2
        assert "affinity" not in spec and "data" not in {v["name"] for v in spec["volumes"]}
        (container,) = spec["containers"]
        url = {e["name"]: e for e in container["env"]}["DATABASE_URL"]
        assert url["valueFrom"]["secretKeyRef"] == {"name": "matf-secrets", "key": "DATABASE_URL"}
    assert "DATABASE_URL" not in find(objects, "ConfigMap", "matf-config")["data"]
    assert not [o for o in objects if o["kind"] == "CronJob"]


def _base() -> list[dict[str, Any]]:
    return build(BASE)


def _pool(objects: list[dict[str, Any]], queue: str) -> dict[str, Any]:
    return find(objects, "Deployment", f"matf-{queue}")


def _container(deployment: str) -> dict[str, Any]:
    (container,) = find(_base(), "Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_one_deployment_per_agent_queue_runs_a_celery_worker_on_that_queue() -> None:
    objects = _base()
    for queue in AGENTS:
        (container,) = _pool(objects, queue)["spec"]["template"]["spec"]["containers"]
        command = container["command"]
        assert command[:4] == ["celery", "-A", "tasks", "worker"]
        assert command[command.index("-Q") + 1] == queue
        assert command[command.index("-n") + 1] == f"{queue}@%h"
        # a hung worker is restarted: the image's probe pings this node through the broker
        assert container["livenessProbe"]["exec"]["command"] == ["matf", "healthcheck"]
    beat = _container("matf-beat")
    assert beat["livenessProbe"]["exec"]["command"] == ["matf", "healthcheck"]


def _grace_needed() -> dict[str, float]:
    """What the executor's grace period must outlast: MATF's defaults, or the ConfigMap's values."""
    config = find(_base(), "ConfigMap", "matf-config")["data"]
    fields = Settings.model_fields
    return {
        "TEST_TIMEOUT": int(config.get("TEST_TIMEOUT", fields["test_timeout"].default)) / 1000,
        "WORKER_SOFT_SHUTDOWN_TIMEOUT": float(
            config.get(
                "WORKER_SOFT_SHUTDOWN_TIMEOUT", fields["worker_soft_shutdown_timeout"].default
            )
        ),
    }


def test_executor_grace_period_outlasts_the_test_timeout() -> None:
    spec = _pool(_base(), "executor")["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] > _grace_needed()["TEST_TIMEOUT"]


def test_executor_grace_period_outlasts_celerys_soft_shutdown() -> None:
    # The soft phase sleeps its whole timeout when a task runs at SIGTERM, then
    # re-queues what is left: SIGKILL must come after, or the test is lost until
    # the supervisor or the visibility timeout hands it out again.
    spec = _pool(_base(), "executor")["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] > _grace_needed()["WORKER_SOFT_SHUTDOWN_TIMEOUT"]


def test_a_sigterm_starts_the_soft_shutdown_of_every_worker_pool() -> None:
    # Celery answers SIGTERM with a warm shutdown, which never times out; only its
    # cold shutdown has the soft phase. billiard remaps SIGTERM when told to.
    objects = _base()
    config = find(objects, "ConfigMap", "matf-config")
    for queue in AGENTS:
        (container,) = _pool(objects, queue)["spec"]["template"]["spec"]["containers"]
        assert env_of(container, config).get("REMAP_SIGTERM") == "SIGQUIT", queue


def test_backup_cronjob_runs_daily_at_0230_and_keeps_14_on_its_own_volume() -> None:
    from cli.commands.backup import backup

    job = find(_base(), "CronJob", "matf-sqlite-backup")
    assert job["spec"]["schedule"] == "30 2 * * *"
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    spec = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    script = container["command"][-1]
    steps = [shlex.split(step) for step in script.split("&&")]
    assert steps == [["matf", "backup", "create"], ["matf", "backup", "prune", "--keep", "14"]]
    # The options it uses are the real command's
    prune = backup.commands["prune"]  # type: ignore[attr-defined]
    assert "--keep" in {opt for p in prune.params for opt in p.opts}
    # Onto matf-backups, which BACKUP_PATH names, apart from the context pool's backups
    env = {e["name"]: e.get("value") for e in container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    claims = {
        v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in spec["volumes"]
    }
    assert claims["backups"] == "matf-backups" and mounts["backups"] == env["BACKUP_PATH"]
    assert claims["data"] == "matf-data"
    config = find(_base(), "ConfigMap", "matf-config")["data"]
    assert config["BACKUP_PATH"] != env["BACKUP_PATH"]


def test_every_pod_that_opens_the_sqlite_database_shares_one_node() -> None:
    # Given the pools that open sessions (tasks/*.py), the API, beat and the backup job
    objects = _base()
    mounting = {
        obj["metadata"]["name"]
        for obj, spec in workloads(objects)
        if any(
            v.get("persistentVolumeClaim", {}).get("claimName") == "matf-data"
            for v in spec.get("volumes", [])
        )
    }
    control = {f"matf-{q}" for q in AGENTS if q != "executor"}
    assert mounting == control | {"matf-api", "matf-beat", "matf-sqlite-backup"}
    # Then each carries the shared label and requires a node that runs a pod with it
    for obj, spec in workloads(objects):
        if obj["metadata"]["name"] not in mounting:
            continue
        assert pod_labels(obj)["matf.io/data-volume"] == "matf-data"
        (term,) = spec["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["topologyKey"] == "kubernetes.io/hostname"
        assert term["labelSelector"]["matchLabels"] == {"matf.io/data-volume": "matf-data"}
    # And the executors, which never open the database, run anywhere
    executor = _pool(objects, "executor")["spec"]["template"]["spec"]
    assert "affinity" not in executor


def test_storage_is_read_write_many_only_where_pods_on_several_nodes_mount_it() -> None:
    claims = {o["metadata"]["name"]: o for o in _base() if o["kind"] == "PersistentVolumeClaim"}
    assert claims["matf-data"]["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claims["matf-backups"]["spec"]["accessModes"] == ["ReadWriteOnce"]
    # SQLite: every pod that mounts matf-storage is on the data node (executors mount nothing)
    assert claims["matf-storage"]["spec"]["accessModes"] == ["ReadWriteOnce"]
    executor = _pool(_base(), "executor")["spec"]["template"]["spec"]
    assert all("persistentVolumeClaim" not in volume for volume in executor["volumes"])
    # PostgreSQL: the pools spread over nodes, and share it
    spread = build(BASE.parent / "overlays" / "postgresql")
    storage = find(spread, "PersistentVolumeClaim", "matf-storage")
    assert storage["spec"]["accessModes"] == ["ReadWriteMany"]


def test_beat_is_one_replica_replaced_never_doubled() -> None:
    beat = find(_base(), "Deployment", "matf-beat")
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"] == {"type": "Recreate"}


def test_api_probes_and_port() -> None:
    container = _container("matf-api")
    assert container["command"] == ["matf", "serve", "--host", "0.0.0.0"]
    assert container["ports"] == [{"name": "http", "containerPort": 3000}]
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/v1/system/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"


def test_flower_purges_offline_workers_and_asks_for_basic_auth_from_the_secret() -> None:
    container = _container("matf-flower")
    assert any(arg.startswith("--purge_offline_workers=") for arg in container["command"])
    env = {e["name"]: e for e in container["env"]}
    ref = env["FLOWER_BASIC_AUTH"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "matf-secrets", "key": "FLOWER_BASIC_AUTH"}


def test_the_secret_example_holds_placeholders_for_every_key_the_manifests_read() -> None:
    (example,) = load_documents(BASE / "secret.example.yaml")
    values = example["stringData"]
    assert all(not v or "change-me" in v for v in values.values()), values
    read = set()
    for container in containers(_base()):
        for item in container.get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                read.add(ref["key"])
    for _name, objects in RENDERED:
        for obj in objects:
            for ref in obj.get("spec", {}).get("secretTargetRef", []):
                read.add(ref["key"])
    assert read - {"DATABASE_URL"} <= set(values)  # DATABASE_URL: the postgresql overlay's


def test_no_manifest_carries_a_real_secret() -> None:
    secrets = [
        f"{p.relative_to(ROOT)}"
        for p in (ROOT / "k8s").rglob("*.yaml")
        for d in load_documents(p)
        if isinstance(d, dict) and d.get("kind") == "Secret" and p.name != "secret.example.yaml"
    ]
    assert secrets == []
