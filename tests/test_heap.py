"""The heap keeper: full garbage-collector passes wait for a quiet moment, but not forever."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from prism_ir.bootstrap import Container
from prism_ir.heap import HeapKeeper, InFlight
from prism_ir.web.app import create_app


class _Tick:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def _garbage_cycle() -> weakref.ref[_Cycle]:
    cycle = _Cycle()
    ref = weakref.ref(cycle)
    del cycle
    return ref


def test_start_takes_over_old_generations_and_stop_gives_them_back() -> None:
    before = gc.get_threshold()
    keeper = HeapKeeper(young=12_345)
    keeper.start()
    try:
        young, middle, old = gc.get_threshold()
        assert young == 12_345 and middle > 10**8 and old > 10**8
        assert gc.get_freeze_count() > 0
    finally:
        keeper.stop()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_full_pass_waits_for_quiet_then_frees_cycles() -> None:
    tick, busy = _Tick(), InFlight()
    keeper = HeapKeeper(busy=busy.__bool__, every=30, max_wait=120, clock=tick)
    keeper.start()
    try:
        ref = _garbage_cycle()
        tick.now += 29
        assert not keeper.collect_if_due() and ref() is not None  # not due yet
        tick.now += 1
        busy.count = 3
        assert not keeper.collect_if_due()  # due, but requests are being answered
        busy.count = 0
        assert keeper.collect_if_due()
        assert ref() is None and keeper.full_passes == 1
    finally:
        keeper.stop()


def test_constant_load_still_gets_a_full_pass_after_max_wait() -> None:
    tick, busy = _Tick(), InFlight()
    busy.count = 1
    keeper = HeapKeeper(busy=busy.__bool__, every=30, max_wait=120, clock=tick)
    keeper.start()
    try:
        ref = _garbage_cycle()
        tick.now += 119
        assert not keeper.collect_if_due()
        tick.now += 1
        assert keeper.collect_if_due() and ref() is None
        tick.now += 30
        assert not keeper.collect_if_due()  # the wait starts again after each pass
    finally:
        keeper.stop()


async def test_app_counts_requests_in_flight_and_reports_full_passes(
        container: Container, api_key: Callable[[str], Awaitable[str]]) -> None:
    before = gc.get_threshold()
    app = create_app(container)
    async with app.router.lifespan_context(app):
        heap = container.extras["heap"]
        assert isinstance(heap, HeapKeeper) and gc.get_threshold() == heap.thresholds
        heap.every = 0
        assert heap.collect_if_due()
        key = await api_key("admin")
        in_flight: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                in_flight.append(app.in_flight.count)  # type: ignore[attr-defined]

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": "/api/health", "raw_path": b"/api/health", "query_string": b"",
                 "root_path": "", "headers": [(b"host", b"prism.test")], "client": ("127.0.0.1", 1),
                 "server": ("prism.test", 80)}
        await app(scope, receive, send)  # type: ignore[arg-type]
        assert in_flight == [1] and not app.in_flight  # type: ignore[attr-defined]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://prism.test") as c:
            metrics = await c.get("/metrics", headers={"X-API-Key": key})
        assert metrics.status_code == 200
        assert "prism_gc_full_passes 1.0" in metrics.text
    assert gc.get_threshold() == before
