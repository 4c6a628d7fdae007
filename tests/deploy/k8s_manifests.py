"""Read k8s/ as kustomize would, without kustomize: resources, patches, namespace, images.

No kustomize binary installs offline here (Debian and PyPI have none for
Python 3.11), so the tests resolve each kustomization in Python: every listed
resource must exist, every patch must hit a real object (a patch that matches
nothing fails, where kustomize would fail too), and the rendered objects are
what the tests validate. Only the kustomize features k8s/ uses are supported;
anything else fails loudly rather than being skipped.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
BASE = K8S / "base"
OVERLAYS = sorted(p for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
KUSTOMIZATIONS = [BASE, *OVERLAYS]
KNOWN_FIELDS = {"apiVersion", "kind", "namespace", "resources", "images", "patches"}
# A list item's identity in a strategic merge patch, per list (Kubernetes' patchMergeKey).
MERGE_KEYS = {"volumeMounts": "mountPath", "ports": "containerPort"}
CLUSTER_SCOPED = {"Namespace"}
Object = dict[str, Any]


class KustomizeError(AssertionError):
    """The kustomization does not resolve: a missing file, a patch that hits nothing."""


def load_documents(path: Path) -> list[Object]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def kustomization(folder: Path) -> dict[str, Any]:
    found = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
    unknown = set(found) - KNOWN_FIELDS
    if unknown:
        raise KustomizeError(f"{folder}: kustomization fields this reader does not know: {unknown}")
    return dict(found)


def build(folder: Path) -> list[Object]:
    """The objects ``kustomize build folder`` would print (for the features k8s/ uses)."""
    spec = kustomization(folder)
    objects: list[Object] = []
    for entry in spec.get("resources", []):
        path = (folder / entry).resolve()
        if path.is_dir():
            objects += build(path)
        elif path.is_file():
            objects += load_documents(path)
        else:
            raise KustomizeError(f"{folder}/kustomization.yaml lists {entry}, which does not exist")
    for patch in spec.get("patches", []):
        objects = _patch(folder, objects, patch)
    if "namespace" in spec:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj.setdefault("metadata", {})["namespace"] = spec["namespace"]
    for image in spec.get("images", []):
        for container in containers(objects):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
    return objects


def _patch(folder: Path, objects: list[Object], patch: dict[str, Any]) -> list[Object]:
    text = patch["patch"] if "patch" in patch else (folder / patch["path"]).read_text("utf-8")
    docs = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    if len(docs) == 1 and isinstance(docs[0], list):  # a JSON 6902 patch
        if "target" not in patch:
            raise KustomizeError(f"{folder}: a JSON 6902 patch needs a target")
        for obj in _targets(folder, objects, patch["target"]):
            for op in docs[0]:
                _json6902(obj, op)
        return objects
    for doc in docs:
        target = patch.get("target") or {"kind": doc["kind"], "name": doc["metadata"]["name"]}
        hit = _targets(folder, objects, target)
        if doc.get("$patch") == "delete":
            objects = [obj for obj in objects if not any(obj is h for h in hit)]
            continue
        body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
        body["metadata"] = {k: v for k, v in doc.get("metadata", {}).items() if k != "name"}
        for obj in hit:
            merged = merge(obj, body)
            obj.clear()
            obj.update(merged)
    return objects


def _targets(folder: Path, objects: list[Object], target: dict[str, Any]) -> list[Object]:
    selector = dict(
        part.split("=", 1) for part in target.get("labelSelector", "").split(",") if part
    )
    hit = [
        obj
        for obj in objects
        if obj["kind"] == target.get("kind", obj["kind"])
        and re.fullmatch(target.get("name", ".*"), obj["metadata"]["name"])
        and selector.items() <= obj["metadata"].get("labels", {}).items()
    ]
    if not hit:
        raise KustomizeError(f"{folder}: a patch targets {target}, which matches no object")
    return hit


def merge(base: Any, patch: Any, key: str = "") -> Any:
    """Strategic merge, as far as k8s/ needs it: maps merge, null deletes, named lists merge."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for name, value in patch.items():
            if value is None:
                out.pop(name, None)
            elif name in out:
                out[name] = merge(out[name], value, name)
            else:
                out[name] = copy.deepcopy(value)
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) for i in patch)
    ):
        merge_key = MERGE_KEYS.get(key, "name")
        out_list = list(base)
        for item in patch:
            index = next(
                (i for i, old in enumerate(out_list) if old.get(merge_key) == item[merge_key]),
                None,
            )
            if item.get("$patch") == "delete":
                if index is None:
                    raise KustomizeError(f"$patch: delete of {item} in {key}: no such item")
                del out_list[index]
            elif index is None:
                out_list.append(copy.deepcopy(item))
            else:
                out_list[index] = merge(out_list[index], item, key)
        return out_list
    return copy.deepcopy(patch)


def _json6902(obj: Object, op: dict[str, Any]) -> None:
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    node: Any = obj
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if op["op"] == "remove":
        if isinstance(node, list):
            del node[int(last)]
        elif last not in node:
            raise KustomizeError(f"remove {op['path']}: no such field")
        else:
            del node[last]
    elif op["op"] in ("add", "replace"):
        if isinstance(node, list):
            if last == "-":
                node.append(op["value"])
            elif op["op"] == "add":
                node.insert(int(last), op["value"])
            else:
                node[int(last)] = op["value"]
        else:
            if op["op"] == "replace" and last not in node:
                raise KustomizeError(f"replace {op['path']}: no such field")
            node[last] = op["value"]
    else:
        raise KustomizeError(f"JSON 6902 op {op['op']!r} is not supported here")


def pod_spec(obj: Object) -> Object | None:
    """The pod template's spec of a workload (None for other kinds)."""
    if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return dict(obj["spec"]["template"]["spec"])
    if obj["kind"] == "CronJob":
        return dict(obj["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    if obj["kind"] == "Pod":
        return dict(obj["spec"])
    return None


def pod_labels(obj: Object) -> dict[str, str]:
    if obj["kind"] == "CronJob":
        return dict(obj["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"])
    return dict(obj["spec"]["template"]["metadata"]["labels"])


def workloads(objects: list[Object]) -> Iterator[tuple[Object, Object]]:
    for obj in objects:
        spec = pod_spec(obj)
        if spec is not None:
            yield obj, spec


def containers(objects: list[Object]) -> Iterator[Object]:
    for _obj, spec in workloads(objects):
        yield from spec.get("initContainers", [])
        yield from spec["containers"]


def find(objects: list[Object], kind: str, name: str) -> Object:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def env_of(container: Object, config: Object) -> dict[str, str]:
    """A container's plain environment: its ConfigMap's values, then its own ``env``."""
    values: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if source.get("configMapRef", {}).get("name") == config["metadata"]["name"]:
            values.update(config["data"])
    for item in container.get("env", []):
        if "value" in item:
            values[item["name"]] = item["value"]
    return values
