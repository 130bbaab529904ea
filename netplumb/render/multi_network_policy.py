"""MultiNetworkPolicy enforcement on secondary networks: multi-networkpolicy-iptables (the
upstream snapshot at commit cbf2b117). netplumb's MultiNetworkPolicy CRD (on request), RBAC,
a ServiceAccount, the custom rules' ConfigMap (when there are any) and the DaemonSet.

What it needs, from upstream's code (``pkg/server``, ``pkg/controllers``):

- ``list``/``watch`` of MultiNetworkPolicies (v1beta1), NADs, pods and namespaces (its
  informers), and ``create``/``patch``/``update`` of core events (its event recorder, which
  announces the start on the Node). Upstream's manifest grants every verb on every resource
  of ``k8s.cni.cncf.io`` and a read of NetworkPolicies, which the code never uses.
- The container runtime's CRI socket (``--container-runtime-endpoint``, dialled at
  ``<host prefix><endpoint>``): ``ContainerStatus`` gives each local pod's PID, whose
  ``/proc/<pid>/ns/net`` (again under the host prefix) it enters to write iptables rules
  there; privileged, in the host network. Upstream mounts the host's whole ``/`` at
  ``/host``; here only what it opens is: the host's ``/proc`` (read-only) and the socket's
  directory (a directory, so the mount survives a runtime restart recreating the socket).
- Its node's name: ``--hostname-override`` from ``NODE_NAME`` (upstream's manifest relies
  on the host name, which need not be the node's name).
- ``/var/lib/multi-networkpolicy`` for ``--pod-iptables`` (each pod's rules, kept for
  troubleshooting), and ``/run/xtables.lock``, shared with the node's other iptables users.
"""

from __future__ import annotations

import posixpath
from typing import Any

from .. import hostpaths as host
from ..args.multi_network_policy import MultiNetworkPolicyEnforcerArgs
from .crds import MULTI_NETWORK_POLICY_GROUP, MULTI_NETWORK_POLICY_PLURAL, multi_network_policy_crd
from .manifests import (
    config_map,
    config_map_volume,
    daemonset,
    field_env,
    flags,
    host_volume,
    mount,
    placed,
    rule,
    service_account_with_role,
)
from .nad import NAD_GROUP, NAD_PLURAL

# duplicates: intended: the builders imported above, a list like render/flannel.py's and
# render/network_policy.py's: each renderer imports what it is written with.

# duplicates: intended: each add-on's names, labels and paths (render/multi_network_policy.py,
# render/whereabouts.py, render/sriov.py): alike in shape, each its own in value.
NAME = "multi-networkpolicy"
DAEMONSET = "multi-networkpolicy"
CONFIG_MAP = "multi-networkpolicy-custom-rules"
COMMAND = "/usr/bin/multi-networkpolicy-iptables"
"""Where upstream's image has the binary (its Dockerfile and ``deploy.yml``)."""

HOST_PREFIX = "/host"
"""Where the container sees the host paths it opens (``--host-prefix``)."""
PROC_DIR = "/proc"
STATE_DIR = "/var/lib/multi-networkpolicy"
"""Its directory on the node; ``--pod-iptables`` writes under ``iptables/`` there."""
RULES_DIR = "/etc/multi-networkpolicy/rules"
"""Where the custom rules' files are mounted."""

LABELS = {"app": "multi-networkpolicy", "tier": "node"}
SELECTOR = {"name": "multi-networkpolicy"}

_READ = ["list", "watch"]
_RULE_FLAGS = {"custom-v4-ingress-rules.txt": "custom-v4-ingress-rule-file",
               "custom-v4-egress-rules.txt": "custom-v4-egress-rule-file",
               "custom-v6-ingress-rules.txt": "custom-v6-ingress-rule-file",
               "custom-v6-egress-rules.txt": "custom-v6-egress-rule-file"}


def rules() -> list[dict[str, Any]]:
    """What it reads and writes (module docstring)."""
    return [
        rule([MULTI_NETWORK_POLICY_GROUP], [MULTI_NETWORK_POLICY_PLURAL], _READ),
        rule([NAD_GROUP], [NAD_PLURAL], _READ),
        rule([""], ["pods", "namespaces"], _READ),
        rule([""], ["events"], ["create", "patch", "update"]),
    ]


def rules_data(args: MultiNetworkPolicyEnforcerArgs) -> dict[str, str]:
    """The custom rules' files: one rule a line after a comment (the enforcer skips lines
    starting with ``#``)."""
    return {name: "# written by netplumb\n" + "".join(f"{r}\n" for r in lines)
            for name, lines in args.custom_rules.files().items()}


def enforcer_args(args: MultiNetworkPolicyEnforcerArgs) -> list[str]:
    """multi-networkpolicy-iptables' flags."""
    return [f"--host-prefix={HOST_PREFIX}",
            f"--container-runtime-endpoint={args.container_runtime_endpoint}",
            f"--network-plugins={','.join(args.network_plugins)}",
            "--hostname-override=$(NODE_NAME)",
            f"--sync-period={args.sync_period}",
            *flags(("pod-iptables", f"{STATE_DIR}/iptables" if args.pod_iptables else None),
                   ("accept-icmp", args.accept_icmp), ("accept-icmpv6", args.accept_icmpv6),
                   ("allow-ipv6-src-prefix", args.allow_ipv6_src_prefix),
                   ("allow-ipv6-dst-prefix", args.allow_ipv6_dst_prefix)),
            *(f"--{_RULE_FLAGS[name]}={RULES_DIR}/{name}" for name in args.custom_rules.files()),
            f"--v={args.log_level}"]


def daemonset_spec(args: MultiNetworkPolicyEnforcerArgs) -> dict[str, Any]:
    """The pod spec of the enforcer's DaemonSet."""
    socket_dir = posixpath.dirname(args.container_runtime_endpoint)
    mounts = [mount("host-proc", HOST_PREFIX + PROC_DIR, readOnly=True),
              mount("cri-socket", HOST_PREFIX + socket_dir),
              mount("xtables-lock", host.XTABLES_LOCK)]
    volumes = [host_volume("host-proc", PROC_DIR, "Directory"),
               host_volume("cri-socket", socket_dir, "Directory"),
               host_volume("xtables-lock", host.XTABLES_LOCK, "FileOrCreate")]
    if args.pod_iptables:
        mounts.append(mount("state", STATE_DIR))
        volumes.append(host_volume("state", STATE_DIR, "DirectoryOrCreate"))
    if args.custom_rules.files():
        mounts.append(mount("custom-rules", RULES_DIR, readOnly=True))
        volumes.append(config_map_volume("custom-rules", CONFIG_MAP))
    container: dict[str, Any] = {
        "name": "multi-networkpolicy",
        "image": args.image,
        "command": [COMMAND],
        "args": enforcer_args(args),
        "env": [field_env("NODE_NAME", "spec.nodeName")],
        "resources": args.resources.to_dict(),
        "securityContext": {"privileged": True},
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": mounts,
    }
    pod_spec: dict[str, Any] = {
        "hostNetwork": True,
        "serviceAccountName": NAME,
        "tolerations": [t.to_dict() for t in args.tolerations],
        "containers": [container],
        "volumes": volumes,
    }
    return placed(pod_spec, args.priority_class_name, args.node_selector)


def multi_network_policy_manifests(args: MultiNetworkPolicyEnforcerArgs, *,
                                   crd: bool | None = None) -> list[dict[str, Any]]:
    """Every object of the install, in apply order: the CRD (``crd``, default: the args'
    ``install_crd``), ClusterRole, its binding, ServiceAccount, the custom rules' ConfigMap
    (when there are rules), the DaemonSet (rolled when the rules change: the enforcer reads
    them at start)."""
    out = [multi_network_policy_crd()] if (args.installs_crd() if crd is None else crd) else []
    out += service_account_with_role(NAME, args.namespace, rules(), LABELS)
    data = rules_data(args)
    if data:
        out.append(config_map(CONFIG_MAP, args.namespace, data, LABELS))
    out.append(daemonset(DAEMONSET, args.namespace, LABELS, SELECTOR, daemonset_spec(args),
                         config=[data] if data else ()))
    return out
