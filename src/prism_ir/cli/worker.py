"""`prism-ir worker`: run the escalation and notification worker apart from the web server."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import typer

from prism_ir.config import Settings


def worker(
    worker_id: str | None = typer.Option(None, "--id", help="name shown in /api/health and the outbox"),
    clock_file: Path | None = typer.Option(None, "--clock-file", hidden=True,
                                           help="read the time from this file (tests drive a killable worker)"),
) -> None:
    """Claim due escalation steps and sends; run as many as you like on PostgreSQL (SKIP LOCKED)."""
    from prism_ir.bootstrap import build_container
    from prism_ir.engine.file_clock import FileClock
    from prism_ir.engine.loop import Worker
    from prism_ir.heap import HeapKeeper

    async def main() -> None:
        container = build_container(Settings(), clock=FileClock(clock_file) if clock_file else None)
        engine = Worker(container, worker_id=worker_id)
        heap = container.extras["heap"] = HeapKeeper()
        async with heap.running():
            task = asyncio.create_task(engine.run())
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, task.cancel)
            typer.echo(f"worker running on {container.db.dialect}", err=True)
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await container.close()

    try:  # uvloop ships with uvicorn[standard]: a cheaper loop, so a page leaves sooner after its commit
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
