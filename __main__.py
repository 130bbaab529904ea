"""The Pulumi program: read this stack's ``netplumb:spec`` and deploy it."""

import pulumi

from netplumb.components import NetplumbStack
from netplumb.spec.stack import StackSpec

spec = StackSpec.parse(pulumi.Config("netplumb").require_object("spec"),
                       at=("config", "netplumb:spec"))
stack = NetplumbStack(pulumi.get_stack(), spec)
pulumi.export("networks", stack.nad_names)
pulumi.export("pods", stack.pod_names)
