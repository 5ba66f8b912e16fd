"""Captures of kinds 9-14 (docs/dump-format.md): arrays sized by an argument
or the return value (poll's pollfds, epoll_wait's events), iovecs with their
data (readv/writev and kin), message headers (sendmsg/recvmsg) and counted
directory entries (getdents64), as strace shows them; and the return
annotations that come from them (`= 1 ([{fd=3, revents=POLLIN}])`,
`= 0 (Timeout)`).

A decoder gets (captured bytes, registers, return value, string limit) and
gives (strace's text, a JSON value, whether data was cut), or None to show
the pointer.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

from sidecar.dump.captures import IOV_N, Kind
from sidecar.render.flags import MSG, SOL, flags_of
from sidecar.render.objects import EPOLL_LAYOUTS, epoll_event_text
from sidecar.render.signals import signal_name
from sidecar.render.sockaddr import sockaddr, sockaddr_json
from sidecar.render.strings import quote, text
from sidecar.render.structs import sigset_names, sigset_text
from sidecar.render.values import MASK32

VecDecoded = tuple[str, Any, bool]
VecDecoder = Callable[[bytes, Sequence[int], int | None, int | None], VecDecoded | None]
Note = Callable[[int, Sequence[int], Sequence[Sequence[Any]]], str]

POLL_EVENTS = (
    (0x1, "POLLIN"), (0x2, "POLLPRI"), (0x4, "POLLOUT"), (0x8, "POLLERR"), (0x10, "POLLHUP"),
    (0x20, "POLLNVAL"), (0x40, "POLLRDNORM"), (0x80, "POLLRDBAND"), (0x100, "POLLWRNORM"),
    (0x200, "POLLWRBAND"), (0x400, "POLLMSG"), (0x1000, "POLLREMOVE"), (0x2000, "POLLRDHUP"),
)  # fmt: skip
IOV_HDR = IOV_N * 8
MSGHDR = 56
MSG_NAME = 112
_ARRAY_KIND = 9
_FUTEX_TIMED = frozenset({0, 6, 9, 11, 13})  # WAIT, LOCK_PI, WAIT_BITSET, WAIT_REQUEUE_PI, LOCK_PI2


def _shown(items: list[str], more: bool, limit: int | None) -> str:
    """An array as strace prints it: at most `limit` (-s) elements, then `...`
    when it cut some or the call named more than were read."""
    if limit is not None and len(items) > limit:
        items, more = items[:limit], True
    return "[" + ", ".join(items + (["..."] if more else [])) + "]"


# --- pollfd arrays -------------------------------------------------------------


def _pollfds(data: bytes) -> list[tuple[int, int, int]]:
    return [struct.unpack_from("<ihh", data, i) for i in range(0, len(data) - 7, 8)]


def _events(v: int) -> str:
    return flags_of(POLL_EVENTS, v & 0xFFFF)


def pollfds(data: bytes, a: Sequence[int], ret: int | None, limit: int | None) -> VecDecoded:
    """`[{fd=3, events=POLLIN}, {fd=-1}]`: the fds and events the call got."""
    fds = _pollfds(data)
    items, js = [], []
    for fd, events, revents in fds:
        items.append(f"{{fd={fd}}}" if fd < 0 else f"{{fd={fd}, events={_events(events)}}}")
        j: dict[str, Any] = {"fd": fd, "events": _events(events)}
        if ret is not None and ret >= 0:
            j["revents"] = _events(revents)
        js.append(j)
    cut = (a[1] & MASK32) > len(fds)
    return _shown(items, cut, limit), js, cut


def poll_note(ret: int, a: Sequence[int], caps: Sequence[Sequence[Any]]) -> str:
    """What strace adds after poll's return value."""
    if ret == 0:
        return " (Timeout)"
    data = next((c[2] for c in caps if c[0] == 0 and c[1] == _ARRAY_KIND), None)
    if ret < 0 or data is None:
        return ""
    fds = _pollfds(data)
    items = [f"{{fd={fd}, revents={_events(r)}}}" for fd, _e, r in fds if r]
    if (a[1] & MASK32) > len(fds):
        items.append("...")
    return " ([" + ", ".join(items) + "])"


def sigwait_note(ret: int, a: Sequence[int], caps: Sequence[Sequence[Any]]) -> str:
    """rt_sigtimedwait returns the signal it took: `= 10 (SIGUSR1)`."""
    return f" ({signal_name(ret)})" if ret > 0 else ""


# --- epoll_event arrays --------------------------------------------------------


def epoll_events(arch: str, captures: Sequence[Sequence[int]]) -> VecDecoder | None:
    """The events, laid out as on `arch`; not decoded when the dump's capture
    has another element size (an arm64 dump from before the padded layout)."""
    layout = EPOLL_LAYOUTS.get(arch)
    elem = _len_arg(captures, 1)
    if layout is None or (elem is not None and elem >> 3 != layout[0]):
        return None
    size, fmt = layout

    def decode(data: bytes, a: Sequence[int], ret: int | None, limit: int | None) -> VecDecoded:
        n = len(data) // size
        got = [epoll_event_text(data, i * size, fmt) for i in range(n)]
        cut = ret is not None and ret > n
        return _shown([t for t, _ in got], cut, limit), [j for _, j in got], cut

    return decode


# --- iovecs --------------------------------------------------------------------


def _iov_items(
    data: bytes, count: int, want: int | None, limit: int | None
) -> tuple[list[str], list[dict[str, Any]], bool]:
    """The first iovecs: their lengths from the capture's header, their bytes
    after it (each piece min(its length, what is left), as the kernel took
    them); `want` is how many bytes the call moved (None: all of them)."""
    n = min(count, IOV_N)
    lens = struct.unpack_from(f"<{n}Q", data) if n else ()
    body = data[IOV_HDR:]
    pos = 0
    items, js = [], []
    cut = count > IOV_N
    for size in lens:
        wanted = size if want is None else min(size, want)
        if want is not None:
            want -= wanted
        got = min(size, len(body) - pos)
        piece = body[pos : pos + got]
        pos += got
        items.append(f"{{iov_base={quote(piece, wanted, limit)}, iov_len={size}}}")
        shown = piece if limit is None else piece[:limit]
        js.append({"iov_base": text(shown), "iov_len": size})
        cut = cut or wanted > len(shown)
    return items, js, cut


def iovecs(count_arg: int, filled: bool) -> VecDecoder:
    """readv's (`filled`: data up to the return value) or writev's iovecs."""

    def decode(
        data: bytes, a: Sequence[int], ret: int | None, limit: int | None
    ) -> VecDecoded | None:
        if len(data) < IOV_HDR:
            return None
        want = None
        if filled:
            if ret is None or ret < 0:
                return None
            want = ret
        count = a[count_arg] & MASK32
        items, js, cut = _iov_items(data, count, want, limit)
        return _shown(items, count > IOV_N, limit), js, cut

    return decode


# --- message headers -----------------------------------------------------------


SCM_RIGHTS, SCM_CREDENTIALS = 1, 2


def _cmsg_one(level: int, ctype: int, body: bytes) -> tuple[list[str], dict[str, Any]]:
    """One control message's level, type and data as strace shows them."""
    lv = SOL.get(level)
    parts = [f"cmsg_level={lv or hex(level) + ' /* SOL_??? */'}"]
    js: dict[str, Any] = {"cmsg_level": lv or level}
    if level == 1 and ctype == SCM_RIGHTS:
        fds = [struct.unpack_from("<i", body, i)[0] for i in range(0, len(body) - 3, 4)]
        parts += ["cmsg_type=SCM_RIGHTS", "cmsg_data=[" + ", ".join(map(str, fds)) + "]"]
        js.update(cmsg_type="SCM_RIGHTS", cmsg_data=fds)
    elif level == 1 and ctype == SCM_CREDENTIALS and len(body) >= 12:
        pid, uid, gid = struct.unpack_from("<iII", body)
        parts += ["cmsg_type=SCM_CREDENTIALS", f"cmsg_data={{pid={pid}, uid={uid}, gid={gid}}}"]
        js.update(cmsg_type="SCM_CREDENTIALS", cmsg_data={"pid": pid, "uid": uid, "gid": gid})
    else:  # a type not decoded here: strace's form for one it does not know
        parts.append(f"cmsg_type={hex(ctype)}" + (" /* SCM_??? */" if level == 1 else ""))
        js["cmsg_type"] = ctype
    return parts, js


def cmsgs(data: bytes, controllen: int) -> tuple[str, list[dict[str, Any]]]:
    """The control messages kept (`data`) of `controllen` bytes:
    `[{cmsg_len=20, cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS, cmsg_data=[3]}]`."""
    items, js = [], []
    at, more = 0, False
    while at + 16 <= min(len(data), controllen):
        clen, level, ctype = struct.unpack_from("<QiI", data, at)
        if clen < 16:
            break
        end = at + clen
        if end > len(data) and end <= controllen:
            more = True  # the recorder kept less than this message
            break
        parts, j = _cmsg_one(level, ctype, data[at + 16 : min(end, len(data))])
        items.append("{" + ", ".join([f"cmsg_len={clen}", *parts]) + "}")
        js.append({"cmsg_len": clen, **j})
        at += (clen + 7) & ~7
    more = more or (at < controllen and at + 16 > len(data))
    return "[" + ", ".join(items + (["..."] if more else [])) + "]", js


MsgDecoder = Callable[
    [bytes, Sequence[int], int | None, int | None, bytes | None], VecDecoded | None
]


def msghdr(filled: bool, with_data: bool) -> VecDecoder:
    """sendmsg's (or, `filled`, recvmsg's) message: name, iovecs, lengths, flags."""
    decode = msghdr_cmsgs(filled, with_data)
    return lambda data, a, ret, limit: decode(data, a, ret, limit, None)


def msghdr_cmsgs(filled: bool, with_data: bool) -> MsgDecoder:
    """The same, with the control messages of a CMSG capture (`cmsg_data`)."""

    def decode(
        data: bytes, a: Sequence[int], ret: int | None, limit: int | None, cmsg_data: bytes | None
    ) -> VecDecoded | None:
        if len(data) < MSGHDR + IOV_HDR:
            return None
        name, namelen, unread, iov, iovlen, control, controllen, flags = struct.unpack_from(
            "<QIIQQQQI", data
        )
        if filled and (ret is None or ret < 0):  # strace: what the call was given
            return f"{{msg_namelen={namelen}}}", {"msg_namelen": namelen}, False
        at = MSGHDR
        js: dict[str, Any] = {}
        if name and namelen and not unread:
            nl = min(namelen, MSG_NAME)
            at += (nl + 7) & ~7
            sa = data[MSGHDR : MSGHDR + nl]
            name_t, js["msg_name"] = sockaddr(sa), sockaddr_json(sa)
        else:
            name_t = js["msg_name"] = hex(name) if name else "NULL"
        js["msg_namelen"] = namelen
        cut = False
        if not iov:
            iov_t = js["msg_iov"] = "NULL"
        elif not with_data or len(data) < at + IOV_HDR:
            iov_t = js["msg_iov"] = hex(iov)
        else:
            want = ret if filled and ret is not None else None
            items, js["msg_iov"], cut = _iov_items(data[at:], iovlen, want, limit)
            iov_t = _shown(items, iovlen > IOV_N, limit)
        js["msg_iovlen"] = iovlen
        fl = flags_of(MSG, flags)
        parts = [f"msg_name={name_t}", f"msg_namelen={namelen}", f"msg_iov={iov_t}",
                 f"msg_iovlen={iovlen}"]  # fmt: skip
        if controllen and cmsg_data is not None:
            parts.append("msg_control=" + (ctl := cmsgs(cmsg_data, controllen))[0])
            js["msg_control"] = ctl[1]
        elif controllen:  # not captured (an older dump, or unreadable): the pointer
            parts.append(f"msg_control={hex(control) if control else 'NULL'}")
            js["msg_control"] = hex(control) if control else "NULL"
        parts += [f"msg_controllen={controllen}", f"msg_flags={fl}"]
        js["msg_controllen"] = controllen
        js["msg_flags"] = fl
        return "{" + ", ".join(parts) + "}", js, cut

    return decode


# --- directory entries ---------------------------------------------------------


def dirents(data: bytes, a: Sequence[int], ret: int | None, limit: int | None) -> VecDecoded | None:
    """getdents64's buffer as strace shows it by default: `0x7ffe... /* 6 entries */`."""
    if len(data) < 8 or ret is None or ret < 0:
        return None
    n, more = struct.unpack_from("<II", data)
    count = f"{n}+" if more else str(n)  # more than the recorder counted
    addr = hex(a[1]) if a[1] else "NULL"
    return (
        f"{addr} /* {count} entries */",
        {"address": addr, "entries": n, "more": bool(more)},
        False,
    )


# --- rt_sigreturn -----------------------------------------------------------------


def sigframe(
    data: bytes, a: Sequence[int], ret: int | None, limit: int | None
) -> VecDecoded | None:
    """The mask rt_sigreturn restores: `{mask=[INT]}`."""
    if len(data) < 8:
        return None
    (mask,) = struct.unpack_from("<Q", data)
    return f"{{mask={sigset_text(mask)}}}", {"mask": sigset_names(mask)}, False


def futex_timeout(
    data: bytes, a: Sequence[int], ret: int | None, limit: int | None
) -> VecDecoded | None:
    """futex's timeout: the recorder reads it for the waiting operations only,
    and a capture beside another operation (a count there) is not shown."""
    if len(data) < 16 or a[1] & 0x7F not in _FUTEX_TIMED:
        return None
    sec, nsec = struct.unpack_from("<qq", data)
    return f"{{tv_sec={sec}, tv_nsec={nsec}}}", {"tv_sec": sec, "tv_nsec": nsec}, False


def sigwait_set(
    data: bytes, a: Sequence[int], ret: int | None, limit: int | None
) -> VecDecoded | None:
    """rt_sigtimedwait's set, the first 8 bytes of its capture (kind 17; the
    timeout that may follow is decoded beside it, objects.sigwait_joint)."""
    if len(data) < 8 or a[3] != 8:
        return None
    (mask,) = struct.unpack_from("<Q", data)
    return sigset_text(mask), sigset_names(mask), False


def _len_arg(captures: Sequence[Sequence[int]], arg: int) -> int | None:
    for c in captures:
        if len(c) > 2 and c[0] == arg:
            return c[2]
    return None


def vec_decoders(name: str, arch: str, captures: Sequence[Sequence[int]]) -> dict[int, VecDecoder]:
    """Argument index -> decoder of the kinds above, for one syscall of a dump
    (`captures`: the header's entry for it, which says whether data was kept)."""
    if name in ("poll", "ppoll"):
        return {0: pollfds}
    if name in ("epoll_wait", "epoll_pwait"):
        d = epoll_events(arch, captures)
        return {1: d} if d else {}
    if name in ("readv", "preadv", "preadv2"):
        return {1: iovecs(2, True)}
    if name in ("writev", "pwritev", "pwritev2"):
        return {1: iovecs(2, False)}
    if name == "rt_sigreturn":
        return {0: sigframe}
    if name == "futex":
        return {3: futex_timeout}
    if name == "rt_sigtimedwait":
        return {0: sigwait_set}
    if name in ("getdents64", "getdents"):
        return {1: dirents}
    if name in ("sendmsg", "recvmsg"):
        return {1: msghdr(name == "recvmsg", _len_arg(captures, 1) != 0)}
    return {}


_MSG_KINDS = (int(Kind.MSG_IN), int(Kind.MSG_OUT))
_CMSG = int(Kind.CMSG)
Joint = Callable[[Sequence[Sequence[Any]], Sequence[int], int | None, int | None], dict[int, Any]]


def msg_joint(name: str, captures: Sequence[Sequence[int]]) -> Joint | None:
    """sendmsg's and recvmsg's message again, with the control messages of
    the call's second capture (kind 23) in it."""
    if name not in ("sendmsg", "recvmsg"):
        return None
    decode = msghdr_cmsgs(name == "recvmsg", _len_arg(captures, 1) != 0)

    def joint(
        caps: Sequence[Sequence[Any]], a: Sequence[int], ret: int | None, limit: int | None
    ) -> dict[int, Any]:
        msg = next((c for c in caps if c[1] in _MSG_KINDS and c[2] is not None), None)
        ctl = next((c for c in caps if c[1] == _CMSG and c[2] is not None), None)
        if msg is None or ctl is None:
            return {}
        got = decode(msg[2], a, ret, limit, ctl[2])
        return {1: got[:2]} if got is not None else {}

    return joint


NOTES: dict[str, Note] = {"poll": poll_note, "ppoll": poll_note, "rt_sigtimedwait": sigwait_note}
