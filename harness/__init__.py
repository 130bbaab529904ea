"""Development harness: pinned toolchain, embedded control plane and node agent.

Nothing here is needed to *use* netplumb against a real cluster; it exists so that
every capability is proven through the real Pulumi engine, a real kube-apiserver,
real Multus and real CNI plugins on this machine.
"""
