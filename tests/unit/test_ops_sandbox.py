"""Sandbox-failure messages classified by cause, as a kubelet reports them.

The inner messages are what Multus v4.3.0 and the CNI plugins v1.9.1 return for broken NADs;
each is wrapped the way kubelet v1.36 + containerd v2.4 (thin Multus) and the Multus thick
shim wrap it.
"""

from __future__ import annotations

import pytest

from netplumb.ops.sandbox import classify, innermost

UID = "a1040402-e70a-41b7-8b43-7ab6b4ab40f2"
KUBELET = ('Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup '
           'network for sandbox "0b1c2d": plugin type="multus" name="multus-cni-network" '
           "failed (add): ")
THICK = ('Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup '
         'network for sandbox "0b1c2d": plugin type="multus-shim" name="multus-cni-network" '
         "failed (add): CmdAdd (shim): CNI request failed with status 400: 'ContainerID:"
         '"0b1c2d" Netns:"/var/run/netns/cni-1" IfName:"eth0" Args:"" Path:"" ERRORED: error '
         "configuring pod [exp/p] networking: ")


def _plugin(net: str, err: str) -> str:
    return f'[exp/p/{UID}:{net}]: error adding container to network "{net}": {err}'


BAD_JSON = (f"Multus: [exp/a-badjson/{UID}]: error loading k8s delegates k8s args: "
            "TryLoadPodDelegates: error in getting k8s network for pod: GetNetworkDelegates: "
            "failed getting the delegate: GetCNIConfig: err in getCNIConfigFromSpec: failed to "
            "unmarshal Spec.Config: unexpected end of JSON input")
NO_NAD = (f"Multus: [exp/e-missing/{UID}]: error loading k8s delegates k8s args: "
          "TryLoadPodDelegates: error in getting k8s network for pod: GetNetworkDelegates: "
          "failed getting the delegate: getKubernetesDelegate: cannot find a "
          "network-attachment-definition (doesnotexist) in namespace (exp): "
          'network-attachment-definitions.k8s.cni.cncf.io "doesnotexist" not found')
CASES = [
    (_plugin("nomaster", "Link not found"), "master-missing", "nomaster", "Link not found"),
    (_plugin("noipvlan", 'failed to lookup master "ens9nope": Link not found'),
     "master-missing", "noipvlan", 'failed to lookup master "ens9nope": Link not found'),
    (_plugin("tiny", "failed to allocate for range 0: no IP addresses available in range set: "
                     "198.18.7.10-198.18.7.11"), "pool-exhausted", "tiny",
     "failed to allocate for range 0: no IP addresses available in range set: "
     "198.18.7.10-198.18.7.11"),
    (_plugin("wb", "Could not allocate IP in range: ip: 192.0.2.1 / - 192.0.2.2 / range: "
                   "192.0.2.0/30 / excludeRanges: []"), "pool-exhausted", "wb", None),
    (_plugin("noplugin", 'failed to find plugin "macvlanx" in path [/opt/cni/bin]'),
     "plugin-missing", "noplugin", 'failed to find plugin "macvlanx" in path [/opt/cni/bin]'),
    (_plugin("big", "invalid MTU 9000, must be [0, master MTU(1500)]"), "mtu-invalid", "big",
     None),
    (_plugin("hd", "failed to find host device: Link not found"), "master-missing", "hd", None),
    (_plugin("pt", "failed to create macvlan: invalid argument"), "macvlan-failed", "pt",
     "failed to create macvlan: invalid argument"),
    (BAD_JSON, "config-invalid", None, "failed to unmarshal Spec.Config: unexpected end of JSON "
                                       "input"),
    (NO_NAD, "nad-missing", None, None),
    (f"Multus: [exp/p/{UID}]: error loading k8s delegates k8s args: TryLoadPodDelegates: "
     "error in getting k8s network for pod: GetNetworkDelegates: namespace isolation enabled, "
     "annotation violates permission, pod is in namespace exp but refers to target namespace "
     "other", "namespace-isolation", None, None),
    (f"Multus: [exp/p/{UID}]: have you checked that your default network is ready? still "
     "waiting for readinessindicatorfile @ /run/flannel/subnet.env. pollimmediate error: "
     "timed out", "multus-not-ready", None, None),
]


@pytest.mark.parametrize("wrapper", [KUBELET, THICK], ids=["kubelet", "thick"])
@pytest.mark.parametrize(("inner", "cause", "network", "detail"), CASES,
                         ids=[c[1] + f"-{i}" for i, c in enumerate(CASES)])
def test_classified_through_every_wrapper(wrapper: str, inner: str, cause: str,
                                          network: str | None, detail: str | None) -> None:
    message = wrapper + inner + ("\n'" if wrapper is THICK else "")
    got = classify(message)
    assert got.id == cause
    assert got.network == network
    if detail is not None:
        assert got.detail == detail


def test_named_things_are_extracted() -> None:
    assert classify(KUBELET + NO_NAD).nad == ("exp", "doesnotexist")
    assert classify(KUBELET + _plugin("n", 'failed to lookup master "ens9": Link not found')
                    ).link == "ens9"
    assert classify(KUBELET + _plugin("n", 'failed to find plugin "sriov" in path [/x]')
                    ).plugin == "sriov"
    assert classify(THICK + "CheckAPIReadyNow: Daemon not reachable").id == "multus-not-ready"
    # through the Multus guard (node/README.md, multus-guard): the shim found no daemon
    # within its wait, or the daemon came back before its own config and refused the guard's
    assert classify('Failed to create pod sandbox: rpc error: code = Unknown desc = failed to '
                    'setup network for sandbox "0b1c2d": plugin type="multus-shim" '
                    'name="multus-cni-network" failed (add): CmdAdd (shim): timed out '
                    "waiting for the condition").id == "multus-not-ready"
    assert classify(THICK + "LoadNetConf: at least one delegate/clusterNetwork must be "
                    "specified'").id == "multus-not-ready"


def test_unknown_message_is_other_with_its_text() -> None:
    got = classify(KUBELET + _plugin("n", "something new went wrong"))
    assert (got.id, got.detail, got.network) == ("other", "something new went wrong", "n")
    assert innermost("plain words") == "plain words"
