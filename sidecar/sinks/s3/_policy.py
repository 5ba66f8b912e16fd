"""What to do when a new dump would overflow the spool: pure decisions, no I/O.

`--spool-full=refuse` keeps every dump already spooled and turns the new one
away; `drop-oldest` makes room by deleting the oldest spooled dumps. Either way
the caller logs and counts what happened: a dump is never lost silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

REFUSE = "refuse"
DROP_OLDEST = "drop-oldest"
POLICIES = (REFUSE, DROP_OLDEST)


@dataclass(frozen=True)
class Spooled:
    """One dump in the spool, as far as the cap is concerned."""

    ident: str
    size: int
    spooled_ns: int


@dataclass(frozen=True)
class Admission:
    accept: bool
    drop: tuple[Spooled, ...] = ()
    why: str = ""


def admit(
    spooled: Sequence[Spooled], other_bytes: int, new_size: int, cap: int, policy: str
) -> Admission:
    """Decide on a new dump of `new_size` bytes.

    `spooled` are the dumps that may be dropped; `other_bytes` is space used by
    anything else in the spool (files being written, strays) that counts
    against the cap but cannot be dropped. `cap` <= 0 means no cap.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown spool policy {policy!r}")
    if cap <= 0:
        return Admission(True)
    used = other_bytes + sum(s.size for s in spooled)
    if used + new_size <= cap:
        return Admission(True)
    if new_size + other_bytes > cap:
        # Dropping every dump would not make room: keep what is there.
        return Admission(
            False, why=f"the dump ({new_size} bytes) is larger than the spool cap allows"
        )
    if policy == REFUSE:
        return Admission(False, why=f"spool full ({used} of {cap} bytes used)")
    drop: list[Spooled] = []
    for s in sorted(spooled, key=lambda s: (s.spooled_ns, s.ident)):
        if used + new_size <= cap:
            break
        drop.append(s)
        used -= s.size
    return Admission(True, tuple(drop), why=f"spool full: dropping {len(drop)} oldest dump(s)")
