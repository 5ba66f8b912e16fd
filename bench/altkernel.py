"""A recorder from another source tree, loaded in a process of its own.

`bench/run.py --compare-bpf DIR` with DIR a checkout of another commit (it has
a `sidecar/` package): the kernel side of that commit may need that commit's
loader (its maps, its layout), so it is loaded here, with DIR first on the
import path, and attached or detached on request:

    python bench/altkernel.py DIR ROOT_CGROUP_DIR [IGNORED_CGROUP_DIR] [key=value settings...]

reads "on", "off" or "quit" lines on stdin and answers each with "ok" once
done (a first "ok" when loaded). See harness.RemoteProbes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def _value(text: str) -> Any:
    if text in ("True", "False"):
        return text == "True"
    return int(text)


def main() -> int:
    tree, root_dir = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    ignored_dir = Path(sys.argv[3]) if len(sys.argv) > 3 and "=" not in sys.argv[3] else None
    extra = dict(a.split("=", 1) for a in sys.argv[3:] if "=" in a)
    sys.path.insert(0, str(tree))
    from sidecar.host import cgroups
    from sidecar.kernel.layout import Settings
    from sidecar.kernel.loader import Kernel, KernelConfig
    from sidecar.kernel.syscalls import load_table

    here = Path(__file__).resolve().parent
    sys.path.insert(1, str(here))
    from harness import Probes

    mount = cgroups.resolve_root(None)
    root = cgroups.Cgroup(root_dir, mount.mount)
    settings = Settings(**{k: _value(v) for k, v in extra.items()})
    k = Kernel(
        KernelConfig(settings, root_id=root.id, root_level=root.level, adopt_root=True),
        load_table(),
    )
    if ignored_dir is not None:
        k.ignore(cgroups.Cgroup(ignored_dir, mount.mount).id)
    probes = Probes(k.bpf)
    print("ok", flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "quit":
            break
        probes.set(cmd == "on")
        print("ok", flush=True)
    k.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
