from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "engine"))
sys.path.insert(0, str(Path(__file__).parent))

from harness import Harness
from receivers import HttpReceiver, SmtpServer, http_receiver, smtp_server  # noqa: F401  (fixtures)

from prism_ir.bootstrap import Container
from prism_ir.clock import FakeClock


@pytest.fixture
async def h(
    container: Container,
    clock: FakeClock,
    client: httpx.AsyncClient,
    smtp_server: SmtpServer,  # noqa: F811  (the fixture imported above, requested by name)
    http_receiver: HttpReceiver,  # noqa: F811
) -> AsyncIterator[Harness]:
    harness = Harness(container, clock, client, smtp_server, http_receiver)
    await harness.start()
    yield harness
    await harness.stop()
