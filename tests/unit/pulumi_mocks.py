"""Pulumi mocks that record every registration, for component tests without an engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pulumi


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    registered: list[Registered] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.registered.append(Registered(args.typ, args.name, dict(args.inputs)))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.registered if r.type == typ]


@contextmanager
def recording() -> Iterator[RecordingMocks]:
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="netplumb", stack="test", preview=False)
    yield mocks


def run_program(program: Callable[[], Any]) -> RecordingMocks:
    """Run ``program`` under fresh mocks and wait for every registration to finish."""
    with recording() as mocks:
        result = program()

        @pulumi.runtime.test  # type: ignore[untyped-decorator]
        def settle() -> Any:
            return pulumi.Output.from_input(result).apply(lambda _: None) if result else None

        settle()
    return mocks
