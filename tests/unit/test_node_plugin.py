"""NodePlugin: the node plugin DaemonSet as rendered, checked against what ``node/`` defines
(commands, flags, port, paths), its least privileges, its args, and under Pulumi mocks, alone
and placed by MultusInstall."""

from __future__ import annotations

import json
from typing import Any

import pytest

from netplumb import PlanError
from netplumb.args.images import NETPLUMB_NODE_IMAGE, NETPLUMB_NODE_VERSION
from netplumb.args.multus import MultusInstallArgs
from netplumb.args.node_plugin import METRICS_PORT, NODE_PLUGINS, NodePluginArgs
from netplumb.args.stack import StackSpec
from netplumb.components.multus import MultusInstall
from netplumb.components.node_plugin import NodePlugin
from netplumb.ownership import OWNER_ANNOTATION
from netplumb.plan import build_plan
from netplumb.render.multus import daemon_config, install_manifests
from netplumb.render.node_plugin import DAEMONSET, node_plugin_manifests

from .node_sources import NODE, command_flags, commands, default_metrics_port, flag_names
from .pulumi_mocks import run_program
from .test_platform_flannel import refused

README = (NODE / "README.md").read_text()


def kinds(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["kind"]: m for m in manifests}


def pod_spec(args: NodePluginArgs) -> dict[str, Any]:
    spec: dict[str, Any] = kinds(node_plugin_manifests(args))["DaemonSet"]["spec"]["template"][
        "spec"]
    return spec


def containers(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in [*spec.get("initContainers", []), *spec["containers"]]}


def mounts(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["mountPath"]: m for m in container["volumeMounts"]}


# -- what node/ defines --------------------------------------------------------------------


def test_each_container_runs_a_netplumb_node_command_with_flags_it_defines() -> None:
    spec = pod_spec(NodePluginArgs(force=True, plugins=["macvlan", "dhcp"], shim=False,
                                   dhcp={"broadcast": True, "timeout": "20s",
                                         "resend_max": "30s", "resend_timeout": "2m"}))
    seen = {}
    for c in containers(spec).values():
        command, *flags = c["args"]
        assert command in commands(), command
        assert "command" not in c  # the image's entrypoint is netplumb-node
        unknown = set(flag_names(flags)) - command_flags(command)
        assert not unknown, (c["name"], unknown)
        seen[c["name"]] = command
    assert seen == {"install": "install", "dhcp": "dhcp", "metrics": "metrics"}
    install = containers(spec)["install"]["args"]
    assert {"--force", "--shim=false", "--plugins=macvlan,dhcp"} <= set(install)
    dhcp = containers(spec)["dhcp"]["args"]
    assert {"--broadcast", "--timeout=20s", "--resendmax=30s", "--resendtimeout=2m"} <= set(
        dhcp)


def test_paths_port_and_image_as_node_readme_says() -> None:
    spec = pod_spec(NodePluginArgs())
    c = containers(spec)
    assert c["install"] in spec["initContainers"]
    # install writes the host's CNI bin dir; the shim's state dir is the host's /run/netplumb
    assert "--bin-dir=/host/opt/cni/bin" in c["install"]["args"]
    assert "--state-dir=/run/netplumb" in c["install"]["args"]
    assert "/host/opt/cni/bin" in mounts(c["install"])
    # dhcp: the socket under --hostprefix, the host's netns dirs with HostToContainer
    assert {"--hostprefix=/host", "--socket=/run/cni/dhcp.sock"} <= set(c["dhcp"]["args"])
    m = mounts(c["dhcp"])
    assert "/host/run/cni" in m and m["/host/run/cni"].get("readOnly") is not True
    for netns in ("/host/run/netns", "/host/var/run/netns"):
        assert m[netns]["mountPropagation"] == "HostToContainer"
    # metrics: rw state dir (its socket), host-local reservations and Multus' cache rw (the
    # reconcile frees what no sandbox holds), the CRI socket's directory ro, the default port
    m = mounts(c["metrics"])
    assert m["/run/netplumb"].get("readOnly") is not True
    assert m["/var/lib/cni/networks"]["readOnly"] is False
    assert m["/var/lib/cni/multus"].get("readOnly") is not True
    assert m["/run/containerd"]["readOnly"] is True
    assert m["/run/containerd"]["mountPropagation"] == "HostToContainer"
    assert METRICS_PORT == default_metrics_port() == 9561
    assert f"**{METRICS_PORT}**" in README
    assert c["metrics"]["ports"] == [{"name": "metrics", "containerPort": 9561,
                                      "protocol": "TCP"}]
    assert c["metrics"]["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    volumes = {v["name"]: v for v in spec["volumes"]}
    for container in c.values():
        for mount in container["volumeMounts"]:
            assert mount["name"] in volumes, mount
    host = {v["hostPath"]["path"] for v in volumes.values()}
    assert {"/opt/cni/bin", "/run/netplumb", "/var/lib/cni/networks", "/run/cni",
            "/run/netns", "/var/run/netns", "/etc/cni/net.d", "/run/containerd",
            "/var/lib/cni/multus"} == host
    # install places or removes the Multus guard in the host's CNI config dir
    assert "--cni-conf-dir=/host/etc/cni/net.d" in c["install"]["args"]
    assert "/host/etc/cni/net.d" in mounts(c["install"])
    assert {c["image"] for c in c.values()} == {NETPLUMB_NODE_IMAGE}


def test_the_reconcile_asks_the_runtime_and_frees_only_when_on() -> None:
    c = containers(pod_spec(NodePluginArgs()))["metrics"]
    assert {"--cri-endpoint=unix:///run/containerd/containerd.sock",
            "--reconcile-interval=1m", "--reconcile-grace=5m",
            "--multus-cache-dir=/var/lib/cni/multus"} <= set(c["args"])
    crio = NodePluginArgs.parse({"reconcile": {"cri_socket": "/var/run/crio/crio.sock",
                                               "grace": "90s", "multus_cache": False}})
    spec = pod_spec(crio)
    c = containers(spec)["metrics"]
    assert "--cri-endpoint=unix:///var/run/crio/crio.sock" in c["args"]
    assert "--reconcile-grace=90s" in c["args"]
    assert not [a for a in c["args"] if a.startswith("--multus-cache-dir")]
    assert mounts(c)["/var/run/crio"]["readOnly"] is True
    assert "/var/lib/cni/multus" not in mounts(c)
    off = containers(pod_spec(NodePluginArgs.parse({"reconcile": None})))["metrics"]
    assert not [a for a in off["args"] if "cri" in a or "reconcile" in a]
    assert mounts(off)["/var/lib/cni/networks"]["readOnly"] is True
    assert "/run/containerd" not in mounts(off)


def test_other_host_local_dirs_are_read_where_the_nodes_keep_them() -> None:
    args = NodePluginArgs.parse({"host_local_dirs": ["/var/lib/np-pools/", "/srv/cni"]})
    assert args.host_local_dirs == ["/var/lib/np-pools", "/srv/cni"]
    spec = pod_spec(args)
    c = containers(spec)["metrics"]
    assert [a for a in c["args"] if a.startswith("--host-local-dir=")] == [
        "--host-local-dir=/var/lib/cni/networks", "--host-local-dir=/var/lib/np-pools",
        "--host-local-dir=/srv/cni"]
    volumes = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
    for path in ("/var/lib/cni/networks", "/var/lib/np-pools", "/srv/cni"):
        # at the node's own path: a NAD's dataDir names the directory the daemon opens
        assert mounts(c)[path]["readOnly"] is False
        assert volumes[mounts(c)[path]["name"]] == path
    off = containers(pod_spec(NodePluginArgs.parse({"host_local_dirs": ["/srv/cni"],
                                                    "reconcile": None})))["metrics"]
    assert mounts(off)["/srv/cni"]["readOnly"] is True
    # without the reconcile, neither the runtime's directory nor Multus' cache is mounted
    assert NodePluginArgs.parse({"host_local_dirs": ["/var/lib/cni/multus"],
                                 "reconcile": None}).host_local_dirs == ["/var/lib/cni/multus"]


@pytest.mark.parametrize(("spec", "path", "message"), [
    ({"host_local_dirs": ["srv/cni"]}, "host_local_dirs[0]", "absolute"),
    ({"host_local_dirs": ["/"]}, "host_local_dirs[0]", "root directory"),
    ({"host_local_dirs": ["/var/lib/cni/networks/"]}, "host_local_dirs[0]", "always read"),
    ({"host_local_dirs": ["/srv/cni", "/srv/cni/"]}, "host_local_dirs[1]", "listed twice"),
    ({"host_local_dirs": ["/var/lib/cni"]}, "host_local_dirs[0]",
     "overlaps /var/lib/cni/networks"),
    ({"host_local_dirs": ["/var/lib/cni/multus"]}, "host_local_dirs[0]", "Multus' cache"),
    ({"host_local_dirs": ["/run/netplumb/x"]}, "host_local_dirs[0]", "the shim's state"),
    ({"host_local_dirs": ["/run/containerd/pools"]}, "host_local_dirs[0]", "socket directory"),
    ({"host_local_dirs": ["/srv/cni", "/srv/cni/a"]}, "host_local_dirs[1]",
     "overlaps /srv/cni (host_local_dirs[0])"),
    ({"metrics": False, "host_local_dirs": ["/srv/cni"]}, "host_local_dirs",
     "metrics container"),
    ({"reconcile": {"grace": "5s"}}, "reconcile.grace", "at least 10s"),
    ({"reconcile": {"interval": "1 minute"}}, "reconcile.interval", "not a Go duration"),
    ({"reconcile": {"cri_socket": "run/crio.sock"}}, "reconcile.cri_socket", "absolute"),
    ({"metrics": False, "reconcile": {}}, "reconcile", "metrics container"),
])
def test_reconcile_settings_are_checked(spec: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(PlanError) as err:
        NodePluginArgs.parse(spec)
    assert path in str(err.value) and message in str(err.value), str(err.value)


def test_least_privileges() -> None:
    spec = pod_spec(NodePluginArgs())
    assert spec["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    assert spec["hostNetwork"] is True  # it installs what the pod network needs
    assert "hostPID" not in spec
    for name, c in containers(spec).items():
        sc = c["securityContext"]
        assert "privileged" not in sc, name
        assert sc["readOnlyRootFilesystem"] is True, name
        assert sc["capabilities"]["drop"] == ["ALL"], name
        if name == "dhcp":
            # setns into pod namespaces, raw sockets and addresses there
            assert sorted(sc["capabilities"]["add"]) == ["DAC_OVERRIDE", "NET_ADMIN", "NET_RAW",
                                                          "SYS_ADMIN"]
            assert "allowPrivilegeEscalation" not in sc
        else:
            assert "add" not in sc["capabilities"], name
            assert sc["allowPrivilegeEscalation"] is False, name


def test_rbac_lists_only_what_the_metrics_daemon_reads() -> None:
    k = kinds(node_plugin_manifests(NodePluginArgs()))
    rules = k["ClusterRole"]["rules"]
    assert rules == [
        {"apiGroups": ["k8s.cni.cncf.io"], "resources": ["network-attachment-definitions"],
         "verbs": ["list"]},
        {"apiGroups": ["whereabouts.cni.cncf.io"], "resources": ["ippools"],
         "verbs": ["list"]}]
    # the README's RBAC note names exactly these
    assert "`list` on both, cluster-wide" in README
    assert k["ClusterRoleBinding"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "netplumb-node", "namespace": "kube-system"}]
    assert pod_spec(NodePluginArgs())["serviceAccountName"] == "netplumb-node"


def test_without_dhcp_or_metrics() -> None:
    spec = pod_spec(NodePluginArgs(run_dhcp_daemon=False))
    assert set(containers(spec)) == {"install", "metrics"}
    assert not {"/run/netns", "/var/run/netns", "/run/cni"} & {
        v["hostPath"]["path"] for v in spec["volumes"]}
    quiet = NodePluginArgs(metrics=False)
    assert [m["kind"] for m in node_plugin_manifests(quiet)] == ["ServiceAccount", "DaemonSet"]
    assert pod_spec(quiet)["automountServiceAccountToken"] is False
    # nothing to run after the install: a container that installs and waits keeps the
    # DaemonSet (and re-installs on every node that joins)
    bare = pod_spec(NodePluginArgs(metrics=False, run_dhcp_daemon=False))
    [wait] = bare["containers"]
    assert wait["args"][0] == "install" and wait["args"][-1] == "--sleep"
    assert "sleep" in command_flags("install")


def test_image_tag_is_netplumbs_version() -> None:
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert NETPLUMB_NODE_VERSION == "v" + project["project"]["version"]
    assert NETPLUMB_NODE_IMAGE.endswith(":" + NETPLUMB_NODE_VERSION)
    # the image ships exactly the plugins the README lists
    for plugin in NODE_PLUGINS:
        assert f"/opt/netplumb/plugins/{plugin} " in README, plugin


# -- args -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "path", "words"), [
    ({"plugins": ["macvlan", "macvlna"]}, "plugins[1]", ["did you mean 'macvlan'"]),
    ({"plugins": ["sriov"]}, "plugins[0]", ["no plugin 'sriov'"]),
    ({"plugins": ["macvlan", "macvlan"]}, "plugins[1]", ["listed twice"]),
    ({"plugins": ["macvlan"]}, "plugins", ["dhcp among plugins"]),
    ({"run_dhcp_daemon": False, "dhcp": {"broadcast": True}}, "dhcp", ["run_dhcp_daemon"]),
    ({"image": "ghcr.io/netplumb/netplumb-node"}, "image", ["not pinned"]),
    ({"image": "ghcr.io/netplumb/netplumb-node:latest"}, "image", ["not pinned"]),
    ({"dhcp": {"timeout": "10"}}, "dhcp.timeout", ["Go duration"]),
    ({"kube_interval": "1 minute"}, "kube_interval", ["Go duration"]),
    ({"metrics_port": 70000}, "metrics_port", ["port"]),
    ({"forced": True}, "forced", ["force"]),
])
def test_bad_args_name_the_field(data: dict[str, Any], path: str, words: list[str]) -> None:
    with pytest.raises(PlanError) as err:
        NodePluginArgs.parse(data)
    assert err.value.path == path, err.value
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_plugins_subset_with_dhcp_keeps_the_daemon() -> None:
    args = NodePluginArgs.parse({"plugins": ["macvlan", "dhcp"]})
    assert args.installed_plugins == ("macvlan", "dhcp")
    assert NodePluginArgs().installed_plugins == NODE_PLUGINS


# -- placed by MultusInstall ------------------------------------------------------------------


def test_multus_places_the_node_plugin_in_its_namespace() -> None:
    args = MultusInstallArgs(namespace="cni-system", default_network="none")
    node = args.node_plugin_args()
    assert node is not None and node.namespace == "cni-system"
    ds = next(m for m in install_manifests(args)
              if m["kind"] == "DaemonSet" and m["metadata"]["name"] == DAEMONSET)
    assert ds["metadata"]["namespace"] == "cni-system"
    own = MultusInstallArgs.parse({"node_plugin": {"namespace": "netplumb", "force": True}})
    node = own.node_plugin_args()
    assert node is not None and node.namespace == "netplumb" and node.force is True
    off = MultusInstallArgs(install_node_plugin=False)
    assert off.node_plugin_args() is None
    assert DAEMONSET not in {m["metadata"]["name"] for m in install_manifests(off)}
    with pytest.raises(PlanError) as err:
        MultusInstallArgs.parse({"install_node_plugin": False, "node_plugin": {"force": True}})
    assert err.value.path == "node_plugin"


def test_thick_multus_runs_delegates_where_the_shims_state_dir_is_the_hosts() -> None:
    # node/README: with Multus thick, operations reach /run/netplumb only if delegates run
    # chrooted in the host's root (or the daemon mounts /run/netplumb)
    conf = daemon_config(MultusInstallArgs())
    assert conf["chrootDir"] == "/hostroot"
    ds = next(m for m in install_manifests(MultusInstallArgs())
              if m["metadata"]["name"] == "kube-multus-ds")
    volumes = {v["name"]: v for v in ds["spec"]["template"]["spec"]["volumes"]}
    assert volumes["hostroot"]["hostPath"]["path"] == "/"


def test_component_registers_rbac_then_daemonset_retained() -> None:
    mocks = run_program(lambda: NodePlugin("node", NodePluginArgs(force=True)))
    by_name = {r.name: r for r in mocks.registered}
    assert by_name["node"].type == "netplumb:index:NodePlugin"
    ds = by_name["node-daemonset"]
    assert ds.type == "kubernetes:apps/v1:DaemonSet"
    assert set(ds.depends_on) == {"node-service-account", "node-cluster-role-binding"}
    init = ds.inputs["spec"]["template"]["spec"]["initContainers"][0]
    assert "--force" in init["args"]
    kube = [r for r in mocks.registered if r.type.startswith("kubernetes:")]
    assert {r.name for r in kube} == {"node-cluster-role", "node-cluster-role-binding",
                                      "node-service-account", "node-daemonset"}
    # a shared install: retained on destroy, owned by the stack
    assert all(r.retain_on_delete for r in kube)
    assert all(r.inputs["metadata"]["annotations"][OWNER_ANNOTATION] == "netplumb/test"
               for r in kube)


def test_multus_install_registers_the_node_plugin_unless_off() -> None:
    mocks = run_program(lambda: MultusInstall("multus", MultusInstallArgs(
        default_network="none")))
    [node] = mocks.of_type("netplumb:index:NodePlugin")
    assert node.name == "multus-node-plugin"
    ds = mocks.named("multus-node-plugin-daemonset")
    assert ds.inputs["metadata"]["namespace"] == "kube-system"
    mocks = run_program(lambda: MultusInstall("multus", MultusInstallArgs(
        default_network="none", install_node_plugin=False)))
    assert mocks.of_type("netplumb:index:NodePlugin") == []


def test_bad_args_register_nothing() -> None:
    bad = NodePluginArgs.model_construct(plugins=["macvlna"])
    err, mocks = refused(lambda: NodePlugin("node", bad))
    assert err.paths == ["plugins[0]"]
    assert mocks.registered == []
    nested = MultusInstallArgs.model_construct(node_plugin=NodePluginArgs.model_construct(
        kube_interval="soon"))
    err, mocks = refused(lambda: MultusInstall("multus", nested))
    assert err.paths == ["node_plugin.kube_interval"]
    assert mocks.registered == []


def test_rendered_daemonset_is_plain_json() -> None:
    # what `netplumb render` writes and the provider sends: no shared objects, no YAML
    # anchors, nothing that is not JSON
    ds = kinds(node_plugin_manifests(NodePluginArgs()))["DaemonSet"]
    assert json.loads(json.dumps(ds)) == ds
    ids: dict[int, str] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict | list):
            assert id(node) not in ids, (path, ids.get(id(node)))
            ids[id(node)] = path
            for k, v in (node.items() if isinstance(node, dict) else enumerate(node)):
                walk(v, f"{path}.{k}")

    walk(ds, "")


# -- the plan against the node plugin it installs ---------------------------------------------


def test_networks_using_plugins_the_install_leaves_out_are_warned() -> None:
    at = ("config", "netplumb:spec")
    s = "config.netplumb:spec"
    spec = StackSpec.parse({
        "multus": {"default_network": "none", "node_plugin": {
            "plugins": ["macvlan", "host-local"], "run_dhcp_daemon": False}},
        "networks": [
            {"name": "ok", "type": "macvlan", "master": "ens1",
             "ipam": {"type": "host-local", "subnet": "192.0.2.0/24"}},
            {"name": "br", "type": "bridge", "bridge": "br0",
             "ipam": {"type": "static", "addresses": [{"address": "192.0.2.9/24"}]}},
            {"name": "leased", "type": "macvlan", "master": "ens2", "ipam": {"type": "dhcp"}},
        ]}, at=at)
    warnings = {(f.path, f.value): f for f in build_plan(spec, root=at).warnings}
    assert set(warnings) == {(f"{s}.networks[1].type", "bridge"),
                             (f"{s}.networks[1].ipam.type", "static"),
                             (f"{s}.networks[2].ipam.type", "dhcp")}
    assert f"{s}.multus.node_plugin.plugins" in warnings[(f"{s}.networks[1].type",
                                                          "bridge")].message
    # everything installed, the daemon running: nothing to say
    spec = StackSpec.parse({"multus": {"default_network": "none"},
                            "networks": [{"name": "leased", "type": "macvlan", "master": "ens2",
                                          "ipam": {"type": "dhcp"}}]}, at=at)
    assert build_plan(spec, root=at).warnings == []
    dhcp_off = StackSpec.parse({"multus": {"default_network": "none",
                                           "node_plugin": {"run_dhcp_daemon": False}},
                                "networks": [{"name": "leased", "type": "macvlan",
                                              "master": "ens2", "ipam": {"type": "dhcp"}}]},
                               at=at)
    [w] = build_plan(dhcp_off, root=at).warnings
    assert w.path == f"{s}.networks[0].ipam.type" and "run_dhcp_daemon" in w.message


def test_a_host_local_data_dir_the_node_plugin_does_not_read_is_warned() -> None:
    at = ("config", "netplumb:spec")
    s = "config.netplumb:spec"

    def networks(data_dir: str) -> list[dict[str, Any]]:
        return [{"name": "kept", "type": "macvlan", "master": "ens1",
                 "ipam": {"type": "host-local", "subnet": "192.0.2.0/24",
                          "dataDir": data_dir}},
                {"name": "plain", "type": "macvlan", "master": "ens1",
                 "ipam": {"type": "host-local", "subnet": "198.51.100.0/24"}}]

    spec = StackSpec.parse({"multus": {"default_network": "none"},
                            "networks": networks("/srv/cni")}, at=at)
    [w] = build_plan(spec, root=at).warnings
    assert (w.path, w.value) == (f"{s}.networks[0].ipam.dataDir", "/srv/cni")
    assert f"{s}.multus.node_plugin.host_local_dirs" in w.message
    listed = StackSpec.parse({"multus": {"default_network": "none",
                                         "node_plugin": {"host_local_dirs": ["/srv/cni"]}},
                              "networks": networks("/srv/cni/")}, at=at)
    assert build_plan(listed, root=at).warnings == []
    default = StackSpec.parse({"multus": {"default_network": "none"},
                               "networks": networks("/var/lib/cni/networks")}, at=at)
    assert build_plan(default, root=at).warnings == []
    # nothing reads any dir without the metrics daemon: nothing to compare against
    unread = StackSpec.parse({"multus": {"default_network": "none",
                                         "node_plugin": {"metrics": False, "reconcile": None}},
                              "networks": networks("/srv/cni")}, at=at)
    assert build_plan(unread, root=at).warnings == []
