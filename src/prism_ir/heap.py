"""Garbage collection for the long-running processes (`serve`, `worker`): no full pass in the middle of a burst.

CPython's full pass walks every tracked object, and under load that includes every alert still waiting in the
intake journal: 80-100 ms of CPU each time on this project's benchmark machine, several times per second of an
alert storm, and every request in flight waits for it. So a running process freezes what startup built, lets
only the youngest generation collect automatically (every 10,000 net allocations instead of 700, so request
objects die young instead of being promoted), and runs the older passes itself as one full pass: once it is due,
at the first moment no request is in flight, and at the latest after `max_wait` even under constant load.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Callable

# an older generation is only collected by HeapKeeper: CPython would wait for this many younger passes (never)
_NEVER = 1_000_000_000


class HeapKeeper:
    def __init__(self, busy: Callable[[], bool] = lambda: False, young: int = 10_000,
                 every: float = 30.0, max_wait: float = 120.0, check: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.busy = busy
        self.thresholds = (young, _NEVER, _NEVER)
        self.every = every
        self.max_wait = max_wait
        self.check = check
        self.clock = clock
        self.full_passes = 0
        self._previous: tuple[int, int, int] | None = None
        self._last = clock()

    def start(self) -> None:
        """Before serving: move what startup built out of the collector's reach and take over full passes."""
        gc.collect()
        gc.freeze()
        if self._previous is None:
            self._previous = gc.get_threshold()
        gc.set_threshold(*self.thresholds)
        self._last = self.clock()

    def stop(self) -> None:
        """Give the heap back to automatic collection (a process that goes on, like a test run, collects as before)."""
        if self._previous is not None:
            gc.unfreeze()
            gc.set_threshold(*self._previous)
            self._previous = None

    def collect_if_due(self) -> bool:
        now = self.clock()
        waited = now - self._last
        if waited < self.every or (self.busy() and waited < self.max_wait):
            return False
        gc.collect()
        self._last = self.clock()
        self.full_passes += 1
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.check)
            self.collect_if_due()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[HeapKeeper]:
        """start(), full passes kept by a background task, and stop() on the way out."""
        self.start()
        task = asyncio.get_running_loop().create_task(self.run())
        try:
            yield self
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self.stop()


class InFlight:
    """Requests being answered by this process; the heap keeper waits for a moment with none."""

    def __init__(self) -> None:
        self.count = 0

    def __bool__(self) -> bool:
        return self.count > 0
