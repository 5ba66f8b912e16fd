"""struct sockaddr, as strace prints it and as a JSON object.

The bytes are the recorder's copy of what the program passed or got back (at
most the recorder's `sa_cap`). Multi-byte fields are in network order except
the family and AF_INET6's scope id, which are in host order (little-endian on
the architectures traceloop records: x86_64 and arm64).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sidecar.render.flags import AF, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, AF_UNIX, ETH_P
from sidecar.render.strings import escape, text
from sidecar.render.values import unknown


def _family(data: bytes) -> int:
    return int.from_bytes(data[:2], "little")


def _family_name(fam: int) -> str:
    return AF.get(fam) or unknown(fam, "AF_")


def sockaddr(data: bytes) -> str:
    """strace's `{sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.0.0.1")}`."""
    if len(data) < 2:
        return '"' + escape(data) + '"'
    fam = _family(data)
    head = f"{{sa_family={_family_name(fam)}"
    if fam == AF_INET and len(data) >= 8:
        port = int.from_bytes(data[2:4], "big")
        addr = ipaddress.IPv4Address(data[4:8])
        return f'{head}, sin_port=htons({port}), sin_addr=inet_addr("{addr}")}}'
    if fam == AF_INET6 and len(data) >= 24:
        port = int.from_bytes(data[2:4], "big")
        flow = int.from_bytes(data[4:8], "big")
        addr6 = ipaddress.IPv6Address(data[8:24])
        out = (
            f"{head}, sin6_port=htons({port}), sin6_flowinfo=htonl({flow}), "
            f'inet_pton(AF_INET6, "{addr6}", &sin6_addr)'
        )
        if len(data) >= 28:
            out += f", sin6_scope_id={int.from_bytes(data[24:28], 'little')}"
        return out + "}"
    if fam == AF_UNIX:
        path = data[2:]
        if not path:
            return head + "}"
        if path[0] == 0:  # abstract: the name is all the bytes given, NULs included
            return f'{head}, sun_path=@"{escape(path[1:])}"}}'
        nul = path.find(b"\0")
        return f'{head}, sun_path="{escape(path if nul < 0 else path[:nul])}"}}'
    if fam == AF_NETLINK and len(data) >= 12:
        pad = int.from_bytes(data[2:4], "little")
        pid = int.from_bytes(data[4:8], "little")
        groups = int.from_bytes(data[8:12], "little")
        g = f"{groups:#08x}" if groups else "00000000"
        p = f", nl_pad={pad:#x}" if pad else ""
        return f"{head}{p}, nl_pid={pid}, nl_groups={g}}}"
    if fam == AF_PACKET and len(data) >= 12:
        proto = int.from_bytes(data[2:4], "big")
        ifindex = int.from_bytes(data[4:8], "little", signed=True)
        name = ETH_P.get(proto, hex(proto))
        return f"{head}, sll_protocol=htons({name}), sll_ifindex={ifindex}, ...}}"
    return f'{head}, sa_data="{escape(data[2:])}"}}'


def sockaddr_json(data: bytes) -> dict[str, Any]:
    """{"family": "AF_INET", "port": 53, "addr": "10.0.0.1"} and the like."""
    if len(data) < 2:
        return {"family": None, "data": data.hex()}
    fam = _family(data)
    name = AF.get(fam, str(fam))
    if fam == AF_INET and len(data) >= 8:
        return {
            "family": name,
            "port": int.from_bytes(data[2:4], "big"),
            "addr": str(ipaddress.IPv4Address(data[4:8])),
        }
    if fam == AF_INET6 and len(data) >= 24:
        out: dict[str, Any] = {
            "family": name,
            "port": int.from_bytes(data[2:4], "big"),
            "addr": str(ipaddress.IPv6Address(data[8:24])),
            "flowinfo": int.from_bytes(data[4:8], "big"),
        }
        if len(data) >= 28:
            out["scope_id"] = int.from_bytes(data[24:28], "little")
        return out
    if fam == AF_UNIX:
        path = data[2:]
        if path[:1] == b"\0":
            return {"family": name, "path": "@" + text(path[1:])}
        nul = path.find(b"\0")
        return {"family": name, "path": text(path if nul < 0 else path[:nul])}
    if fam == AF_NETLINK and len(data) >= 12:
        return {
            "family": name,
            "pid": int.from_bytes(data[4:8], "little"),
            "groups": int.from_bytes(data[8:12], "little"),
        }
    return {"family": name, "data": data[2:].hex()}


# Addresses repeat (a service talks to the same few peers) and decoding one
# (ipaddress) is slow: remember up to a few thousand of each form.
_CACHE: dict[bytes, str] = {}
_JSON_CACHE: dict[bytes, dict[str, Any]] = {}
CACHE_MAX = 4096


def sockaddr_cached(data: bytes) -> str:
    s = _CACHE.get(data)
    if s is None:
        s = sockaddr(data)
        if len(_CACHE) < CACHE_MAX:
            _CACHE[data] = s
    return s


def sockaddr_json_cached(data: bytes) -> dict[str, Any]:
    """A shared object per address: only ever read (serialised), never changed."""
    d = _JSON_CACHE.get(data)
    if d is None:
        d = sockaddr_json(data)
        if len(_JSON_CACHE) < CACHE_MAX:
            _JSON_CACHE[data] = d
    return d
