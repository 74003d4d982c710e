"""`prism-ir apply`: validate the whole declarative file, then apply it in one transaction."""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from prism_ir.clock import Clock
from prism_ir.store.db import Database

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(ValueError):
    """Every problem found, each naming its place in the file; nothing was changed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def format_path(loc: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


@dataclass
class ApplyContext:
    session: AsyncSession
    now: datetime
    actor: str
    changes: list[str] = field(default_factory=list)
    issued_keys: list[str] = field(default_factory=list)
    document: dict[str, Any] = field(default_factory=dict)

    def changed(self, what: str) -> None:
        self.changes.append(what)


ApplyFn = Callable[[ApplyContext, Any], Awaitable[None]]


@dataclass(frozen=True)
class Section:
    name: str
    adapter: TypeAdapter[Any]
    apply: ApplyFn
    order: int = 50


SECTIONS: dict[str, Section] = {}


def register(section: Section) -> None:
    SECTIONS[section.name] = section


def substitute_env(node: Any, path: tuple[Any, ...], env: dict[str, str], problems: list[str]) -> Any:
    """Replace ${VAR} (or ${VAR:-default}) in every string, naming the place of a missing variable."""
    if isinstance(node, dict):
        return {k: substitute_env(v, (*path, k), env, problems) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute_env(v, (*path, i), env, problems) for i, v in enumerate(node)]
    if isinstance(node, str):

        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append(f"{format_path(path)}: environment variable {name} is not set")
            return ""

        return _VAR.sub(repl, node)
    return node


def parse_document(text: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Parse and validate every section; raise ConfigError listing all problems at once."""
    from prism_ir.services import config_sections  # noqa: F401  (registers the sections)

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError([f"{where}invalid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(["the file must be a mapping of sections (services:, users:, …)"])
    problems: list[str] = []
    raw = substitute_env(raw, (), dict(os.environ) if env is None else env, problems)
    parsed: dict[str, Any] = {}
    for key, value in raw.items():
        section = SECTIONS.get(str(key))
        if section is None:
            problems.append(f"{key}: unknown section (known: {', '.join(sorted(SECTIONS))})")
            continue
        try:
            parsed[key] = section.adapter.validate_python(value)
        except ValidationError as exc:
            for err in exc.errors():
                msg = err["msg"].removeprefix("Value error, ")
                problems.append(f"{format_path((key, *err['loc']))}: {msg}")
    if problems:
        raise ConfigError(problems)
    return parsed


async def apply_document(db: Database, clock: Clock, parsed: dict[str, Any], actor: str) -> ApplyContext:
    """Apply parsed sections in dependency order, all or nothing."""
    from prism_ir.services.errors import ServiceError

    async with db.transaction() as session:
        ctx = ApplyContext(session=session, now=clock.now(), actor=actor, document=parsed)
        for section in sorted((SECTIONS[k] for k in parsed), key=lambda s: s.order):
            try:
                await section.apply(ctx, parsed[section.name])
            except ServiceError as exc:
                where = f"{section.name}{exc.field if exc.field and exc.field.startswith('[') else ''}"
                raise ConfigError([f"{where}: {exc.message}"]) from exc
    return ctx
