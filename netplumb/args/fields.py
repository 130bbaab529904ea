"""Field types of typed inputs that are not CNI's: labels, extended resources, paths, and
per-item checks of lists."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator

from ..cni import fields as fc
from ..errors import PlanError
from ..validation import FieldIssue

LABEL_VALUE_MAX = 63


def extended_resource(value: str) -> str:
    """An extended resource name ``<domain>/<name>`` such as ``intel.com/sriov``."""
    domain, slash, name = value.partition("/")
    if not slash or not domain or not name or "/" in name:
        raise FieldIssue("expected an extended resource name such as intel.com/sriov")
    if domain.endswith("kubernetes.io") or domain.endswith("k8s.io"):
        raise FieldIssue("the kubernetes.io and k8s.io domains are reserved; expected a vendor "
                         "domain such as intel.com")
    if not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", domain):
        raise FieldIssue("invalid resource domain; expected a DNS name such as intel.com")
    if len(name) > 63 or not re.match(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$", name):
        raise FieldIssue("invalid resource name; expected letters, digits, '-', '_' or '.', "
                         "at most 63 characters")
    return value


def abs_path(value: str) -> str:
    if not value.startswith("/") or "\x00" in value:
        raise FieldIssue("expected an absolute path such as /run/flannel/subnet.env")
    return value


def dir_path(value: str) -> str:
    """A directory's path as compared with others: without trailing ``/`` (``/`` stays)."""
    return value.rstrip("/") or "/"


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if not key or len(key) > 317 or any(c.isspace() for c in key):
            raise FieldIssue("invalid label key; expected e.g. app or example.com/role",
                             subpath=(key,), value=key, has_value=True)
    return value


Labels = Annotated[dict[str, str], AfterValidator(_labels)]

_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_PROMETHEUS_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def label_value(value: str) -> str:
    """A Kubernetes label value: at most 63 characters, alphanumerics, ``-``, ``_`` and
    ``.``, starting and ending alphanumeric (or empty)."""
    if len(value) > LABEL_VALUE_MAX or not _LABEL_VALUE.match(value):
        raise FieldIssue("not a label value; expected at most 63 letters, digits, '-', '_' "
                         "or '.', starting and ending with a letter or digit")
    return value


def prometheus_duration(value: str) -> str:
    """A Prometheus duration such as ``30s``, ``5m`` or ``1h30m``."""
    return fc.matching(_PROMETHEUS_DURATION, value,
                       "not a Prometheus duration; expected e.g. 30s or 1m")


def port(value: int) -> int:
    return fc.int_range(value, 1, 65535, "port")


def verbosity(value: int) -> int:
    return fc.int_range(value, 0, 10, "log level")


PrometheusDuration = Annotated[str, AfterValidator(prometheus_duration)]
Port = Annotated[int, AfterValidator(port)]
"""A TCP port, 1-65535."""
Verbosity = Annotated[int, AfterValidator(verbosity)]
"""A log verbosity (``-v``), 0-10."""


def valid_workload_name(value: str) -> str:
    """A pod's or a workload's name: a Kubernetes object name that is also a label value
    (netplumb labels the pods ``app: <name>``), so at most 63 characters."""
    fc.k8s_name(value)
    if len(value) > LABEL_VALUE_MAX:
        raise FieldIssue(f"name is {len(value)} characters; expected at most "
                         f"{LABEL_VALUE_MAX}, since it is also the pods' app label")
    return value


WorkloadName = Annotated[str, AfterValidator(valid_workload_name)]
"""The name of a pod or of a Deployment, StatefulSet or DaemonSet (one rule for all)."""


def name_or_default(name: str | None, default: str, check: Callable[[str], str],
                    what: str) -> str:
    """``name``, else ``default`` (a component's resource name) if ``check`` takes it; a
    :class:`PlanError` at ``name`` says how to set it otherwise."""
    if name:
        return name
    try:
        return check(default)
    except FieldIssue as exc:
        raise PlanError.one("name", default, f"{exc.message} (the {what} name defaults to the "
                            "component's resource name; set args.name)") from None
