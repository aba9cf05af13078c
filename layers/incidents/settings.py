"""Settings of the incident workflow (env prefix ``WANGGE_INCIDENT_``) and the injectable clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: A clock returns the current time, timezone-aware. Tests inject a fixed one.
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The wall clock in UTC."""
    return datetime.now(UTC)


class IncidentSettings(BaseSettings):
    """Tunables of reporting, photos, border and duplicate checks, warnings and patrols."""

    model_config = SettingsConfigDict(env_prefix="WANGGE_INCIDENT_", extra="ignore")

    photo_dir: Path = Field(
        default=Path(".local/incident_photos"),
        description="Directory where uploaded photos are stored (created on first upload)",
    )
    photo_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)
    border_distance_m: float = Field(
        default=30.0, ge=0, le=1000, description="A report this close to a grid edge is flagged"
    )
    duplicate_distance_m: float = Field(default=100.0, gt=0, le=5000)
    duplicate_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    warning_hours: float = Field(
        default=48.0, gt=0, description="An open incident this close to its deadline is warned"
    )
    feedback_days: float = Field(
        default=2.0, gt=0, description="T+2: days within which a report must get a response"
    )
    default_limit_hours: int = Field(
        default=72, gt=0, description="Time limit when neither the category nor a parent has one"
    )
    patrols_per_month: int = Field(
        default=2, ge=1, le=31, description="Patrols each place needs per month (at least twice)"
    )
