"""`traceloop ls DIR` (a local sink's dumps, from their headers) and `traceloop show
--namespace/--pod/--container` across several dumps, as a user runs them.

The dumps are real recordings (tests/data) whose headers name the pods a
daemon on a node would have named."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from showutil import TRACELOOP, fixture, make_dump, pod_dump

# (directory as the local sink names it, namespace, pod, container, time, reason)
PODS = [
    ("shop_web_app", "shop", "web", "app", "2026-11-25T10:00:01.000Z", "nonzero-exit"),
    ("shop_api_app", "shop", "api", "app", "2026-11-25T12:00:03.000Z", "oom-kill"),
    ("kube-system_dns_coredns", "kube-system", "dns", "coredns", "2026-11-25T11:00:02.000Z",
     "fatal-signal"),
]  # fmt: skip


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("sink") / "dumps"
    made = {p[2]: pod_dump(root, *p) for p in PODS}
    # A `traceloop record` dump: no pod, the oldest.
    header, records = fixture("sh-cat")
    header["triggers"][0]["time"] = "2026-11-24T09:00:00.000Z"
    (root / "env").mkdir()
    made["env"] = make_dump(root / "env" / "20261124T090000.000Z-nonzero-exit-x.msgpack",
                            header, records)  # fmt: skip
    (root / "env" / ".tmp-abc.part").write_bytes(b"partial")  # a write in progress
    (root / "env" / "notes.txt").write_text("not a dump\n")
    return root, made


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TRACELOOP, *args], capture_output=True, text=True, timeout=60)


def test_ls_dir_newest_crash_first_with_the_headers_names(
    sink: tuple[Path, dict[str, Path]],
) -> None:
    root, made = sink
    r = run("ls", str(root))
    assert r.returncode == 0 and r.stderr == ""
    head, *rows = [line.split() for line in r.stdout.splitlines()]
    assert head == ["TIME", "REASON", "NODE", "POD", "CONTAINER", "SIZE", "URL"]
    assert [row[-1] for row in rows] == [
        str(made["api"]), str(made["dns"]), str(made["web"]), str(made["env"]),
    ]  # fmt: skip
    assert rows[0][:5] == ["2026-11-25T12:00:03.000Z", "oom-kill", "node-7", "shop/api", "app"]
    assert rows[-1][3:5] == ["-", "env"]  # no pod: the recorded command
    assert rows[0][5] == f"{made['api'].stat().st_size / 1024:.1f}K"


def test_ls_dir_json_and_limit(sink: tuple[Path, dict[str, Path]]) -> None:
    root, made = sink
    r = run("ls", "--json", "-n", "2", str(root))
    assert r.returncode == 0
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["pod"] for o in objs] == ["api", "dns"]
    api = objs[0]
    assert api["url"] == str(made["api"]) and api["key"] == f"shop_api_app/{made['api'].name}"
    assert (api["namespace"], api["container"], api["node"]) == ("shop", "app", "node-7")
    assert api["id"] == "node-7-api" and api["size"] == made["api"].stat().st_size
    # The same fields as `ls s3://...` lists.
    assert set(api) == {"url", "key", "size", "last_modified", "time", "reason", "node",
                        "cluster", "namespace", "pod", "container", "id"}  # fmt: skip


def test_ls_dir_names_what_it_cannot_read_and_lists_the_rest(tmp_path: Path) -> None:
    pod_dump(tmp_path, *PODS[0])
    (tmp_path / "bad.msgpack").write_bytes(b"\x93not a dump\x1b[31m")
    r = run("ls", str(tmp_path))
    assert r.returncode == 1
    [warning] = r.stderr.splitlines()
    assert warning.startswith("traceloop: warning: ") and "not a traceloop dump" in warning
    assert len(r.stdout.splitlines()) == 2  # the heading and the one dump


def test_ls_errors(tmp_path: Path) -> None:
    r = run("ls", str(tmp_path / "nope"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not a directory" in r.stderr
    r = run("ls", str(tmp_path))
    assert r.returncode == 0 and r.stdout == ""
    assert r.stderr == f"traceloop: no dumps under {tmp_path}\n"


def show_files(*args: str) -> tuple[int, list[str], str]:
    r = run("show", "--info", "-o", "json", *args)
    return r.returncode, [json.loads(x)["file"] for x in r.stdout.splitlines()], r.stderr


def test_show_filters_several_dumps_by_namespace_pod_and_container(
    sink: tuple[Path, dict[str, Path]],
) -> None:
    _, made = sink
    every = [str(p) for p in made.values()]
    assert show_files("--namespace", "shop", *every)[1] == [str(made["web"]), str(made["api"])]
    assert show_files("--pod", "web,dns", *every)[1] == [str(made["web"]), str(made["dns"])]
    status, files, _ = show_files("--namespace", "shop", "--container", "app", "--pod", "api",
                                  *every)  # fmt: skip
    assert (status, files) == (0, [str(made["api"])])
    # A dump without a pod is named by its container.
    assert show_files("--container", "env", *every)[1] == [str(made["env"])]
    status, files, err = show_files("--namespace", "prod", *every)
    assert (status, files) == (1, [])
    assert err == "traceloop: no dump matches --namespace prod\n"


def test_show_filtered_strace_has_a_heading_per_dump_shown(
    sink: tuple[Path, dict[str, Path]],
) -> None:
    _, made = sink
    r = run("show", "-o", "strace", "--last", "1", "--pod", "api,dns", *map(str, made.values()))
    assert r.returncode == 0
    headings = [x for x in r.stdout.splitlines() if x.startswith("==> ")]
    assert headings == [f"==> {made['api']} <==", f"==> {made['dns']} <=="]
    assert r.stdout.startswith("==> ")  # no blank line before the first one shown
