"""Runtime settings from the environment; everything domain-level is YAML applied with `prism-ir apply`."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRISM_IR_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str = ""
    secret_key: str = ""
    base_url: str = "http://127.0.0.1:8090"
    smtp_url: str = ""
    mail_from: str = "prism-ir@localhost"
    host: str = "127.0.0.1"
    port: int = 8090
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    session_max_age_s: int = 12 * 3600

    def resolved_database_url(self) -> str:
        """Default to a SQLite file in the data directory so a newcomer needs nothing installed."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'prism-ir.db').resolve()}"

    def resolved_secret_key(self) -> str:
        """Persist a generated key in the data directory so links stay valid across restarts."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key
