"""The applier process: journaled alert requests are applied by a child process of the one answering them.

On two cores an API process that also applies the backlog of an alert storm answers late: every request in
flight waits behind whichever apply step holds the event loop. With the child, the API process only parses,
journals and answers, and the operating system shares the CPU between the two at a fine grain.

Semantics stay those of one process: requests are handed over in arrival order and the child applies them in
that order with the same group commit; a request's future resolves when the child has committed it, so the
fence for queued resolves (`QueuedStops`) and the repeat fast path keep working in the API process. Only
journaled requests are handed over, so a request is applied exactly once even when the child dies just after
a commit: the journal row is deleted in the applying transaction, and what was handed to a dead child is
applied again in the API process (`on_lost`), where the journal skips what the child did commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import pickle
import struct
import sys
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

log = logging.getLogger("prism_ir.ingest.applier")
CHILD_MODULE = "prism_ir.engine.applier"
_LENGTH = struct.Struct("!I")
T = TypeVar("T")
Lost = list[tuple[str, T, "asyncio.Future[Any]"]]


def frame(message: object) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """The next message, or None once the other side closed the pipe."""
    try:
        head = await reader.readexactly(_LENGTH.size)
        return pickle.loads(await reader.readexactly(_LENGTH.unpack(head)[0]))
    except asyncio.IncompleteReadError:
        return None


class ApplierLost(RuntimeError):
    """The child stopped before answering; the request goes back to the API process."""


class ApplierProcess(Generic[T]):
    """Runs the child, hands it journaled requests and resolves their futures from its answers.

    `on_lost` gets, in hand-over order, what a child that stopped had not answered: (service, request, future)
    for the caller to apply itself and resolve the future with.
    """

    def __init__(self, settings_json: str, on_lost: Callable[[Lost[T]], None], restart_delay: float = 1.0,
                 start_timeout: float = 60.0, stop_timeout: float = 30.0) -> None:
        self.settings_json = settings_json
        self.on_lost = on_lost
        self.restart_delay = restart_delay
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.ready = False
        self.pid: int | None = None
        self.handed = 0  # requests handed over (metrics, tests)
        self.starts = 0
        self._seq = itertools.count()
        self._pending: dict[int, tuple[str, T, asyncio.Future[Any]]] = {}
        self._busy: Counter[str] = Counter()
        self._idle: dict[str, list[asyncio.Future[None]]] = {}
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def stopping(self) -> bool:
        """Closed, or closing: no child will be started again."""
        return self._closing

    def busy(self, service_id: str) -> bool:
        """Requests of this service were handed over and not answered yet."""
        return self._busy.get(service_id, 0) > 0

    async def idle(self, service_id: str) -> None:
        """Until nothing of this service is with the child (so a request applied here cannot overtake it)."""
        if self.busy(service_id):
            waiter = asyncio.get_running_loop().create_future()
            self._idle.setdefault(service_id, []).append(waiter)
            await waiter

    def enqueue(self, service_id: str, request: T, now: datetime, journal_id: int, source: str,
                raw: bytes) -> asyncio.Future[Any]:
        """Hand a journaled request over; call only while `ready`."""
        assert self._proc is not None and self._proc.stdin is not None and self.ready
        seq = next(self._seq)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[seq] = (service_id, request, future)
        self._busy[service_id] += 1
        self.handed += 1
        self._proc.stdin.write(frame(("apply", seq, service_id, source, raw, now, journal_id)))
        return future

    def invalidate(self) -> None:
        """Keys or rules changed: the child forgets its cached copies too."""
        if self.ready and self._proc is not None and self._proc.stdin is not None:
            self._proc.stdin.write(frame(("invalidate",)))

    async def run(self) -> None:
        """Keep a child running (restarted after `restart_delay` when it stops); on cancel, stop it gracefully."""
        delay = self.restart_delay
        try:
            while not self._closing:
                try:
                    await self._serve_once()
                    delay = self.restart_delay
                except Exception:
                    log.exception("the alert applier process failed; journaled requests are applied here meanwhile")
                    delay = min(delay * 2, 60.0)  # one that cannot start is retried less and less often
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            await self.close()
            raise

    async def close(self) -> None:
        """Let the child apply what it was handed, then stop it (killed after `stop_timeout`)."""
        self._closing = True
        self.ready = False
        proc, reader = self._proc, self._reader
        if proc is None:
            return
        if reader is None:  # still starting: it holds nothing yet
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(asyncio.shield(reader), self.stop_timeout)
        except TimeoutError:
            log.error("the alert applier process did not stop in %.0f s; killing it", self.stop_timeout)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await reader

    async def _serve_once(self) -> None:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", CHILD_MODULE, stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        self._proc, self._reader, self.starts = proc, None, self.starts + 1
        proc.stdin.write(frame(("settings", self.settings_json)))
        try:
            hello = await asyncio.wait_for(read_frame(proc.stdout), self.start_timeout)
        except TimeoutError:
            hello = None
        if not hello or hello[0] != "ready":
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise RuntimeError(f"the alert applier process did not start (exit code {proc.returncode})")
        self.pid = int(hello[1])
        self._reader = asyncio.get_running_loop().create_task(self._read_answers(proc, proc.stdout))
        self.ready = not self._closing
        await asyncio.shield(self._reader)

    async def _read_answers(self, proc: asyncio.subprocess.Process, stdout: asyncio.StreamReader) -> None:
        try:
            while (answer := await read_frame(stdout)) is not None:
                entry = self._pending.pop(answer[1], None)
                if entry is None:
                    continue
                self._settle(entry[0])
                if not entry[2].done():
                    if answer[0] == "done":
                        entry[2].set_result(answer[2])
                    else:
                        entry[2].set_exception(RuntimeError(answer[2]))
        finally:
            # no await before on_lost: a request arriving now is applied here, so it must queue behind these
            self.ready = False
            lost = list(self._pending.values())
            self._pending.clear()
            for service_id, _, _ in lost:
                self._settle(service_id)
            if lost:
                self.on_lost(lost)
            await proc.wait()
            if proc.returncode:
                log.error("the alert applier process stopped with exit code %s (%d requests taken back)",
                          proc.returncode, len(lost))

    def _settle(self, service_id: str) -> None:
        self._busy[service_id] -= 1
        if self._busy[service_id] <= 0:
            del self._busy[service_id]
            for waiter in self._idle.pop(service_id, []):
                if not waiter.done():
                    waiter.set_result(None)
