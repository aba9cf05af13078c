"""Sizing targets by grid type (网格规模) and each grid's deviation from them, counted live.

DOMAIN.md: scattered housing 120–160 households per grid, closed compounds 200–250, bungalow
areas 80–120. The ranges live in ``sizing_targets`` (seeded by migration 0005) so a deployment
can change them; special grids (one institution) have no household target.

Deviation: 0 inside the range; below it, households minus the minimum (negative); above it,
households minus the maximum (positive). ``ratio`` is the deviation over the bound it is
measured from, so −0.25 means "a quarter short of the minimum".
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from layers.access import Principal
from layers.counts import household_counts
from layers.errors import Forbidden, InvalidInput, NotFound
from layers.models import AdminUnit, Grid, SizingTarget
from layers.models.grids import SizingType
from layers.models.users import Role
from layers.scope import area_filter


@dataclass(frozen=True, slots=True)
class Target:
    """The household range of one sizing type."""

    sizing_type: str
    min_households: int
    max_households: int


@dataclass(frozen=True, slots=True)
class Deviation:
    """Where a household count lies against its target."""

    status: str  # "below", "within" or "above"
    households: int
    deviation: int
    ratio: float


def targets(session: Session) -> dict[str, Target]:
    """Every configured target by sizing type."""
    return {
        t.sizing_type: Target(t.sizing_type, t.min_households, t.max_households)
        for t in session.scalars(select(SizingTarget).order_by(SizingTarget.sizing_type))
    }


def deviation(households: int, target: Target) -> Deviation:
    """How far ``households`` lies outside ``target`` (0 inside the range)."""
    if households < target.min_households:
        dev = households - target.min_households
        return Deviation("below", households, dev, dev / max(target.min_households, 1))
    if households > target.max_households:
        dev = households - target.max_households
        return Deviation("above", households, dev, dev / max(target.max_households, 1))
    return Deviation("within", households, 0, 0.0)


def set_target(
    session: Session,
    *,
    principal: Principal,
    sizing_type: str,
    min_households: int,
    max_households: int,
) -> Target:
    """Change (or add) the household range of a sizing type; admins only."""
    if principal.role != Role.admin:
        raise Forbidden("Only admins may change sizing targets", "仅系统管理员可修改网格规模标准")
    if sizing_type not in SizingType.__members__:
        raise InvalidInput(
            f"sizing_type must be one of {', '.join(SizingType)}",
            f"sizing_type 应为 {'、'.join(SizingType)} 之一",
            field="sizing_type",
        )
    if min_households < 0 or max_households < min_households:
        raise InvalidInput(
            "Need 0 <= min_households <= max_households",
            "应满足 0 ≤ 最少户数 ≤ 最多户数",
            field="min_households",
        )
    session.execute(
        text(
            """
INSERT INTO sizing_targets (sizing_type, min_households, max_households, updated_by)
VALUES (:t, :lo, :hi, :user)
ON CONFLICT (sizing_type) DO UPDATE
SET min_households = EXCLUDED.min_households, max_households = EXCLUDED.max_households,
    updated_by = EXCLUDED.updated_by, updated_at = now()
"""
        ),
        {"t": sizing_type, "lo": min_households, "hi": max_households, "user": principal.user_id},
    )
    return Target(sizing_type, min_households, max_households)


@dataclass(frozen=True, slots=True)
class GridSizing:
    """One current grid with its household count and deviation from its target."""

    grid_id: int
    code: str
    name: str
    sizing_type: str
    households: int
    target: Target | None
    deviation: Deviation | None


def grid_sizing(
    session: Session, *, principal: Principal, community_code: str | None = None
) -> list[GridSizing]:
    """Every current basic or special grid of the principal's area (or one community of it).

    Household counts are live (``layers.counts.household_counts``), so the answer follows every
    registration and every published plan at once.
    """
    if community_code is not None:
        unit = session.scalars(select(AdminUnit).where(AdminUnit.code == community_code)).first()
        if (
            unit is None
            or unit.level != "community"
            or not unit.code.startswith(principal.area_prefix)
        ):
            raise NotFound(
                f"No community {community_code} in your area",
                f"您的管辖区域内没有社区 {community_code}",
                field="community",
            )
    query = (
        select(Grid.id, Grid.code, Grid.name, Grid.sizing_type)
        .where(area_filter("grids", principal), Grid.valid_to.is_(None), Grid.kind != "micro")
        .order_by(Grid.code)
    )
    if community_code is not None:
        query = query.where(Grid.code.startswith(community_code))
    rows = session.execute(query).all()
    counts = household_counts(session, grid_ids=[r.id for r in rows])
    table = targets(session)
    out = []
    for r in rows:
        households = counts.get(r.id, 0)
        target = table.get(r.sizing_type)
        out.append(
            GridSizing(
                grid_id=r.id,
                code=r.code,
                name=r.name,
                sizing_type=r.sizing_type,
                households=households,
                target=target,
                deviation=deviation(households, target) if target else None,
            )
        )
    return out
