"""Settings from the environment; production refuses to start on default secrets."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "changethis"  # noqa: S105 - the placeholder production refuses


def _local_secret(data_dir: Path) -> str:
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GANCANG_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "GANCANG_DATABASE_URL")
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "GANCANG_REDIS_URL")
    )
    secret_key: str = DEFAULT_SECRET
    # Prometheus scrapes /metrics with "Authorization: Bearer <token>". Unset, /metrics is open in development
    # and test (a local Prometheus) and refused in production, where order counts are the hospital's business.
    metrics_token: str | None = None
    public_base_url: str = "http://127.0.0.1:8000"
    sms_gateway: str = "console"
    tracking_token_days: int = 14
    staff_session_hours: int = 12
    relay_interval_seconds: float = 1.0
    source_poll_seconds: float = 60.0
    relay_redeliver_after_seconds: float = 120.0
    # Bookings and cancellations go to the broker at commit; off, they wait for the relay's tick too.
    outbox_publish_on_commit: bool = True
    courier_timeout_seconds: float = 10.0
    log_json: bool = False
    log_level: str = "INFO"
    # An XYZ tile server the hospital runs (e.g. "https://tiles.rsud.example/{z}/{x}/{y}.png"); the console's
    # maps draw its tiles under the desa polygons. Unset, the maps are the polygons alone: no internet needed.
    map_tile_url: str | None = Field(default=None, pattern=r"^https?://\S*\{z\}\S*\{x\}\S*\{y\}\S*$")

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        """Production must be given a secret; a development install makes its own, once, under data_dir."""
        if self.secret_key != DEFAULT_SECRET:
            return self
        if self.env != "development":
            raise ValueError("GANCANG_SECRET_KEY is the default placeholder; set a random secret")
        self.secret_key = _local_secret(self.data_dir)
        return self

    @property
    def sqlalchemy_url(self) -> str:
        """The embedded default is a SQLite file under data_dir; postgres:// URLs get the psycopg driver."""
        if not self.database_url:
            return f"sqlite:///{(self.data_dir / 'gancang.db').resolve()}"
        url = self.database_url
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")


settings = Settings()
