#!/usr/bin/env bash
# Install the Debian packages netplumb needs (tools/debian-packages.txt) before anything builds.
#
#   tools/deps.sh [GROUP...]    groups: build, run, test (default: build run)
#
# As root, installs what is missing with apt-get. Without root, stops at once and prints the
# apt-get line to run. NETPLUMB_SKIP_DEPS=1 skips the step (a machine that has the same
# programs from elsewhere).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
list="${NETPLUMB_DEPS_LIST:-$here/debian-packages.txt}"
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(build run)

if [ "${NETPLUMB_SKIP_DEPS:-}" = 1 ]; then
  echo "deps: NETPLUMB_SKIP_DEPS=1, not checking Debian packages"
  exit 0
fi

wanted=() plain=() lean=()
while read -r pkg group how _; do
  case "$pkg" in ''|'#'*) continue ;; esac
  for g in "${groups[@]}"; do
    [ "$g" = "$group" ] || continue
    wanted+=("$pkg")
    case "$how" in
      default) ;;
      no-recommends) ;;
      *) echo "deps: $list: $pkg: install must be default or no-recommends, got '$how'" >&2
         exit 2 ;;
    esac
  done
done < "$list"
for g in "${groups[@]}"; do
  case "$g" in build|run|test) ;; *) echo "deps: unknown group '$g' (build, run, test)" >&2; exit 2 ;; esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "deps: this machine has no dpkg-query (not Debian-based); netplumb needs these programs" >&2
  echo "deps: or their equivalents: ${wanted[*]}" >&2
  echo "deps: once they are installed, run again with NETPLUMB_SKIP_DEPS=1" >&2
  exit 1
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing() {
  local pkg
  plain=() lean=()
  while read -r pkg group how _; do
    case "$pkg" in ''|'#'*) continue ;; esac
    for g in "${groups[@]}"; do
      if [ "$g" = "$group" ] && ! installed "$pkg"; then
        if [ "$how" = no-recommends ]; then lean+=("$pkg"); else plain+=("$pkg"); fi
      fi
    done
  done < "$list"
}

missing
if [ ${#plain[@]} -eq 0 ] && [ ${#lean[@]} -eq 0 ]; then
  echo "deps: all ${#wanted[@]} Debian packages for ${groups[*]} are installed"
  exit 0
fi

lines=()
[ ${#plain[@]} -eq 0 ] || lines+=("apt-get install -y ${plain[*]}")
[ ${#lean[@]} -eq 0 ] || lines+=("apt-get install -y --no-install-recommends ${lean[*]}")

if [ "$(id -u)" != 0 ]; then
  echo "deps: missing Debian packages (see tools/debian-packages.txt for why each is needed)." >&2
  echo "deps: run as root, then run make again:" >&2
  echo "  apt-get update" >&2
  for line in "${lines[@]}"; do echo "  $line" >&2; done
  exit 1
fi

echo "deps: installing missing Debian packages: ${plain[*]} ${lean[*]}"
apt-get update -q
[ ${#plain[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${plain[@]}"
[ ${#lean[@]} -eq 0 ] ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${lean[@]}"
# Debian's prometheus package starts a server on *:9090 where systemd runs; nothing here uses it.
for pkg in "${lean[@]}"; do
  if [ "$pkg" = prometheus ] && command -v systemctl >/dev/null 2>&1 &&
     systemctl is-active -q prometheus 2>/dev/null; then
    systemctl disable --now prometheus
  fi
done
missing
if [ ${#plain[@]} -gt 0 ] || [ ${#lean[@]} -gt 0 ]; then
  echo "deps: still missing after apt-get install: ${plain[*]} ${lean[*]}" >&2
  exit 1
fi
echo "deps: installed; all ${#wanted[@]} Debian packages for ${groups[*]} are present"
