"""struct sockaddr in strace's form and as JSON objects."""

from __future__ import annotations

import socket
import struct

from sidecar.render.sockaddr import sockaddr, sockaddr_json


def inet(host: str, port: int) -> bytes:
    return (
        struct.pack("<H", socket.AF_INET)
        + struct.pack(">H", port)
        + socket.inet_aton(host)
        + bytes(8)
    )


def inet6(host: str, port: int, flow: int = 0, scope: int = 0) -> bytes:
    return (
        struct.pack("<H", socket.AF_INET6)
        + struct.pack(">HI", port, flow)
        + socket.inet_pton(socket.AF_INET6, host)
        + struct.pack("<I", scope)
    )


def test_inet() -> None:
    data = inet("10.0.0.1", 53)
    assert sockaddr(data) == (
        '{sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.0.0.1")}'
    )
    assert sockaddr_json(data) == {"family": "AF_INET", "port": 53, "addr": "10.0.0.1"}


def test_inet6() -> None:
    data = inet6("::1", 9, flow=4660, scope=2)
    assert sockaddr(data) == (
        "{sa_family=AF_INET6, sin6_port=htons(9), sin6_flowinfo=htonl(4660), "
        'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=2}'
    )
    assert sockaddr_json(data) == {
        "family": "AF_INET6", "port": 9, "addr": "::1", "flowinfo": 4660, "scope_id": 2,
    }  # fmt: skip


def test_unix_path_abstract_and_unnamed() -> None:
    fam = struct.pack("<H", socket.AF_UNIX)
    assert sockaddr(fam + b"/run/x.sock\0\0\0") == '{sa_family=AF_UNIX, sun_path="/run/x.sock"}'
    assert sockaddr(fam + b"\0abstract") == '{sa_family=AF_UNIX, sun_path=@"abstract"}'
    assert sockaddr(fam) == "{sa_family=AF_UNIX}"
    assert sockaddr_json(fam + b"\0abstract") == {"family": "AF_UNIX", "path": "@abstract"}
    assert sockaddr_json(fam + b"/run/x.sock\0") == {"family": "AF_UNIX", "path": "/run/x.sock"}


def test_netlink() -> None:
    data = struct.pack("<HHII", socket.AF_NETLINK, 0, 0, 5)
    assert sockaddr(data) == "{sa_family=AF_NETLINK, nl_pid=0, nl_groups=0x000005}"
    zero = struct.pack("<HHII", socket.AF_NETLINK, 0, 123, 0)
    assert sockaddr(zero) == "{sa_family=AF_NETLINK, nl_pid=123, nl_groups=00000000}"
    assert sockaddr_json(zero) == {"family": "AF_NETLINK", "pid": 123, "groups": 0}


def test_other_and_broken_addresses_never_fail() -> None:
    assert sockaddr(struct.pack("<H", 0) + b"ab") == '{sa_family=AF_UNSPEC, sa_data="ab"}'
    assert sockaddr(struct.pack("<H", 200) + b"\x01") == (
        '{sa_family=0xc8 /* AF_??? */, sa_data="\\1"}'
    )
    assert sockaddr(b"\x02") == '"\\2"'
    short_inet = struct.pack("<H", socket.AF_INET) + b"\x00"
    assert sockaddr(short_inet).startswith("{sa_family=AF_INET, sa_data=")
    assert sockaddr_json(b"") == {"family": None, "data": ""}
