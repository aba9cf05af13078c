"""Database settings, read from the environment (DATABASE_URL)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseSettings):
    """Where the PostGIS database is. ``DATABASE_URL`` is required: there is no default."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    database_url: str = Field(
        description="SQLAlchemy URL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/wangge",
    )
    pool_size: int = Field(default=10, alias="WANGGE_DB_POOL_SIZE")
    statement_timeout_ms: int = Field(default=30_000, alias="WANGGE_DB_STATEMENT_TIMEOUT_MS")

    @property
    def sqlalchemy_url(self) -> str:
        """The URL with the psycopg 3 driver made explicit."""
        url = self.database_url
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url
