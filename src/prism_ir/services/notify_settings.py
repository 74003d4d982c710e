"""Tunables for paging that deployments may change through the environment (PRISM_IR_ prefix)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class PagingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRISM_IR_", extra="ignore")

    # e.g. "twilio://SID:TOKEN@+15550000000/{phone}"; {phone} is the number with only digits and a leading +
    sms_url_template: str = ""
    ack_link_ttl_hours: float = 48.0
    send_attempts_per_method: int = 3
    send_backoff_seconds: float = 5.0
    send_backoff_max_seconds: float = 300.0
    send_lease_seconds: float = 60.0
    send_concurrency: int = 32
    worker_batch: int = 200
