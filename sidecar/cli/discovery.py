"""`python -m sidecar.cli.discovery pod-cgroup UID [ROOT]`: a pod's cgroup directory."""

from __future__ import annotations

from pathlib import Path

from sidecar.host.discovery import find_pod_cgroup_dir


def main(argv: list[str] | None = None) -> int:
    """`python -m sidecar.cli.discovery pod-cgroup UID [ROOT]`: print the pod's cgroup directory.

    For the sidecar: its --cgroup-root is its own pod's cgroup (Downward API
    gives the UID), so no other pod on the node is recorded.
    """
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="python -m sidecar.cli.discovery")
    sub = p.add_subparsers(dest="cmd", required=True)
    pc = sub.add_parser("pod-cgroup", help="print the cgroup directory of a pod")
    pc.add_argument("uid")
    pc.add_argument("root", nargs="?", default="/sys/fs/cgroup")
    args = p.parse_args(argv)
    found = find_pod_cgroup_dir(Path(args.root), args.uid)
    if found is None:
        print(
            f"no cgroup of pod {args.uid} under {args.root} (is the host's cgroup "
            "hierarchy mounted there?)",
            file=sys.stderr,
        )
        return 1
    print(found)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
