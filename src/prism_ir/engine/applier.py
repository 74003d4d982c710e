"""`python -m prism_ir.engine.applier`: the child that applies journaled alert requests for one API process.

Started and fed by `services/ingest_remote.ApplierProcess` over its stdin and stdout: the settings first,
then journaled requests in arrival order; it answers each one after the commit that applied it. When its
stdin closes (the API process stops or died) it applies what it was handed, answers, and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import Any

from prism_ir.bootstrap import build_container, keep_statistics
from prism_ir.config import Settings
from prism_ir.heap import HeapKeeper
from prism_ir.services.ingest import IngestService
from prism_ir.services.ingest_remote import frame, read_frame


async def _pipes() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """stdin for requests; the answers get stdout's pipe to themselves (fd 1 then points at stderr, so a stray
    print cannot corrupt the stream)."""
    loop = asyncio.get_running_loop()
    answers = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", buffering=0))
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, answers)
    return reader, asyncio.StreamWriter(transport, protocol, None, loop)


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    hello = await read_frame(reader)
    if not hello or hello[0] != "settings":
        raise SystemExit("expected the settings first")
    container = build_container(Settings.model_validate_json(hello[1]))
    service = container.extras["ingest"]
    assert isinstance(service, IngestService)
    outstanding: set[asyncio.Future[Any]] = set()
    background: list[asyncio.Task[None]] = []
    if container.db.dialect == "postgresql":
        background.append(asyncio.create_task(keep_statistics(container)))

    def failed(seq: int, exc: BaseException) -> None:  # the row stays journaled; the API process logs why
        writer.write(frame(("failed", seq, f"{type(exc).__name__}: {exc}")))

    def answer(seq: int, applied: asyncio.Future[Any]) -> None:
        outstanding.discard(applied)
        if applied.cancelled():
            failed(seq, asyncio.CancelledError("cancelled"))
        elif (exc := applied.exception()) is not None:
            failed(seq, exc)
        else:
            writer.write(frame(("done", seq, applied.result())))

    writer.write(frame(("ready", os.getpid())))
    try:
        async with HeapKeeper(busy=lambda: bool(outstanding)).running():
            while (message := await read_frame(reader)) is not None:
                if message[0] == "invalidate":
                    service.invalidate()
                    continue
                _, seq, service_id, source, raw, now, journal_id = message
                try:
                    queued = await service.apply_journaled(service_id, source, raw, now, journal_id)
                except Exception as exc:
                    failed(seq, exc)
                    continue
                outstanding.add(queued)
                queued.add_done_callback(lambda f, seq=seq: answer(seq, f))
            await service.group.drained()
            with contextlib.suppress(ConnectionError):  # the API process is gone: nobody waits for the answers
                await writer.drain()
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await container.close()
        writer.close()


async def main() -> None:
    os.nice(10)  # answering is what a sender waits for: the API process gets the CPU first
    # Ctrl-C or a service manager's SIGTERM reach the whole process group: the child stops when the API process
    # closes its stdin (after it stopped answering), having applied what it was handed
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    reader, writer = await _pipes()
    await serve(reader, writer)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s applier[%(process)d] %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        asyncio.run(main())
    else:
        uvloop.run(main())
