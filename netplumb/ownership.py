"""Who owns an object in the cluster, and what a stack may do to objects others own.

Several stacks (a platform team's, many application teams') share one cluster. netplumb marks
every object it registers with the owning stack (annotation ``netplumb.dev/owner``:
``<project>/<stack>``) and keeps three rules:

* **No silent takeover.** Before anything registers, the objects a stack would create that
  are cluster-wide (cluster-scoped kinds, and everything a platform install places) are read
  from the cluster; one that exists under another owner fails the preview, naming the object,
  its current manager, and the settings that make the intent explicit (use it as it is, or
  ``cluster_objects.adopt``).
* **Destroy keeps what others may use.** Cluster-wide objects are registered with Pulumi's
  ``retain_on_delete``: ``pulumi destroy`` leaves them (and their contents: a retained CRD keeps
  every team's NADs) unless the stack sets ``cluster_objects.on_destroy: delete``. The stack's
  ``retained_on_destroy`` output lists them.
* **Namespaces are cluster-wide.** A namespace a stack creates is retained too, so other
  teams' objects inside it survive the stack's destroy.
* **Adopted objects stay.** An object taken over through ``cluster_objects.adopt`` (the NADs
  ``netplumb adopt`` found) is left in the cluster on destroy, whatever its scope, unless the
  stack sets ``cluster_objects.adopted_on_destroy: delete``.

The decisions here are pure; reading the cluster goes through a :data:`Reader`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import Finding, PlanError
from .render.manifests import MANAGED_BY

OWNER_ANNOTATION = "netplumb.dev/owner"
"""``<project>/<stack>`` of the stack that registered the object."""
FIELD_MANAGER = "netplumb"
"""Server-side apply field manager of the objects netplumb applies itself (object sets)."""

CLUSTER_SCOPED_KINDS = frozenset({
    "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
    "PriorityClass", "StorageClass", "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding", "APIService", "RuntimeClass", "IngressClass",
})


@dataclass(frozen=True, order=True)
class ObjectRef:
    """One object in the cluster: ``Kind/name`` or ``Kind/namespace/name``."""

    kind: str
    name: str
    namespace: str | None = None
    api_version: str = field(default="", compare=False)

    @classmethod
    def of(cls, manifest: Mapping[str, Any]) -> ObjectRef:
        meta = manifest["metadata"]
        return cls(str(manifest["kind"]), str(meta["name"]), meta.get("namespace"),
                   str(manifest["apiVersion"]))

    @property
    def key(self) -> str:
        """How ``cluster_objects.adopt`` names it."""
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class OwnershipPolicy:
    """What one stack may do to cluster-wide objects."""

    owner: str
    """``<project>/<stack>``: written to every object the stack registers."""
    adopt: frozenset[str] = frozenset()
    """Objects (``Kind/name``, ``Kind/namespace/name``) the stack may take over."""
    delete_on_destroy: bool = False
    """Delete cluster-wide objects on ``pulumi destroy`` (default: retain them)."""
    adopt_path: str = "cluster_objects.adopt"
    """Where the adopt setting lives, for messages."""
    retain_adopted: bool = True
    """Leave adopted objects in the cluster on ``pulumi destroy`` (and when the stack drops
    them), whatever their scope (``cluster_objects.adopted_on_destroy``)."""

    def retains(self, ref: ObjectRef, *, cluster_wide: bool) -> bool:
        """Whether ``pulumi destroy`` leaves ``ref``: a cluster-wide object unless the stack
        deletes those, an adopted one unless the stack deletes those."""
        if self.retain_adopted and ref.key in self.adopt:
            return True
        return cluster_wide and not self.delete_on_destroy


Reader = Callable[[ObjectRef], Mapping[str, Any] | None]
"""Reads a live object (``None`` when absent)."""


def is_cluster_scoped(manifest: Mapping[str, Any]) -> bool:
    return str(manifest.get("kind")) in CLUSTER_SCOPED_KINDS


def owner_of(live: Mapping[str, Any]) -> str | None:
    """The netplumb stack that owns ``live``, if any."""
    notes = (live.get("metadata") or {}).get("annotations") or {}
    value = notes.get(OWNER_ANNOTATION)
    return str(value) if value else None


def managers_of(live: Mapping[str, Any]) -> list[str]:
    """Field managers of ``live`` that write more than status, in the order listed."""
    out: list[str] = []
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if entry.get("subresource") == "status":
            continue
        name = str(entry.get("manager") or "")
        if name and name not in out:
            out.append(name)
    return out


def describe_manager(live: Mapping[str, Any]) -> str:
    """Who manages ``live``, for messages: the netplumb stack, else its field managers."""
    owner = owner_of(live)
    if owner:
        return f"netplumb stack {owner!r}"
    managers = managers_of(live)
    if managers:
        return "field manager " + ", ".join(repr(m) for m in managers)
    return "an unknown manager (no managedFields)"


@dataclass(frozen=True)
class Wanted:
    """Cluster-wide objects one part of the plan would register, and the settings that
    decide it: ``path`` (the key that asked for them) and ``instead`` (what to write to use
    the existing objects as they are)."""

    path: str
    manifests: Sequence[Mapping[str, Any]]
    instead: str = ""


def takeover_findings(wanted: Iterable[Wanted], read: Reader,
                      policy: OwnershipPolicy) -> list[Finding]:
    """A finding per object that exists under another owner and is not adopted."""
    findings: list[Finding] = []
    seen: set[ObjectRef] = set()
    for group in wanted:
        for manifest in group.manifests:
            ref = ObjectRef.of(manifest)
            if ref in seen:
                continue
            seen.add(ref)
            live = read(ref)
            if live is None or owner_of(live) == policy.owner or ref.key in policy.adopt:
                continue
            options = []
            if group.instead:
                options.append(f"use it as it is ({group.instead})")
            options.append(f"take it over ({policy.adopt_path}: [{ref.key!r}])")
            findings.append(Finding(
                group.path, ref.key,
                f"{ref.kind} {ref.name if not ref.namespace else ref.namespace + '/' + ref.name}"
                f" already exists, managed by {describe_manager(live)}; this stack would "
                f"silently take it over. Either " + " or ".join(options)))
    return findings


def check_takeovers(wanted: Iterable[Wanted], read: Reader | None,
                    policy: OwnershipPolicy) -> None:
    """Raise :class:`PlanError` when the plan would take over another owner's objects.
    ``read`` ``None``: the cluster cannot be read (offline); nothing is checked."""
    if read is None:
        return
    findings = takeover_findings(wanted, read, policy)
    if findings:
        raise PlanError(findings, context="cluster-wide objects owned elsewhere")


def stamp(manifest: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """``manifest`` with the owner annotation and the managed-by label added."""
    meta = dict(manifest["metadata"])
    meta["annotations"] = {**(meta.get("annotations") or {}), OWNER_ANNOTATION: owner}
    meta["labels"] = {**MANAGED_BY, **(meta.get("labels") or {})}
    return {**manifest, "metadata": meta}
