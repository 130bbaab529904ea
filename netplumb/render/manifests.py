"""The words every add-on's manifests are written in: metadata, Namespace, ServiceAccount,
ClusterRole and its binding, ConfigMap, DaemonSet, CRD and host-path volumes. Each
builder returns a plain manifest dict; the add-on modules say only what is theirs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

MANAGED_BY = {"app.kubernetes.io/managed-by": "netplumb"}
"""The label on every object netplumb renders."""
RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_API = f"{RBAC_GROUP}/v1"


def metadata(name: str, namespace: str | None = None, *,
             labels: Mapping[str, str] | None = None,
             annotations: Mapping[str, str] | None = None,
             managed: bool = True) -> dict[str, Any]:
    """``metadata``: name, namespace, labels (netplumb's managed-by label first, unless
    ``managed`` is false) and annotations (left out when empty)."""
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = {**(MANAGED_BY if managed else {}), **(labels or {})}
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def manifest(api_version: str, kind: str, meta: dict[str, Any], **body: Any
             ) -> dict[str, Any]:
    """An object: ``apiVersion``, ``kind``, ``metadata``, then ``body`` in the order given."""
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **body}


def namespace(name: str, labels: Mapping[str, str] | None = None, *,
              managed: bool = True) -> dict[str, Any]:
    return manifest("v1", "Namespace", metadata(name, labels=labels, managed=managed))


def service_account(name: str, namespace: str, labels: Mapping[str, str] | None = None
                    ) -> dict[str, Any]:
    return manifest("v1", "ServiceAccount", metadata(name, namespace, labels=labels))


def cluster_role(name: str, rules: Sequence[Mapping[str, Any]],
                 labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    return manifest(RBAC_API, "ClusterRole", metadata(name, labels=labels),
                    rules=[dict(r) for r in rules])


def rule(groups: Sequence[str], resources: Sequence[str], verbs: Sequence[str]
         ) -> dict[str, Any]:
    """One RBAC rule."""
    return {"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs)}


def service_account_subject(name: str, namespace: str) -> dict[str, Any]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def role_binding(name: str, cluster_role: str, subjects: Sequence[Mapping[str, Any]],
                 labels: Mapping[str, str] | None = None, *,
                 namespace: str | None = None) -> dict[str, Any]:
    """A binding of ``cluster_role``: cluster-wide (ClusterRoleBinding), or in
    ``namespace`` only (RoleBinding)."""
    return manifest(RBAC_API, "RoleBinding" if namespace else "ClusterRoleBinding",
                    metadata(name, namespace, labels=labels),
                    roleRef={"apiGroup": RBAC_GROUP, "kind": "ClusterRole",
                             "name": cluster_role},
                    subjects=[dict(s) for s in subjects])


def service_account_with_role(name: str, namespace: str, rules: Sequence[Mapping[str, Any]],
                              labels: Mapping[str, str] | None = None
                              ) -> list[dict[str, Any]]:
    """The identity of a cluster-wide agent, all named ``name``: its ClusterRole of
    ``rules``, the binding of that role to its ServiceAccount, and the ServiceAccount."""
    return [cluster_role(name, rules, labels),
            role_binding(name, name, [service_account_subject(name, namespace)], labels),
            service_account(name, namespace, labels)]


def json_file(obj: Any) -> str:
    """A JSON file's text as a ConfigMap carries it (indented, final newline)."""
    return json.dumps(obj, indent=2) + "\n"


def config_map(name: str, namespace: str, data: Mapping[str, str],
               labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    return manifest("v1", "ConfigMap", metadata(name, namespace, labels=labels),
                    data=dict(data))


def host_volume(name: str, path: str, kind: str | None = None) -> dict[str, Any]:
    """A ``hostPath`` volume (``kind``: DirectoryOrCreate, FileOrCreate, …)."""
    host: dict[str, Any] = {"path": path}
    if kind:
        host["type"] = kind
    return {"name": name, "hostPath": host}


def config_map_volume(name: str, config_map: str, *files: str) -> dict[str, Any]:
    """A volume of a ConfigMap's keys as files (``files``: only those, each under its own
    name)."""
    source: dict[str, Any] = {"name": config_map}
    if files:
        source["items"] = [{"key": f, "path": f} for f in files]
    return {"name": name, "configMap": source}


def field_env(name: str, field_path: str) -> dict[str, Any]:
    """An environment variable set from the pod's own fields (``metadata.name``, …)."""
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field_path}}}


def installer_resources() -> dict[str, Any]:
    """What an init container that copies a binary onto the node asks for."""
    return {"requests": {"cpu": "10m", "memory": "15Mi"}}


def resources_if_set(resources: Mapping[str, Any]) -> dict[str, Any]:
    """A container's ``resources`` entry, or no entry where none are set (to spread into the
    container: ``{..., **resources_if_set(args.resources.to_dict())}``)."""
    return {"resources": dict(resources)} if resources else {}


FlagValue = str | int | bool | list[str] | None


def flags(*options: tuple[str, FlagValue]) -> list[str]:
    """Command-line flags of the options that are set, in order: ``--name`` for True,
    ``--name=a,b`` for a list, ``--name=value`` for any other value; none for None, False,
    ``""`` and ``[]``."""
    out: list[str] = []
    for name, value in options:
        if value is None or value is False or value == "" or value == []:
            continue
        if value is True:
            out.append(f"--{name}")
        else:
            out.append(f"--{name}={','.join(value) if isinstance(value, list) else value}")
    return out


def mount(name: str, path: str, **options: Any) -> dict[str, Any]:
    """A container's ``volumeMounts`` entry (``readOnly``, ``mountPropagation``, …)."""
    return {"name": name, "mountPath": path, **options}


def placed(pod_spec: dict[str, Any], priority_class_name: str | None,
           node_selector: Mapping[str, str]) -> dict[str, Any]:
    """``pod_spec`` with its priority class and node selector, where set."""
    if priority_class_name:
        pod_spec["priorityClassName"] = priority_class_name
    if node_selector:
        pod_spec["nodeSelector"] = dict(node_selector)
    return pod_spec


CONFIG_DIGEST_ANNOTATION = "netplumb.dev/config-digest"
"""On a pod template: a digest of the ConfigMap data its pods read once at start, so a change
of that configuration rolls the pods (a ConfigMap change alone restarts nothing)."""


def config_digest(*data: Mapping[str, str]) -> str:
    """A short stable digest of ConfigMap ``data`` (for :data:`CONFIG_DIGEST_ANNOTATION`)."""
    text = json.dumps(list(data), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def daemonset(name: str, namespace: str, labels: Mapping[str, str],
              selector: Mapping[str, str], pod_spec: Mapping[str, Any], *,
              config: Sequence[Mapping[str, str]] = ()) -> dict[str, Any]:
    """A DaemonSet updated node by node; its pods carry ``labels`` and ``selector``, and
    (``config``: the data of the ConfigMaps they read at start) a digest of that data, so
    a configuration change rolls them."""
    template_labels = {**MANAGED_BY, **labels, **selector}
    template: dict[str, Any] = {"labels": template_labels}
    if config:
        template["annotations"] = {CONFIG_DIGEST_ANNOTATION: config_digest(*config)}
    return manifest("apps/v1", "DaemonSet", metadata(name, namespace, labels=labels),
                    spec={"selector": {"matchLabels": dict(selector)},
                          "updateStrategy": {"type": "RollingUpdate"},
                          "template": {"metadata": template, "spec": dict(pod_spec)}})


def deployment(name: str, namespace: str, labels: Mapping[str, str],
               selector: Mapping[str, str], pod_spec: Mapping[str, Any], *,
               replicas: int = 1) -> dict[str, Any]:
    """A Deployment of ``replicas`` pods carrying ``labels`` and ``selector``."""
    template_labels = {**MANAGED_BY, **labels, **selector}
    return manifest("apps/v1", "Deployment", metadata(name, namespace, labels=labels),
                    spec={"replicas": replicas, "selector": {"matchLabels": dict(selector)},
                          "template": {"metadata": {"labels": template_labels},
                                       "spec": dict(pod_spec)}})


def object_schema(description: str | None, properties: Mapping[str, Any],
                  required: Sequence[str] = ()) -> dict[str, Any]:
    """An OpenAPI object schema of ``properties`` (a CRD's), with its description and the
    properties it requires, where given."""
    out: dict[str, Any] = {"type": "object"}
    if description is not None:
        out["description"] = description
    out["properties"] = dict(properties)
    if required:
        out["required"] = list(required)
    return out


def crd(group: str, version: str, kind: str, plural: str, singular: str,
        short_names: Sequence[str], description: str, spec_schema: Mapping[str, Any], *,
        spec_required: bool = True,
        status_schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A namespaced CustomResourceDefinition of one served, stored version, whose schema
    types the envelope and gives ``spec`` as ``spec_schema`` (and ``status`` as
    ``status_schema``: a plain field, not the status subresource)."""
    schema: dict[str, Any] = {
        "type": "object",
        "description": description,
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": dict(spec_schema),
        },
    }
    if status_schema is not None:
        schema["properties"]["status"] = dict(status_schema)
    if spec_required:
        schema["required"] = ["spec"]
    return manifest(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition",
        metadata(f"{plural}.{group}"),
        spec={"group": group, "scope": "Namespaced",
              "names": {"plural": plural, "singular": singular, "kind": kind,
                        **({"shortNames": list(short_names)} if short_names else {})},
              "versions": [{"name": version, "served": True, "storage": True,
                            "schema": {"openAPIV3Schema": schema}}]})
