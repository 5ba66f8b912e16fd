#!/usr/bin/env bash
# Debian's kernel headers for bcc, of this machine's architecture
# (dpkg --print-architecture: amd64, arm64).
#
#   kernel-headers.sh find         prints "BUILD COMMON": the newest installed
#                                  /usr/src/linux-headers-VERSION-ARCH (plain
#                                  flavour) and its linux-headers-VERSION-common
#   kernel-headers.sh merge DEST   makes DEST one tree of both, for BCC_KERNEL_SOURCE
#
# Debian splits a kernel's headers in two directories, which bcc finds as
# /lib/modules/RELEASE/build and .../source (deploy/host-setup.sh links them).
# BCC_KERNEL_SOURCE names a single directory instead, which must hold both:
# the container image (deploy/Dockerfile) ships such a tree, so that bcc
# compiles on any node whatever its kernel, without the node's headers
# (docs/kernel.md says why any headers do).
set -euo pipefail

arch=$(dpkg --print-architecture)

find_headers() {
  build=""
  common=""
  # Only the plain flavour (not -rt-, -cloud-): its common directory is named
  # by the version alone. The shell lists, not ls, which fails under pipefail
  # when a pattern matches nothing.
  shopt -s nullglob
  for d in /usr/src/linux-headers-*-"$arch"; do
    [[ ${d##*/} =~ ^linux-headers-([0-9][^-]*-[0-9]+)-$arch$ ]] || continue
    c=/usr/src/linux-headers-${BASH_REMATCH[1]}-common
    [ -d "$d/include" ] && [ -d "$c/include" ] || continue
    if [ -z "$build" ] || [ "$(printf '%s\n%s\n' "$build" "$d" | sort -V | tail -n1)" = "$d" ]; then
      build=$d
      common=$c
    fi
  done
  shopt -u nullglob
  if [ -z "$build" ]; then
    echo "kernel-headers: no linux-headers-*-$arch with its -common under /usr/src" >&2
    exit 1
  fi
}

case ${1:-} in
  find)
    find_headers
    printf '%s %s\n' "$build" "$common"
    ;;
  merge)
    [ $# -eq 2 ] || { echo "usage: $0 merge DEST" >&2; exit 2; }
    dest=$2
    find_headers
    # Symbolic links, not copies: the tree costs no space beside the packages.
    # The flavour's files (generated headers, .config) go over the common
    # ones where both have one (Makefile).
    mkdir -p "$dest"
    cp -as "$common/." "$dest/"
    cp -as --remove-destination "$build/." "$dest/"
    # What bcc reads first: kconfig.h from the sources, autoconf.h from the flavour.
    for f in include/linux/kconfig.h include/generated/autoconf.h; do
      [ -f "$dest/$f" ] || { echo "kernel-headers: $dest/$f missing" >&2; exit 1; }
    done
    echo "kernel-headers: $dest merges $build and $common" >&2
    ;;
  *)
    echo "usage: $0 find | merge DEST" >&2
    exit 2
    ;;
esac
