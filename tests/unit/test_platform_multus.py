"""MultusInstall (the guide's step 2 and its validation), rendered and under mocks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from netplumb import PlanError
from netplumb.args.flannel import FlannelArgs
from netplumb.args.images import MULTUS_THICK_IMAGE, MULTUS_THIN_IMAGE
from netplumb.args.multus import MultusInstallArgs, ServiceMonitorArgs
from netplumb.args.resources import quantity_value
from netplumb.components.multus import MultusInstall
from netplumb.render.multus import (
    daemon_config,
    daemonset,
    install_manifests,
    multus_manifests,
    service_monitor,
    thin_args,
    validation_steps,
)

from .pulumi_mocks import run_program
from .test_platform_flannel import SEED_FLANNEL_ARGS, refused

SEED_ARGS = MultusInstallArgs(flannel=FlannelArgs(iface="enp0s8"))


def kinds(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["kind"]: m for m in manifests}


def pod_spec(args: MultusInstallArgs) -> dict[str, Any]:
    spec: dict[str, Any] = daemonset(args)["spec"]["template"]["spec"]
    return spec


def mounts(container: dict[str, Any]) -> dict[str, str]:
    return {m["name"]: m["mountPath"] for m in container["volumeMounts"]}


# -- the guide's thick DaemonSet -------------------------------------------------------------


def test_seed_thick_daemonset_is_where_the_guide_looks() -> None:
    ds = daemonset(SEED_ARGS)
    # `kubectl get pods -n kube-system | grep multus`, `kubectl logs -l name=multus`
    assert ds["metadata"]["namespace"] == "kube-system"
    assert "multus" in ds["metadata"]["name"]
    assert ds["spec"]["template"]["metadata"]["labels"]["name"] == "multus"
    assert ds["spec"]["selector"]["matchLabels"] == {"name": "multus"}
    spec = ds["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True and spec["hostPID"] is True
    assert spec["serviceAccountName"] == "multus"
    [daemon] = spec["containers"]
    assert daemon["image"] == MULTUS_THICK_IMAGE
    assert daemon["command"] == ["/usr/src/multus-cni/bin/multus-daemon"]
    assert daemon["securityContext"] == {"privileged": True}
    [init] = spec["initContainers"]
    assert init["command"] == ["/usr/src/multus-cni/bin/install_multus", "-d",
                               "/host/opt/cni/bin", "-t", "thick"]
    m = mounts(daemon)
    # delegates are run by their host path, so the bin dir is mounted at the same path
    assert m["cnibin"] == "/opt/cni/bin"
    assert m["cni"] == "/host/etc/cni/net.d"
    assert m["multus-daemon-config"] == "/etc/cni/net.d/multus.d"
    assert m["hostroot"] == "/hostroot"
    assert {"name": "host-run-netns", "mountPath": "/run/netns",
            "mountPropagation": "HostToContainer"} in daemon["volumeMounts"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert set(m) <= set(volumes)
    assert volumes["hostroot"]["hostPath"]["path"] == "/"
    assert {"operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert {"operator": "Exists", "effect": "NoExecute"} in spec["tolerations"]


def test_seed_daemon_config() -> None:
    conf = json.loads(kinds(multus_manifests(SEED_ARGS))["ConfigMap"]["data"]
                      ["daemon-config.json"])
    assert conf == daemon_config(SEED_ARGS)
    assert conf["chrootDir"] == "/hostroot"
    assert conf["confDir"] == "/etc/cni/multus/net.d"
    assert conf["cniConfigDir"] == "/host/etc/cni/net.d"
    assert conf["multusAutoconfigDir"] == "/host/etc/cni/net.d"
    assert conf["multusConfigFile"] == "auto"
    assert conf["socketDir"] == "/host/run/multus/"
    assert conf["logToStderr"] is True and conf["logLevel"] == "verbose"
    assert conf["namespaceIsolation"] is False
    # `multusConfigFile: auto` needs a cniVersion (the daemon refuses to start without)
    assert conf["cniVersion"] == "0.3.1"
    # with Flannel installed, Multus waits for its subnet file (reboot race, #1221/#1387),
    # seen through the daemon's /host/run mount
    assert conf["readinessindicatorfile"] == "/host/run/flannel/subnet.env"
    assert "metricsPort" not in conf


def test_connection_limit_in_the_daemon_config() -> None:
    # 16 by default (chosen from the measured burst: docs in MultusInstallArgs); null is
    # upstream's default, no limit; the daemon reads connectionLimit
    assert daemon_config(SEED_ARGS)["connectionLimit"] == 16
    assert "connectionLimit" not in daemon_config(
        MultusInstallArgs.parse({"connection_limit": None}))
    args = MultusInstallArgs.parse({"connection_limit": 150})
    conf = json.loads(kinds(multus_manifests(args))["ConfigMap"]["data"]["daemon-config.json"])
    assert conf["connectionLimit"] == 150
    assert SEED_ARGS.node_max_pods == 110


def test_resources_survive_pod_bursts() -> None:
    [daemon] = pod_spec(SEED_ARGS)["containers"]
    limits, requests = daemon["resources"]["limits"], daemon["resources"]["requests"]
    # upstream's quickstart: 50Mi limit, OOM-killed under bursts (multus-cni #1346)
    assert quantity_value(limits["memory"]) >= 10 * quantity_value("50Mi")
    assert quantity_value(requests["memory"]) <= quantity_value(limits["memory"])
    assert "cpu" not in limits  # no throttling of the CNI path
    assert pod_spec(SEED_ARGS)["priorityClassName"] == "system-node-critical"


def test_rbac_is_what_multus_needs() -> None:
    k = kinds(multus_manifests(SEED_ARGS))
    rules = k["ClusterRole"]["rules"]
    # reads every k8s.cni.cncf.io resource; writes none (the network admin role alone does)
    assert {"apiGroups": ["k8s.cni.cncf.io"], "resources": ["*"],
            "verbs": ["get", "list", "watch"]} in rules
    pods = next(r for r in rules if "pods" in r["resources"])
    assert {"pods", "pods/status"} <= set(pods["resources"])
    assert {"get", "update"} <= set(pods["verbs"])
    events = next(r for r in rules if "events" in r["resources"])
    assert {"create", "patch"} <= set(events["verbs"])
    assert k["ClusterRoleBinding"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "multus", "namespace": "kube-system"}]
    assert k["ServiceAccount"]["metadata"] == {
        "name": "multus", "namespace": "kube-system",
        "labels": k["ServiceAccount"]["metadata"]["labels"]}


def test_install_order_flannel_then_crd_then_multus() -> None:
    order = [(m["kind"], m["metadata"]["name"]) for m in install_manifests(SEED_ARGS)]
    # the node plugin first: it installs the plugins Flannel's config delegates to
    assert order[:4] == [("ClusterRole", "netplumb-node"), ("ClusterRoleBinding",
                         "netplumb-node"), ("ServiceAccount", "netplumb-node"),
                         ("DaemonSet", "netplumb-node")]
    assert order[4] == ("Namespace", "kube-flannel")
    assert order.index(("CustomResourceDefinition",
                        "network-attachment-definitions.k8s.cni.cncf.io")) < order.index(
        ("DaemonSet", "kube-multus-ds"))
    flannel_ds = next(m for m in install_manifests(SEED_ARGS)
                      if m["metadata"]["name"] == "kube-flannel-ds")
    assert flannel_ds["spec"]["template"]["spec"]["containers"][0]["args"][:3] == (
        SEED_FLANNEL_ARGS)
    none = MultusInstallArgs(default_network="none", install_nad_crd=False)
    assert {m["kind"] for m in install_manifests(none)} == {
        "ClusterRole", "ClusterRoleBinding", "ServiceAccount", "ConfigMap", "DaemonSet"}


# -- the guide's validation paths ----------------------------------------------------------


def test_validation_paths_thin_match_the_guide() -> None:
    v = validation_steps(MultusInstallArgs(mode="thin"))
    paths = [p.paths for p in v.node_paths]
    assert ("/opt/cni/bin/multus",) in paths  # guide: ls -la /opt/cni/bin/multus
    assert ("/etc/cni/net.d/00-multus.conf",) in paths  # guide: cat 00-multus.conf
    conf = next(p for p in v.node_paths if "/etc/cni/net.d/00-multus.conf" in p.paths)
    assert conf.json_fields == {"type": "multus"}
    assert (v.namespace, v.daemonset, dict(v.pod_labels)) == (
        "kube-system", "kube-multus-ds", {"name": "multus"})


def test_validation_paths_thick_correct_the_guide() -> None:
    v = validation_steps(SEED_ARGS)
    paths = [p for np in v.node_paths for p in np.paths]
    # thick installs the shim, not /opt/cni/bin/multus as the guide checks
    assert "/opt/cni/bin/multus-shim" in paths and "/opt/cni/bin/multus" not in paths
    conf = next(p for p in v.node_paths if "/etc/cni/net.d/00-multus.conf" in p.paths)
    assert conf.json_fields["type"] == "multus-shim"
    assert "/run/multus/multus.sock" in paths
    assert "/run/flannel/subnet.env" in paths
    assert "/etc/cni/net.d/10-flannel.conflist" in paths
    assert any("only with thin" in n for n in v.notes)
    json.dumps(v.to_dict())  # plain data for the verifier


def test_thin_conflist_when_default_network_is_cni_1() -> None:
    v = validation_steps(MultusInstallArgs(mode="thin", flannel=FlannelArgs(cni_version="1.0.0")))
    conf = next(p for p in v.node_paths if p.json_fields.get("type") == "multus")
    assert conf.paths == ("/etc/cni/net.d/00-multus.conflist",)
    v = validation_steps(MultusInstallArgs(mode="thin", default_network="none"))
    conf = next(p for p in v.node_paths if p.json_fields.get("type") == "multus")
    assert set(conf.paths) == {"/etc/cni/net.d/00-multus.conf",
                               "/etc/cni/net.d/00-multus.conflist"}


# -- options -----------------------------------------------------------------------------


def test_thin_mode_flags_and_no_config_map() -> None:
    args = MultusInstallArgs(mode="thin", namespace_isolation=True,
                             global_namespaces=["default", "shared"], log_level="error")
    assert "ConfigMap" not in kinds(multus_manifests(args))
    [c] = pod_spec(args)["containers"]
    assert c["image"] == MULTUS_THIN_IMAGE and c["command"] == ["/thin_entrypoint"]
    assert c["args"] == thin_args(args)
    assert "--namespace-isolation=true" in c["args"]
    assert "--global-namespaces=default,shared" in c["args"]
    assert "--multus-log-level=error" in c["args"]
    # thin Multus runs on the host: the readiness path stays a host path
    assert "--readiness-indicator-file=/run/flannel/subnet.env" in c["args"]
    assert pod_spec(args)["initContainers"][0]["command"] == ["/install_multus", "--type",
                                                              "thin"]


def test_namespace_isolation_and_global_namespaces_thick() -> None:
    conf = daemon_config(MultusInstallArgs(namespace_isolation=True,
                                           global_namespaces=["default", "infra"]))
    assert conf["namespaceIsolation"] is True
    assert conf["globalNamespaces"] == "default,infra"  # Multus reads a comma list


def test_readiness_indicator_choices() -> None:
    assert "readinessindicatorfile" not in daemon_config(
        MultusInstallArgs(default_network="none"))
    assert "readinessindicatorfile" not in daemon_config(
        MultusInstallArgs(readiness_indicator_file=""))
    custom = MultusInstallArgs(default_network="none",
                               readiness_indicator_file="/etc/cni/net.d/10-calico.conflist")
    assert daemon_config(custom)["readinessindicatorfile"] == (
        "/host/etc/cni/net.d/10-calico.conflist")
    other = MultusInstallArgs(readiness_indicator_file="/var/lib/ready")
    assert daemon_config(other)["readinessindicatorfile"] == "/hostroot/var/lib/ready"


def test_metrics_port_service_and_service_monitor() -> None:
    args = MultusInstallArgs(metrics_port=9091, service_monitor=ServiceMonitorArgs())
    k = kinds(multus_manifests(args))
    assert daemon_config(args)["metricsPort"] == 9091
    [c] = k["DaemonSet"]["spec"]["template"]["spec"]["containers"]
    assert c["ports"] == [{"name": "metrics", "containerPort": 9091, "protocol": "TCP"}]
    svc = k["Service"]
    assert svc["metadata"]["labels"]["app"] == "multus"
    assert svc["spec"]["ports"][0]["name"] == "metrics"
    # the guide's ServiceMonitor, plus the Service's namespace so Prometheus finds it
    mon = service_monitor(args)
    assert mon["apiVersion"] == "monitoring.coreos.com/v1"
    assert mon["metadata"]["name"] == "multus-monitor"
    assert mon["metadata"]["namespace"] == "monitoring"
    assert mon["spec"]["selector"] == {"matchLabels": {"app": "multus"}}
    assert mon["spec"]["endpoints"] == [{"port": "metrics", "interval": "30s"}]
    assert mon["spec"]["namespaceSelector"] == {"matchNames": ["kube-system"]}


def test_node_selector_tolerations_image_pin() -> None:
    args = MultusInstallArgs.parse({
        "node_selector": {"node-role.kubernetes.io/worker": ""},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "net",
                         "effect": "NoSchedule"}],
        "image": "registry.example.com/multus-cni:v4.3.0-thick"})
    spec = pod_spec(args)
    assert spec["nodeSelector"] == {"node-role.kubernetes.io/worker": ""}
    assert spec["tolerations"] == [{"key": "dedicated", "operator": "Equal", "value": "net",
                                    "effect": "NoSchedule"}]
    assert spec["containers"][0]["image"] == "registry.example.com/multus-cni:v4.3.0-thick"
    assert spec["initContainers"][0]["image"] == spec["containers"][0]["image"]


@pytest.mark.parametrize(("data", "path", "shows"), [
    ({"log_level": "info"}, "log_level", "no log level 'info'"),
    ({"log_level": "warning"}, "log_level", "panic, error, verbose and debug"),
    ({"log_level": "trace"}, "log_level", "expected one of"),
    ({"mode": "thin", "metrics_port": 9091}, "metrics_port", "thick daemon only"),
    ({"service_monitor": {}}, "service_monitor", "metrics_port"),
    ({"global_namespaces": ["default"]}, "global_namespaces", "namespace_isolation"),
    ({"namespace_isolation": True, "global_namespaces": ["Bad_NS"]}, "global_namespaces[0]",
     "DNS-1123"),
    ({"default_network": "none", "flannel": {"iface": "eth1"}}, "flannel", "none"),
    ({"image": "ghcr.io/k8snetworkplumbingwg/multus-cni:snapshot-thick@sha256:xyz"}, "image",
     "image reference"),
    ({"image": "ghcr.io/k8snetworkplumbingwg/multus-cni"}, "image", "not pinned"),
    ({"metrics_port": 70000}, "metrics_port", "1-65535"),
    ({"readiness_indicator_file": "run/flannel/subnet.env"}, "readiness_indicator_file",
     "absolute"),
    ({"resources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "500Mi"}}},
     "resources.requests.memory", "above the limit"),
    ({"resources": {"limits": {"memory": "lots"}}}, "resources.limits.memory", "quantity"),
    ({"cni_version": "1.0.0"}, "cni_version", "below 0.4.0"),
    ({"modee": "thin"}, "modee", "unknown field"),
    ({"connection_limit": 0}, "connection_limit", "(got 0)"),
    ({"connection_limit": -5}, "connection_limit", "at least 1"),
    ({"connection_limit": "100"}, "connection_limit", "integer"),
    ({"mode": "thin", "connection_limit": 100}, "connection_limit", "thick daemon's"),
    ({"node_max_pods": 0}, "node_max_pods", "1-100000"),
])
def test_invalid_args_name_the_field(data: dict[str, Any], path: str, shows: str) -> None:
    with pytest.raises(PlanError) as err:
        MultusInstallArgs.parse(data)
    assert err.value.paths == [path]
    assert shows in str(err.value)


def test_component_composes_flannel_crd_and_daemonset() -> None:
    mocks = run_program(lambda: MultusInstall("multus", SEED_ARGS))
    types = [r.type for r in mocks.registered]
    assert types[0] == "netplumb:index:MultusInstall"
    assert "netplumb:index:Flannel" in types
    # Flannel's, Multus' and the node plugin's
    assert types.count("kubernetes:apps/v1:DaemonSet") == 3
    assert types.index("netplumb:index:NodePlugin") < types.index("netplumb:index:Flannel")
    [crd] = mocks.of_type("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition")
    assert crd.inputs["metadata"]["name"] == "network-attachment-definitions.k8s.cni.cncf.io"
    names = {r.name for r in mocks.registered}
    assert {"multus-daemonset", "multus-daemon-config", "multus-nad-crd",
            "multus-flannel", "multus-flannel-daemonset"} <= names
    ds = next(r for r in mocks.registered if r.name == "multus-daemonset")
    assert ds.inputs["metadata"]["namespace"] == "kube-system"


def test_component_without_default_network_or_crd() -> None:
    mocks = run_program(lambda: MultusInstall("multus", MultusInstallArgs(
        default_network="none", install_nad_crd=False, mode="thin")))
    types = [r.type for r in mocks.registered]
    assert "netplumb:index:Flannel" not in types
    assert "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition" not in types
    assert "kubernetes:core/v1:ConfigMap" not in types
    assert types.count("kubernetes:apps/v1:DaemonSet") == 2  # Multus' and the node plugin's
    mocks = run_program(lambda: MultusInstall("multus", MultusInstallArgs(
        default_network="none", install_nad_crd=False, mode="thin",
        install_node_plugin=False)))
    types = [r.type for r in mocks.registered]
    assert "netplumb:index:NodePlugin" not in types
    assert types.count("kubernetes:apps/v1:DaemonSet") == 1


def test_component_with_metrics_registers_service_monitor_after_its_crd() -> None:
    args = MultusInstallArgs(metrics_port=9091, service_monitor=ServiceMonitorArgs(
        install_crd=True, create_namespace=True))
    mocks = run_program(lambda: MultusInstall("multus", args))
    namespaces = {r.inputs["metadata"]["name"] for r in
                  mocks.of_type("kubernetes:core/v1:Namespace")}
    assert namespaces == {"kube-flannel", "monitoring"}
    [mon] = mocks.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
    assert mon.inputs["spec"]["selector"] == {"matchLabels": {"app": "multus"}}
    crds = [r.inputs["metadata"]["name"] for r in
            mocks.of_type("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition")]
    assert "servicemonitors.monitoring.coreos.com" in crds


def test_invalid_component_input_registers_nothing() -> None:
    bad = MultusInstallArgs.model_construct(mode="thin", metrics_port=9091)
    err, mocks = refused(lambda: MultusInstall("multus", bad))
    assert err.paths == ["metrics_port"]
    assert mocks.registered == []
    nested = MultusInstallArgs.model_construct(flannel=FlannelArgs.model_construct(
        backend="udp"))  # type: ignore[arg-type]
    err, mocks = refused(lambda: MultusInstall("multus", nested))
    assert err.paths == ["flannel.backend"]
    assert mocks.registered == []
