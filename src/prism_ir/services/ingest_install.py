"""Wire ingestion into the container: the service object and its rate-limit settings."""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from prism_ir.bootstrap import INSTALLERS, Container
from prism_ir.services.ingest import IngestService


class IngestSettings(BaseSettings):
    """`PRISM_IR_INGEST_*`: per-key token bucket (requests per second, burst), the key/rules cache TTL, and the
    intake journal (`queue`: auto = journal under load on PostgreSQL; lease before another process takes over),
    and who applies journaled requests (`applier`: auto = a child process on PostgreSQL, inline = this one)."""

    model_config = SettingsConfigDict(env_prefix="PRISM_IR_INGEST_", extra="ignore")

    rate: float = Field(default=200.0, gt=0)
    burst: int = Field(default=400, ge=1)
    cache_ttl: float = Field(default=5.0, ge=0)
    max_body: int = Field(default=512 * 1024, ge=1024)
    queue: Literal["auto", "always", "never"] = "auto"
    queue_lease: float = Field(default=60.0, gt=0)
    recover_interval: float = Field(default=5.0, gt=0)
    applier: Literal["auto", "inline"] = "auto"


log = logging.getLogger("prism_ir.ingest")


async def recover_forever(container: Container) -> None:
    """Apply journaled requests orphaned by a process that died, every `recover_interval` seconds."""
    settings: IngestSettings = container.extras["ingest_settings"]
    while True:
        try:
            await ingest_service(container).recover()
        except Exception:  # the database may be down for a moment; try again next round
            log.exception("recovering journaled alerts failed")
        await asyncio.sleep(settings.recover_interval)


async def run_applier(container: Container) -> None:
    """Apply journaled requests in a child process while this one answers (services/ingest_remote.py)."""
    settings = container.settings.model_copy(update={
        "database_url": container.settings.resolved_database_url(), "secret_key": container.secret_key,
        "data_dir": container.settings.data_dir.resolve()})
    await ingest_service(container).applier_process(settings.model_dump_json()).run()


def install(container: Container) -> None:
    settings = IngestSettings()
    container.extras["ingest_settings"] = settings
    service = IngestService(container.db, container.clock, container.hooks, settings.cache_ttl,
                            queue=settings.queue, lease=settings.queue_lease)
    container.extras["ingest"] = service
    container.background.append(recover_forever)
    # a child applies only journaled requests, and only PostgreSQL journals (SQLite runs one process)
    if settings.applier != "inline" and service.queue != "never" and container.db.dialect == "postgresql":
        container.background.append(run_applier)


def ingest_service(container: Container) -> IngestService:
    service = container.extras["ingest"]
    assert isinstance(service, IngestService)
    return service


INSTALLERS.append(install)
