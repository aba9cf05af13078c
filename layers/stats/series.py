"""Weekly time series of incidents: counts per ISO week (Monday to Sunday, Asia/Shanghai).

Every week of the window appears, zeros included, so a chart's x axis is regular. Counts may be
split by ``category`` (the incident's own code) or ``status``.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Date, cast, func, literal, select
from sqlalchemy.orm import Session

from layers.access import Principal
from layers.errors import InvalidInput
from layers.models import Incident
from layers.stats.filters import STATS_TIMEZONE, StatsFilter, require_stats_role, where

GroupBy = Literal["none", "category", "status"]
MAX_WEEKS = 530  # about ten years


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weekly_series(
    session: Session, principal: Principal, flt: StatsFilter, *, group_by: GroupBy = "none"
) -> dict[str, Any]:
    """Counts per ISO week of ``[flt.start, flt.end)``, optionally per category or status."""
    require_stats_role(principal)
    if flt.start is None or flt.end is None:
        raise InvalidInput(
            "A weekly series needs start and end", "周统计需要开始和结束时间", field="start"
        )
    tz = ZoneInfo(STATS_TIMEZONE)
    first = _monday(flt.start.astimezone(tz).date())
    last = _monday((flt.end.astimezone(tz) - timedelta(microseconds=1)).date())
    n_weeks = (last - first).days // 7 + 1
    if n_weeks > MAX_WEEKS:
        raise InvalidInput(f"At most {MAX_WEEKS} weeks", f"最多统计 {MAX_WEEKS} 周", field="end")
    local = func.timezone(STATS_TIMEZONE, Incident.reported_at)
    week = cast(func.date_trunc("week", local), Date).label("week")
    key: Any = {
        "none": literal("all"),
        "category": Incident.category_code,
        "status": Incident.status,
    }[group_by].label("key")
    rows = session.execute(
        select(week, key, func.count()).where(where(principal, flt)).group_by(week, key)
    )
    counts: dict[tuple[date, str], int] = {}
    keys: set[str] = set()
    for w, k, n in rows:
        counts[(w, k)] = n
        keys.add(k)
    ordered = sorted(keys)
    weeks = []
    for step in range(n_weeks):
        monday = first + timedelta(days=7 * step)
        iso = monday.isocalendar()
        by_key = {k: counts.get((monday, k), 0) for k in ordered}
        weeks.append(
            {
                "week": f"{iso.year}-W{iso.week:02d}",
                "start": monday.isoformat(),
                "total": sum(by_key.values()),
                "counts": by_key,
            }
        )
    return {
        "timezone": STATS_TIMEZONE,
        "group_by": group_by,
        "start": flt.start.isoformat(),
        "end": flt.end.isoformat(),
        "keys": ordered,
        "total": sum(counts.values()),
        "weeks": weeks,
    }


__all__ = ["weekly_series"]
