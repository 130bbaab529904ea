"""Development harness: pinned toolchain, the embedded cluster and its real node.

Nothing here is needed to *use* netplumb against a real cluster; it exists so that every
capability is proven through the real Pulumi engine, a real kube-apiserver, a real kubelet
and containerd, and the Flannel and Multus DaemonSets netplumb ships, on this machine.
"""
