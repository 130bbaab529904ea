"""Parsing and planning pause the cyclic collector and resume it as they found it."""

from __future__ import annotations

import gc

import pytest

from netplumb import PlanError
from netplumb.args import StackSpec
from netplumb.gcpause import collector_paused
from netplumb.plan import build_plan


def test_paused_inside_and_restored_after_also_when_nested_or_raising() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still holds it
    assert gc.isenabled()
    with pytest.raises(PlanError):
        StackSpec.parse({"networks": "not a list"})
    assert gc.isenabled()
    with pytest.raises(PlanError):
        build_plan(StackSpec.parse({"pods": [{"name": "a"}, {"name": "a"}]}))
    assert gc.isenabled()


def test_left_disabled_when_it_was() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
