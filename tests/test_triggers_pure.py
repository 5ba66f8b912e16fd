"""Pure trigger and incident logic: naming containers, main-process rule, incidents."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.model.containers import identify, normalize_id
from sidecar.model.errors import UsageError
from sidecar.model.incidents import Incidents, Outcome
from sidecar.model.kernel_events import SIGNALED, Reason
from sidecar.model.trigger import Trigger
from triggers.kernel import Exit, confirm_main, main_exit, parse_trigger_names

CID = "4f2a" + "0" * 58 + "9b"


@pytest.mark.parametrize(
    "path, runtime, name",
    [
        (f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_1111_2222_3333_444455556666.slice/cri-containerd-{CID}.scope", "containerd", CID[:12]),
        (f"/kubepods.slice/crio-{CID}.scope", "cri-o", CID[:12]),
        (f"/system.slice/docker-{CID}.scope", "docker", CID[:12]),
        (f"/docker/{CID}", "docker", CID[:12]),
        (f"/kubepods/burstable/pod1b2c3d4e-1111-2222-3333-444455556666/{CID}", "cri", CID[:12]),
        ("/traceloop-test-1/exit5", "runc", "exit5"),
    ],
)  # fmt: skip
def test_container_ids_from_cgroup_paths(path: str, runtime: str, name: str) -> None:
    ref = identify(path)
    assert ref is not None and ref.runtime == runtime and ref.name == name


def test_pod_uid_is_normalised_from_systemd_paths() -> None:
    ref = identify(
        f"/kubepods.slice/kubepods-pod1b2c3d4e_1111_2222_3333_444455556666.slice/cri-containerd-{CID}.scope"
    )
    assert ref is not None and ref.pod_uid == "1b2c3d4e-1111-2222-3333-444455556666"
    assert ref.id == CID


@pytest.mark.parametrize(
    "path", ["/", "/init.scope", "/system.slice/sshd.service", "/user.slice", "/kubepods.slice",
             f"/kubepods.slice/crio-conmon-{CID}.scope"],
)  # fmt: skip
def test_host_cgroups_are_not_containers(path: str) -> None:
    assert identify(path) is None


def test_kubernetes_container_ids_lose_their_scheme() -> None:
    assert normalize_id(f"containerd://{CID}") == CID and normalize_id(CID) == CID


def T(reason: str, pid: int, ts: int, **kw: Any) -> Trigger:
    return Trigger(reason=reason, source="kernel", ts_ns=ts, time="t", pid=pid, **kw)


def test_main_is_the_last_exit_not_killed_by_sigkill() -> None:
    # sh (pid 1 of the container) exits 5 after its child cat failed; the
    # pid namespace teardown then SIGKILLs a leftover process.
    exits = [
        Exit.from_code(10, 20, 1),
        Exit.from_code(20, 10, 5),
        Exit.from_code(30, 30, SIGNALED | 9),
    ]
    assert main_exit(exits) == Exit(20, 10, 5, 0)
    cands = [T("nonzero-exit", 20, 10, exit_code=1), T("nonzero-exit", 10, 20, exit_code=5)]
    confirmed, status = confirm_main(cands, exits)
    assert [t.pid for t in confirmed] == [10] and status == 5


def test_a_failed_child_does_not_make_a_clean_exit_a_crash() -> None:
    exits = [Exit.from_code(10, 20, 1), Exit.from_code(20, 10, 0)]
    confirmed, status = confirm_main([T("nonzero-exit", 20, 10, exit_code=1)], exits)
    assert confirmed == [] and status == 0


def test_kill_9_of_everything_is_sigkill_status_137() -> None:
    exits = [Exit.from_code(5, 10, SIGNALED | 9), Exit.from_code(6, 11, SIGNALED | 9)]
    confirmed, status = confirm_main([T("fatal-signal", 10, 5, signal="SIGKILL")], exits)
    assert [t.pid for t in confirmed] == [10] and status == 137


def test_trigger_names_and_scopes() -> None:
    enabled, main = parse_trigger_names("nonzero-exit:main,fatal-signal,oom-kill:any")
    assert enabled == Reason.NONZERO_EXIT | Reason.FATAL_SIGNAL | Reason.OOM_KILL
    assert main == Reason.NONZERO_EXIT
    with pytest.raises(UsageError, match="unknown trigger 'segfault'"):
        parse_trigger_names("segfault")
    with pytest.raises(UsageError, match="scope"):
        parse_trigger_names("oom-kill:some")


def test_triggers_of_one_incarnation_coalesce_into_one_incident() -> None:
    inc = Incidents(coalesce=0.25)
    key = (7, 1, 0)
    assert inc.add(key, "web", T("nonzero-exit", 1, 1), now=0.0)[0] is Outcome.NEW
    assert inc.add(key, "web", T("container-exit", 1, 2), now=0.1)[0] is Outcome.MERGED
    assert inc.due(0.2) == []
    [ready] = inc.due(0.3)
    assert [t.reason for t in ready.triggers] == ["nonzero-exit", "container-exit"]
    # A Kubernetes view arriving later joins the dumped incident, no second dump.
    assert inc.add(key, "web", T("pod-restart", 1, 3), now=5.0)[0] is Outcome.LATE
    assert inc.due(10.0) == []


def test_crash_loops_are_limited_per_container_and_counted() -> None:
    inc = Incidents(coalesce=0, limit=3, period=60)
    outcomes = [
        inc.add((i, 1, 0), "loop", T("nonzero-exit", 1, i), now=i * 0.5)[0] for i in range(100)
    ]
    assert outcomes.count(Outcome.NEW) == 3 and inc.limited == 97
    # Another container is not affected, and the window slides.
    assert inc.add((1000, 1, 0), "other", T("nonzero-exit", 1, 0), now=50)[0] is Outcome.NEW
    assert inc.add((1001, 1, 0), "loop", T("nonzero-exit", 1, 0), now=200)[0] is Outcome.NEW
