"""The filters every statistic shares, validated once, turned into one SQL where-clause.

Times are half-open windows ``[start, end)`` on ``incidents.reported_at``. Calendar buckets (days,
months, ISO weeks) are taken in :data:`STATS_TIMEZONE`, the local time of the street offices.
A category filter matches the code and its descendants (``hazard`` matches ``hazard.fire``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, func, or_

from layers.access import Principal
from layers.base import STORAGE_SRID
from layers.errors import Forbidden, InvalidInput
from layers.models import Incident
from layers.models.incidents import INCIDENT_STATUSES
from layers.models.users import ROLE_LABELS_ZH, Role
from layers.scope import area_filter

#: Roles that may read incident statistics. Dispatchers (综治中心) watch heatmaps and hot spots;
#: street and community admins watch their area; planners read counts to balance grids; admins
#: everything. Grid workers and department handlers work single items, not area analytics.
STATS_ROLES = frozenset(
    {Role.admin, Role.street_admin, Role.community_admin, Role.planner, Role.dispatcher}
)

#: Time zone of calendar buckets (days, months, ISO weeks).
STATS_TIMEZONE = "Asia/Shanghai"

#: Largest bbox side accepted, in degrees (a district is a fraction of a degree).
MAX_BBOX_DEGREES = 5.0

BBox = tuple[float, float, float, float]


def require_stats_role(principal: Principal) -> None:
    """Raise Forbidden unless the principal's role may read statistics."""
    if principal.role not in STATS_ROLES:
        roles = sorted(STATS_ROLES)
        raise Forbidden(
            f"Only {', '.join(r.value for r in roles)} may read incident statistics",
            f"仅{'、'.join(ROLE_LABELS_ZH[r] for r in roles)}可查看事件统计",
        )


@dataclass(frozen=True, slots=True)
class StatsFilter:
    """Which incidents a statistic counts (on top of the user's area)."""

    bbox: BBox | None = None
    start: datetime | None = None
    end: datetime | None = None
    categories: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Validate: bbox in lon/lat order and size, aware datetimes, known statuses."""
        if self.bbox is not None:
            validate_bbox(self.bbox)
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise InvalidInput(
                    f"{name} needs a time zone, e.g. 2026-03-01T00:00:00+08:00",
                    f"{name} 须带时区，例如 2026-03-01T00:00:00+08:00",
                    field=name,
                )
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise InvalidInput("end must be after start", "结束时间须晚于开始时间", field="end")
        for status in self.statuses:
            if status not in INCIDENT_STATUSES:
                raise InvalidInput(
                    f"Unknown status {status[:32]!r}; known: {', '.join(INCIDENT_STATUSES)}",
                    f"未知的事件状态 {status[:32]!r}",
                    field="status",
                )
        for code in self.categories:
            if not code or len(code) > 64 or not all(c.isascii() for c in code):
                raise InvalidInput(
                    "A category code is 2 to 64 characters a-z . _",
                    "事件类别编码应为 2 到 64 个字符（a-z . _）",
                    field="category",
                )


def validate_bbox(bbox: Sequence[float]) -> BBox:
    """Check a lon/lat bbox (minx, miny, maxx, maxy) in degrees; return it as a tuple."""
    if len(bbox) != 4 or not all(math.isfinite(v) for v in bbox):
        raise InvalidInput(
            "bbox is four numbers: minlon,minlat,maxlon,maxlat",
            "bbox 应为四个数：最小经度,最小纬度,最大经度,最大纬度",
            field="bbox",
        )
    minx, miny, maxx, maxy = (float(v) for v in bbox)
    if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
        raise InvalidInput(
            "bbox must be minlon,minlat,maxlon,maxlat with min < max, in degrees",
            "bbox 应为 最小经度,最小纬度,最大经度,最大纬度，且最小值小于最大值",
            field="bbox",
        )
    if maxx - minx > MAX_BBOX_DEGREES or maxy - miny > MAX_BBOX_DEGREES:
        raise InvalidInput(
            f"bbox sides may be at most {MAX_BBOX_DEGREES} degrees",
            f"bbox 边长不得超过 {MAX_BBOX_DEGREES} 度",
            field="bbox",
        )
    return (minx, miny, maxx, maxy)


def parse_bbox(text: str | None) -> BBox | None:
    """Parse ``minlon,minlat,maxlon,maxlat`` (None stays None)."""
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    return validate_bbox(values)


def incident_conditions(principal: Principal, flt: StatsFilter) -> list[ColumnElement[bool]]:
    """The where-clause (as a list to AND) of the incidents a principal's statistic counts.

    The bbox test is ``ST_Intersects(geom, envelope)``: index-backed, exact, and a point on the
    bbox edge counts. (``&&`` alone compares the index's float4 boxes, rounded outward, and lets
    in points up to about a metre outside the bbox; the count would then not match the bbox.)
    """
    require_stats_role(principal)
    conditions: list[ColumnElement[bool]] = [area_filter("incidents", principal)]
    if flt.bbox is not None:
        conditions.append(
            func.ST_Intersects(Incident.geom, func.ST_MakeEnvelope(*flt.bbox, STORAGE_SRID))
        )
    if flt.start is not None:
        conditions.append(Incident.reported_at >= flt.start)
    if flt.end is not None:
        conditions.append(Incident.reported_at < flt.end)
    if flt.categories:
        conditions.append(category_match(Incident.category_code, flt.categories))
    if flt.statuses:
        conditions.append(Incident.status.in_(flt.statuses))
    return conditions


def category_match(
    column: SQLColumnExpression[str], categories: Sequence[str]
) -> ColumnElement[bool]:
    """Codes equal to one of ``categories`` or below it in the tree (``hazard`` → ``hazard.*``)."""
    return or_(*(or_(column == c, column.startswith(c + ".", autoescape=True)) for c in categories))


def where(principal: Principal, flt: StatsFilter) -> ColumnElement[bool]:
    """:func:`incident_conditions` joined with AND."""
    return and_(*incident_conditions(principal, flt))
