"""The houses ledger (房屋台账): units, floors and rooms of buildings, their use and rental flag.

A row names a building (address or coordinates) and a room in it (unit / floor / room columns,
or the end of the address). The house with the same (building, unit, room) is updated with the
row's floor, use, area and rental flag (blank cells keep the stored value); otherwise a new
house is inserted, which needs a floor (the 楼层 column, or the room number: ``301`` → 3).
Landlord and tenant columns are not part of this ledger yet (see docs/LEDGER.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, case, cast, func, literal, select, text
from sqlalchemy.engine import Result
from sqlalchemy.orm import Session

from layers.access import Principal
from layers.ledger.columns import (
    HOUSE_USE_LABELS,
    HOUSE_USE_WORDS,
    HOUSES,
    NO_WORDS,
    YES_WORDS,
    LedgerSpec,
)
from layers.ledger.exporting import EXPORT_CRS, coordinate, label_case
from layers.ledger.kinds import WriteResult
from layers.ledger.rows import Location, RowContext
from layers.ledger.staging import add_problems
from layers.models import Building, House
from layers.scope import area_filter

# Largest floor area numeric(8, 2) holds.
MAX_AREA_M2 = 999_999.99


class HousesLedger:
    """Import and export of the houses ledger."""

    spec: LedgerSpec = HOUSES
    temp_tables: tuple[str, ...] = ()
    needs_building: bool = True
    staging_columns: tuple[tuple[str, str], ...] = (
        ("use", "text"),
        ("area_m2", "numeric(8, 2)"),
        ("is_rental", "boolean"),
        ("house_id", "integer"),
    )
    input_columns: tuple[str, ...] = ("use", "area_m2", "is_rental")

    def parse(self, ctx: RowContext, loc: Location) -> Sequence[Any] | None:
        """Use, area (m², > 0), rental flag (是/否); the row must name a building and a room."""
        use = ctx.choice("use", HOUSE_USE_WORDS, "房屋用途")
        area = ctx.number("area_m2", minimum=0.01, maximum=MAX_AREA_M2)
        rental_text = ctx.text("is_rental").lower()
        rental: bool | None = None
        if rental_text in YES_WORDS:
            rental = True
        elif rental_text in NO_WORDS:
            rental = False
        elif rental_text:
            ctx.fail(
                "is_rental",
                "unknown-value",
                "是否出租应填“是”或“否”",
                "Rental must be yes or no",
            )
        if not loc.location_given:
            ctx.fail(
                "address",
                "no-location",
                "无法定位：请填写地址（或小区和楼栋），或填写经纬度",
                "Cannot locate the row: give an address (or compound and building) or coordinates",
            )
        elif loc.room is None:
            ctx.fail(
                "room" if ctx.has("room") else "address",
                "room-missing",
                "未填写房号，无法确定房屋",
                "No room given: the house cannot be determined",
            )
        if ctx.bad:
            return None
        return (use, None if area is None else round(area, 2), rental)

    def check(self, session: Session, principal: Principal) -> None:
        """The existing house; a new one needs a floor; one house per file."""
        session.execute(
            text(
                "UPDATE ledger_rows r SET house_id = h.id FROM houses h "
                "WHERE r.ok AND h.building_id = r.building_id "
                "AND h.unit = coalesce(r.unit, '') AND h.room = r.room"
            )
        )
        add_problems(
            session, "floor-missing", "r.house_id IS NULL AND r.floor IS NULL", column="floor"
        )
        add_problems(
            session,
            "duplicate-house",
            "EXISTS (SELECT 1 FROM ledger_rows e WHERE e.ok AND e.row_no < r.row_no "
            "AND e.building_id = r.building_id AND coalesce(e.unit, '') = coalesce(r.unit, '') "
            "AND e.room = r.room)",
            column="room",
            detail="(SELECT min(e.row_no) FROM ledger_rows e WHERE e.ok "
            "AND e.building_id = r.building_id AND coalesce(e.unit, '') = coalesce(r.unit, '') "
            "AND e.room = r.room)",
        )

    def write(self, session: Session, principal: Principal) -> WriteResult:
        """Update the existing houses whose values change, insert the new ones."""
        result = WriteResult()
        updated = session.execute(
            text(
                "UPDATE houses h SET floor = coalesce(r.floor, h.floor), "
                "  use = coalesce(r.use, h.use), area_m2 = coalesce(r.area_m2, h.area_m2), "
                "  is_rental = coalesce(r.is_rental, h.is_rental) "
                "FROM ledger_rows r WHERE r.ok AND r.house_id = h.id "
                "AND (h.floor, h.use, h.area_m2, h.is_rental) IS DISTINCT FROM "
                "    (coalesce(r.floor, h.floor), coalesce(r.use, h.use), "
                "     coalesce(r.area_m2, h.area_m2), coalesce(r.is_rental, h.is_rental)) "
                "RETURNING h.id"
            )
        )
        updated_ids = list(updated.scalars())
        matched = session.execute(
            text("SELECT count(*) FROM ledger_rows WHERE ok AND house_id IS NOT NULL")
        ).scalar_one()
        inserted = session.execute(
            text(
                "INSERT INTO houses (building_id, unit, floor, room, use, area_m2, is_rental) "
                "SELECT building_id, coalesce(unit, ''), floor, room, "
                "  coalesce(use, 'residential'), area_m2, coalesce(is_rental, false) "
                "FROM ledger_rows WHERE ok AND house_id IS NULL ORDER BY row_no "
                "RETURNING id"
            )
        )
        inserted_ids = list(inserted.scalars())
        result.created["houses"] = len(inserted_ids)
        result.updated["houses"] = len(updated_ids)
        result.unchanged = int(matched) - len(updated_ids)
        result.ids = sorted(inserted_ids + updated_ids)
        return result

    def export_rows(self, session: Session, principal: Principal) -> tuple[list[str], Any]:
        """Houses in buildings of the principal's area."""
        point = func.ST_PointOnSurface(Building.geom)
        columns = {
            "address": Building.address,
            "unit": House.unit,
            "floor": cast(House.floor, String),
            "room": House.room,
            "lon": coordinate(func.ST_X(point)),
            "lat": coordinate(func.ST_Y(point)),
            "crs": literal(EXPORT_CRS),
            "use": label_case(House.use, HOUSE_USE_LABELS),
            "area_m2": cast(House.area_m2, String),
            "is_rental": case((House.is_rental, literal("是")), else_=literal("否")),
        }
        result: Result[Any] = session.execute(
            select(House.id, *(expr.label(key) for key, expr in columns.items()))
            .join(Building, Building.id == House.building_id)
            .where(area_filter("buildings", principal))
            .order_by(Building.address, House.unit, House.floor, House.room, House.id)
        )
        return list(columns), result
