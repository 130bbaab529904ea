"""netplumb: declarative network plumbing for Kubernetes, typed and checked before it deploys.

Everything a program needs is importable from here: the components (``MacvlanNetwork``,
``MultusInstall``, ``NetplumbStack``, …), their args, the IPAM and chained-plugin models the
args are made of, and :class:`PlanError`. The pure core (:mod:`netplumb.cni` lossless CNI
models, :mod:`netplumb.args` typed inputs, :mod:`netplumb.plan`, :mod:`netplumb.render`)
needs no engine and no cluster; the components, which import Pulumi, load on first use.
"""

import importlib
from typing import TYPE_CHECKING, Any

from . import args, models
from .args import *  # noqa: F403  (every input model)
from .cni import CNI_VERSIONS, CniConfig, parse_cni_config
from .errors import Finding, PlanError
from .models import *  # noqa: F403  (the models args are made of)

if TYPE_CHECKING:
    from .components import *  # noqa: F403


def __getattr__(name: str) -> Any:
    # The components (and Pulumi with them) load when a program first asks for one, so
    # `netplumb check` and `render` start without them.
    if not name.startswith("_") and name != "components":
        components = importlib.import_module(f"{__name__}.components")
        if name in components.__all__:
            return getattr(components, name)
    raise AttributeError(f"module 'netplumb' has no attribute {name!r}")


__all__ = ["CNI_VERSIONS", "CniConfig", "Finding", "PlanError", "parse_cni_config"]
__all__ += models.__all__
__all__ += args.__all__
