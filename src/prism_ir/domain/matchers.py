"""Alertmanager-style label matchers (=, !=, =~, !~), shared by silences, grouping and severity rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_SPLIT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.S)


class Op(StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


@dataclass(frozen=True)
class Matcher:
    """One label test; a missing label matches as the empty string, as in Alertmanager."""

    name: str
    op: Op
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def make(cls, name: str, op: Op | str, value: str) -> Matcher:
        if not _NAME.match(name):
            raise ValueError(f"invalid label name {name!r}")
        op = Op(op)
        regex = None
        if op in (Op.RE, Op.NRE):
            try:
                # Alertmanager anchors regex matchers at both ends.
                regex = re.compile(f"^(?:{value})$", re.S)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return cls(name, op, str(value), regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        got = labels.get(self.name, "")
        if self.op is Op.EQ:
            return got == self.value
        if self.op is Op.NE:
            return got != self.value
        assert self._regex is not None
        hit = self._regex.match(got) is not None
        return hit if self.op is Op.RE else not hit

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def parse_matcher(text: str) -> Matcher:
    """Parse `name="value"`, `name!=value`, `name=~"re.*"` or `name!~re`."""
    m = _SPLIT.match(str(text))
    if not m:
        raise ValueError(f"invalid matcher {text!r}: expected name=value, name!=value, name=~regex or name!~regex")
    name, op, value = m.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"')
    return Matcher.make(name, op, value)


def parse_matchers(spec: Any) -> tuple[Matcher, ...]:
    """Accept a mapping of exact label values, a list of matcher strings, or a list of {name, value, ...} dicts."""
    if spec is None:
        return ()
    if isinstance(spec, Mapping):
        return tuple(Matcher.make(str(k), Op.EQ, str(v)) for k, v in spec.items())
    if isinstance(spec, str):
        return (parse_matcher(spec),)
    out: list[Matcher] = []
    for i, item in enumerate(spec):
        try:
            if isinstance(item, Mapping):
                if "name" in item:
                    op = item.get("op") or ("=~" if item.get("isRegex") else "=")
                    if item.get("isEqual") is False:
                        op = "!~" if op == "=~" else "!="
                    out.append(Matcher.make(str(item["name"]), op, str(item.get("value", ""))))
                else:
                    out.extend(parse_matchers(item))
            else:
                out.append(parse_matcher(str(item)))
        except (ValueError, KeyError) as exc:
            raise ValueError(f"[{i}]: {exc}") from None
    return tuple(out)


def all_match(matchers: tuple[Matcher, ...], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
