"""Builds a kustomization the way `kubectl kustomize` does, for the part of
kustomize these manifests use: resources (files and directories), namespace,
images, and configMapGenerator (literals, files, behavior create or merge)
with kustomize's content-hash name suffix and the references to it. Anything
else in a kustomization.yaml is refused, never ignored, so a manifest this
cannot render fails the check instead of being checked half-rendered.

kubectl is not on every machine that runs `make test`; where it is, check.py
also builds with `kubectl kustomize` and fails when the two differ.
"""

import hashlib
import json
import os

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "images", "configMapGenerator"}
GENERATOR_KEYS = {"name", "literals", "files", "behavior"}
# Kinds without a namespace, which the namespace transformer leaves alone.
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
}


class RenderError(Exception):
    pass


def load_documents(path):
    with open(path, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def build(directory):
    """Every resource of the kustomization in `directory`, as kustomize prints them."""
    resources = _build(os.path.abspath(directory))
    _apply_name_hashes(resources)
    return [r["object"] for r in resources]


def _build(directory):
    path = os.path.join(directory, "kustomization.yaml")
    if not os.path.exists(path):
        raise RenderError(f"{directory}: no kustomization.yaml")
    docs = load_documents(path)
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise RenderError(f"{path}: one mapping expected")
    kustomization = docs[0]
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise RenderError(
            f"{path}: {', '.join(sorted(unknown))} not implemented by check/render.py; "
            "implement it there (and keep `kubectl kustomize` agreeing) before using it"
        )

    resources = []
    for entry in kustomization.get("resources", []):
        target = os.path.normpath(os.path.join(directory, entry))
        if os.path.isdir(target):
            resources.extend(_build(target))
        else:
            resources.extend(
                {"object": doc, "generated": False} for doc in load_documents(target)
            )

    for generator in kustomization.get("configMapGenerator", []):
        _generate_config_map(directory, generator, resources)

    namespace = kustomization.get("namespace")
    if namespace:
        for resource in resources:
            if resource["object"].get("kind") not in CLUSTER_SCOPED:
                resource["object"].setdefault("metadata", {})["namespace"] = namespace

    for image in kustomization.get("images", []):
        _set_image(image, resources)
    return resources


def _generate_config_map(directory, generator, resources):
    unknown = set(generator) - GENERATOR_KEYS
    if unknown:
        raise RenderError(f"configMapGenerator {generator.get('name')}: {sorted(unknown)} not implemented")
    data = {}
    for literal in generator.get("literals", []):
        key, sep, value = literal.partition("=")
        if not sep:
            raise RenderError(f"configMapGenerator literal {literal!r} has no '='")
        # kustomize drops one pair of quotes around a literal's value.
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        data[key] = value
    for entry in generator.get("files", []):
        key, sep, file = entry.partition("=")
        if not sep:
            key, file = os.path.basename(entry), entry
        with open(os.path.join(directory, file), encoding="utf-8") as f:
            data[key] = f.read()

    name = generator["name"]
    behavior = generator.get("behavior", "create")
    if behavior == "create":
        resources.append(
            {
                "object": {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": name},
                    "data": data,
                },
                "generated": True,
            }
        )
        return
    matches = [
        r
        for r in resources
        if r["generated"]
        and r["object"]["kind"] == "ConfigMap"
        and r["object"]["metadata"]["name"] == name
    ]
    if len(matches) != 1:
        raise RenderError(f"configMapGenerator {name}: behavior {behavior} needs one generated ConfigMap of that name")
    if behavior == "merge":
        matches[0]["object"].setdefault("data", {}).update(data)
    elif behavior == "replace":
        matches[0]["object"]["data"] = data
    else:
        raise RenderError(f"configMapGenerator {name}: behavior {behavior!r} unknown")


def _set_image(image, resources):
    unknown = set(image) - {"name", "newName", "newTag", "digest"}
    if unknown:
        raise RenderError(f"images {image.get('name')}: {sorted(unknown)} not implemented")
    for resource in resources:
        for container in pod_containers(resource["object"]):
            current = container.get("image", "")
            name, tag = split_image(current)
            if name != image["name"]:
                continue
            new = image.get("newName", name)
            if "digest" in image:
                container["image"] = f"{new}@{image['digest']}"
            elif "newTag" in image:
                container["image"] = f"{new}:{image['newTag']}"
            else:
                container["image"] = new + tag


def split_image(image):
    """('registry/name', ':tag' or '@digest' or '')."""
    if "@" in image:
        name, _, digest = image.partition("@")
        return name, "@" + digest
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon:]
    return image, ""


def pod_spec(obj):
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        return (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        return (spec.get("template") or {}).get("spec")
    return None


def pod_containers(obj):
    spec = pod_spec(obj) or {}
    return list(spec.get("initContainers", [])) + list(spec.get("containers", []))


def _go_json(value):
    # Go's encoding/json: sorted keys, no spaces, <, > and & escaped.
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def config_map_hash(config_map):
    # kustomize's hasher (api/hasher): sha256 of the JSON of kind, name and
    # data; its lookup of "metadata/name" finds nothing, so the name it
    # hashes is empty. The first ten hex digits, with the letters and digits
    # that could spell words swapped out.
    encoded = {"kind": "ConfigMap", "name": "", "data": config_map.get("data") or {}}
    if config_map.get("binaryData"):
        encoded["binaryData"] = config_map["binaryData"]
    digest = hashlib.sha256(_go_json(encoded).encode("utf-8")).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _apply_name_hashes(resources):
    renamed = {}
    for resource in resources:
        if not resource["generated"]:
            continue
        obj = resource["object"]
        name = obj["metadata"]["name"]
        namespace = obj["metadata"].get("namespace")
        obj["metadata"]["name"] = f"{name}-{config_map_hash(obj)}"
        renamed[(namespace, name)] = obj["metadata"]["name"]
    for resource in resources:
        obj = resource["object"]
        namespace = obj.get("metadata", {}).get("namespace")
        spec = pod_spec(obj)
        if not spec:
            continue

        def rename(holder):
            key = (namespace, holder.get("name"))
            if key in renamed:
                holder["name"] = renamed[key]

        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                rename(volume["configMap"])
            for source in (volume.get("projected") or {}).get("sources", []):
                if "configMap" in source:
                    rename(source["configMap"])
        for container in pod_containers(obj):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    rename(source["configMapRef"])
            for env in container.get("env", []):
                ref = (env.get("valueFrom") or {}).get("configMapKeyRef")
                if ref:
                    rename(ref)


def canonical(resources):
    """Sorted JSON texts of the resources: equal lists mean equal renders."""
    return sorted(json.dumps(r, sort_keys=True) for r in resources)
