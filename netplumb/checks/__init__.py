"""Whole-plan checks (pure): they see every network of a program at once."""

from .networks import PlannedNetwork, check_networks, raise_on_errors

__all__ = ["PlannedNetwork", "check_networks", "raise_on_errors"]
