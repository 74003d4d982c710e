from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "engine"))
sys.path.insert(0, str(Path(__file__).parent))

from harness import Harness
from receivers import HttpReceiver, SmtpServer

from prism_ir.bootstrap import Container
from prism_ir.clock import FakeClock


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
async def h(container: Container, clock: FakeClock, client: httpx.AsyncClient, smtp_server: SmtpServer,
            http_receiver: HttpReceiver) -> AsyncIterator[Harness]:
    harness = Harness(container, clock, client, smtp_server, http_receiver)
    await harness.start()
    yield harness
    await harness.stop()
