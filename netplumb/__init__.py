"""netplumb: declarative network plumbing for Kubernetes, typed and checked before it deploys.

The pure core (``spec``, ``checks``, ``render``) needs no engine and no cluster; the
Pulumi components live in :mod:`netplumb.components`.
"""

from .cni.config import CNI_VERSIONS, CniConfig, parse_cni_config
from .errors import Finding, PlanError

__all__ = ["CNI_VERSIONS", "CniConfig", "Finding", "PlanError", "parse_cni_config"]
