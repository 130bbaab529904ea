"""The pinned images of what netplumb installs, and the image reference rules.

Defaults follow what the pinned upstream versions do (Multus v4.3.0, Flannel v0.28.10,
sriov-network-device-plugin v3.11.0, sriov-cni v2.10.0, whereabouts v0.9.2, kube-router
v2.1.0, multi-networkpolicy-iptables at commit cbf2b117).

netplumb's own node plugin image (``netplumb-node``, the CNI plugins and the measuring shim;
see ``node/README.md``) is released with netplumb itself: its tag is this package's version
(``project.version`` in ``pyproject.toml``, with a ``v``), and the image's ``netplumb-node``
is built with that version stamped (``-X netplumb.dev/node/internal/buildinfo.Version``).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from ..validation import FieldIssue

MULTUS_VERSION = "v4.3.0"
MULTUS_THICK_IMAGE = f"ghcr.io/k8snetworkplumbingwg/multus-cni:{MULTUS_VERSION}-thick"
MULTUS_THIN_IMAGE = f"ghcr.io/k8snetworkplumbingwg/multus-cni:{MULTUS_VERSION}"
FLANNEL_IMAGE = "ghcr.io/flannel-io/flannel:v0.28.10"
FLANNEL_CNI_PLUGIN_IMAGE = "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3"
SRIOV_DEVICE_PLUGIN_IMAGE = "ghcr.io/k8snetworkplumbingwg/sriov-network-device-plugin:v3.11.0"
SRIOV_CNI_IMAGE = "ghcr.io/k8snetworkplumbingwg/sriov-cni:v2.10.0"
NETPLUMB_NODE_VERSION = "v0.1.0"
"""The node plugin image's tag: ``v`` + netplumb's own version (a unit test keeps the two
equal)."""
NETPLUMB_NODE_IMAGE = f"ghcr.io/netplumb/netplumb-node:{NETPLUMB_NODE_VERSION}"
WHEREABOUTS_VERSION = "v0.9.2"
WHEREABOUTS_IMAGE = f"ghcr.io/k8snetworkplumbingwg/whereabouts:{WHEREABOUTS_VERSION}"
KUBE_ROUTER_VERSION = "v2.1.0"
KUBE_ROUTER_IMAGE = f"docker.io/cloudnativelabs/kube-router:{KUBE_ROUTER_VERSION}"
"""kube-router's release image; netplumb runs only its firewall (NetworkPolicy) controller."""
MULTI_NETWORKPOLICY_IMAGE = "ghcr.io/k8snetworkplumbingwg/multi-networkpolicy-iptables:snapshot-cbf2b117"  # noqa: E501
"""multi-networkpolicy-iptables built from upstream's snapshot at commit cbf2b117 (upstream
publishes only a moving ``snapshot`` tag, so the build is tagged with the commit)."""

IMAGE_REF = re.compile(
    r"^(?P<repo>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$")
"""An image reference: ``repo`` (with registry), optional ``tag``, optional ``digest``."""


MIRROR = re.compile(
    r"^[a-z0-9]+(?:[.-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
"""A mirror prefix: a registry host (with an optional port) and an optional path."""


def mirror_prefix(value: str) -> str:
    """A mirror registry prefix (``registry.example.com/netplumb``), without a scheme."""
    value = value.rstrip("/")
    if not MIRROR.match(value):
        raise FieldIssue("not a registry prefix; expected host[:port][/path], e.g. "
                         "registry.example.com/netplumb (no https://)")
    return value


def pinned_image(value: str) -> str:
    """An image reference with a version tag or a digest; ``latest`` and no tag are refused."""
    m = IMAGE_REF.match(value)
    if not m:
        raise FieldIssue("not an image reference; expected e.g. "
                         "ghcr.io/flannel-io/flannel:v0.28.10")
    if not m["digest"] and (not m["tag"] or m["tag"] == "latest"):
        raise FieldIssue("image is not pinned; expected a version tag (not 'latest') or an "
                         "@sha256 digest so every node runs the same build")
    return value


PinnedImage = Annotated[str, AfterValidator(pinned_image)]
"""An image reference pinned to a version tag or a digest."""


def image_tag(image: str) -> str | None:
    """The release tag of a Multus image reference (``-thick`` stripped); None for an
    image without a tag."""
    m = IMAGE_REF.match(image)
    return m["tag"].removesuffix("-thick") if m and m["tag"] else None
