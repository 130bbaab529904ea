"""The cluster-wide objects a stack would register, grouped by the key asking for them, for
the ownership check (:mod:`netplumb.ownership`) before anything registers."""

from __future__ import annotations

from ..args.guardrails import NetworkGuardrailsArgs
from ..args.multus import MultusInstallArgs
from ..args.sriov import SriovPoolArgs
from ..args.stack import CONFIG_KEY, StackSpec
from ..errors import format_path
from ..ownership import Wanted, is_cluster_scoped
from ..render.crds import multi_network_policy_crd
from ..render.guardrails import pod_security_namespace, rbac_manifests
from ..render.multus import install_manifests
from ..render.nad import nad_crd
from ..render.sriov import sriov_manifests


def multus_wanted(args: MultusInstallArgs, at: str) -> list[Wanted]:
    """What a Multus install places cluster-wide (every object: the install is shared)."""
    crd = nad_crd()
    rest = [m for m in install_manifests(args) if m != crd]
    out = [Wanted(at, rest, instead=f"remove {at.rsplit('.', 1)[-1]}: and use the cluster's "
                                     "Multus")]
    if args.install_nad_crd:
        out.insert(0, Wanted(f"{at}.install_nad_crd", [crd],
                             instead="install_nad_crd: false under it"))
    return out


def sriov_wanted(args: SriovPoolArgs, at: str) -> list[Wanted]:
    return [Wanted(at, sriov_manifests(args), instead="remove it and use the cluster's "
                                                      "device plugin")]


def guardrails_wanted(args: NetworkGuardrailsArgs, at: str) -> list[Wanted]:
    """The cluster-wide part of the guardrails: created namespaces, the network roles and
    their cluster bindings, the MultiNetworkPolicy CRD."""
    out = [Wanted(f"{at}.pod_security[{i}].create", [pod_security_namespace(p)],
                  instead="create: false, which only labels the existing namespace")
           for i, p in enumerate(args.pod_security) if p.create]
    if args.rbac is not None:
        out.append(Wanted(f"{at}.rbac", [m for m in rbac_manifests(args.rbac)
                                         if is_cluster_scoped(m)],
                          instead="other role names (admin_role, viewer_role)"))
    if args.install_multi_network_policy_crd:
        out.append(Wanted(f"{at}.install_multi_network_policy_crd",
                          [multi_network_policy_crd()],
                          instead="install_multi_network_policy_crd: false"))
    return out


def cluster_wide(spec: StackSpec, root: tuple[str, ...] = ("config", CONFIG_KEY)
                 ) -> list[Wanted]:
    """Every cluster-wide object the stack would register, grouped by the key asking."""
    base = format_path(root)

    def at(key: str) -> str:
        return f"{base}{key}" if base.endswith(":") else f"{base}.{key}"

    out: list[Wanted] = []
    if spec.multus is not None:
        out += multus_wanted(spec.multus, at("multus"))
    if spec.install_nad_crd:
        out.append(Wanted(at("install_nad_crd"), [nad_crd()], instead="install_nad_crd: false"))
    if spec.sriov is not None:
        out += sriov_wanted(spec.sriov, at("sriov"))
    if spec.guardrails is not None:
        out += guardrails_wanted(spec.guardrails, at("guardrails"))
    return out
