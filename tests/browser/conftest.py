"""The real app under uvicorn on a free loopback port, and Debian's headless Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn

from prism_ir.bootstrap import Container, build_container
from prism_ir.clock import FakeClock
from prism_ir.config import Settings
from prism_ir.services.auth import Role
from prism_ir.web.app import create_app
from tests.support import IN_CI, create_schema, run_in_thread

CHROMIUM = Path(os.environ.get("PRISM_IR_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
T = TypeVar("T")


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)


class LiveServer:
    """uvicorn serving create_app(container) in a thread with its own event loop."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.loop = asyncio.new_event_loop()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(create_app(container), log_level="warning", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._serve, name="prism-ui-server", daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve(sockets=[self.sock]))

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start serving the app")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()
        self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop, where the database connections live."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=15)

    def key(self, role: str, name: str) -> str:
        return self.run(self.container.auth.create_key(name, Role(role))).key


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("browser")
    db_url = f"sqlite:///{root / 'ui.db'}"
    run_in_thread(create_schema(db_url))
    settings = Settings(database_url=db_url, data_dir=root / "data", secret_key="browser-test-secret",
                        base_url="http://127.0.0.1")
    server = LiveServer(build_container(settings, clock=FakeClock()))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _unavailable(f"Debian Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"the playwright package is not installed: {exc}")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1100, "height": 900})
    context.set_default_timeout(5000)
    pg = context.new_page()
    yield pg
    context.close()


def login(page: Any, key: str) -> None:
    page.goto("/login")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Log in with key").click()
    page.wait_for_url(re.compile(r"/$"))
