"""HTTP service settings (env prefix ``WANGGE_``). Built in create_app, never at import time."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """Settings of the HTTP service. ``WANGGE_JWT_SECRET`` is required and has no default."""

    model_config = SettingsConfigDict(env_prefix="WANGGE_", extra="ignore")

    jwt_secret: SecretStr = Field(description="HMAC key for access tokens (32+ random bytes)")
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    token_ttl_minutes: int = Field(default=480, ge=5, le=7 * 24 * 60)
    cookie_secure: bool = Field(
        default=False, description="Send the session cookie only over HTTPS (set in production)"
    )
    max_page_size: int = Field(default=1000, ge=10, le=10_000)
    default_page_size: int = Field(default=100, ge=1, le=10_000)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    basemap_url: str | None = Field(
        default=None, description="XYZ tile URL template of an optional basemap ({z}/{x}/{y})"
    )
    basemap_crs: Literal["wgs84", "cgcs2000", "gcj02"] = Field(
        default="wgs84", description="Datum of the basemap tiles; gcj02 shifts our layers to match"
    )
    basemap_attribution: str = ""
