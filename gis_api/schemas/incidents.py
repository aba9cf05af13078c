"""Request bodies of the incident API (responses are the layer's dicts, documented there)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["grid_worker", "hotline_12345", "walk_in", "patrol"]
Risk = Literal["high", "medium", "low"]


class IncidentCreate(BaseModel):
    """A report: where (lon/lat in ``crs``, or an address), what, how it came in."""

    model_config = ConfigDict(extra="forbid")

    category_code: str = Field(max_length=64, description="Leaf category, e.g. hazard.fire")
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=4000)
    channel: Channel
    risk_level: Risk = "low"
    lon: float | None = Field(None, description="x in crs (longitude, or easting in metres)")
    lat: float | None = Field(None, description="y in crs (latitude, or northing in metres)")
    crs: str | None = Field(None, description="EPSG:4326 (default), EPSG:4490, GCJ-02, BD-09...")
    address: str | None = Field(None, max_length=255, description="Used when lon/lat are absent")
    handled_on_spot: bool = Field(False, description="Small matter already handled (现场处置)")
    reporter_name: str | None = Field(None, max_length=64)
    reporter_phone: str | None = Field(None, pattern=r"^[0-9+ -]{5,20}$")
    photo_ids: list[int] = Field(default_factory=list, max_length=20)
    note: str | None = Field(None, max_length=2000)


class ActionIn(BaseModel):
    """One workflow step: note, where the actor stands, photos, and the action's parameters."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=2000)
    lon: float | None = None
    lat: float | None = None
    crs: str | None = None
    photo_ids: list[int] = Field(default_factory=list, max_length=20)
    department_id: int | None = Field(None, description="dispatch: target department")
    until: datetime | None = Field(None, description="defer: deferred until (挂账至)")
    department_ids: list[int] | None = Field(None, description="summon: departments (吹哨)")
    level: Literal["normal", "yellow", "red"] | None = Field(None, description="supervise")
    into_id: int | None = Field(None, description="merge: the incident this one duplicates")


class DispatchRuleCreate(BaseModel):
    """A dispatch rule: category (or none: the territory's fallback) + area → department."""

    model_config = ConfigDict(extra="forbid")

    category_code: str | None = Field(None, max_length=64)
    admin_unit_code: str = Field(pattern=r"^[0-9]{12}$")
    department_id: int
