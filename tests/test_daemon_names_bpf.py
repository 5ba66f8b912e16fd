"""Names a workload controls, through the real daemon: a cgroup whose name holds
invalid UTF-8 and terminal escapes is dumped, named with escapes, and logged on
one line with no raw control byte (issue 12)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from daemonutil import daemon, read
from runc import Runc

pytestmark = pytest.mark.bpf

HOSTILE = b"bad\xff\x1b[31mname\rx"


def test_a_hostile_cgroup_name_is_dumped_and_logged_escaped(runc: Runc, tmp_path: Path) -> None:
    root = runc.cgroup_root()
    cg = os.path.join(os.fsencode(root), HOSTILE)
    with daemon(root, tmp_path / "dumps") as d:
        os.mkdir(cg)
        try:
            # A process that joins the cgroup, then fails: the container's crash.
            r = subprocess.run(
                ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec sh -c "cat /hostile-name; exit 3"',
                 os.fsdecode(cg)],
                capture_output=True, timeout=30,
            )  # fmt: skip
            assert r.returncode == 3, r.stderr
            [dump] = d.wait_dumps(1)
        finally:
            os.rmdir(cg)
    header, _ = read(dump)
    assert header["container"]["name"] == "bad\\377\\33[31mname\\rx"  # as strace writes it
    assert dump.parent.name == "bad_377_33_31mname_rx"  # a safe directory name
    text = "\n".join(d.log)
    assert re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text) is None, text
    # The log escapes what it is given, the name's own escapes too (unambiguous).
    assert "bad\\\\377\\\\33[31mname\\\\rx" in text
