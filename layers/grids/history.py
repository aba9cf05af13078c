"""Grid history from the versions: a code's versions with lineage, and "which grid was this
building in on date D".

A building's grid on a date is answered with the assignment rule of
:mod:`layers.spatial.assign` applied to the grid versions valid at that moment
(``valid_from <= D < valid_to``): the non-micro grid covering the footprint's point-on-surface,
the smallest code winning on a shared edge. Buildings themselves are not versioned, so this is
"where today's footprint would have been filed on D".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from layers.access import Principal
from layers.errors import InvalidInput, NotFound
from layers.models import AdminUnit, Building, Grid, GridCode, GridLineage
from layers.scope import area_filter


@dataclass(frozen=True, slots=True)
class LineageLink:
    """A version on the other end of a lineage row."""

    grid_id: int
    code: str
    version: int
    name: str
    relation: str


@dataclass
class GridVersion:
    """One version of a grid code."""

    id: int
    version: int
    name: str
    kind: str
    sizing_type: str
    sizhi: str | None
    valid_from: datetime
    valid_to: datetime | None
    area_m2: float
    came_from: list[LineageLink] = field(default_factory=list)
    went_to: list[LineageLink] = field(default_factory=list)


@dataclass
class GridHistory:
    """Every version of a grid code, oldest first, and the code's registry entry."""

    code: str
    community_code: str
    issued_at: datetime
    retired_at: datetime | None
    versions: list[GridVersion]


def grid_history(session: Session, *, principal: Principal, code: str) -> GridHistory:
    """The versions of a grid code in the principal's area with their lineage."""
    registered = session.execute(
        select(GridCode, AdminUnit.code.label("community_code"))
        .join(AdminUnit, AdminUnit.id == GridCode.community_id)
        .where(GridCode.code == code, GridCode.code.startswith(principal.area_prefix))
    ).first()
    if registered is None:
        raise NotFound(
            f"No grid code {code} in your area", f"您的管辖区域内没有网格编码 {code}", field="code"
        )
    rows = session.execute(
        select(
            Grid.id,
            Grid.version,
            Grid.name,
            Grid.kind,
            Grid.sizing_type,
            Grid.sizhi,
            Grid.valid_from,
            Grid.valid_to,
            func.ST_Area(func.geography(Grid.geom)).label("area_m2"),
        )
        .where(Grid.code == code, area_filter("grids", principal))
        .order_by(Grid.version)
    ).all()
    versions = {
        r.id: GridVersion(
            id=r.id,
            version=r.version,
            name=r.name,
            kind=r.kind,
            sizing_type=r.sizing_type,
            sizhi=r.sizhi,
            valid_from=r.valid_from,
            valid_to=r.valid_to,
            area_m2=float(r.area_m2),
        )
        for r in rows
    }
    other = aliased(Grid)
    for direction, mine, theirs in (
        ("came_from", GridLineage.grid_id, GridLineage.source_grid_id),
        ("went_to", GridLineage.source_grid_id, GridLineage.grid_id),
    ):
        links = session.execute(
            select(mine, other.id, other.code, other.version, other.name, GridLineage.relation)
            .join(other, other.id == theirs)
            .where(mine.in_(list(versions)))
            .order_by(other.code, other.version)
        ).all()
        for link in links:
            getattr(versions[link[0]], direction).append(
                LineageLink(link.id, link.code, link.version, link.name, link.relation)
            )
    grid_code: GridCode = registered.GridCode
    return GridHistory(
        code=code,
        community_code=registered.community_code,
        issued_at=grid_code.created_at,
        retired_at=grid_code.retired_at,
        versions=list(versions.values()),
    )


@dataclass(frozen=True, slots=True)
class BuildingGridAt:
    """The grid version a building was filed under at a moment (None: no grid covered it)."""

    building_id: int
    building_code: str
    at: datetime
    grid_id: int | None
    code: str | None
    version: int | None
    name: str | None
    valid_from: datetime | None
    valid_to: datetime | None


def building_grid_at(
    session: Session, *, principal: Principal, building_id: int, at: datetime
) -> BuildingGridAt:
    """Which grid version a building (visible to the principal) lay in at ``at``."""
    if at.tzinfo is None:
        raise InvalidInput(
            "date needs a UTC offset, e.g. 2026-03-01T00:00:00+08:00",
            "date 需要带时区，例如 2026-03-01T00:00:00+08:00",
            field="date",
        )
    building = session.execute(
        select(Building.id, Building.code, Building.geom).where(
            Building.id == building_id, area_filter("buildings", principal)
        )
    ).first()
    if building is None:
        raise NotFound(f"Building {building_id} not found", f"未找到建筑 {building_id}", field="id")
    location = func.wangge_assign_point(Building.geom)
    grid = session.execute(
        select(Grid.id, Grid.code, Grid.version, Grid.name, Grid.valid_from, Grid.valid_to)
        .join(Building, Building.id == building_id)
        .where(
            Grid.kind != "micro",
            Grid.valid_from <= at,
            or_(Grid.valid_to.is_(None), Grid.valid_to > at),
            func.ST_Covers(Grid.geom, location),
        )
        .order_by(Grid.code)
        .limit(1)
    ).first()
    return BuildingGridAt(
        building_id=building.id,
        building_code=building.code,
        at=at.astimezone(UTC),
        grid_id=grid.id if grid else None,
        code=grid.code if grid else None,
        version=grid.version if grid else None,
        name=grid.name if grid else None,
        valid_from=grid.valid_from if grid else None,
        valid_to=grid.valid_to if grid else None,
    )
