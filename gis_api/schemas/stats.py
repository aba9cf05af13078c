"""Response models of the statistics API (the GeoJSON answers are documented, not modelled)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class WeekOut(BaseModel):
    """One ISO week of a series."""

    week: str = Field(description="ISO week, e.g. 2026-W09")
    start: str = Field(description="Its Monday (Asia/Shanghai), YYYY-MM-DD")
    total: int
    counts: dict[str, int] = Field(description="Count per key (category, status, or `all`)")


class WeeklySeriesOut(BaseModel):
    """Counts per ISO week, zeros included."""

    timezone: str
    group_by: str
    start: str
    end: str
    keys: list[str]
    total: int
    weeks: list[WeekOut]
