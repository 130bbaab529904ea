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
    retain_on_delete: bool = False


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

    def named(self, name: str) -> Registered:
        [found] = [r for r in self.registered if r.name == name]
        return found


class RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    """Also records the resource options the mocks API does not pass on."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recording = mocks

    def RegisterResource(self, request: Any) -> Any:  # the gRPC method name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        for r in reversed(self.recording.registered):
            if r.name == request.name and r.type == request.type:
                r.retain_on_delete = bool(request.retainOnDelete)
                break
        return response


@contextmanager
def recording(stack: str = "test") -> Iterator[RecordingMocks]:
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="netplumb", stack=stack, preview=False,
                             monitor=RecordingMonitor(mocks))
    yield mocks


def run_program(program: Callable[[], Any], stack: str = "test") -> RecordingMocks:
    """Run ``program`` under fresh mocks and wait for every registration to finish."""
    with recording(stack) as mocks:
        result = program()

        @pulumi.runtime.test  # type: ignore[untyped-decorator]
        def settle() -> Any:
            return pulumi.Output.from_input(result).apply(lambda _: None) if result else None

        settle()
    return mocks
