"""The composition root: the one place that wires store, clock, services and background work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prism_ir.clock import Clock, SystemClock
from prism_ir.config import Settings
from prism_ir.services.auth import AuthService
from prism_ir.services.catalog import CatalogService
from prism_ir.services.hooks import IncidentHooks
from prism_ir.services.incidents import IncidentService
from prism_ir.store.db import Database

BackgroundTask = Callable[["Container"], Awaitable[None]]


@dataclass
class Container:
    settings: Settings
    db: Database
    clock: Clock
    hooks: IncidentHooks
    secret_key: str
    incidents: IncidentService
    auth: AuthService
    catalog: CatalogService
    started_at: datetime
    background: list[BackgroundTask] = field(default_factory=list)
    # Rooms keep their long-lived objects here (e.g. the worker) so health and metrics can see them.
    extras: dict[str, Any] = field(default_factory=dict)

    async def close(self) -> None:
        for extra in list(self.extras.values()):
            aclose = getattr(extra, "aclose", None)
            if aclose is not None:
                await aclose()
        await self.db.dispose()


Installer = Callable[[Container], None]

# Rooms that need wiring (the escalation engine, ingestion) add an installer here at import time.
INSTALLERS: list[Installer] = []


def build_container(settings: Settings | None = None, clock: Clock | None = None) -> Container:
    settings = settings or Settings()
    clock = clock or SystemClock()
    db = Database(settings.resolved_database_url(), pool_size=settings.db_pool_size,
                  max_overflow=settings.db_max_overflow)
    hooks = IncidentHooks()
    container = Container(
        settings=settings, db=db, clock=clock, hooks=hooks, secret_key=settings.resolved_secret_key(),
        incidents=IncidentService(db, clock, hooks), auth=AuthService(db, clock), catalog=CatalogService(db, clock),
        started_at=clock.now(),
    )
    from prism_ir import installers  # noqa: F401  (rooms register their installers on import)

    for install in INSTALLERS:
        install(container)
    if db.dialect == "postgresql":
        container.background.append(keep_statistics)
    return container


async def keep_statistics(container: Container) -> None:
    from prism_ir.store.stats import StatsKeeper
    from prism_ir.store.tables_all import metadata

    keeper = container.extras["stats"] = StatsKeeper(container.db, sorted(metadata.tables))
    await keeper.run()
