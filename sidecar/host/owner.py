"""Who owns the files `traceloop record` writes.

Recording needs root, so CI runs `sudo traceloop record -- ...`; but what
reads the dumps afterwards (actions/upload-artifact, the developer) runs as
the invoking user, and dumps are 0600 in 0700 directories. Under sudo the
files and directories the dump created are handed to SUDO_UID/SUDO_GID, or to
`--owner USER[:GROUP]`. Directories that existed before are left as they are.
"""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from sidecar.model.errors import UsageError


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int


def _user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except (KeyError, OverflowError):
        return None


def _group(name: str) -> int:
    if name.isdigit():
        return int(name)
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise UsageError(f"--owner: no such group {name!r}") from None


def parse_owner(spec: str) -> Owner:
    """`USER[:GROUP]` as chown takes it (names or numbers); GROUP defaults to
    USER's primary group."""
    user, sep, group = spec.partition(":")
    pw = _user(user)
    if pw is None:
        if not user.isdigit():
            raise UsageError(f"--owner: no such user {user!r}")
        uid, gid = int(user), int(user)  # a numeric id without a passwd entry
    else:
        uid, gid = pw.pw_uid, pw.pw_gid
    if sep and group:
        gid = _group(group)
    return Owner(uid, gid)


def owner_from(spec: str | None, environ: Mapping[str, str] = os.environ) -> Owner | None:
    """The owner to hand dumps to: --owner, else the user sudo was run by, else none."""
    if spec:
        return parse_owner(spec)
    uid = environ.get("SUDO_UID", "")
    if os.geteuid() != 0 or not uid.isdigit() or int(uid) == 0:
        return None
    gid = environ.get("SUDO_GID", "")
    if gid.isdigit():
        return Owner(int(uid), int(gid))
    pw = _user(uid)
    return Owner(int(uid), pw.pw_gid if pw else int(uid))


def _paths_under(root: Path) -> Iterator[Path]:
    for dirpath, _, files in os.walk(root):
        d = Path(dirpath)
        yield d
        for f in files:
            yield d / f


class Handover:
    """Notes what exists under `roots` (and which of their ancestors exist);
    `give_created()` then chowns what was created since: the dump, its
    directories, a spool's entry."""

    def __init__(self, owner: Owner, roots: Iterable[Path]) -> None:
        self.owner = owner
        self.roots = [Path(os.path.abspath(r)) for r in roots]
        self.before: set[Path] = set()
        for root in self.roots:
            self.before.update(p for p in (root, *root.parents) if p.exists())
            self.before.update(_paths_under(root))

    def give_created(self) -> None:
        """Raises OSError when chown fails (not root)."""
        for root in self.roots:
            if not root.exists():
                continue
            created = [p for p in root.parents if p not in self.before]
            created += [p for p in _paths_under(root) if p not in self.before]
            for p in created:
                os.chown(p, self.owner.uid, self.owner.gid, follow_symlinks=False)
