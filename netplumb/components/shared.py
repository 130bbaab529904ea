"""The one base of the shared installs' components: an install registered as its declaration
(:mod:`netplumb.plan.installs`) says."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar

import pulumi

from ..args.base import InputModel
from ..plan.installs import Install, Part
from .objects import check_owners, children, register_object, register_patch

A = TypeVar("A")
C = TypeVar("C", bound="SharedInstall[Any]")


class SharedInstall(pulumi.ComponentResource, Generic[A]):
    """A shared install, registered from its declaration: its ownership checked before
    anything registers, its nested installs as child components, then its parts in order,
    each waiting for those it names, then its outputs (attributes of the same names).

    Each component takes its args, checked and declared by the function its class statement
    names (``declare=``), or ``declared=``: its install as the caller declared it and checked
    its ownership (:class:`~netplumb.components.NetplumbStack` declares and checks all of its
    installs at once, :func:`netplumb.plan.stack_installs`; an install its nested ones, with
    its own), so nothing is rendered or checked again. ``resources`` holds each part's object
    by role; a component's typed handles on them are set by its :meth:`_handles`."""

    NESTED: ClassVar[Mapping[str, Callable[..., SharedInstall[Any]]]] = {}
    """The component of each nested install, by role."""
    _declare: ClassVar[Callable[[Any, str], Install[Any]]]
    """How the component's install is declared from its checked args, at its name."""

    args: A

    def __init_subclass__(cls, *, declare: Callable[[Any, str], Install[Any]] | None = None,
                          **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if declare is not None:
            cls._declare = staticmethod(declare)

    def __init__(self, name: str, args: A, opts: pulumi.ResourceOptions | None = None, *,
                 declared: Install[A] | None = None) -> None:
        if declared is None:
            checked = args.checked() if isinstance(args, InputModel) else args
            install = type(self)._declare(checked, name)
            check_owners(list(install.wanted))
        else:
            install = declared
        super().__init__(install.type, name, None, opts)
        self.declared = install
        self.args = install.args
        self.parts = install.parts
        self.installs: dict[str, SharedInstall[Any]] = {}
        self.resources: dict[str, pulumi.CustomResource] = {}
        placed: dict[str, pulumi.Resource] = {}
        # what the component was told to wait for, its parts wait for too (Pulumi does not
        # pass a component's depends_on on to its children)
        waits = _resources((opts.depends_on if opts is not None else None) or [])
        for role, nested in install.nested.items():
            placed[role] = self.installs[role] = self.NESTED[role](
                f"{name}-{role}", nested.args,
                pulumi.ResourceOptions(parent=self, depends_on=list(waits)), declared=nested)
        for part in install.parts:
            opts = children(self, *waits, *(placed[role] for role in part.after))
            placed[part.role] = self.resources[part.role] = _register(
                f"{name}-{part.role}", part, opts)
        for key, value in install.outputs.items():
            setattr(self, key, pulumi.Output.from_input(value))
        self.register_outputs({key: getattr(self, key) for key in install.outputs})
        self._handles()

    def _handles(self) -> None:
        """Set the component's typed handles on its resources (none here)."""

    def nested(self, role: str, component: type[C]) -> C | None:
        """The nested install of ``role`` (None where the declaration places none)."""
        found = self.installs.get(role)
        if found is None:
            return None
        assert isinstance(found, component)
        return found

    def resources_of(self, prefix: str) -> list[tuple[Part, pulumi.CustomResource]]:
        """The parts whose role starts with ``prefix``, with their objects, in order."""
        return [(p, self.resources[p.role]) for p in self.parts if p.role.startswith(prefix)]


def _resources(depends_on: Any) -> list[pulumi.Resource]:
    """The resources of a ``depends_on`` option given as a resource or a list of them."""
    items = depends_on if isinstance(depends_on, list) else [depends_on]
    return [r for r in items if isinstance(r, pulumi.Resource)]


def _register(name: str, part: Part, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    if part.patch:
        return register_patch(name, part.manifest, opts)
    return register_object(name, part.manifest, opts, cluster_wide=part.cluster_wide)
