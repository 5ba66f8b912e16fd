"""Pure trigger and incident logic: naming containers, main-process rule, incidents."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.model.containers import identify, normalize_id
from sidecar.model.errors import UsageError
from sidecar.model.incidents import Incidents, Outcome, rate_key
from sidecar.model.kernel_events import CORE_DUMPED, CORE_KNOWN, SIGNALED, Event, EventType, Reason
from sidecar.model.trigger import Trigger
from triggers.kernel import (
    Exit,
    awaits_core,
    confirm_main,
    container_end,
    main_exit,
    note_end,
    parse_trigger_names,
)
from triggers.manual import check_request, named

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


def _exit_event(ts: int, pid: int, code: int, comm: str) -> Event:
    return Event(EventType.GROUP_EXIT, 0, 42, ts, pid, pid, 0, code, 1, comm)


def test_container_exit_names_the_main_process_with_its_own_comm() -> None:
    # The main process (sh, pid 10) exits 3; its child (sleep, pid 11) is killed
    # after it by the pid namespace's end: the last event is the child's.
    main = _exit_event(1_000, 10, 3, "sh")
    child = _exit_event(1_100, 11, SIGNALED | 9, "sleep")
    found, code = container_end(
        child,
        [],
        [Exit.from_event(main), Exit.from_event(child)],
        0,
        container_exit=True,
        dump_on_exit=False,
    )
    assert code == 3
    [trig] = found
    assert (trig.reason, trig.pid, trig.comm, trig.exit_code) == ("container-exit", 10, "sh", 3)


def test_a_clean_container_exit_is_no_trigger_unless_asked() -> None:
    last = _exit_event(1_000, 10, 0, "app")
    ends = [Exit.from_event(last)]
    assert container_end(last, [], ends, 0, container_exit=True, dump_on_exit=False) == ([], 0)
    found, _ = container_end(last, [], ends, 0, container_exit=True, dump_on_exit=True)
    assert [t.reason for t in found] == ["container-exit"]


def test_main_only_candidates_count_for_the_main_process_only() -> None:
    main = _exit_event(1_000, 10, 2, "app")
    mine = Trigger("nonzero-exit", "kernel", 990, "t", pid=10, exit_code=2)
    child = Trigger("nonzero-exit", "kernel", 500, "t", pid=12, exit_code=1)
    found, code = container_end(
        main, [child, mine], [Exit.from_event(main)], 0, container_exit=False, dump_on_exit=False
    )
    assert found == [mine] and code == 2


def test_manual_requests_name_containers_and_never_everything() -> None:
    ref = identify(f"/kubepods/besteffort/pod1b2c3d4e-1111-2222-3333-444455556666/{CID}")
    assert ref is not None
    assert named(CID[:12], ref, 7) and named("7", ref, 7)
    assert named(f"containerd://{CID[:8]}", ref, 7)  # a prefix, with the runtime's scheme
    assert not named(CID[:5], ref, 7)  # too short a prefix: ambiguous
    assert named("app", ref, 7, pod_container="app") and not named("web", ref, 7, "app")
    for empty in ("", "  ", "abcdef://", "containerd://"):
        with pytest.raises(UsageError):
            check_request(empty)


def test_a_forced_trigger_is_never_rate_limited() -> None:
    inc = Incidents(coalesce=0.0, limit=1, period=600)
    t = Trigger("manual", "manual", 0, "t")
    assert inc.add((1, 0, 0), "web", t, 0.0)[0] is Outcome.NEW
    assert inc.add((1, 0, 1), "web", t, 1.0)[0] is Outcome.LIMITED
    assert inc.add((1, 0, 1), "web", t, 2.0, force=True)[0] is Outcome.NEW
    assert inc.limit == 1  # the limit itself is left alone


def test_restarts_of_one_kubernetes_container_share_a_rate_key() -> None:
    uid = "1b2c3d4e-1111-2222-3333-444455556666"
    first = identify(f"/kubepods/burstable/pod{uid}/{'a' * 64}")
    again = identify(f"/kubepods/burstable/pod{uid}/{'b' * 64}")  # the restart: a new ID
    assert first is not None and again is not None
    pod = {"namespace": "shop", "name": "web-1", "container": "app"}
    assert rate_key(first, pod) == rate_key(again, pod) == "shop/web-1/app"
    assert rate_key(first) == rate_key(again) == f"pod {uid}"  # the pod not known (yet)
    runc = identify("/traceloop-test-1/crashloop")
    assert runc is not None and rate_key(runc) == "crashloop"


def test_kubernetes_crash_loops_are_limited_across_restarts() -> None:
    inc = Incidents(coalesce=0.0, limit=3, period=600)
    uid = "1b2c3d4e-1111-2222-3333-444455556666"
    outcomes = []
    for n in range(10):  # every restart is a new container ID and cgroup
        ref = identify(f"/kubepods/burstable/pod{uid}/{n:064x}")
        assert ref is not None
        t = Trigger("nonzero-exit", "kernel", n, "t")
        outcomes.append(inc.add((n, 0, 0), rate_key(ref), t, float(n))[0])
    assert outcomes.count(Outcome.NEW) == 3 and inc.limited == 7


def test_a_flood_of_distinct_containers_meets_the_node_limit() -> None:
    inc = Incidents(coalesce=0.0, limit=5, period=600, node_limit=20)
    t = Trigger("nonzero-exit", "kernel", 0, "t")
    outcomes = [inc.add((n, 0, 0), f"c{n}", t, float(n))[0] for n in range(50)]
    assert outcomes.count(Outcome.NEW) == 20
    assert outcomes.count(Outcome.NODE_LIMITED) == 30 and inc.node_limited == 30
    assert inc.add((99, 0, 0), "c99", t, 700.0)[0] is Outcome.NEW  # a new period
    assert inc.add((98, 0, 0), "c98", t, 49.5, force=True)[0] is Outcome.NEW  # a person asked


def _end(pid: int, code: int) -> Event:
    return Event(EventType.GROUP_EXIT, 0, 1, 10, pid, pid, 0, code, 1, "p")


def test_a_process_end_tells_its_fatal_signal_whether_it_dumped_core() -> None:
    def segv(pid: int) -> Trigger:
        return Trigger("fatal-signal", "kernel", 5, "t", pid=pid, tid=pid, signal="SIGSEGV")

    mine, other = segv(7), segv(8)
    assert awaits_core(mine)
    # Another process's end, or an end the kernel could not read (no BTF), says nothing.
    assert not note_end([mine], _end(8, SIGNALED | 11 | CORE_KNOWN | CORE_DUMPED))
    assert not note_end([mine], _end(7, SIGNALED | 11))
    assert mine.core_dumped is None and "core_dumped" not in mine.to_wire()
    assert note_end([mine, other], _end(7, SIGNALED | 11 | CORE_KNOWN | CORE_DUMPED))
    assert mine.core_dumped is True and other.core_dumped is None and not awaits_core(mine)
    assert note_end([other], _end(8, SIGNALED | 11 | CORE_KNOWN))
    assert other.to_wire()["core_dumped"] is False
    # The exit status is still read as before.
    assert Exit.from_code(0, 7, SIGNALED | 11 | CORE_KNOWN | CORE_DUMPED).shell_status == 139
