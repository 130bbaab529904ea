"""The Pulumi program: refuse a cluster the stack is not for (``netplumb:cluster``), read this
stack's ``netplumb:spec`` (or the file its ``netplumb:specFile`` names) and deploy it."""

from pathlib import Path

import pulumi

from netplumb import NetplumbStack, require_cluster, spec_from_config

config = pulumi.Config("netplumb")
require_cluster(config.get_object("cluster"))
spec, at = spec_from_config(config.get_object("spec"), config.get("specFile"),
                            Path(__file__).resolve().parent)
stack = NetplumbStack(pulumi.get_stack(), spec, at=at)
pulumi.export("networks", stack.nad_names)
pulumi.export("pods", stack.pod_names)
pulumi.export("retained_on_destroy", stack.retained_on_destroy)
