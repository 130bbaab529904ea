"""Why a pod's sandbox (its network) could not be created: the events' messages, classified.

A failed CNI ADD reaches the pod as a ``FailedCreatePodSandBox`` event. Its message is a
chain of wrappers around the plugin's own error:

* kubelet + containerd, thin Multus::

    Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for
    sandbox "<id>": plugin type="multus" name="multus-cni-network" failed (add):
    [<ns>/<pod>/<uid>:<net>]: error adding container to network "<net>": <plugin error>

* thick Multus adds ``CmdAdd (shim): CNI request failed with status 400: '... ERRORED: error
  configuring pod [<ns>/<pod>] networking: [...]: error adding container to network ...'``.

Multus also records ``NoNetworkFound`` when a selected NAD does not exist. The plugin errors
matched here are the strings of Multus v4.3 (``cannot find a network-attachment-definition``,
``namespace isolation enabled``, ``readinessindicatorfile``, the shim's ``failed to send CNI
request``), the NAD client v1.7 (``failed to unmarshal Spec.Config``), libcni v1.3 (``failed to
find plugin``) and the reference plugins v1.9 (host-local ``no IP addresses available in range
set``, macvlan's bare ``Link not found`` for a missing master, ipvlan/vlan ``failed to lookup
master``, host-device ``failed to find host device``, ``invalid MTU``, macvlan's ``failed to
create macvlan``), and whereabouts v0.9
(``Could not allocate IP in range``). Anything else is ``other``, with the innermost message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SANDBOX_REASONS = ("FailedCreatePodSandBox", "NoNetworkFound")
"""Event reasons that carry a pod's network setup failure."""


@dataclass(frozen=True)
class Cause:
    id: str
    """Stable key: ``pool-exhausted``, ``master-missing``, ``nad-missing``, …"""
    title: str
    detail: str
    """The innermost error text (what the plugin or Multus said)."""
    network: str | None = None
    """The CNI network (config ``name``) that failed, when the message names it."""
    nad: tuple[str, str] | None = None
    """(namespace, name) of a NAD the message names (a missing one)."""
    link: str | None = None
    """The host link a plugin could not find, when named."""
    plugin: str | None = None
    """The plugin binary that could not be found (``plugin-missing``)."""


_NET = re.compile(r'error adding container to network "([^"]+)"')
_TAG = re.compile(r"\[[^/\]\s]+/[^/\]\s]+/[^:\]\s]*:([^\]\s]+)\]")
_NAD = re.compile(r"cannot find a network-attachment-definition \(([^)]+)\) in namespace "
                  r"\(([^)]+)\)")
_MASTER = re.compile(r'failed to lookup master "([^"]*)"')
_LINK = re.compile(r"\bLink (?:(\S+) )?not found")
_PLUGIN = re.compile(r'failed to find plugin "([^"]+)"')


def innermost(message: str) -> str:
    """The plugin's own words: the text after the last wrapper Multus or the runtime adds."""
    text = message.strip().rstrip("'").strip()
    for marker in ('error adding container to network "', "getCNIConfigFromSpec: ",
                   "getKubernetesDelegate: ", "ERRORED: ", "failed (add): ",
                   "Failed to create pod sandbox: "):
        i = text.rfind(marker)
        if i >= 0:
            rest = text[i + len(marker):]
            if marker.endswith('"'):
                rest = rest.split('": ', 1)[-1]
            return rest.strip()
    return text


# (id, title, pattern): first match wins; order puts specific before generic
_RULES: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("nad-missing", "NetworkAttachmentDefinition missing", _NAD),
    ("pool-exhausted", "address pool exhausted",
     re.compile(r"no IP addresses available in range set|Could not allocate IP in range|"
                r"no available IP|exhausted", re.I)),
    ("plugin-missing", "CNI plugin binary missing", _PLUGIN),
    ("config-invalid", "NAD config invalid",
     re.compile(r"failed to unmarshal Spec\.Config|error unmarshalling delegate|"
                r"delegate must have the 'type'|failed to load netconf|"
                r"error loading network config from bytes|invalid network config name|"
                r"no plugin configs found", re.I)),
    ("mtu-invalid", "MTU larger than the master link's", re.compile(r"invalid MTU \d+")),
    ("macvlan-failed", "macvlan could not be created on its master",
     re.compile(r"failed to create macvlan")),
    ("master-missing", "host link missing",
     re.compile(r'failed to lookup master "|failed to find host device|'
                r"\bLink (?:\S+ )?not found|no default route interface found")),
    ("selection-invalid", "pod's network selection invalid",
     re.compile(r"parsePodNetworkAnnotation|parsePodNetworkObjectName|"
                r"interface name \S+ already exists")),
    ("namespace-isolation", "network in another namespace (Multus namespace isolation)",
     re.compile(r"namespace isolation enabled")),
    ("device-unavailable", "device resource not available",
     re.compile(r"ResourceClient|resourceMap|pod-resources|PodResources", re.I)),
    ("multus-not-ready", "Multus not ready on the node",
     re.compile(r"failed to send CNI request|CheckAPIReadyNow|multus-shim.*(?:refused|"
                r"no such file)|readinessindicatorfile|CmdAdd \(shim\): timed out|"
                r"delegate/clusterNetwork must be specified", re.I)),
    ("default-route", "default route could not be set",
     re.compile(r"default gateway", re.I)),
)


def classify(message: str) -> Cause:
    """The cause of one sandbox failure message (``other`` when none matches)."""
    detail = innermost(message)
    m_net = _NET.search(message) or _TAG.search(message)
    network = m_net.group(1) if m_net else None
    for cause_id, title, pattern in _RULES:
        m = pattern.search(message)
        if not m:
            continue
        nad = link = plugin = None
        if cause_id == "nad-missing":
            nad = (m.group(2), m.group(1))
        elif cause_id == "master-missing":
            found = _MASTER.search(message) or _LINK.search(message)
            link = found.group(1) if found and found.group(1) else None
        elif cause_id == "plugin-missing":
            plugin = m.group(1)
        return Cause(cause_id, title, detail, network, nad, link, plugin)
    return Cause("other", "network setup failed", detail, network)
