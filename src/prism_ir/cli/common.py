"""Helpers shared by CLI commands: settings, running coroutines, printing tables or JSON."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from prism_ir.bootstrap import Container, build_container
from prism_ir.config import Settings

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def with_container(fn: Callable[[Container], Awaitable[T]]) -> T:
    """Run an admin action against the database directly, closing the pool afterwards."""

    async def main() -> T:
        container = build_container(Settings())
        try:
            return await fn(container)
        finally:
            await container.close()

    return run(main())


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str | None = None) -> None:
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*["" if row.get(c) is None else str(row.get(c)) for c in columns])
    console.print(table)


def fail(message: str, code: int = 1) -> None:
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)
