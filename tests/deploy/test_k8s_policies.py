"""k8s/ keeps its pods locked down: pod security, resources, and who may talk to whom."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from k8s_manifests import KUSTOMIZATIONS, build, pod_labels, workloads

RENDERED = [(folder.name, build(folder)) for folder in KUSTOMIZATIONS]
IDS = [name for name, _ in RENDERED]
MATF_UID = 10001
# Private, shared (CGNAT), link-local (cloud metadata) and loopback: the cluster's own.
INTERNAL_V4 = [
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")
]
# Pods of other namespaces that may reach one MATF pod, and why: KEDA's operator
# reads the executor queue's length from Redis (k8s/base/keda.yaml).
CROSS_NAMESPACE_EXCEPTIONS = {("redis", "keda", 6379)}


@pytest.mark.parametrize(("name", "objects"), RENDERED, ids=IDS)
def test_every_pod_runs_as_non_root_without_privileges(
    name: str, objects: list[dict[str, Any]]
) -> None:
    problems = []
    for obj, spec in workloads(objects):
        who = f"{obj['kind']}/{obj['metadata']['name']}"
        pod = spec["securityContext"]
        if pod.get("runAsNonRoot") is not True or pod.get("seccompProfile") != {
            "type": "RuntimeDefault"
        }:
            problems.append(f"{who}: pod securityContext {pod}")
        if pod.get("runAsUser") != MATF_UID and obj["metadata"]["name"] != "matf-redis":
            problems.append(f"{who}: runs as {pod.get('runAsUser')}, not MATF's {MATF_UID}")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{who}: mounts a service account token it never uses")
        for container in spec["containers"]:
            ctx = container.get("securityContext", {})
            if (
                ctx.get("allowPrivilegeEscalation") is not False
                or ctx.get("readOnlyRootFilesystem") is not True
                or ctx.get("capabilities") != {"drop": ["ALL"]}
                or ctx.get("privileged")
            ):
                problems.append(f"{who}/{container['name']}: securityContext {ctx}")
    assert problems == []


@pytest.mark.parametrize(("name", "objects"), RENDERED, ids=IDS)
def test_read_only_pods_get_a_writable_tmp_and_browsers_a_memory_shm(
    name: str, objects: list[dict[str, Any]]
) -> None:
    for obj, spec in workloads(objects):
        if obj["metadata"]["name"] == "matf-redis":
            continue
        volumes = {v["name"]: v for v in spec["volumes"]}
        (container,) = spec["containers"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], obj["metadata"]["name"]
        if pod_labels(obj).get("matf.io/browser-egress") == "true":
            shm = volumes[mounts["/dev/shm"]]["emptyDir"]
            assert shm["medium"] == "Memory" and shm["sizeLimit"]


@pytest.mark.parametrize(("name", "objects"), RENDERED, ids=IDS)
def test_every_container_has_requests_and_limits(name: str, objects: list[dict[str, Any]]) -> None:
    missing = [
        f"{obj['metadata']['name']}/{c['name']}"
        for obj, spec in workloads(objects)
        for c in spec["containers"]
        if not all(
            c.get("resources", {}).get(k, {}).keys() >= {"cpu", "memory"}
            for k in ("requests", "limits")
        )
    ]
    assert missing == []


def test_executor_resources_are_the_guides_test_executor() -> None:
    objects = build(KUSTOMIZATIONS[0])
    (executor,) = [o for o, _ in workloads(objects) if o["metadata"]["name"] == "matf-executor"]
    (container,) = executor["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}  # 2 CPU / 2GB


def _policies(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == "NetworkPolicy"]


def _selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = policy["spec"]["podSelector"].get("matchLabels", {})
    return bool(wanted.items() <= labels.items())


def _component(labels: dict[str, str]) -> str:
    return labels.get("app.kubernetes.io/component", "?")


@pytest.mark.parametrize(("name", "objects"), RENDERED, ids=IDS)
def test_everything_is_denied_unless_a_policy_allows_it(
    name: str, objects: list[dict[str, Any]]
) -> None:
    deny = [p for p in _policies(objects) if p["metadata"]["name"] == "default-deny-all"]
    (policy,) = deny
    assert policy["spec"]["podSelector"] == {}
    assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in policy["spec"] and "egress" not in policy["spec"]


@pytest.mark.parametrize(("name", "objects"), RENDERED, ids=IDS)
def test_only_the_api_admits_traffic_from_outside_the_namespace(
    name: str, objects: list[dict[str, Any]]
) -> None:
    pods = [pod_labels(obj) for obj, _ in workloads(objects)]
    admitted = set()
    for policy in _policies(objects):
        for rule in policy["spec"].get("ingress", []):
            peers = rule.get("from")
            ports = {p["port"] for p in rule.get("ports", [])} or {"any"}
            outsiders = (
                ["anywhere"]
                if not peers
                else [
                    p["namespaceSelector"]
                    .get("matchLabels", {})
                    .get("kubernetes.io/metadata.name", "any namespace")
                    if "namespaceSelector" in p
                    else "ipBlock"
                    for p in peers
                    if "namespaceSelector" in p or "ipBlock" in p
                ]
            )
            for labels in pods:
                if _selects(policy, labels):
                    admitted |= {(_component(labels), o, port) for o in outsiders for port in ports}
    assert {c for c, _, _ in admitted - CROSS_NAMESPACE_EXCEPTIONS} == {"api"}
    assert {(o, port) for c, o, port in admitted if c == "api"} == {
        ("ingress-nginx", 3000),
        ("monitoring", 3000),
    }


@pytest.mark.parametrize(("name", "objects"), RENDERED, ids=IDS)
def test_redis_admits_only_matf_pods_and_kedas_operator(
    name: str, objects: list[dict[str, Any]]
) -> None:
    redis = {"app.kubernetes.io/name": "matf", "app.kubernetes.io/component": "redis"}
    peers = [
        peer
        for policy in _policies(objects)
        if _selects(policy, redis)
        for rule in policy["spec"].get("ingress", [])
        for peer in rule["from"]
    ]
    assert peers == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "matf"}}},
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}},
            "podSelector": {"matchLabels": {"app": "keda-operator"}},
        },
    ]


@pytest.mark.parametrize(("name", "objects"), RENDERED, ids=IDS)
def test_only_browser_pools_reach_the_internet_and_never_internal_addresses(
    name: str, objects: list[dict[str, Any]]
) -> None:
    internet = {}
    for obj, _ in workloads(objects):
        labels = pod_labels(obj)
        blocks = [
            peer["ipBlock"]
            for policy in _policies(objects)
            if _selects(policy, labels)
            for rule in policy["spec"].get("egress", [])
            for peer in rule.get("to", [])
            if "ipBlock" in peer
        ]
        if blocks:
            internet[obj["metadata"]["name"]] = blocks
    assert set(internet) == {"matf-executor", "matf-writer", "matf-context"}
    for blocks in internet.values():
        (v4,) = [b for b in blocks if b["cidr"] == "0.0.0.0/0"]
        excepted = [ipaddress.ip_network(n) for n in v4["except"]]
        for internal in INTERNAL_V4:
            assert any(internal.subnet_of(e) for e in excepted), internal  # type: ignore[arg-type]
        assert all(b["cidr"] in ("0.0.0.0/0", "::/0") for b in blocks)


@pytest.mark.parametrize(("name", "objects"), RENDERED, ids=IDS)
def test_no_egress_rule_opens_every_port_to_every_peer(
    name: str, objects: list[dict[str, Any]]
) -> None:
    # An egress rule with neither peers nor ports would undo default deny
    for policy in _policies(objects):
        for rule in policy["spec"].get("egress", []):
            assert rule.get("to") or rule.get("ports"), policy["metadata"]["name"]
