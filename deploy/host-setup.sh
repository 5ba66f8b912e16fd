#!/usr/bin/env bash
# Prepares a Debian 12 host for traceloop: bcc, kernel headers for bcc's
# compiler, runc + busybox for the tests' containers, tracefs, and a virtual
# environment that sees the distribution's bcc module. Idempotent: a second
# run only checks and returns.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$here/.venv}
pkgs=(python3-bpfcc python3-venv linux-headers-amd64 runc busybox-static strace sysbench linux-perf gcc libc6-dev)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "host-setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# bcc compiles against /lib/modules/$(uname -r)/build. A kernel without its
# own headers (as on this VM) gets links to the newest installed Debian
# headers; real headers are never replaced.
kdir=/lib/modules/$(uname -r)
if [ ! -e "$kdir/build/include" ]; then
  # The glob of the other architecture matches nothing: list with the shell,
  # not ls, whose nonzero status would stop this script under pipefail.
  shopt -s nullglob
  candidates=(/usr/src/linux-headers-*-amd64 /usr/src/linux-headers-*-arm64)
  shopt -u nullglob
  arch=""
  [ ${#candidates[@]} -eq 0 ] || arch=$(printf '%s\n' "${candidates[@]}" | sort -V | tail -n1)
  common=${arch%-*}-common
  [ -n "$arch" ] && [ -d "$common" ] || { echo "host-setup: no linux-headers under /usr/src" >&2; exit 1; }
  mkdir -p "$kdir"
  [ -e "$kdir/build" ] || ln -sfn "$arch" "$kdir/build"
  [ -e "$kdir/source" ] || ln -sfn "$common" "$kdir/source"
  echo "host-setup: linked $kdir/build -> $arch" >&2
fi

if [ ! -e /sys/kernel/tracing/events ]; then
  mount -t tracefs nodev /sys/kernel/tracing
fi

# The venv uses the distribution's interpreter, because python3-bpfcc is built
# for it; only the bcc package is linked in, not all of dist-packages.
if [ ! -x "$venv/bin/python" ]; then
  /usr/bin/python3 -m venv "$venv"
fi
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
ln -sfn /usr/lib/python3/dist-packages/bcc "$site/bcc"

stamp=$venv/.installed
if [ ! -f "$stamp" ] || [ "$here/pyproject.toml" -nt "$stamp" ]; then
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -e "$here[test]"
  touch "$stamp"
fi
echo "host-setup: ready ($venv)" >&2
