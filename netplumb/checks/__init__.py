"""Whole-plan checks (pure): each reads the plan's networks
(:class:`netplumb.plan.PlannedNetwork`) and workloads (:class:`netplumb.plan.Workload`) and
returns findings; :func:`netplumb.plan.build_plan` runs them all."""
