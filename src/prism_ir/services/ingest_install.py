"""Wire ingestion into the container: the service object and its rate-limit settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from prism_ir.bootstrap import INSTALLERS, Container
from prism_ir.services.ingest import IngestService


class IngestSettings(BaseSettings):
    """`PRISM_IR_INGEST_*`: per-key token bucket (requests per second, burst) and the key/rules cache TTL."""

    model_config = SettingsConfigDict(env_prefix="PRISM_IR_INGEST_", extra="ignore")

    rate: float = Field(default=200.0, gt=0)
    burst: int = Field(default=400, ge=1)
    cache_ttl: float = Field(default=5.0, ge=0)
    max_body: int = Field(default=512 * 1024, ge=1024)


def install(container: Container) -> None:
    settings = IngestSettings()
    container.extras["ingest_settings"] = settings
    container.extras["ingest"] = IngestService(container.db, container.clock, container.hooks, settings.cache_ttl)


def ingest_service(container: Container) -> IngestService:
    service = container.extras["ingest"]
    assert isinstance(service, IngestService)
    return service


INSTALLERS.append(install)
