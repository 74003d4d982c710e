"""Alert ingestion's front: keys, rules, the one-statement fast path, group commit and the intake journal."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from sqlalchemy.exc import DBAPIError

from prism_ir.clock import Clock
from prism_ir.domain.alert import AlertIn, AlertStatus
from prism_ir.integrations.sources import PARSERS
from prism_ir.services.config_ingest import IngestConfig, ingest_config
from prism_ir.services.hooks import IncidentHooks
from prism_ir.services.incident_tx import IncidentTx
from prism_ir.services.ingest_apply import BatchApply
from prism_ir.services.ingest_group import GroupCommit
from prism_ir.services.ingest_journal import IngestJournal
from prism_ir.services.ingest_remote import ApplierProcess, Lost
from prism_ir.services.ingest_state import IngestResult, QueuedStops, SeenSet, Tally, TTLCache
from prism_ir.services.secrets import hash_key
from prism_ir.store import intake
from prism_ir.store import repos_ingest as repo
from prism_ir.store.db import Database
from prism_ir.store.fastpath_ingest import CoalescingDedup, DedupFastPath
from prism_ir.store.repos_ingest import IntegrationRef

log = logging.getLogger("prism_ir.ingest")
QUEUE_MODES = ("auto", "always", "never")
# In "auto" mode a request of more alerts than this is journaled even when idle: applying a big batch can take
# tens of milliseconds, and the sender (Alertmanager, a batch webhook) is better answered at once.
INLINE_MAX = 16
_RETRYABLE = ("40P01", "40001")  # deadlock detected, serialization failure: the whole batch is retried


class UnreadableJournal(ValueError):
    """A journal row no longer parses into the alerts it was accepted as."""


@dataclass(frozen=True, slots=True)
class _Request:
    cfg: IngestConfig
    alerts: Sequence[AlertIn]
    now: datetime
    journal_id: int | None = None  # set when the request was journaled (answered before being applied)


def _alert_objects(r: _Request) -> list[int]:
    """Results are told apart by alert object: a request sent twice as the same objects goes in its own batch."""
    return [id(x) for x in r.alerts]


class IngestService:
    def __init__(self, db: Database, clock: Clock, hooks: IncidentHooks, cache_ttl: float = 5.0,
                 max_batch: int = 512, queue: str = "auto", lease: float = 60.0) -> None:
        if queue not in QUEUE_MODES:
            raise ValueError(f"queue must be one of {', '.join(QUEUE_MODES)}, not {queue!r}")
        self.db = db
        self.clock = clock
        self.hooks = hooks
        self.applier = BatchApply(IncidentTx(hooks))
        # Keys and service rules are read on every request; a short cache keeps that off the hot path.
        # Revoking a key or changing rules takes effect within `cache_ttl` seconds in every process.
        self._keys = TTLCache(cache_ttl)
        self._configs = TTLCache(cache_ttl)
        self.fast = CoalescingDedup(DedupFastPath(db.url)) if db.dialect == "postgresql" else None
        self._seen = SeenSet()
        self._stopping = QueuedStops()
        self.paths: Counter[str] = Counter()  # requests by how they were answered: fast, inline, queued
        self._journaling: Counter[str] = Counter()  # requests of a service being journaled, not yet queued
        # Requests queued while a transaction is in flight share the next one (up to max_batch alerts).
        self.group: GroupCommit[_Request, IngestResult] = GroupCommit(self._run, max_batch, _alert_objects)
        # "auto": journal and answer at once when the service's transaction queue is busy or the batch is big
        # (PostgreSQL only, where several processes share the load); "always"/"never" force one way.
        self.queue = queue if db.dialect == "postgresql" or queue != "auto" else "never"
        self.journal = IngestJournal(db, self.fast.fast if self.fast else None, timedelta(seconds=lease))
        # journaled requests go to the applier process while it runs (services/ingest_remote.py)
        self.remote: ApplierProcess[_Request] | None = None

    def applier_process(self, settings_json: str) -> ApplierProcess[_Request]:
        """The applier process for this service object; the caller runs it (`run()`) as a background task."""
        if self.remote is None:
            self.remote = ApplierProcess(settings_json, self._take_back)
        return self.remote

    async def aclose(self) -> None:
        """Apply what was journaled and queued in this process before the pools close."""
        await self.journal.drained()
        if self.remote is not None:
            await self.remote.close()
        await self.group.drained()
        if self.fast is not None:
            await self.fast.close()

    def invalidate(self) -> None:
        self._keys.clear()
        self._configs.clear()
        if self.remote is not None:
            self.remote.invalidate()

    async def authenticate(self, key: str) -> IntegrationRef | None:
        return await self._keys.get_or_load(hash_key(key), self._load_integration) or None

    async def config(self, service_id: str) -> IngestConfig:
        cfg = await self._configs.get_or_load(service_id, self._load_config)
        assert isinstance(cfg, IngestConfig)
        return cfg

    async def _load_integration(self, digest: str) -> IntegrationRef | bool:
        async with self.db.read() as session:
            return await repo.find_integration(session, digest) or False  # False: cached as unknown

    async def _load_config(self, service_id: str) -> IngestConfig:
        async with self.db.read() as session:
            found = await repo.service_settings(session, service_id)
        auto_resolve, settings = found or (True, {})
        return ingest_config(service_id, auto_resolve, settings)

    async def ingest(self, integration: IntegrationRef, alerts: Sequence[AlertIn], raw: bytes | None = None,
                     source: str | None = None) -> IngestResult:
        """Apply the whole batch atomically, or journal it (given its `raw` body); durable when this returns.

        A journaled request (result.queued) is applied moments later, after the transactions ahead of it, in
        the order it arrived; `raw` must re-parse to the same alerts with PARSERS[source].
        """
        cfg = await self.config(integration.service_id)
        now = self.clock.now()
        firing = all(a.status is AlertStatus.FIRING for a in alerts)
        # While this process applies queued work of the service, that work holds some of the rows a repeat would
        # bump (a 512-alert transaction of a 2,000-alert storm holds a quarter): the statement skips them and fails.
        # A big request almost surely meets one, so it is journaled without trying; a small one is worth a try.
        if (self.fast is not None and alerts and firing
                and not (len(alerts) > INLINE_MAX and self._queued_here(cfg.service_id))
                and not self._stopping.has_any(cfg.service_id, alerts)):
            fps = [a.fingerprint for a in alerts]
            # Only fingerprints this process has applied or bumped before try the repeat-only statement: a first
            # firing would fail it and pay a wasted round trip. (A repeat this process has not seen yet takes the
            # general path, which counts it just as well.)
            if (len(set(fps)) == len(fps) and self._seen.has_all(cfg.service_id, fps)
                    and await self.fast.bump_all(cfg.service_id, fps, now)):
                self._seen.add(cfg.service_id, fps)
                self.paths["fast"] += 1
                return IngestResult(received=len(alerts), deduplicated=len(alerts))
        sid = cfg.service_id
        if raw is not None and source is not None and self._should_queue(sid, len(alerts)):
            self._journaling[sid] += 1  # until queued, a request arriving meanwhile must not be applied first
            try:
                journal_id = await self.journal.append(sid, source, raw, len(alerts), now)
                pending = self._apply_later(_Request(cfg, alerts, now, journal_id), source, raw)
            finally:
                self._journaling[sid] -= 1
            pending.add_done_callback(_log_failure)
            self._stopping.hold(sid, alerts, pending)
            self.paths["queued"] += 1
            return IngestResult(received=len(alerts), queued=len(alerts))
        self.paths["inline"] += 1
        if self.remote is not None:
            await self.remote.idle(sid)
        return await self.group.submit(sid, _Request(cfg, alerts, now), max(1, len(alerts)))

    def _queued_here(self, service_id: str) -> bool:
        """Requests of this service are being journaled or wait to be applied, here or in the applier process."""
        return (self.group.busy(service_id) or self._journaling[service_id] > 0
                or (self.remote is not None and self.remote.busy(service_id)))

    def _should_queue(self, service_id: str, size: int) -> bool:
        if self.queue != "auto":
            return self.queue == "always"
        return size > INLINE_MAX or self._queued_here(service_id)

    def _apply_later(self, request: _Request, source: str, raw: bytes) -> asyncio.Future[IngestResult]:
        """Queue a journaled request: to the applier process when it runs and nothing of this service is queued
        here (which it would overtake), else to this process's group commit."""
        sid = request.cfg.service_id
        remote = self.remote
        if remote is None or not remote.ready or self.group.busy(sid):
            return self.group.enqueue(sid, request, max(1, len(request.alerts)))
        assert request.journal_id is not None
        future: asyncio.Future[IngestResult] = remote.enqueue(sid, request, request.now, request.journal_id,
                                                              source, raw)
        if self.fast is not None:
            future.add_done_callback(lambda f: self._learn(sid, request.alerts, f))
        return future

    def _learn(self, service_id: str, alerts: Sequence[AlertIn], applied: asyncio.Future[IngestResult]) -> None:
        if not applied.cancelled() and applied.exception() is None:
            self._seen.add(service_id, [a.fingerprint for a in alerts if a.status is AlertStatus.FIRING])

    def _take_back(self, lost: Lost[_Request]) -> None:
        """Apply here, in hand-over order, what the applier process stopped before answering."""
        for service_id, request, future in lost:
            local = self.group.enqueue(service_id, request, max(1, len(request.alerts)))
            local.add_done_callback(lambda done, f=future: _settle_with(f, done))

    async def apply_journaled(self, service_id: str, source: str, raw: bytes, now: datetime,
                              journal_id: int) -> asyncio.Future[IngestResult]:
        """Queue a journal row (handed over by the API process, or orphaned) to this process's group commit."""
        try:
            alerts = PARSERS[source](orjson.loads(raw))
        except Exception as exc:  # it was accepted once, so this is a bug
            raise UnreadableJournal(f"cannot re-read the request: {exc}") from exc
        cfg = await self.config(service_id)
        return self.group.enqueue(service_id, _Request(cfg, alerts, now, journal_id), max(1, len(alerts)))

    async def recover(self) -> int:
        """Apply journal rows whose process died before applying them (lease run out); return how many."""
        now = self.clock.now()
        orphans = await self.journal.reclaim(now)
        pending: list[tuple[int, asyncio.Future[IngestResult]]] = []
        for orphan in orphans:
            try:
                queued = await self.apply_journaled(orphan.service_id, orphan.source, orphan.body, now, orphan.id)
            except UnreadableJournal as exc:  # keep the row and say why
                await self.journal.record_failure([orphan.id], str(exc), give_up=True)
                continue
            pending.append((orphan.id, queued))
        applied = 0
        for orphan_id, future in pending:
            try:
                await future
                applied += 1
            except Exception as exc:
                log.exception("re-applying journaled request %s failed", orphan_id)
                await self.journal.record_failure([orphan_id], f"{type(exc).__name__}: {exc}")
        return applied

    async def _run(self, _key: object, requests: list[_Request]) -> list[IngestResult]:
        """One transaction for requests merged by group commit; each gets its own result."""
        cfg = requests[-1].cfg
        now = max(r.now for r in requests)
        journaled = [r.journal_id for r in requests if r.journal_id is not None]
        for attempt in range(5):
            results = [IngestResult(received=len(r.alerts)) for r in requests]
            tally = Tally()
            for r, res in zip(requests, results, strict=True):
                tally.add(r.alerts, res)
            try:
                async with self.db.transaction() as session:
                    # a journaled request another process has taken over (after our lease ran out) is its to apply
                    taken = await intake.take(session, journaled)
                    live = [r for r in requests if r.journal_id is None or r.journal_id in taken]
                    await self.applier.apply(session, cfg, [a for r in live for a in r.alerts], now, tally)
                break
            except DBAPIError as exc:
                code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
                # another process opened one of these alerts first: the retry counts it as a repeat
                lost_race = code == "23505" and repo.OPEN_FINGERPRINT_INDEX in str(exc.orig)
                # a dropped connection (database restarted) is retried once on a fresh one
                if (code not in _RETRYABLE and not lost_race and not exc.connection_invalidated) or attempt == 4:
                    raise
        if self.fast is not None:
            self._seen.add(cfg.service_id, [a.fingerprint for r in live for a in r.alerts
                                            if a.status is AlertStatus.FIRING])
        return results


def _settle_with(future: asyncio.Future[IngestResult], done: asyncio.Future[IngestResult]) -> None:
    if future.done():
        return
    if done.cancelled():
        future.cancel()
    elif done.exception() is not None:
        future.set_exception(done.exception())  # type: ignore[arg-type]
    else:
        future.set_result(done.result())


def _log_failure(future: asyncio.Future[IngestResult]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("applying a journaled request failed; it stays journaled and is retried after its lease",
                  exc_info=future.exception())
