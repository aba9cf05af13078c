"""The persons ledger (人口台账): 以房管人 — person → household → house → building.

A row names a person and where they live: a building (by address or coordinates) and the
house in it (unit / floor / room, from their own columns or the end of the address). The
import

* finds the building (:mod:`layers.ledger.locate`), then the house by (building, unit, room),
  creating the house when the building exists and the row names a room (its floor from the
  楼层 column or from the room number: ``301`` → 3);
* files the person under the household with the row's 户号 (created at that house when new;
  a 户号 registered at another house is a problem). A row without 户号 joins the house's first
  household, or a new one numbered ``LG-<house id>`` ("ledger-generated");
* updates the person with the same ID number (or, without an ID number, the same name in the
  same household), else inserts a new one. A blank cell never erases a stored value; a person
  who had been deactivated (moved away) and is in the ledger again is active again;
* adds the care groups named in 关爱类别 (by Chinese name or code; existing ones are kept).

All of it set-based: one statement per step over the staging table.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, cast, func, literal, select, text
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Result
from sqlalchemy.orm import Session

from layers.access import Principal
from layers.errors import InvalidInput
from layers.features import PersonalDataView, sql_mask_name, sql_mask_phone
from layers.ledger.columns import GENDER_LABELS, PERSONS, RESIDENCE_LABELS, LedgerSpec
from layers.ledger.exporting import EXPORT_CRS, coordinate, label_case, sql_mask_id_number
from layers.ledger.kinds import WriteResult
from layers.ledger.rows import Location, RowContext
from layers.ledger.staging import add_problems, mark_bad_rows
from layers.models import Building, CareGroupCategory, House, Household, Person, PersonCareGroup
from layers.models.registries import PERSON_IS_ACTIVE
from layers.registries.validation import validate_id_number, validate_person, validate_phone
from layers.scope import area_filter

# Care-group cells list several categories: 残疾人、低保户 / 低保户,残疾人 ...
# ("/" is not a separator: the shipped category 独居/孤寡老人 contains one).
_LIST_SEPARATORS = re.compile(r"[,，、;；|\s]+")

# Person fields as validate_person names them → ledger column keys.
_FIELD_TO_COLUMN = {
    "name": "name",
    "gender": "gender",
    "id_number": "id_number",
    "phone": "phone",
    "residence": "residence",
    "relation_to_head": "relation_to_head",
    "birth_date": "id_number",
}


class PersonsLedger:
    """Import and export of the persons ledger."""

    spec: LedgerSpec = PERSONS
    temp_tables: tuple[str, ...] = ()
    needs_building: bool = True
    staging_columns: tuple[tuple[str, str], ...] = (
        ("name", "text"),
        ("gender", "text"),
        ("birth_date", "date"),
        ("id_number", "text"),
        ("phone", "text"),
        ("residence", "text"),
        ("relation", "text"),
        ("household_no", "text"),
        ("care_groups", "text[]"),
        ("house_id", "integer"),
        ("household_id", "integer"),
        ("household_house_id", "integer"),
        ("person_id", "integer"),
        ("person_new", "boolean NOT NULL DEFAULT false"),
    )
    input_columns: tuple[str, ...] = (
        "name",
        "gender",
        "birth_date",
        "id_number",
        "phone",
        "residence",
        "relation",
        "household_no",
        "care_groups",
    )

    # ---- one row, in Python ---------------------------------------------------------------

    def parse(self, ctx: RowContext, loc: Location) -> Sequence[Any] | None:
        """Check the person's cells one by one, then their agreement (gender vs ID number)."""
        fields: dict[str, Any] = {}
        name = ctx.required("name")
        if name is not None:
            fields["name"] = ctx.validated(
                "name", lambda v: validate_person({"name": v}, partial=True)["name"]
            )
        id_number = ctx.text_only("id_number")
        if id_number:
            fields["id_number"] = ctx.validated(
                "id_number", lambda v: validate_id_number(v, field="id_number")
            )
        fields["phone"] = ctx.validated("phone", lambda v: validate_phone(v, field="phone"))
        gender = ctx.validated(
            "gender", lambda v: validate_person({"gender": v}, partial=True)["gender"]
        )
        residence = ctx.validated(
            "residence", lambda v: validate_person({"residence": v}, partial=True)["residence"]
        )
        relation = ctx.bounded("relation_to_head", 16)
        household_no = ctx.bounded("household_no", 32)
        care = [label for label in _LIST_SEPARATORS.split(ctx.text("care_groups")) if label]
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
                "未填写房号，无法确定所在房屋",
                "No room given: the house in the building cannot be determined",
            )
        if ctx.bad:
            return None
        # Agreement of the cells with each other: gender and birth date encoded in the ID number.
        try:
            person = validate_person(
                {
                    "name": fields.get("name"),
                    "gender": gender,
                    "id_number": fields.get("id_number"),
                },
            )
        except InvalidInput as exc:
            ctx.fail_input(_FIELD_TO_COLUMN.get(exc.field or "", "name"), exc)
            return None
        return (
            person["name"],
            person["gender"],
            person.get("birth_date"),
            person.get("id_number"),
            fields.get("phone"),
            residence,
            relation,
            household_no or None,
            care,
        )

    # ---- the whole file, in SQL -------------------------------------------------------------

    def check(self, session: Session, principal: Principal) -> None:
        """House, household, person and care-group checks over all located rows."""
        # The house, if it exists; a new one needs a floor.
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
        # The household with this number, wherever it is.
        session.execute(
            text(
                "UPDATE ledger_rows r SET household_id = hh.id, household_house_id = hh.house_id "
                "FROM households hh WHERE r.ok AND hh.household_no = r.household_no"
            )
        )
        add_problems(
            session,
            "household-elsewhere",
            "r.household_id IS NOT NULL AND r.household_house_id IS DISTINCT FROM r.house_id",
            column="household_no",
        )
        add_problems(
            session,
            "household-split",
            "EXISTS (SELECT 1 FROM ledger_rows e WHERE e.ok AND e.household_no = r.household_no "
            "AND e.row_no < r.row_no AND (e.building_id, coalesce(e.unit, ''), e.room) "
            "IS DISTINCT FROM (r.building_id, coalesce(r.unit, ''), r.room))",
            column="household_no",
            detail="(SELECT min(e.row_no) FROM ledger_rows e WHERE e.ok "
            "AND e.household_no = r.household_no AND e.row_no < r.row_no)",
        )
        mark_bad_rows(session)

        add_problems(
            session,
            "duplicate-id",
            "EXISTS (SELECT 1 FROM ledger_rows e WHERE e.ok AND e.id_number = r.id_number "
            "AND e.row_no < r.row_no)",
            column="id_number",
            detail="(SELECT min(e.row_no) FROM ledger_rows e WHERE e.ok "
            "AND e.id_number = r.id_number)",
        )
        # Without an ID number, the same name twice in one house is one person twice.
        add_problems(
            session,
            "duplicate-person",
            "r.id_number IS NULL AND EXISTS (SELECT 1 FROM ledger_rows e WHERE e.ok "
            "AND e.row_no < r.row_no AND e.id_number IS NULL AND e.name = r.name "
            "AND e.building_id = r.building_id AND coalesce(e.unit, '') = coalesce(r.unit, '') "
            "AND e.room = r.room)",
            column="name",
            detail="(SELECT min(e.row_no) FROM ledger_rows e WHERE e.ok "
            "AND e.row_no < r.row_no AND e.id_number IS NULL AND e.name = r.name "
            "AND e.building_id = r.building_id AND coalesce(e.unit, '') = coalesce(r.unit, '') "
            "AND e.room = r.room)",
        )
        session.execute(
            text(
                "UPDATE ledger_rows r SET person_id = p.id FROM persons p "
                "WHERE r.ok AND r.id_number IS NOT NULL AND p.id_number = r.id_number"
            )
        )
        add_problems(
            session,
            "id-outside-area",
            "r.person_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM persons p "
            "JOIN households hh ON hh.id = p.household_id JOIN houses h ON h.id = hh.house_id "
            "JOIN ledger_scope_buildings s ON s.id = h.building_id WHERE p.id = r.person_id)",
            column="id_number",
        )
        # Without an ID number, the same name in the same (existing) household is the person.
        session.execute(
            text(
                "UPDATE ledger_rows r SET person_id = m.id FROM ("
                "  SELECT r2.row_no, min(p.id) AS id FROM ledger_rows r2"
                "  JOIN households hh ON hh.household_no = r2.household_no"
                "  OR (r2.household_no IS NULL AND hh.house_id = r2.house_id)"
                "  JOIN persons p ON p.household_id = hh.id AND p.name = r2.name"
                "  WHERE r2.ok AND r2.id_number IS NULL GROUP BY r2.row_no"
                ") m WHERE r.row_no = m.row_no"
            )
        )
        add_problems(
            session,
            "unknown-care-group",
            "EXISTS (SELECT 1 FROM unnest(r.care_groups) AS label WHERE NOT EXISTS ("
            "SELECT 1 FROM care_group_categories c WHERE c.is_active "
            "AND (c.name_zh = label OR c.code = label)))",
            column="care_groups",
            detail="(SELECT min(label) FROM unnest(r.care_groups) AS label WHERE NOT EXISTS ("
            "SELECT 1 FROM care_group_categories c WHERE c.is_active "
            "AND (c.name_zh = label OR c.code = label)))",
        )

    def write(self, session: Session, principal: Principal) -> WriteResult:
        """Houses, households, persons and care groups of the good rows."""
        result = WriteResult()
        houses = session.execute(
            text(
                "INSERT INTO houses (building_id, unit, floor, room) "
                "SELECT DISTINCT ON (building_id, coalesce(unit, ''), room) "
                "       building_id, coalesce(unit, ''), floor, room "
                "FROM ledger_rows WHERE ok AND house_id IS NULL "
                "ORDER BY building_id, coalesce(unit, ''), room, row_no "
                "ON CONFLICT (building_id, unit, room) DO NOTHING"
            )
        )
        result.created["houses"] = _count(houses)
        session.execute(
            text(
                "UPDATE ledger_rows r SET house_id = h.id FROM houses h "
                "WHERE r.ok AND r.house_id IS NULL AND h.building_id = r.building_id "
                "AND h.unit = coalesce(r.unit, '') AND h.room = r.room"
            )
        )
        # Households: the numbered new ones, then the first household of the house for rows
        # without a number, then a generated one where the house has none.
        numbered = session.execute(
            text(
                "INSERT INTO households (house_id, household_no, residence) "
                "SELECT min(house_id), household_no, "
                "       CASE WHEN bool_and(residence = 'floating') THEN 'floating' "
                "            ELSE 'registered' END "
                "FROM ledger_rows WHERE ok AND household_id IS NULL AND household_no IS NOT NULL "
                "GROUP BY household_no"
            )
        )
        session.execute(
            text(
                "UPDATE ledger_rows r SET household_id = first.id FROM ("
                "  SELECT DISTINCT ON (house_id) house_id, id FROM households"
                "  WHERE house_id IN (SELECT house_id FROM ledger_rows WHERE ok)"
                "  ORDER BY house_id, id) first "
                "WHERE r.ok AND r.household_id IS NULL AND r.household_no IS NULL "
                "AND first.house_id = r.house_id"
            )
        )
        generated = session.execute(
            text(
                "INSERT INTO households (house_id, household_no, residence) "
                "SELECT house_id, 'LG-' || house_id, "
                "       CASE WHEN bool_and(residence = 'floating') THEN 'floating' "
                "            ELSE 'registered' END "
                "FROM ledger_rows WHERE ok AND household_id IS NULL AND household_no IS NULL "
                "GROUP BY house_id"
            )
        )
        result.created["households"] = _count(numbered) + _count(generated)
        session.execute(
            text(
                "UPDATE ledger_rows r SET household_id = hh.id FROM households hh "
                "WHERE r.ok AND r.household_id IS NULL "
                "AND hh.household_no = coalesce(r.household_no, 'LG-' || r.house_id)"
            )
        )
        # Persons: update the matched ones whose values change, insert the rest.
        updated = session.execute(
            text(
                "UPDATE persons p SET name = r.name, gender = r.gender, "
                "  birth_date = coalesce(r.birth_date, p.birth_date), "
                "  id_number = coalesce(r.id_number, p.id_number), "
                "  phone = coalesce(r.phone, p.phone), "
                "  residence = coalesce(r.residence, p.residence), "
                "  relation_to_head = coalesce(r.relation, p.relation_to_head), "
                "  household_id = r.household_id, "
                "  is_active = true, left_on = NULL, left_reason = NULL "
                "FROM ledger_rows r WHERE r.ok AND r.person_id = p.id "
                "AND (p.name, p.gender, p.birth_date, p.id_number, p.phone, p.residence, "
                "     p.relation_to_head, p.household_id, p.is_active) IS DISTINCT FROM "
                "    (r.name, r.gender, coalesce(r.birth_date, p.birth_date), "
                "     coalesce(r.id_number, p.id_number), coalesce(r.phone, p.phone), "
                "     coalesce(r.residence, p.residence), "
                "     coalesce(r.relation, p.relation_to_head), r.household_id, true) "
                "RETURNING p.id"
            )
        )
        matched = session.execute(
            text("SELECT count(*) FROM ledger_rows WHERE ok AND person_id IS NOT NULL")
        ).scalar_one()
        updated_ids = list(updated.scalars())
        result.updated["persons"] = len(updated_ids)
        result.unchanged = int(matched) - len(updated_ids)
        session.execute(
            text(
                # ids in row order, so that persons are numbered as the ledger lists them
                "UPDATE ledger_rows r SET person_id = n.id, person_new = true "
                "FROM (SELECT row_no, nextval(pg_get_serial_sequence('persons', 'id')) AS id "
                "      FROM (SELECT row_no FROM ledger_rows WHERE ok AND person_id IS NULL "
                "            ORDER BY row_no) o) n "
                "WHERE r.row_no = n.row_no"
            )
        )
        inserted = session.execute(
            text(
                "INSERT INTO persons (id, household_id, name, gender, birth_date, id_number, "
                "  phone, residence, relation_to_head) "
                "SELECT person_id, household_id, name, gender, birth_date, id_number, phone, "
                "  coalesce(residence, 'registered'), relation "
                "FROM ledger_rows WHERE ok AND person_new ORDER BY row_no "
                "RETURNING id"
            )
        )
        inserted_ids = list(inserted.scalars())
        result.created["persons"] = len(inserted_ids)
        care = session.execute(
            text(
                "INSERT INTO person_care_groups (person_id, category_code) "
                "SELECT DISTINCT r.person_id, c.code FROM ledger_rows r "
                "CROSS JOIN unnest(r.care_groups) AS label "
                "JOIN care_group_categories c "
                "  ON c.is_active AND (c.name_zh = label OR c.code = label) "
                "WHERE r.ok ON CONFLICT DO NOTHING"
            )
        )
        result.created["person_care_groups"] = _count(care)
        result.ids = sorted(inserted_ids + updated_ids)
        return result

    # ---- export -------------------------------------------------------------------------

    def export_rows(self, session: Session, principal: Principal) -> tuple[list[str], Any]:
        """Persons living in the principal's area, with house and building; masked in SQL."""
        view = PersonalDataView.for_principal(principal)
        ids_full = principal.sees_full_personal_data()
        point = func.ST_PointOnSurface(Building.geom)
        care = (
            select(
                func.string_agg(
                    CareGroupCategory.name_zh,
                    aggregate_order_by(literal("、"), CareGroupCategory.sort_order),
                )
            )
            .select_from(PersonCareGroup)
            .join(CareGroupCategory, CareGroupCategory.code == PersonCareGroup.category_code)
            .where(PersonCareGroup.person_id == Person.id)
            .scalar_subquery()
        )
        columns = {
            "name": Person.name if view.names_full else sql_mask_name(Person.name),
            "gender": label_case(Person.gender, GENDER_LABELS),
            "id_number": Person.id_number if ids_full else sql_mask_id_number(Person.id_number),
            "phone": Person.phone if view.phones_full else sql_mask_phone(Person.phone),
            "residence": label_case(Person.residence, RESIDENCE_LABELS),
            "relation_to_head": Person.relation_to_head,
            "household_no": Household.household_no,
            "address": Building.address,
            "unit": House.unit,
            "floor": cast(House.floor, String),
            "room": House.room,
            "lon": coordinate(func.ST_X(point)),
            "lat": coordinate(func.ST_Y(point)),
            "crs": literal(EXPORT_CRS),
            "care_groups": care,
        }
        result: Result[Any] = session.execute(
            select(Person.id, *(expr.label(key) for key, expr in columns.items()))
            .join(Household, Household.id == Person.household_id)
            .join(House, House.id == Household.house_id)
            .join(Building, Building.id == House.building_id)
            .where(area_filter("buildings", principal), PERSON_IS_ACTIVE.is_(True))
            .order_by(
                Building.address,
                House.unit,
                House.floor,
                House.room,
                Household.household_no,
                Person.id,
            )
        )
        return list(columns), result


def _count(result: Result[Any]) -> int:
    return max(int(getattr(result, "rowcount", 0) or 0), 0)
