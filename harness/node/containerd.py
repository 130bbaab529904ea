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
* the sandbox image is the locally imported pause image, and nothing is ever pulled: the
  root directory (content, snapshots) lives in the cluster directory and goes with it.

The socket and state stay at containerd's defaults under ``/run/containerd`` (its shims put
their sockets there); ``cluster down`` removes them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.cluster.layout import Layout

STATE_DIR = Path("/run/containerd")
SOCKET = STATE_DIR / "containerd.sock"
ADDRESS = str(SOCKET)
ENDPOINT = f"unix://{SOCKET}"
CNI_BIN_DIR = Path("/opt/cni/bin")
CNI_CONF_DIR = Path("/etc/cni/net.d")


def root_dir(layout: Layout) -> Path:
    return layout.node / "containerd" / "root"


def config_path(layout: Layout) -> Path:
    return layout.node / "containerd" / "config.toml"


def write_config(layout: Layout, *, runc: Path, sandbox_image: str) -> Path:
    path = config_path(layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = root_dir(layout)
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(f"""\
# written by harness/node/containerd.py for the embedded node
version = 3
root = "{root}"
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
  path = "{layout.node / 'containerd' / 'opt'}"

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


def argv(layout: Layout, containerd: Path) -> list[str]:
    return [str(containerd), "--config", str(config_path(layout))]


def ctr(ctr_bin: Path, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ctr_bin), "--address", ADDRESS, *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def healthy(ctr_bin: Path) -> bool:
    if not SOCKET.exists():
        return False
    try:
        return ctr(ctr_bin, "version", timeout=5).returncode == 0
    except subprocess.TimeoutExpired:
        return False
