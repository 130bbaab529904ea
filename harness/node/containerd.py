"""containerd (config version 3) for the embedded node, and the ``ctr`` calls the harness makes.

Settings this host needs (``REAL-NODE-FACTS.md``, checked against containerd v2.4.2's
``internal/cri/config``):

* ``restrict_oom_score_adj = true``: the VM's bounding set lacks CAP_SYS_RESOURCE, and every
  sandbox would fail in ``runc init`` writing ``/proc/self/oom_score_adj`` without it;
* cgroupfs (``SystemdCgroup = false``) like the kubelet, snapshotter ``overlayfs``, NRI off;
* ``netns_mounts_under_state_dir = false`` (the default, stated): pod network namespaces are
  ``/var/run/netns/cni-…``, where the Multus thick daemon's ``/run/netns`` mount finds them;
* CNI from the real node paths ``/opt/cni/bin`` and ``/etc/cni/net.d``: what the shipped
  DaemonSets (Flannel, Multus) write to;
* the sandbox image is the locally imported pause image, and nothing is ever pulled.

Every path is containerd's default as seen inside the node (root ``/var/lib/containerd``,
state and socket under ``/run/containerd``): those are the node's own directories
(:mod:`.ns`), so several nodes' containerds never meet. The config file lives in the node's
``conf`` directory.
"""

from __future__ import annotations

from pathlib import Path

from netplumb import hostpaths

STATE_DIR = Path("/run/containerd")
SOCKET = STATE_DIR / "containerd.sock"
ADDRESS = str(SOCKET)
ENDPOINT = f"unix://{SOCKET}"
CNI_BIN_DIR = Path(hostpaths.CNI_BIN_DIR)
CNI_CONF_DIR = Path(hostpaths.CNI_CONF_DIR)


ROOT_DIR = Path("/var/lib/containerd")


def config_path(conf: Path) -> Path:
    return conf / "containerd.toml"


def write_config(conf: Path, *, runc: Path, sandbox_image: str) -> Path:
    """The config of one node's containerd (``conf``: the node's config directory)."""
    path = config_path(conf)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"""\
# written by harness/node/containerd.py for an embedded node
version = 3
root = "{ROOT_DIR}"
state = "{STATE_DIR}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
  "io.containerd.nri.v1.nri",
]

[grpc]
  address = "{SOCKET}"

[debug]
  level = "info"

[plugins.'io.containerd.internal.v1.opt']
  path = "{conf / 'containerd-opt'}"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{sandbox_image}"

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = false
  enable_selinux = false
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "{runc}"
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["{CNI_BIN_DIR}"]
    conf_dir = "{CNI_CONF_DIR}"

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
""")
    return path


def argv(conf: Path, containerd: Path) -> list[str]:
    return [str(containerd), "--config", str(config_path(conf))]


def ctr_argv(ctr_bin: Path) -> list[str]:
    """``ctr`` against the node's containerd (run it inside the node)."""
    return [str(ctr_bin), "--address", ADDRESS]
