"""``netplumb verify``: does the cluster give the stack's pods what the plan asked?

Through the Kubernetes API only (so on any cluster, with any runtime):

1. each pod of the plan's pods and workloads is found, and its network-status compared with
   its selections (:mod:`.attachments`);
2. per network a pair of probe pods pings across the network and every pod address of the
   plan on it, then is removed (:mod:`.probes`). Probes are skipped, with the reason, where
   no node is schedulable, on static-IPAM networks without ``--probe-address`` and on
   networks without IPAM.

The result is a table per network (or JSON); the exit status says whether every attachment
and every probe that ran is as planned.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..cni.config import parse_cni_config
from ..cni.selection import NetworkSelection
from ..errors import PlanError
from ..kube import Kube, KubeError
from ..plan import Plan
from ..render.nad import NAD_API_VERSION, NAD_KIND
from ..waiting import wait_for
from .attachments import (
    AttachmentCheck,
    NetworkFacts,
    Owner,
    compare_pod,
    expected_of,
    facts_of,
    missing_pods,
    network_status,
    owners_of,
)
from .probes import (
    DEFAULT_IMAGE,
    PROBE_INTERFACE,
    ProbeSpec,
    Target,
    judge,
    parse_report,
    peer_pod,
    pinger_pod,
)
from .progress import QUIET, Progress
from .sandbox import classify

ProbeState = Literal["ok", "failed", "skipped"]


@dataclass
class VerifyOptions:
    probes: bool = True
    image: str = DEFAULT_IMAGE
    probe_addresses: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """``namespace/name`` → two addresses (with prefix) for a static-IPAM network's probes."""
    networks: frozenset[str] | None = None
    """Only these networks (``namespace/name`` or a bare name); ``None``: all."""
    timeout: float = 180.0
    """Seconds to wait for probe pods to run and to finish."""


@dataclass
class ProbeOutcome:
    network: str
    state: ProbeState
    reason: str = ""
    """Why it was skipped."""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pods: list[str] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    seconds: float = 0.0
    mtu: int | None = None
    """``net1``'s MTU as the pinger read it inside its pod."""

    def to_dict(self) -> dict[str, Any]:
        return {"network": self.network, "state": self.state, "reason": self.reason,
                "problems": self.problems, "notes": self.notes, "pods": self.pods,
                "nodes": self.nodes, "seconds": round(self.seconds, 2), "mtu": self.mtu,
                "targets": [{"address": t.address, "owner": t.owner} for t in self.targets]}


@dataclass
class NetworkReport:
    network: str
    facts: NetworkFacts | None
    checks: list[AttachmentCheck] = field(default_factory=list)
    probe: ProbeOutcome | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and (
            self.probe is None or self.probe.state != "failed")

    def to_dict(self) -> dict[str, Any]:
        return {"network": self.network,
                "describe": self.facts.describe() if self.facts else None,
                "ok": self.ok, "attachments": [c.to_dict() for c in self.checks],
                "probe": self.probe.to_dict() if self.probe else None}


@dataclass
class VerifyReport:
    stack: str
    networks: list[NetworkReport]
    seconds: float = 0.0

    @property
    def checks(self) -> list[AttachmentCheck]:
        return [c for n in self.networks for c in n.checks]

    @property
    def ok(self) -> bool:
        return all(n.ok for n in self.networks)

    def probes(self, state: ProbeState) -> list[ProbeOutcome]:
        return [n.probe for n in self.networks if n.probe is not None and n.probe.state == state]

    def summary(self) -> str:
        checks = [c for c in self.checks if not (c.ok and c.notes == ["attached, but not in "
                                                                      "the plan"])]
        good = sum(c.ok for c in checks)
        parts = [f"{good}/{len(checks)} attachments as planned on {len(self.networks)} networks"]
        ran = self.probes("ok") + self.probes("failed")
        if ran:
            parts.append(f"probes {len(self.probes('ok'))}/{len(ran)} networks reachable")
        skipped = self.probes("skipped")
        if skipped:
            reasons = sorted({p.reason for p in skipped})
            parts.append(f"probes skipped on {len(skipped)} networks ({'; '.join(reasons)})")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "ok": self.ok, "seconds": round(self.seconds, 2),
                "summary": self.summary(), "networks": [n.to_dict() for n in self.networks]}


# --------------------------------------------------------------------------- reading pods


def _selected(network: str, wanted: frozenset[str] | None) -> bool:
    return wanted is None or network in wanted or network.partition("/")[2] in wanted


def pods_of(kube: Kube, owner: Owner) -> list[dict[str, Any]]:
    if owner.label_selector is None:
        pod = kube.get("v1", "Pod", owner.name, owner.namespace)
        return [pod] if pod is not None else []
    return kube.list("v1", "Pod", namespace=owner.namespace,
                     label_selector=owner.label_selector)


def live_facts(kube: Kube, key: str) -> NetworkFacts | None:
    """A network the plan names but does not declare (external): from its live NAD."""
    ns, _, name = key.partition("/")
    try:
        nad = kube.get(NAD_API_VERSION, NAD_KIND, name, ns)
    except KubeError:
        return None
    config = ((nad or {}).get("spec") or {}).get("config")
    if not config:
        return None
    try:
        return NetworkFacts.of(key, parse_cni_config(str(config)))
    except PlanError:
        return None


def check_attachments(kube: Kube, plan: Plan, options: VerifyOptions,
                      progress: Progress = QUIET) -> dict[str, NetworkReport]:
    facts = facts_of(plan)
    reports: dict[str, NetworkReport] = {
        key: NetworkReport(key, f) for key, f in facts.items()
        if _selected(key, options.networks)}
    for owner in owners_of(plan):
        expected = [e for e in expected_of(owner) if _selected(e.network, options.networks)]
        if not expected:
            continue
        for e in expected:
            if e.network not in reports:
                reports[e.network] = NetworkReport(e.network, live_facts(kube, e.network))
        progress.update(f"reading pods of {owner}")
        pods = pods_of(kube, owner)
        missing = missing_pods(owner, len(pods))
        if missing:
            for e in expected:
                gap = AttachmentCheck("-", str(owner), e.network, e.interface)
                gap.problems.append(f"{owner}: {missing}")
                reports[e.network].checks.append(gap)
        current = {k: r.facts for k, r in reports.items() if r.facts is not None}
        for pod in pods:
            for check in compare_pod(pod, str(owner), expected, current):
                reports.setdefault(check.network, NetworkReport(check.network, None))
                reports[check.network].checks.append(check)
    return reports


# --------------------------------------------------------------------------- probes


def probe_specs(plan: Plan, reports: Mapping[str, NetworkReport],
                options: VerifyOptions) -> tuple[list[ProbeSpec], list[ProbeOutcome]]:
    """What to probe per network, and the networks skipped (with the reason)."""
    users: dict[str, list[tuple[Owner, NetworkSelection]]] = {}
    for owner in owners_of(plan):
        for e in expected_of(owner):
            users.setdefault(e.network, []).append((owner, e.selection))
    specs: list[ProbeSpec] = []
    skipped: list[ProbeOutcome] = []
    for key, rep in reports.items():
        facts = rep.facts
        if facts is None:
            skipped.append(ProbeOutcome(key, "skipped", "its NAD config is unknown"))
            continue
        addresses = options.probe_addresses.get(key) or options.probe_addresses.get(
            key.partition("/")[2])
        if facts.ipam is None:
            skipped.append(ProbeOutcome(key, "skipped", "no IPAM: no addresses to ping"))
            continue
        if facts.ipam == "static" and addresses is None:
            skipped.append(ProbeOutcome(key, "skipped", "static IPAM: give two free "
                                                        "addresses with --probe-address"))
            continue
        routes = [gw for _, sel in users.get(key, []) for gw in sel.default_route or []]
        by_family: dict[bool, str] = {}
        for gw in routes:
            by_family.setdefault(":" in gw, gw)
        ns, _, name = key.partition("/")
        selection = NetworkSelection.model_validate({
            "name": name, "namespace": ns, "interface": PROBE_INTERFACE,
            **({"default-route": list(by_family.values())} if by_family else {})},
            context={"typed": True})
        node_selector = next((dict(o.node_selector) for o, _ in users.get(key, [])
                              if o.node_selector), {})
        specs.append(ProbeSpec(key, selection, facts.resource_name, node_selector,
                               addresses, facts.mtu))
    return specs, skipped


def _phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def _net1(pod: Mapping[str, Any]) -> dict[str, Any] | None:
    return next((s for s in network_status(pod) or []
                 if s.get("interface") == PROBE_INTERFACE), None)


def _stuck_reason(kube: Kube, pod: Mapping[str, Any]) -> str:
    """Why a probe pod is not running: its sandbox failures, else its scheduling state."""
    meta = pod.get("metadata") or {}
    with contextlib.suppress(KubeError):
        events = kube.list("v1", "Event", namespace=str(meta.get("namespace")),
                           field_selector=f"involvedObject.name={meta.get('name')}")
        failures = [e for e in events if e.get("reason") in ("FailedCreatePodSandBox",
                                                              "NoNetworkFound")]
        if failures:
            last = max(failures, key=lambda e: str(e.get("lastTimestamp") or ""))
            cause = classify(str(last.get("message") or ""))
            return f"{cause.title}: {cause.detail}"
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") != "True":
            return f"not scheduled: {c.get('message') or c.get('reason')}"
    return f"still {_phase(pod)}"


def _terminated(pod: Mapping[str, Any]) -> dict[str, Any] | None:
    for c in (pod.get("status") or {}).get("containerStatuses") or []:
        term = (c.get("state") or {}).get("terminated")
        if term:
            return dict(term)
    return None


class ProbeRun:
    """One run of probes: creates, waits, reads, and always removes its pods."""

    def __init__(self, kube: Kube, image: str, timeout: float, progress: Progress) -> None:
        self.kube = kube
        self.image = image
        self.timeout = timeout
        self.progress = progress
        self.run_id = secrets.token_hex(3)
        self.created: list[tuple[str, str]] = []

    def _create(self, manifest: Mapping[str, Any]) -> str | None:
        meta = manifest["metadata"]
        try:
            self.kube.create(manifest)
        except KubeError as exc:
            return f"creating probe pod {meta['name']}: {exc.message}"
        self.created.append((str(meta["namespace"]), str(meta["name"])))
        return None

    def _get(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.kube.get("v1", "Pod", name, namespace)
        except KubeError:
            return None

    def _wait(self, pods: Mapping[str, tuple[str, str]], done: Any, what: str
              ) -> dict[str, dict[str, Any] | None]:
        """Poll ``pods`` (key → (namespace, name)) until ``done(pod)`` for each or timeout;
        returns the last state of each."""
        last: dict[str, dict[str, Any] | None] = {}
        pending = dict(pods)

        def all_done() -> bool:
            for key, (ns, name) in list(pending.items()):
                pod = self._get(ns, name)
                last[key] = pod
                if pod is not None and done(pod):
                    del pending[key]
            self.progress.update(f"{what}: {len(pods) - len(pending)}/{len(pods)}")
            return not pending

        if pending:
            # what is still pending at the timeout is reported from its last state
            with contextlib.suppress(TimeoutError):
                wait_for(what, all_done, timeout=self.timeout, interval=0.5, retry=())
        return last

    def run(self, specs: Sequence[ProbeSpec],
            checks: Mapping[str, Sequence[AttachmentCheck]]) -> list[ProbeOutcome]:
        outcomes = {s.network: ProbeOutcome(s.network, "ok") for s in specs}
        started = time.monotonic()
        try:
            self._run(specs, checks, outcomes)
        finally:
            self.cleanup()
        took = time.monotonic() - started
        for o in outcomes.values():
            o.seconds = took
            if o.problems and o.state != "skipped":
                o.state = "failed"
        return list(outcomes.values())

    def _run(self, specs: Sequence[ProbeSpec],
             checks: Mapping[str, Sequence[AttachmentCheck]],
             outcomes: dict[str, ProbeOutcome]) -> None:
        self.progress.step(f"starting probe pods on {len(specs)} networks "
                           f"(run {self.run_id}, image {self.image})")
        peers: dict[str, tuple[str, str]] = {}
        for s in specs:
            manifest = peer_pod(s, self.run_id, self.image)
            problem = self._create(manifest)
            if problem:
                outcomes[s.network].problems.append(problem)
                continue
            peers[s.network] = (s.namespace, manifest["metadata"]["name"])
            outcomes[s.network].pods.append(manifest["metadata"]["name"])

        def peer_up(pod: Mapping[str, Any]) -> bool:
            net1 = _net1(pod)
            return _phase(pod) in ("Running", "Succeeded", "Failed") and (
                _phase(pod) != "Running" or bool(net1 and net1.get("ips")))

        state = self._wait(peers, peer_up, "probe peers running")
        pingers: dict[str, tuple[str, str]] = {}
        for s in specs:
            out = outcomes[s.network]
            if s.network not in peers:
                continue
            pod = state.get(s.network)
            net1 = _net1(pod) if pod else None
            if pod is None or _phase(pod) != "Running" or not net1 or not net1.get("ips"):
                out.problems.append("probe peer did not start: " + (
                    _stuck_reason(self.kube, pod) if pod else "it is gone"))
                continue
            out.nodes.append(str((pod.get("spec") or {}).get("nodeName") or "?"))
            out.targets = [Target(str(ip), "probe peer") for ip in net1["ips"][:1]]
            out.targets += [Target(c.ips[0], c.pod) for c in checks.get(s.network, ())
                            if c.ok and c.ips and c.pod != "-"]
            manifest = pinger_pod(s, self.run_id, self.image,
                                  [t.address for t in out.targets])
            problem = self._create(manifest)
            if problem:
                out.problems.append(problem)
                continue
            pingers[s.network] = (s.namespace, manifest["metadata"]["name"])
            out.pods.append(manifest["metadata"]["name"])
        state = self._wait(pingers, lambda p: _phase(p) in ("Succeeded", "Failed"),
                           "probe pingers finished")
        for s in specs:
            if s.network in pingers:
                self._read(s, state.get(s.network), outcomes[s.network])
        self.progress.done()

    def _read(self, spec: ProbeSpec, pod: dict[str, Any] | None, out: ProbeOutcome) -> None:
        if pod is None:
            out.problems.append("the pinger pod is gone")
            return
        out.nodes.append(str((pod.get("spec") or {}).get("nodeName") or "?"))
        term = _terminated(pod)
        if term is None:
            if _phase(pod) == "Running":
                out.problems.append(f"the pinger did not finish within {self.timeout:.0f}s "
                                    "(is a container running on its node?)")
            else:
                out.problems.append("the pinger did not start: "
                                    + _stuck_reason(self.kube, pod))
            return
        text = str(term.get("message") or "")
        if "## end" not in text:
            with contextlib.suppress(KubeError):
                text = self.kube.pod_log(str(pod["metadata"]["namespace"]),
                                         str(pod["metadata"]["name"]))
        report = parse_report(text)
        net1 = _net1(pod) or {}
        problems, notes = judge(report, out.targets, [str(i) for i in net1.get("ips") or []],
                                str(net1.get("mac") or ""), spec.selection.default_route or [],
                                spec.mtu)
        out.mtu = report.mtu
        if not report.link and not report.pings:
            problems = [f"the pinger ended (exit {term.get('exitCode')}, "
                        f"{term.get('reason') or 'no reason'}) without a report"]
        out.problems += problems
        out.notes += notes

    def cleanup(self, wait: float = 30.0) -> None:
        """Delete this run's pods and wait (briefly) until they are gone."""
        if not self.created:
            return
        self.progress.update(f"removing {len(self.created)} probe pods")
        for ns, name in self.created:
            with contextlib.suppress(KubeError):
                self.kube.delete("v1", "Pod", name, ns, grace_seconds=0)
        left = list(self.created)

        def all_gone() -> bool:
            nonlocal left
            left = [(ns, n) for ns, n in left if self._get(ns, n) is not None]
            return not left

        with contextlib.suppress(TimeoutError):  # what is left is kept in self.created
            wait_for("the probe pods to be gone", all_gone, timeout=wait, interval=0.5,
                     retry=())
        self.progress.done()
        self.created = left


def run_probes(kube: Kube, plan: Plan, reports: dict[str, NetworkReport],
               options: VerifyOptions, progress: Progress = QUIET) -> None:
    """Probe every selected network (or record why not) into ``reports``."""
    nodes = kube.list("v1", "Node")
    if not any(not (n.get("spec") or {}).get("unschedulable") for n in nodes):
        for rep in reports.values():
            rep.probe = ProbeOutcome(rep.network, "skipped", "no schedulable node")
        return
    specs, skipped = probe_specs(plan, reports, options)
    for s in skipped:
        reports[s.network].probe = s
    run = ProbeRun(kube, options.image, options.timeout, progress)
    for outcome in run.run(specs, {k: r.checks for k, r in reports.items()}):
        reports[outcome.network].probe = outcome


def verify(kube: Kube, stack: str, plan: Plan, options: VerifyOptions | None = None,
           progress: Progress = QUIET) -> VerifyReport:
    options = options or VerifyOptions()
    t0 = time.monotonic()
    progress.step(f"reading the pods of stack {stack}")
    reports = check_attachments(kube, plan, options, progress)
    if options.probes:
        run_probes(kube, plan, reports, options, progress)
    progress.done()
    return VerifyReport(stack, list(reports.values()), time.monotonic() - t0)


# --------------------------------------------------------------------------- output


def _table(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in rows]


def format_text(report: VerifyReport) -> str:
    lines: list[str] = []
    for net in report.networks:
        head = f"network {net.network}"
        if net.facts is not None:
            head += f" ({net.facts.describe()})"
        lines.append(head)
        rows = [["pod", "interface", "addresses", "mac", "result"]]
        for c in net.checks:
            result = "ok" if c.ok else "FAIL: " + "; ".join(c.problems)
            if c.notes:
                result += " (" + "; ".join(c.notes) + ")"
            rows.append([c.pod, c.interface, ",".join(c.ips) or "-", c.mac or "-", result])
        p = net.probe
        if p is not None:
            if p.state == "skipped":
                result = f"skipped: {p.reason}"
            elif p.state == "ok":
                result = (f"ok: {len(p.targets)} addresses answered"
                          + (f" (nodes {', '.join(sorted(set(p.nodes)))})" if p.nodes else "")
                          + (f", mtu {p.mtu} measured in the pod" if p.mtu else ""))
                if p.notes:
                    result += "; " + "; ".join(p.notes)
            else:
                result = "FAIL: " + "; ".join(p.problems)
            rows.append(["probe", PROBE_INTERFACE, "-", "-", result])
        if len(rows) == 1:
            rows.append(["-", "-", "-", "-", "no pod of the plan selects it"])
        lines += _table(rows)
    lines.append(f"netplumb verify {report.stack}: {'ok' if report.ok else 'FAILED'}: "
                 f"{report.summary()} ({report.seconds:.1f}s)")
    return "\n".join(lines) + "\n"


def format_json(report: VerifyReport) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"


def problems(report: VerifyReport) -> Iterable[str]:
    """One line per problem: ``<pod> <network> <interface>: <problem>``."""
    for net in report.networks:
        for c in net.checks:
            for p in c.problems:
                yield f"{c.pod} {c.network} {c.interface}: {p}"
        if net.probe is not None and net.probe.state == "failed":
            for p in net.probe.problems:
                yield f"probe {net.network}: {p}"
