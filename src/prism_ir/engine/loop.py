"""The worker: claims due escalation steps and sends, woken at once by commits (and LISTEN on PostgreSQL).

A running worker also takes sends its own process's transactions pre-claimed for it (services/preclaim.py):
they arrive after COMMIT through `start`, already `sending` under its id, and go out without a claim.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import make_url

from prism_ir.engine.jobs.escalate import escalate_due
from prism_ir.engine.jobs.send import send_one
from prism_ir.engine.runtime import runtime_of
from prism_ir.integrations.notifiers import Channels
from prism_ir.services.escalation import NOTIFY_CHANNEL, next_dues
from prism_ir.services.notify import Outbox
from prism_ir.services.preclaim import Claimed
from prism_ir.store.db import async_url

log = logging.getLogger("prism_ir.worker")
IDLE_POLL_SECONDS = 30.0


def _parse_due(payload: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(payload)) if payload else None
    except ValueError:
        return None


class Worker:
    def __init__(self, container: Any, *, worker_id: str | None = None, listen: bool = True,
                 preclaim: bool = True) -> None:
        self.container = container
        self.runtime = runtime_of(container)
        self.settings = self.runtime.settings
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.outbox = Outbox(self.settings, self.id)
        self.channels = Channels(smtp_url=container.settings.smtp_url, mail_from=container.settings.mail_from,
                                 sms_template=self.settings.sms_url_template)
        self.listen = listen
        self.preclaim = preclaim  # take this process's new due sends pre-claimed (LocalSender)
        self.inflight: set[asyncio.Task[str]] = set()
        self.idle = asyncio.Event()
        self.running = False
        self.last_loop: datetime | None = None
        self.last_error = ""
        self.counts: dict[str, int] = {}
        self._esc_due: datetime | None = None
        self._esc_checked = 0.0
        self._esc_known = False
        self._send_due: datetime | None = None
        self._saturated = False
        self._drained = asyncio.Event()
        self._reserved = 0  # capacity held for sends being pre-claimed by transactions not yet committed
        self._resting = False  # waiting with nothing due: a pre-claimed send finishing makes the worker idle
        self.handed_off = 0  # pre-claimed sends started (no claim statement)
        container.extras["worker"] = self
        self.runtime.workers.append(self)

    def health(self, now: datetime) -> dict[str, Any]:
        status = "ok" if self.running else "stopped"
        return {"status": status, "id": self.id, "inflight": len(self.inflight), "last_error": self.last_error,
                "last_loop": self.last_loop.isoformat() if self.last_loop else None, "sent": dict(self.counts)}

    async def run(self) -> None:
        """Loop until cancelled; in-flight sends are awaited on the way out so none is left half-recorded."""
        self.running = True
        listener = await self._listen()
        if self.preclaim:
            self.runtime.local.attach(self)
        try:
            while True:
                try:
                    busy = await self.run_once()
                except Exception as exc:  # the database may blip; keep the loop alive and say so in /api/health
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.exception("worker iteration failed")
                    await asyncio.sleep(0.5)
                    continue
                if not busy:
                    await self._wait()
        finally:
            self.runtime.local.detach(self)
            self.running = False
            if self.inflight:
                await asyncio.gather(*self.inflight, return_exceptions=True)
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.close()
            await self.channels.aclose()

    async def run_once(self) -> bool:
        """Do what is due now; True when there may be more to do straight away."""
        self.runtime.wakeup.clear()
        self.idle.clear()
        self.last_loop = self.container.clock.now()
        handled = 0
        self._absorb_hint()
        # steps only become due by the clock (hooks fire what is due at once, and announce new timers), so
        # the tick runs when the earliest known timer is due, or to re-check after a while as a safety net
        stale = time.monotonic() - self._esc_checked > 2.0
        if not self._esc_known or stale or (self._esc_due is not None and self._esc_due <= self.last_loop):
            handled, _ = await escalate_due(self.container, self.runtime.escalations, self.settings.worker_batch)
            if handled < self.settings.worker_batch:
                await self._next_due()
        capacity = self.settings.send_concurrency - len(self.inflight) - self._reserved
        claimed: list[Claimed] = []
        if capacity > 0:
            claimed = await self._claim(capacity)
        self._spawn(claimed)
        self._saturated = capacity <= 0 or len(claimed) == capacity
        return handled >= self.settings.worker_batch or (bool(claimed) and len(claimed) == capacity)

    def _spawn(self, claimed: Sequence[Claimed]) -> None:
        for c in claimed:
            task = asyncio.create_task(self._send(c))
            self.inflight.add(task)
            task.add_done_callback(self.inflight.discard)

    # LocalSender: what this process's transactions use to hand their new sends straight to this worker

    def lease_until(self) -> datetime:
        return self.container.clock.now() + timedelta(seconds=self.settings.send_lease_seconds)  # type: ignore[no-any-return]

    def reserve(self, n: int) -> int:
        """Hold room for up to n pre-claimed sends within send_concurrency; 0 when stopped or full."""
        if not self.running:
            return 0
        take = max(0, min(n, self.settings.send_concurrency - len(self.inflight) - self._reserved))
        self._reserved += take
        return take

    def release(self, n: int) -> None:
        self._reserved = max(0, self._reserved - n)

    def start(self, claimed: Sequence[Claimed]) -> None:
        """Called right after the COMMIT that recorded these rows as `sending` by this worker: send them now."""
        self.release(len(claimed))
        if not self.running:  # stopped meanwhile: the leases run out and a worker resends them, in doubt
            log.warning("worker stopped; %d pre-claimed send(s) wait for their lease to expire", len(claimed))
            return
        self.handed_off += len(claimed)
        self.idle.clear()
        self._spawn(claimed)

    async def _claim(self, capacity: int) -> list[Claimed]:
        now = self.container.clock.now()
        db = self.container.db
        if db.dialect == "postgresql":
            # a single UPDATE … RETURNING is atomic on its own: one round trip on the hot path
            stmt = self.outbox.claim_statement(capacity)
            async with db.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                return self.outbox.claimed_from((await conn.execute(stmt, self.outbox.claim_params(now))).all())
        async with db.transaction() as session:
            return await self.outbox.claim(session, now, capacity)

    async def _send(self, claimed: Claimed) -> str:
        try:
            outcome = await send_one(self.container, self.outbox, self.channels, claimed)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("recording send %s failed; its lease will expire and it will be retried", claimed.key)
            outcome = "error"
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        if outcome == "retry":
            self.runtime.wakeup.set(self.container.clock.now() + timedelta(seconds=self.settings.send_backoff_seconds))
        if outcome in ("fallback", "error", "lost") or self._saturated:
            self.runtime.wakeup.set()  # new work now, or a claim was held back for lack of capacity
        if self._pending_sends() <= 1:  # this one is the last still running
            self._drained.set()
            if self._resting and not self.runtime.wakeup.is_set():
                self.idle.set()
        return outcome

    def _pending_sends(self) -> int:
        # finished tasks leave `inflight` only on their done-callback, one loop turn later: count what still runs
        return sum(1 for t in self.inflight if not t.done())

    async def _next_due(self) -> datetime | None:
        async with self.container.db.read() as session:
            a, b = await next_dues(session)
        self._esc_due, self._esc_checked, self._esc_known = a, time.monotonic(), True
        self._send_due = b
        return min((t for t in (a, b) if t is not None), default=None)

    def _absorb_hint(self) -> None:
        hint = self.runtime.wakeup.take_due()
        if hint is not None:
            if self._esc_known:
                self._esc_due = min(hint, self._esc_due or hint)
            self._send_due = min(hint, self._send_due or hint)

    async def _alarm(self) -> datetime | None:
        """When to look again: cached and moved earlier by announcements; re-read when due, stale or unknown."""
        self._absorb_hint()
        cached = [t for t in (self._esc_due, self._send_due) if t is not None]
        now = self.container.clock.now()
        if not self._esc_known or time.monotonic() - self._esc_checked > 2.0 or any(t <= now for t in cached):
            return await self._next_due()
        return min(cached, default=None)

    async def _wait(self) -> None:
        if self.runtime.wakeup.is_set():
            return
        clock = self.container.clock
        due = await self._alarm()
        delay = IDLE_POLL_SECONDS if due is None else min(IDLE_POLL_SECONDS, (due - clock.now()).total_seconds())
        busy = self._pending_sends() > 0
        if delay <= 0 and not busy:
            return
        if not busy:
            self.idle.set()
        self._drained.clear()
        waits = [asyncio.ensure_future(self.runtime.wakeup.wait())]
        # something is due but sends hold all the capacity: look again soon even if no send finishes
        waits.append(asyncio.ensure_future(clock.sleep(delay if delay > 0 else 0.05)))
        drained = asyncio.ensure_future(self._drained.wait()) if busy else None
        self._resting = delay > 0
        try:
            while True:
                done, _ = await asyncio.wait([*waits, *([drained] if drained else [])],
                                             return_when=asyncio.FIRST_COMPLETED)
                if drained is None or done != {drained} or delay <= 0:
                    break
                self.idle.set()  # the last send finished and nothing is due: idle until woken or due
                drained = None
        finally:
            self._resting = False
            for w in [*waits, *([drained] if drained else [])]:
                w.cancel()

    async def _listen(self) -> Any:
        """LISTEN on PostgreSQL so commits in other processes wake this worker too."""
        if not self.listen or self.container.db.dialect != "postgresql":
            return None
        import asyncpg

        dsn = make_url(async_url(self.container.db.url)).set(drivername="postgresql")
        try:
            conn = await asyncpg.connect(dsn.render_as_string(hide_password=False))
            await conn.add_listener(NOTIFY_CHANNEL, lambda *args: self.runtime.wakeup.set(_parse_due(args[-1])))
        except Exception as exc:
            self.last_error = f"LISTEN failed, relying on polling: {exc}"
            return None
        return conn
