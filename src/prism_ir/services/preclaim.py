"""Pre-claimed local sends: pages a transaction queues, due at once, go straight to this process's worker.

A transaction that creates due `notifications` rows while this process runs a worker inserts them already
claimed by that worker (`sending`, `claimed_by`, `attempts` 1, a lease: what the outbox's claim statement would
write), and hands them to it after COMMIT, never after a rollback. That skips the worker's claim round trip and
the NOTIFY. The row is still recorded before the send: if the process dies before sending, the lease runs out
and any worker reclaims the row as in doubt, exactly like a send that died mid-flight.

The services only know the `LocalSender` protocol; the engine's worker implements it and attaches itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from prism_ir.domain.incident import Incident

log = logging.getLogger("prism_ir.preclaim")
_INFO = "prism_preclaimed"
QUEUED = "prism_queued"


@dataclass(frozen=True)
class Claimed:
    """A send this worker now owns until `lease_until`; `recovered` means a previous owner died mid-send."""

    id: int
    key: str
    incident: Incident
    step: int
    cycle: int
    target: str
    recipient: str
    recipient_name: str
    method_index: int
    channel: str
    address: str
    route: tuple[tuple[str, str], ...]
    until: str
    attempts: int
    recovered: bool


class LocalSender(Protocol):
    """A running worker in this process that can take sends without claiming them (the engine's Worker)."""

    id: str

    def lease_until(self) -> datetime:
        """When a claim taken now runs out (its own clock: the caller's `now` may be from a while ago)."""
        ...

    def reserve(self, n: int) -> int:
        """Hold capacity for up to `n` sends; return how many it will take (0 when stopped or saturated)."""
        ...

    def release(self, n: int) -> None:
        """Give back held capacity (the transaction rolled back, or fewer rows were claimed)."""
        ...

    def start(self, claimed: Sequence[Claimed]) -> None:
        """Send these now (called right after the COMMIT that recorded them as claimed by this sender)."""
        ...


@dataclass
class _Held:
    """What one transaction pre-claimed for one sender: the capacity held and the rows, once inserted."""

    sender: LocalSender
    reserved: int
    claimed: list[Claimed] = field(default_factory=list)


class LocalSends:
    """The process's registry of local senders; the first attached one still accepting gets the rows."""

    def __init__(self) -> None:
        self._senders: list[LocalSender] = []

    def attach(self, sender: LocalSender) -> None:
        if sender not in self._senders:
            self._senders.append(sender)

    def detach(self, sender: LocalSender) -> None:
        if sender in self._senders:
            self._senders.remove(sender)

    def claim(self, session: AsyncSession, rows: Sequence[dict[str, Any]], now: datetime) -> PreClaim | None:
        """Mark due `pending` rows as claimed by a local sender (in place), before they are inserted.

        Then call `PreClaim.bind` once their ids are known. Nothing is claimed inside a SAVEPOINT (its rollback
        would leave the outer COMMIT handing off rows that do not exist).
        """
        if not self._senders or session.in_nested_transaction():
            return None
        due = [i for i, r in enumerate(rows) if r["state"] == "pending" and r["due_at"] <= now]
        if not due:
            return None
        for sender in self._senders:
            taken = sender.reserve(len(due))
            if taken:
                break
        else:
            return None
        # held in the session at once, so a failure before COMMIT gives the capacity back (after_transaction_end)
        held = _Held(sender, taken)
        session.info.setdefault(_INFO, []).append(held)
        lease = sender.lease_until()
        picked = due[:taken]
        for i in picked:
            rows[i].update(state="sending", attempts=1, claimed_by=sender.id, lease_until=lease, started_at=now)
        return PreClaim(held, picked)


@dataclass
class PreClaim:
    held: _Held
    indexes: list[int]

    def bind(self, rows: Sequence[dict[str, Any]], ids: Sequence[int], incidents: dict[int, Incident]) -> None:
        """`rows` (all of those given to `claim`) are inserted with `ids`: what to hand over after COMMIT."""
        for i in self.indexes:
            r = rows[i]
            self.held.claimed.append(Claimed(
                int(ids[i]), str(r["key"]), incidents[int(r["incident_id"])], int(r["step"]), int(r["cycle"]),
                str(r["target"]), str(r["recipient"]), str(r["recipient_name"]), int(r["method_index"]),
                str(r["channel"]), str(r["address"]), tuple((c, a) for c, a in r["route"]), str(r["until"]),
                int(r["attempts"]), False))


def note_queued(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Count inserted rows some worker still has to claim (pending), so the commit knows whether to NOTIFY."""
    n = sum(1 for r in rows if r["state"] == "pending")
    if n:
        session.info[QUEUED] = session.info.get(QUEUED, 0) + n


def claimed_locally(session: AsyncSession | Session) -> bool:
    """Whether this transaction handed any sends to a local sender."""
    return bool(session.info.get(_INFO))


@event.listens_for(Session, "after_commit")
def _hand_off(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT released: the rows are not committed yet
        return
    for held in session.info.pop(_INFO, ()):
        try:
            if len(held.claimed) < held.reserved:
                held.sender.release(held.reserved - len(held.claimed))
            if held.claimed:
                held.sender.start(held.claimed)
        except Exception:  # never fail a commit that happened; the rows' lease runs out and they are reclaimed
            log.exception("handing %d pre-claimed send(s) to the local worker failed", len(held.claimed))


@event.listens_for(Session, "after_transaction_end")
def _give_back(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    session.info.pop(QUEUED, None)
    for held in session.info.pop(_INFO, ()):  # not committed: nothing was recorded, nothing is sent
        held.sender.release(held.reserved)
