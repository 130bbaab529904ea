"""NetworkAttachmentDefinition objects and the CRD that defines them."""

from __future__ import annotations

from typing import Any

from ..args.nad import RESOURCE_NAME_ANNOTATION
from ..cni.config import CniConfig

NAD_GROUP = "k8s.cni.cncf.io"
NAD_VERSION = "v1"
NAD_API_VERSION = f"{NAD_GROUP}/{NAD_VERSION}"
NAD_KIND = "NetworkAttachmentDefinition"
NAD_PLURAL = "network-attachment-definitions"
MANAGED_BY = {"app.kubernetes.io/managed-by": "netplumb"}


def nad(name: str, namespace: str, config: CniConfig, *, resource_name: str | None = None,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """A NAD manifest; ``spec.config`` is the CNI JSON, pretty-printed for readable diffs."""
    notes = dict(annotations or {})
    if resource_name:
        notes[RESOURCE_NAME_ANNOTATION] = resource_name
    meta: dict[str, Any] = {"name": name, "namespace": namespace,
                            "labels": {**MANAGED_BY, **(labels or {})}}
    if notes:
        meta["annotations"] = notes
    return {"apiVersion": NAD_API_VERSION, "kind": NAD_KIND, "metadata": meta,
            "spec": {"config": config.to_json()}}


def nad_crd() -> dict[str, Any]:
    """The NetworkAttachmentDefinition CRD (v1, namespaced, ``spec.config`` a JSON string)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{NAD_PLURAL}.{NAD_GROUP}", "labels": dict(MANAGED_BY)},
        "spec": {
            "group": NAD_GROUP,
            "scope": "Namespaced",
            "names": {"plural": NAD_PLURAL, "singular": "network-attachment-definition",
                      "kind": NAD_KIND, "shortNames": ["net-attach-def", "nad"]},
            "versions": [{
                "name": NAD_VERSION, "served": True, "storage": True,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "description": "A network pods can attach to through Multus: "
                                   "spec.config holds the CNI configuration as JSON.",
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": {"type": "object", "properties": {
                            "config": {"type": "string",
                                       "description": "CNI configuration (JSON text)."}}},
                    },
                }},
            }],
        },
    }
