"""A clock read from a file, so a test can fast-forward a separate worker process it may SIGKILL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path


class FileClock:
    def __init__(self, path: Path) -> None:
        self.path = path

    def now(self) -> datetime:
        value = datetime.fromisoformat(self.path.read_text().strip())
        if value.tzinfo is None:
            raise ValueError(f"{self.path} must hold an aware ISO timestamp")
        return value

    async def sleep(self, seconds: float) -> None:
        deadline = self.now() + timedelta(seconds=max(0.0, seconds))
        while self.now() < deadline:
            await asyncio.sleep(0.02)
