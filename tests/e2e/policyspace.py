"""Helpers of the policy tests (``test_policies.py``): what a policy means, computed here, and
what the data path does, measured from inside the pods.

* :class:`Meaning` decides, from the policies as a stack file spells them (the
  ``guardrails`` keys: ``pod_selector``, ``namespace_selector``, ``ip_block`` with
  ``except``, ``ports`` with ``end_port``, protocol-only ports, ``policy_types``), whether one
  pod may open a connection to another on one network: the source's egress and the
  destination's ingress both allow it, each being allowed when no policy of that direction
  selects the pod on that network, or one rule of one of them matches (policies add up).
  NetworkPolicies act on ``eth0``; a MultiNetworkPolicy on the networks its ``policy_for``
  names, for pods attached to them, with peers matched by their address on that network.
  One rule is multi-networkpolicy-iptables' own (its ``pkg/server/server.go``): a pod that
  a MultiNetworkPolicy of a direction selects (the pod being on one of its ``policy_for``
  networks) is isolated in that direction on every secondary network the enforcer acts for
  (every interface jumps to one chain that ends in a DROP), while the policy's rules allow
  only on its ``policy_for`` networks. So a policy for net1 denies the pods it selects on
  net2 as well. It never looks at the cluster or the enforcers.
* :func:`probe` runs one Python per client pod inside its network namespace (from the host,
  as :func:`tests.e2e.multinode.http_get` does), which opens every connection of the client's
  share of a matrix at once: TCP (an HTTP GET answered by busybox httpd, which names the pod
  it runs in) and UDP (an echo from :func:`udp_echo`, a Python server in the pod's namespace,
  busybox's ``nc`` having no UDP).
* :class:`TeamStack`: a small team stack through the real engine (a copy of the project, a
  backend of its own), with the underlay links its NADs name on every node; destroyed,
  removed and its links taken away on the way out.
* :func:`namespaces`: test namespaces (with labels), deleted on the way out, waiting until
  their pods are gone.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness import engine, podnetwork, underlay
from harness.cluster.api import Api, pod_ready, wait_for
from harness.node.images import TOOLBOX_IMAGE
from harness.nodens import PodNetns
from harness.pytest_fixtures import NodeHandle
from netplumb.cni.selection import NETWORK_STATUS_ANNOTATION, NETWORKS_ANNOTATION

Eth0 = "eth0"
"""The default network, as :class:`Member` addresses and probes name it."""
NS_NAME_LABEL = "kubernetes.io/metadata.name"

# ------------------------------------------------------------------------------ the meaning


@dataclass(frozen=True)
class Member:
    """A pod as the policies see it."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    node: str
    addresses: Mapping[str, str] = field(default_factory=dict)
    """Network (``eth0``, or a NAD's ``namespace/name``) → its address there."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def _selects(selector: Mapping[str, str] | None, labels: Mapping[str, str]) -> bool:
    """A ``matchLabels`` selector (``{}`` selects everything)."""
    return selector is not None and all(labels.get(k) == v for k, v in selector.items())


def types_of(policy: Mapping[str, Any]) -> list[str]:
    given = policy.get("policy_types")
    if given is not None:
        return list(given)
    return ["Ingress", "Egress"] if policy.get("egress") else ["Ingress"]


def _targets(policy: Mapping[str, Any]) -> list[str]:
    ns = policy.get("namespace", "default")
    return [t if "/" in t else f"{ns}/{t}" for t in policy.get("policy_for") or []]


def _port_matches(rule_port: Mapping[str, Any], proto: str, port: int) -> bool:
    if rule_port.get("protocol", "TCP") != proto:
        return False
    first = rule_port.get("port")
    if first is None:
        return True  # protocol only: every port
    last = rule_port.get("end_port")
    return bool(first == port if last is None else first <= port <= last)


@dataclass
class Meaning:
    """What the policies allow (module docstring)."""

    network_policies: Sequence[Mapping[str, Any]]
    multi_network_policies: Sequence[Mapping[str, Any]]
    namespace_labels: Mapping[str, Mapping[str, str]]
    """Every namespace a member runs in → its labels (``kubernetes.io/metadata.name``
    included, as Kubernetes sets it)."""

    def _applying(self, pod: Member, network: str, direction: str
                  ) -> list[Mapping[str, Any]]:
        if network not in pod.addresses:
            return []
        if network == Eth0:
            candidates = self.network_policies
        else:  # a policy for any secondary network of the pod isolates all of them
            secondary = set(pod.addresses) - {Eth0}
            candidates = [p for p in self.multi_network_policies
                          if secondary & set(_targets(p))]
        return [p for p in candidates
                if p.get("namespace", "default") == pod.namespace
                and _selects(p.get("pod_selector") or {}, pod.labels)
                and direction in types_of(p)]

    def _peer_matches(self, peer: Mapping[str, Any], policy: Mapping[str, Any],
                      other: Member, network: str) -> bool:
        address = other.addresses.get(network)
        if address is None:
            return False  # no address on this network: nothing to match
        block = peer.get("ip_block")
        if block is not None:
            ip = ipaddress.ip_address(address)
            return ip in ipaddress.ip_network(block["cidr"]) and not any(
                ip in ipaddress.ip_network(ex) for ex in block.get("except") or [])
        ns_selector = peer.get("namespace_selector")
        if ns_selector is None:
            in_ns = other.namespace == policy.get("namespace", "default")
        else:
            in_ns = _selects(ns_selector, self.namespace_labels.get(other.namespace, {}))
        pod_selector = peer.get("pod_selector")
        return in_ns and (pod_selector is None or _selects(pod_selector, other.labels))

    def _direction_allows(self, pod: Member, other: Member, network: str, proto: str,
                          port: int, direction: str) -> bool:
        applying = self._applying(pod, network, direction)
        if not applying:
            return True  # not isolated in this direction on this network
        key = "ingress" if direction == "Ingress" else "egress"
        for policy in applying:
            if network != Eth0 and network not in _targets(policy):
                continue  # its rules allow on its own networks only
            for rule in policy.get(key) or []:
                ports = rule.get("ports") or []
                peers = rule.get("peers") or []
                if ports and not any(_port_matches(p, proto, port) for p in ports):
                    continue
                if peers and not any(self._peer_matches(p, policy, other, network)
                                     for p in peers):
                    continue
                return True
        return False

    def allows(self, client: Member, server: Member, network: str, proto: str,
               port: int) -> bool:
        """May ``client`` open a ``proto`` connection to ``server``'s ``port`` on
        ``network``?"""
        return (self._direction_allows(client, server, network, proto, port, "Egress")
                and self._direction_allows(server, client, network, proto, port, "Ingress"))


# ------------------------------------------------------------------------------ probing


@dataclass(frozen=True, order=True)
class Probe:
    """One connection of a matrix: ``client`` to ``server`` on ``network``, ``proto`` and
    ``port``."""

    client: str
    server: str
    network: str
    proto: str
    port: int

    def __str__(self) -> str:
        return f"{self.client} -> {self.server} {self.proto}/{self.port} on {self.network}"


_PROBER = r"""
import json, os, socket, sys
from concurrent.futures import ThreadPoolExecutor
targets, timeout = json.loads(sys.argv[1]), float(sys.argv[2])

def tcp(host, port):
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
    except OSError:
        return None
    if not data.startswith(b"HTTP/"):
        return None
    return data.split(b"\r\n\r\n", 1)[-1].decode(errors="replace").strip()

def udp(host, port):
    token = os.urandom(8).hex().encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout / 2)
        for _ in range(2):  # the first datagram may wait for neighbour resolution
            try:
                s.sendto(token, (host, port))
                data, _ = s.recvfrom(512)
            except OSError:
                continue
            if data.startswith(token + b" "):
                return data[len(token) + 1:].decode(errors="replace")
    return None

with ThreadPoolExecutor(max(1, len(targets))) as pool:
    got = list(pool.map(lambda t: (tcp if t[2] == "TCP" else udp)(t[0], t[1]), targets))
print(json.dumps(got))
"""


def _probe_client(netns: PodNetns, targets: list[tuple[str, int, str]],
                  timeout: float) -> list[str | None]:
    proc = subprocess.run(
        underlay.exec_argv(netns, [sys.executable, "-c", _PROBER, json.dumps(targets),
                                   str(timeout)]),
        capture_output=True, text=True, timeout=timeout * 3 + 60, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the prober in {netns} failed: {proc.stderr.strip()[-500:]}")
    return list(json.loads(proc.stdout))


def probe(probes: Iterable[Probe], members: Mapping[str, Member],
          netns: Mapping[str, PodNetns], timeout: float = 2.0) -> dict[Probe, bool]:
    """Open every probe's connection (each client's at once, the clients in parallel);
    whether it was answered. An answer from a pod other than the probe's server is an
    error (two pods with one address)."""
    by_client: dict[str, list[Probe]] = {}
    for p in probes:
        by_client.setdefault(p.client, []).append(p)

    def run(client: str) -> list[tuple[Probe, str | None]]:
        mine = by_client[client]
        targets = [(members[p.server].addresses[p.network], p.port, p.proto) for p in mine]
        return list(zip(mine, _probe_client(netns[client], targets, timeout), strict=True))

    out: dict[Probe, bool] = {}
    with ThreadPoolExecutor(len(by_client) or 1) as pool:
        for results in pool.map(run, list(by_client)):
            for p, answer in results:
                if answer is not None and answer != p.server:
                    raise AssertionError(f"{p}: answered by {answer!r}, not {p.server}")
                out[p] = answer is not None
    return out


def differences(expected: Mapping[Probe, bool], got: Mapping[Probe, bool]) -> list[str]:
    """Probes whose outcome is not the expected one, as lines."""
    return [f"{p}: expected {'open' if want else 'closed'}, "
            f"{'connected' if got[p] else 'no connection'}"
            for p, want in sorted(expected.items()) if got.get(p) != want]


def settle(expected: Mapping[Probe, bool], members: Mapping[str, Member],
           netns: Mapping[str, PodNetns], *, timeout: float, probe_timeout: float = 2.0
           ) -> tuple[dict[Probe, bool], float, int]:
    """Probe until the whole matrix is ``expected`` twice in a row (the enforcers apply a
    change some time after the API has it, and what they applied must hold), or until
    ``timeout``. Returns the last observation, the seconds until the first one that matched
    (or ``timeout``) and the passes."""
    t0 = time.monotonic()
    passes, matched_at = 0, None
    while True:
        got = probe(expected, members, netns, probe_timeout)
        passes += 1
        if not differences(expected, got):
            if matched_at is not None:
                return got, matched_at, passes
            matched_at = time.monotonic() - t0
            continue
        matched_at = None
        if time.monotonic() - t0 > timeout:
            return got, time.monotonic() - t0, passes
        time.sleep(0.5)


def matrix(meaning: Meaning, members: Mapping[str, Member], networks: Sequence[str],
           ports: Sequence[tuple[str, int]], clients: Iterable[str] | None = None,
           servers: Iterable[str] | None = None) -> dict[Probe, bool]:
    """Every client → server (not itself) × network both have × port, with what
    ``meaning`` says of it."""
    out: dict[Probe, bool] = {}
    for c in clients if clients is not None else members:
        for s in servers if servers is not None else members:
            if c == s:
                continue
            for net in networks:
                if net not in members[c].addresses or net not in members[s].addresses:
                    continue
                for proto, port in ports:
                    out[Probe(c, s, net, proto, port)] = meaning.allows(
                        members[c], members[s], net, proto, port)
    return out


# ------------------------------------------------------------------------------ pods


def server_pod(name: str, labels: Mapping[str, str], node: str, tcp_ports: Sequence[int],
               selections: list[dict[str, Any]] | None = None, marker: str | None = None
               ) -> dict[str, Any]:
    """A toolbox pod on ``node`` with a busybox httpd on each of ``tcp_ports`` (one
    container; every httpd serves a page with ``marker``, default the pod's name)."""
    meta: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if selections:
        meta["annotations"] = {NETWORKS_ANNOTATION: json.dumps(selections)}
    serve = "; ".join(f"httpd -p {p} -h /www" for p in tcp_ports)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {
        "nodeSelector": {"kubernetes.io/hostname": node},
        "containers": [{"name": "main", "image": TOOLBOX_IMAGE, "command": [
            "sh", "-c", f"mkdir -p /www && echo {marker or name} > /www/index.html && {serve}; "
                        "exec sleep 86400"]}],
        "terminationGracePeriodSeconds": 0, "automountServiceAccountToken": False}}


def network_status(pod: Any) -> dict[str, str]:
    """Interface → first address Multus reports for it (network-status)."""
    notes = pod["metadata"].get("annotations") or {}
    out: dict[str, str] = {}
    for s in json.loads(notes.get(NETWORK_STATUS_ANNOTATION, "[]")):
        if s.get("interface") and s.get("ips"):
            out[str(s["interface"])] = str(s["ips"][0])
    return out


def run_pods(api: Api, nodes: NodeHandle, bodies: Mapping[str, dict[str, Any]],
             interfaces: Mapping[str, str] | None = None, timeout: float = 180
             ) -> tuple[dict[str, Any], dict[str, PodNetns]]:
    """Create ``bodies`` (``namespace`` → … keyed by ``namespace/name``), wait until every
    one runs on its node with the interfaces of ``interfaces`` (``interface`` → network),
    and return the pods and their network namespaces by key."""
    for key, body in bodies.items():
        ns = key.split("/")[0]
        api.create(f"/api/v1/namespaces/{ns}/pods", body)
    pods: dict[str, Any] = {}
    wanted = set((interfaces or {}).keys())

    def settled(key: str) -> Any:
        ns, name = key.split("/")
        pod = api.get(f"/api/v1/namespaces/{ns}/pods/{name}")
        if not pod_ready(pod):
            return None
        selected = bool((pod["metadata"].get("annotations") or {}).get(NETWORKS_ANNOTATION))
        return pod if not selected or wanted <= set(network_status(pod)) else None

    for key in bodies:
        pods[key] = wait_for(f"pod {key} running with its interfaces",
                             functools.partial(settled, key), timeout=timeout, interval=0.5)
        want = bodies[key]["spec"]["nodeSelector"]["kubernetes.io/hostname"]
        assert pods[key]["spec"]["nodeName"] == want, (key, pods[key]["spec"]["nodeName"])
    netns = {key: nodes.pod_netns(*key.split("/")) for key in bodies}
    return pods, netns


_UDP_ECHO = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
name = sys.argv[2].encode()
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data + b" " + name, peer)
"""


@contextlib.contextmanager
def udp_echo(servers: Mapping[str, PodNetns], port: int) -> Iterator[None]:
    """A UDP echo server on ``port`` in each pod's network namespace (a Python process from
    the host; the reply carries the key ``servers`` gives the pod), stopped on the way
    out."""
    procs: list[subprocess.Popen[str]] = []
    try:
        for key, netns in servers.items():
            proc = subprocess.Popen(
                underlay.exec_argv(netns, [sys.executable, "-c", _UDP_ECHO, str(port), key]),
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                start_new_session=True)
            procs.append(proc)
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"UDP echo in {key} did not start: {line}")
        yield
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


# ------------------------------------------------------------------------------ namespaces


def _gone(api: Api, path: str) -> bool:
    return api.get_or_none(path) is None


@contextlib.contextmanager
def namespaces(api: Api, labelled: Mapping[str, Mapping[str, str]]) -> Iterator[
        dict[str, dict[str, str]]]:
    """Create the namespaces (name → labels); yield name → the labels they carry
    (``kubernetes.io/metadata.name`` included). On the way out delete them and wait until
    they are gone (their pods' CNI DELs have run)."""
    made: list[str] = []
    try:
        for name, labels in labelled.items():
            if api.get_or_none(f"/api/v1/namespaces/{name}") is not None:
                raise AssertionError(f"namespace {name} is left from an earlier run")
            api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": name,
                                                           "labels": dict(labels)}})
            made.append(name)
        for name in made:
            wait_for(f"namespace {name}'s default ServiceAccount", functools.partial(
                api.get_or_none, f"/api/v1/namespaces/{name}/serviceaccounts/default"),
                timeout=60)
        yield {name: {**labels, NS_NAME_LABEL: name} for name, labels in labelled.items()}
    finally:
        for name in made:
            api.delete(f"/api/v1/namespaces/{name}")
        for name in made:
            wait_for(f"namespace {name} gone", functools.partial(
                _gone, api, f"/api/v1/namespaces/{name}"), timeout=180, interval=1)


# ------------------------------------------------------------------------------ team stacks


def stack_text(spec: Mapping[str, Any]) -> str:
    return str(yaml.safe_dump({"config": {"netplumb:spec": dict(spec)}}, sort_keys=False))


class TeamStack:
    """A team stack through the real engine: :meth:`up` with a spec (the stack file is
    rewritten each time), :meth:`destroy`; :meth:`close` destroys it, removes it and the
    underlay links it needed."""

    def __init__(self, name: str, tmp: Path, nodes: NodeHandle) -> None:
        self.name = name
        self.nodes = nodes
        self.project = engine.project_copy(tmp / f"{name}-project")
        self.backend = tmp / f"{name}-backend"
        self.file = self.project / "stacks" / f"Pulumi.{name}.yaml"
        self.links: list[str] = []
        self._stack: Any = None

    def write(self, spec: Mapping[str, Any]) -> Path:
        self.file.write_text(stack_text(spec))
        return self.file

    def _st(self) -> Any:
        if self._stack is None:
            self._stack = engine.stack(self.name, work_dir=self.project,
                                       kubeconfig=self.nodes.cluster.kubeconfig,
                                       backend=self.backend)
        return self._stack

    def up(self, spec: Mapping[str, Any]) -> float:
        """``pulumi up`` of ``spec``; the seconds it took."""
        self.write(spec)
        self.links += self.nodes.ensure_underlay(podnetwork.stack_links(self.file))
        t0 = time.monotonic()
        result = self._st().up(on_output=engine.printer(f"  [{self.name}] "))
        assert result.summary.result == "succeeded", result.summary
        return time.monotonic() - t0

    def preview(self, spec: Mapping[str, Any]) -> Any:
        self.write(spec)
        return self._st().preview(on_output=engine.printer(f"  [{self.name}] "))

    def destroy(self) -> float:
        t0 = time.monotonic()
        self._st().destroy(on_output=engine.printer(f"  [{self.name}] "))
        return time.monotonic() - t0

    def close(self) -> None:
        try:
            if self._stack is not None:
                self._stack.destroy(on_output=engine.printer(f"  [{self.name}] "))
                self._stack.workspace.remove_stack(self.name)
        finally:
            self.nodes.remove_underlay(self.links)


@contextlib.contextmanager
def team_stack(name: str, tmp: Path, nodes: NodeHandle) -> Iterator[TeamStack]:
    stack = TeamStack(name, tmp, nodes)
    try:
        yield stack
    finally:
        stack.close()


def timed_until(what: str, done: Callable[[], bool], timeout: float,
                interval: float = 0.2) -> float:
    """Seconds until ``done()`` (polled); fails naming ``what`` after ``timeout``."""
    t0 = time.monotonic()
    wait_for(what, done, timeout=timeout, interval=interval)
    return time.monotonic() - t0
