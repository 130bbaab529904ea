"""NetworkAttachmentDefinition objects and the CRD that defines them."""

from __future__ import annotations

from typing import Any

from ..args.nad import RESOURCE_NAME_ANNOTATION
from ..cni.config import CniConfig
from .manifests import crd, manifest, metadata

NAD_GROUP = "k8s.cni.cncf.io"
NAD_VERSION = "v1"
NAD_API_VERSION = f"{NAD_GROUP}/{NAD_VERSION}"
NAD_KIND = "NetworkAttachmentDefinition"
NAD_PLURAL = "network-attachment-definitions"


def nad(name: str, namespace: str, config: CniConfig, *, resource_name: str | None = None,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """A NAD manifest; ``spec.config`` is the CNI JSON, pretty-printed for readable diffs."""
    notes = dict(annotations or {})
    if resource_name:
        notes[RESOURCE_NAME_ANNOTATION] = resource_name
    return manifest(NAD_API_VERSION, NAD_KIND,
                    metadata(name, namespace, labels=labels, annotations=notes),
                    spec={"config": config.to_json()})


def nad_crd() -> dict[str, Any]:
    """The NetworkAttachmentDefinition CRD (v1, namespaced, ``spec.config`` a JSON string)."""
    return crd(NAD_GROUP, NAD_VERSION, NAD_KIND, NAD_PLURAL, "network-attachment-definition",
               ["net-attach-def", "nad"],
               "A network pods can attach to through Multus: spec.config holds the CNI "
               "configuration as JSON.",
               {"type": "object", "properties": {
                   "config": {"type": "string",
                              "description": "CNI configuration (JSON text)."}}},
               spec_required=False)
