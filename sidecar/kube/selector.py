"""Kubernetes label selectors (`app=web,tier!=db,env in (a,b),!canary`), parsed and matched.

Pure. Same grammar and meaning as the API server's: requirements are ANDed;
`!=` and `notin` also match when the label is absent; `key` asks for the label
to exist, `!key` for it to be absent. Selection happens on our side (not in
the list/watch request) so that excluded pods stay in the cache and the
recorder can be told "no" about their containers instead of "unknown".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_SET = re.compile(r"^(?P<key>\S+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_EQ = re.compile(r"^(?P<key>[^!=\s]+)\s*(?P<op>==|=|!=)\s*(?P<value>\S*)$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # in, notin, exists, absent (= and == are "in" with one value, != is "notin")
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "absent":
            return self.key not in labels
        if self.op == "in":
            return labels.get(self.key) in self.values
        return labels.get(self.key) not in self.values  # notin


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...]
    text: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)


def _split(text: str) -> list[str]:
    """Split on the commas that are not inside `( )`."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def _key(key: str, text: str) -> str:
    if not _KEY.match(key):
        raise ValueError(f"label selector {text!r}: invalid label key {key!r}")
    return key


def _value(value: str, text: str) -> str:
    if len(value) > 63 or not _VALUE.match(value):
        raise ValueError(f"label selector {text!r}: invalid label value {value!r}")
    return value


def parse(text: str) -> LabelSelector:
    """Parse a selector; ValueError says what is wrong with it. "" selects everything."""
    reqs: list[Requirement] = []
    if not text.strip():
        return LabelSelector((), text)
    for part in _split(text):
        if not part:
            raise ValueError(f"label selector {text!r}: empty requirement")
        if m := _SET.match(part):
            values = frozenset(_value(v.strip(), text) for v in m.group("values").split(","))
            reqs.append(Requirement(_key(m.group("key"), text), m.group("op"), values))
        elif m := _EQ.match(part):
            op = "notin" if m.group("op") == "!=" else "in"
            value = _value(m.group("value"), text)
            reqs.append(Requirement(_key(m.group("key"), text), op, frozenset([value])))
        elif part.startswith("!"):
            reqs.append(Requirement(_key(part[1:].strip(), text), "absent"))
        else:
            reqs.append(Requirement(_key(part, text), "exists"))
    return LabelSelector(tuple(reqs), text)
