"""The places ledger (场所台账): schools, shops, 三合一 and 三小 premises, with a department.

A place is stored as a point: its coordinates, or, when the row gives only an address, a point
inside the addressed building (``ST_PointOnSurface``); the address of a row with coordinates is
stored as written and not matched. The grid covering the point gives its
``grid_id`` and ``community_id`` (filled by the assignment trigger) and must lie in the user's
area. The 地址 text is stored as written. An existing place in the area with the same name and
kind within 15 m is updated (department, contact, address; its point when the row has
coordinates); any other row inserts a new place. The department is matched by code, else by
name, among the departments of the user's area and the units above it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Integer, func, insert, literal, select, text
from sqlalchemy.engine import Result
from sqlalchemy.orm import Session
from sqlalchemy.sql import column as sql_column
from sqlalchemy.sql import table as sql_table

from layers.access import Principal
from layers.features import PersonalDataView, sql_mask_name, sql_mask_phone
from layers.ledger.columns import PLACE_KIND_WORDS, PLACES, LedgerSpec
from layers.ledger.exporting import EXPORT_CRS, coordinate, label_case
from layers.ledger.kinds import WriteResult
from layers.ledger.locate import NEAR_BUILDING_M
from layers.ledger.rows import Location, RowContext
from layers.ledger.staging import add_problems, create_table, mark_bad_rows
from layers.models import AdminUnit, Department, Place
from layers.models.places import PLACE_KINDS
from layers.models.registries import DEFAULT_CHECKLIST_BY_PLACE_KIND
from layers.registries.validation import validate_phone
from layers.scope import area_filter

SCOPE_PLACES = "ledger_scope_places"
SCOPE_DEPARTMENTS = "ledger_scope_departments"
_scope_places = sql_table(SCOPE_PLACES, sql_column("id", Integer))
_scope_departments = sql_table(SCOPE_DEPARTMENTS, sql_column("id", Integer))


class PlacesLedger:
    """Import and export of the places ledger."""

    spec: LedgerSpec = PLACES
    temp_tables: tuple[str, ...] = (SCOPE_PLACES, SCOPE_DEPARTMENTS)
    needs_building: bool = False
    staging_columns: tuple[tuple[str, str], ...] = (
        ("name", "text"),
        ("kind", "text"),
        ("address", "text"),
        ("department", "text"),
        ("contact_name", "text"),
        ("contact_phone", "text"),
        ("department_id", "integer"),
        ("department_matches", "integer NOT NULL DEFAULT 0"),
        ("place_id", "integer"),
    )
    input_columns: tuple[str, ...] = (
        "name",
        "kind",
        "address",
        "department",
        "contact_name",
        "contact_phone",
    )

    def parse(self, ctx: RowContext, loc: Location) -> Sequence[Any] | None:
        """Name, kind (Chinese label or code), department, contact; a place must be locatable."""
        name = ctx.required("name")
        if name is not None:
            name = ctx.bounded("name", 100)
        kind_text = ctx.required("kind")
        kind = ctx.choice("kind", PLACE_KIND_WORDS, "场所类型") if kind_text else None
        address = ctx.bounded("address", 255)
        department = ctx.bounded("department", 100)
        contact = ctx.bounded("contact_name", 64)
        phone = ctx.validated("contact_phone", lambda v: validate_phone(v, field="contact_phone"))
        if loc.coordinates_given:
            # The coordinates locate the place; its address is only stored as written.
            loc.address_key = None
        if not loc.location_given:
            ctx.fail(
                "address",
                "no-location",
                "无法定位：请填写地址或经纬度",
                "Cannot locate the place: give an address or coordinates",
            )
        if ctx.bad:
            return None
        return (name, kind, address, department, contact, phone)

    def check(self, session: Session, principal: Principal) -> None:
        """Department by code or name; duplicates in the file; the existing place to update."""
        create_table(session, SCOPE_DEPARTMENTS, (("id", "integer PRIMARY KEY"),))
        create_table(session, SCOPE_PLACES, (("id", "integer PRIMARY KEY"),))
        units = select(AdminUnit.id).where(area_filter("admin_units", principal))
        session.execute(
            insert(_scope_departments).from_select(
                ["id"], select(Department.id).where(Department.admin_unit_id.in_(units))
            )
        )
        session.execute(
            insert(_scope_places).from_select(
                ["id"], select(Place.id).where(area_filter("places", principal))
            )
        )
        session.execute(
            text(
                "UPDATE ledger_rows r SET department_matches = m.n, "
                "  department_id = CASE WHEN m.n = 1 THEN m.one END "
                "FROM (SELECT r2.row_no, count(DISTINCT d.id) AS n, min(d.id) AS one "
                "      FROM ledger_rows r2 JOIN departments d ON d.code = r2.department "
                "        OR (d.name = r2.department AND NOT EXISTS ("
                "            SELECT 1 FROM departments c WHERE c.code = r2.department)) "
                "      JOIN ledger_scope_departments s ON s.id = d.id "
                "      WHERE r2.ok GROUP BY r2.row_no) m "
                "WHERE r.row_no = m.row_no"
            )
        )
        add_problems(
            session,
            "unknown-department",
            "r.department IS NOT NULL AND r.department_matches = 0",
            column="department",
            detail="r.department",
        )
        add_problems(
            session,
            "ambiguous-department",
            "r.department_matches > 1",
            column="department",
            detail="r.department",
        )
        add_problems(
            session,
            "duplicate-place",
            "EXISTS (SELECT 1 FROM ledger_rows e WHERE e.ok AND e.row_no < r.row_no "
            "AND e.name = r.name AND e.kind = r.kind "
            "AND ST_DWithin(e.pt::geography, r.pt::geography, :radius))",
            column="name",
            detail="(SELECT min(e.row_no) FROM ledger_rows e WHERE e.ok AND e.row_no < r.row_no "
            "AND e.name = r.name AND e.kind = r.kind "
            "AND ST_DWithin(e.pt::geography, r.pt::geography, :radius))",
            params={"radius": NEAR_BUILDING_M},
        )
        mark_bad_rows(session)
        session.execute(
            text(
                "UPDATE ledger_rows r SET place_id = m.id FROM ("
                "  SELECT r2.row_no, near.id FROM ledger_rows r2 CROSS JOIN LATERAL ("
                "    SELECT p.id FROM places p JOIN ledger_scope_places s ON s.id = p.id"
                "    WHERE p.name = r2.name AND p.kind = r2.kind"
                "      AND ST_DWithin(p.geom::geography, r2.pt::geography, :radius)"
                "    ORDER BY ST_Distance(p.geom::geography, r2.pt::geography), p.id LIMIT 1"
                "  ) near WHERE r2.ok) m "
                "WHERE r.row_no = m.row_no"
            ),
            {"radius": NEAR_BUILDING_M},
        )

    def write(self, session: Session, principal: Principal) -> WriteResult:
        """Update the matched places, insert the others.

        ``grid_id`` and ``community_id`` are filled by the assignment trigger of migration 0003
        (the same rule that located the rows); a new place gets the default patrol checklist of
        its kind, as :func:`layers.registries.places.create_place` gives it.
        """
        result = WriteResult()
        updated = session.execute(
            text(
                "UPDATE places p SET "
                "  department_id = coalesce(r.department_id, p.department_id), "
                "  contact_name = coalesce(r.contact_name, p.contact_name), "
                "  contact_phone = coalesce(r.contact_phone, p.contact_phone), "
                "  address = coalesce(r.address, p.address), "
                "  geom = CASE WHEN r.addr_key IS NULL THEN r.pt ELSE p.geom END "
                "FROM ledger_rows r WHERE r.ok AND r.place_id = p.id "
                "AND ((p.department_id, p.contact_name, p.contact_phone, p.address) "
                "     IS DISTINCT FROM (coalesce(r.department_id, p.department_id), "
                "     coalesce(r.contact_name, p.contact_name), "
                "     coalesce(r.contact_phone, p.contact_phone), coalesce(r.address, p.address)) "
                "     OR (r.addr_key IS NULL AND NOT ST_Equals(p.geom, r.pt))) "
                "RETURNING p.id"
            )
        )
        updated_ids = list(updated.scalars())
        matched = session.execute(
            text("SELECT count(*) FROM ledger_rows WHERE ok AND place_id IS NOT NULL")
        ).scalar_one()
        inserted = session.execute(
            text(
                "INSERT INTO places (name, kind, address, department_id, contact_name, "
                "  contact_phone, geom, checklist_kind) "
                "SELECT name, kind, address, department_id, contact_name, contact_phone, pt, "
                "  coalesce(CAST(:checklists AS jsonb) ->> kind, 'general') "
                "FROM ledger_rows WHERE ok AND place_id IS NULL ORDER BY row_no "
                "RETURNING id"
            ),
            {"checklists": json.dumps(DEFAULT_CHECKLIST_BY_PLACE_KIND)},
        )
        inserted_ids = list(inserted.scalars())
        result.created["places"] = len(inserted_ids)
        result.updated["places"] = len(updated_ids)
        result.unchanged = int(matched) - len(updated_ids)
        result.ids = sorted(inserted_ids + updated_ids)
        return result

    def export_rows(self, session: Session, principal: Principal) -> tuple[list[str], Any]:
        """Places in the principal's area: point (or a point inside the area), department."""
        view = PersonalDataView.for_principal(principal)
        point = func.ST_PointOnSurface(Place.geom)
        columns = {
            "name": Place.name,
            "kind": label_case(Place.kind, PLACE_KINDS),
            "address": Place.address,
            "lon": coordinate(func.ST_X(point)),
            "lat": coordinate(func.ST_Y(point)),
            "crs": literal(EXPORT_CRS),
            "department": Department.name,
            "contact_name": Place.contact_name
            if view.names_full
            else sql_mask_name(Place.contact_name),
            "contact_phone": Place.contact_phone
            if view.phones_full
            else sql_mask_phone(Place.contact_phone),
        }
        result: Result[Any] = session.execute(
            select(Place.id, *(expr.label(key) for key, expr in columns.items()))
            .outerjoin(Department, Department.id == Place.department_id)
            .where(area_filter("places", principal))
            .order_by(Place.kind, Place.name, Place.id)
        )
        return list(columns), result
