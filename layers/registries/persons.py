"""Persons (人): the person register, masked by default and audited on every read and change.

Who: the roles of :data:`layers.registries.common.PEOPLE_ROLES` (admins and grid workers), each
within their area (a person lies where their household's house's building lies). Planners,
dispatchers and department handlers get Forbidden.

Masking: ``id_number`` and ``phone`` are masked in SQL (``370102********123X``,
``138****5678``) and ``birth_date`` is withheld (the age is given instead) unless the request
asks ``reveal=True`` — allowed only for roles with
:meth:`layers.access.Principal.sees_full_personal_data`. Names are shown: the register's roles
all need them.

Audit: every list, get, create, update, deactivation and move writes one row to the audit log
with the person ids, the personal fields returned or changed and whether the identity numbers
were shown in full (``unmasked`` = the request revealed them).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    cast,
    exists,
    func,
    insert,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.orm import Session, aliased

from layers.access import Principal
from layers.errors import Conflict, InvalidInput
from layers.features import sql_mask_phone
from layers.models import (
    AdminUnit,
    Building,
    CareGroupCategory,
    Grid,
    House,
    Household,
    Person,
    PersonCareGroup,
)
from layers.models.registries import (
    LEFT_REASONS,
    PERSON_IS_ACTIVE,
    PERSON_LEFT_ON,
    PERSON_LEFT_REASON,
)
from layers.registries.common import (
    PEOPLE_ROLES,
    Page,
    audit,
    check_id,
    check_reveal,
    households_in_scope,
    like_pattern,
    local_today,
    not_found,
    page,
    persons_in_scope,
    require_role,
    rows,
    sql_mask_id_number,
)
from layers.registries.validation import (
    id_number_birth_date,
    id_number_gender,
    validate_id_number,
    validate_person,
)

# Personal fields of a person as named in the audit log, and those masked unless revealed.
PERSONAL_FIELDS = ("name", "id_number", "phone", "birth_date")
MASKED_FIELDS = ("id_number", "phone", "birth_date")
STATUSES = ("active", "inactive", "all")


def _person_select(*, reveal: bool) -> Select[*tuple[Any, ...]]:
    grid = aliased(Grid, name="grid")
    community = aliased(AdminUnit, name="community")
    care_groups = (
        select(
            func.coalesce(
                func.array_agg(
                    aggregate_order_by(PersonCareGroup.category_code, CareGroupCategory.sort_order)
                ),
                cast(literal("{}"), ARRAY(String)),
            )
        )
        .join(CareGroupCategory, CareGroupCategory.code == PersonCareGroup.category_code)
        .where(PersonCareGroup.person_id == Person.id, CareGroupCategory.is_active)
        .scalar_subquery()
    )
    age = cast(func.date_part("year", func.age(local_today(), Person.birth_date)), Integer)
    return (
        select(
            Person.id,
            Person.name,
            Person.gender,
            (Person.birth_date if reveal else null()).label("birth_date"),
            age.label("age"),
            (Person.id_number if reveal else sql_mask_id_number(Person.id_number)).label(
                "id_number"
            ),
            (Person.phone if reveal else sql_mask_phone(Person.phone)).label("phone"),
            Person.residence,
            Person.relation_to_head,
            PERSON_IS_ACTIVE.label("is_active"),
            PERSON_LEFT_ON.label("left_on"),
            PERSON_LEFT_REASON.label("left_reason"),
            Person.household_id,
            Household.household_no,
            Household.house_id,
            House.unit,
            House.floor,
            House.room,
            House.building_id,
            Building.address,
            grid.code.label("grid_code"),
            community.code.label("community_code"),
            care_groups.label("care_groups"),
        )
        .select_from(Person)
        .join(Household, Household.id == Person.household_id)
        .join(House, House.id == Household.house_id)
        .join(Building, Building.id == House.building_id)
        .outerjoin(grid, grid.id == Building.grid_id)
        .outerjoin(community, community.id == Building.community_id)
    )


def _audit_read(
    session: Session,
    principal: Principal,
    ids: list[int],
    *,
    reveal: bool,
    endpoint: str,
    client_ip: str | None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    audit(
        session,
        principal,
        action="read",
        resource="persons",
        ids=ids,
        fields=PERSONAL_FIELDS,
        unmasked=reveal,
        client_ip=client_ip,
        detail={
            "endpoint": endpoint,
            "masked_fields": [] if reveal else list(MASKED_FIELDS),
            **(detail or {}),
        },
    )


def _status_filter(status: str) -> ColumnElement[bool] | None:
    if status not in STATUSES:
        raise InvalidInput(
            f"status must be one of {', '.join(STATUSES)}",
            "status 取值应为 active（在册）、inactive（已注销）或 all（全部）",
            field="status",
        )
    if status == "active":
        return PERSON_IS_ACTIVE.is_(True)
    if status == "inactive":
        return PERSON_IS_ACTIVE.is_(False)
    return None


def list_persons(
    session: Session,
    *,
    principal: Principal,
    household_id: int | None = None,
    house_id: int | None = None,
    building_id: int | None = None,
    community: str | None = None,
    grid: str | None = None,
    care_group: str | None = None,
    q: str | None = None,
    id_number: str | None = None,
    status: str = "active",
    reveal: bool = False,
    limit: int,
    offset: int = 0,
    client_ip: str | None = None,
) -> Page:
    """Persons in the principal's area, filtered and paged by id; the read is audited.

    ``q`` is a substring of the name; ``id_number`` an exact (validated) ID number; ``community``
    and ``grid`` are codes; ``care_group`` a category code; ``status`` active (default),
    inactive or all.
    """
    require_role(principal, PEOPLE_ROLES, what_en="read persons", what_zh="查看人员信息")
    check_reveal(principal, reveal)
    where: list[ColumnElement[bool]] = [persons_in_scope(principal)]
    by_status = _status_filter(status)
    if by_status is not None:
        where.append(by_status)
    if household_id is not None:
        where.append(Person.household_id == household_id)
    if house_id is not None:
        where.append(
            Person.household_id.in_(select(Household.id).where(Household.house_id == house_id))
        )
    if building_id is not None:
        houses = select(House.id).where(House.building_id == building_id)
        where.append(
            Person.household_id.in_(select(Household.id).where(Household.house_id.in_(houses)))
        )
    if community is not None or grid is not None:
        buildings = select(Building.id)
        if community is not None:
            buildings = buildings.where(
                Building.community_id
                == select(AdminUnit.id).where(AdminUnit.code == community).scalar_subquery()
            )
        if grid is not None:
            buildings = buildings.where(
                Building.grid_id.in_(select(Grid.id).where(Grid.code == grid))
            )
        houses = select(House.id).where(House.building_id.in_(buildings))
        where.append(
            Person.household_id.in_(select(Household.id).where(Household.house_id.in_(houses)))
        )
    if care_group is not None:
        where.append(
            Person.id.in_(
                select(PersonCareGroup.person_id).where(PersonCareGroup.category_code == care_group)
            )
        )
    if q is not None:
        where.append(Person.name.ilike(like_pattern(q), escape="\\"))
    if id_number is not None:
        where.append(Person.id_number == validate_id_number(id_number, field="id_number"))
    result = page(
        session,
        ids=select(Person.id.label("id")).where(*where),
        order_by=[Person.id],
        build=lambda p: (
            _person_select(reveal=reveal).join(p, p.c.id == Person.id).order_by(Person.id)
        ),
        limit=limit,
        offset=offset,
    )
    filters = {
        "household_id": household_id,
        "house_id": house_id,
        "building_id": building_id,
        "community": community,
        "grid": grid,
        "care_group": care_group,
        "q": q is not None,
        "id_number": id_number is not None,
        "status": status,
    }
    _audit_read(
        session,
        principal,
        [r["id"] for r in result.items],
        reveal=reveal,
        endpoint="list",
        client_ip=client_ip,
        detail={"filters": {k: v for k, v in filters.items() if v not in (None, False)}},
    )
    return result


def _one(session: Session, principal: Principal, person_id: int, *, reveal: bool) -> dict[str, Any]:
    check_id(person_id, what_en="person", what_zh="人员", field="person_id")
    found = rows(
        session,
        _person_select(reveal=reveal).where(Person.id == person_id, persons_in_scope(principal)),
    )
    if not found:
        raise not_found("person", "人员", person_id, field="person_id")
    return found[0]


def get_person(
    session: Session,
    *,
    principal: Principal,
    person_id: int,
    reveal: bool = False,
    client_ip: str | None = None,
) -> dict[str, Any]:
    """One person of the principal's area, masked unless revealed; the read is audited."""
    require_role(principal, PEOPLE_ROLES, what_en="read persons", what_zh="查看人员信息")
    check_reveal(principal, reveal)
    row = _one(session, principal, person_id, reveal=reveal)
    _audit_read(session, principal, [person_id], reveal=reveal, endpoint="get", client_ip=client_ip)
    return row


def _check_household(session: Session, principal: Principal, household_id: int) -> None:
    check_id(household_id, what_en="household", what_zh="住户", field="household_id")
    visible = session.execute(
        select(exists().where(Household.id == household_id, households_in_scope(principal)))
    ).scalar_one()
    if not visible:
        raise not_found("household", "住户", household_id, field="household_id")


def _check_id_number_free(session: Session, number: str, *, except_id: int | None) -> None:
    clash = select(Person.id).where(Person.id_number == number)
    if except_id is not None:
        clash = clash.where(Person.id != except_id)
    if session.execute(select(exists(clash))).scalar_one():
        # Where the other record lives is not said: it may lie outside the user's area.
        raise Conflict(
            "A person with this ID number is already registered (ask your street admin if the "
            "record should move here)",
            "该身份证号码已有登记记录（如需迁入本辖区，请联系街道管理员）",
            field="id_number",
        )


def create_person(
    session: Session,
    *,
    principal: Principal,
    household_id: int,
    values: Mapping[str, Any],
    client_ip: str | None = None,
) -> dict[str, Any]:
    """Register a person in a household of the principal's area (validated, audited).

    Returns the new record, masked.
    """
    require_role(principal, PEOPLE_ROLES, what_en="register persons", what_zh="登记人员")
    _check_household(session, principal, household_id)
    data = dict(validate_person(values))
    if data.get("id_number"):
        _check_id_number_free(session, str(data["id_number"]), except_id=None)
    person_id = session.execute(
        insert(Person).values(household_id=household_id, **data).returning(Person.id)
    ).scalar_one()
    audit(
        session,
        principal,
        action="create",
        resource="persons",
        ids=[person_id],
        fields=sorted(k for k, v in data.items() if v is not None),
        client_ip=client_ip,
        detail={"household_id": household_id},
    )
    return _one(session, principal, person_id, reveal=False)


def _agree_with_stored_id(stored_number: str | None, clean: Mapping[str, Any]) -> None:
    """A changed birth date or gender must agree with the ID number kept on record."""
    if not stored_number or "id_number" in clean:
        return
    try:
        born = id_number_birth_date(stored_number)
    except ValueError:  # a legacy number whose date part is not a date: nothing to compare
        return
    if clean.get("birth_date") is not None and clean["birth_date"] != born:
        raise InvalidInput(
            "The birth date does not match the person's ID number",
            "出生日期与该人员的身份证号码不符",
            field="birth_date",
        )
    if "gender" in clean and clean["gender"] != id_number_gender(stored_number):
        raise InvalidInput(
            "The gender does not match the person's ID number",
            "性别与该人员的身份证号码不符",
            field="gender",
        )


def update_person(
    session: Session,
    *,
    principal: Principal,
    person_id: int,
    values: Mapping[str, Any],
    client_ip: str | None = None,
) -> dict[str, Any]:
    """Change identity or contact fields of a person of the principal's area (audited).

    Only the given keys change; a new ID number also sets birth date and gender from it.
    """
    require_role(principal, PEOPLE_ROLES, what_en="edit persons", what_zh="修改人员信息")
    _one(session, principal, person_id, reveal=False)
    clean = dict(validate_person(values, partial=True))
    stored = session.execute(select(Person.id_number).where(Person.id == person_id)).scalar_one()
    _agree_with_stored_id(stored, clean)
    if clean.get("id_number"):
        _check_id_number_free(session, str(clean["id_number"]), except_id=person_id)
    if clean:
        session.execute(update(Person).where(Person.id == person_id).values(**clean))
    audit(
        session,
        principal,
        action="update",
        resource="persons",
        ids=[person_id],
        fields=sorted(clean),
        client_ip=client_ip,
    )
    return _one(session, principal, person_id, reveal=False)


def deactivate_person(
    session: Session,
    *,
    principal: Principal,
    person_id: int,
    reason: str,
    left_on: date | None = None,
    client_ip: str | None = None,
) -> dict[str, Any]:
    """Deactivate a person who moved away or died (the record is kept, never deleted)."""
    require_role(principal, PEOPLE_ROLES, what_en="deactivate persons", what_zh="注销人员")
    person = _one(session, principal, person_id, reveal=False)
    if reason not in LEFT_REASONS:
        raise InvalidInput(
            f"reason must be one of {', '.join(LEFT_REASONS)}",
            "注销原因应为 moved_away（迁出）、deceased（死亡）或 other（其他）",
            field="reason",
        )
    if not person["is_active"]:
        raise Conflict("The person is already deactivated", "该人员已注销", field="person_id")
    today = session.execute(select(local_today())).scalar_one()
    day = left_on if left_on is not None else today
    if day > today:
        raise InvalidInput("left_on lies in the future", "注销日期不能晚于今天", field="left_on")
    session.execute(
        update(Person)
        .where(Person.id == person_id)
        .values({PERSON_IS_ACTIVE: False, PERSON_LEFT_ON: day, PERSON_LEFT_REASON: reason})
    )
    audit(
        session,
        principal,
        action="deactivate",
        resource="persons",
        ids=[person_id],
        fields=["is_active", "left_on", "left_reason"],
        client_ip=client_ip,
        detail={"reason": reason, "left_on": day.isoformat()},
    )
    return _one(session, principal, person_id, reveal=False)


def move_person(
    session: Session,
    *,
    principal: Principal,
    person_id: int,
    household_id: int,
    relation_to_head: str | None = None,
    client_ip: str | None = None,
) -> dict[str, Any]:
    """Move a person to another household of the area; a deactivated person is reactivated.

    The person's grid follows the new household's house.
    """
    require_role(principal, PEOPLE_ROLES, what_en="move persons", what_zh="迁移人员")
    person = _one(session, principal, person_id, reveal=False)
    _check_household(session, principal, household_id)
    if person["household_id"] == household_id and person["is_active"]:
        raise InvalidInput(
            "The person already belongs to that household",
            "该人员已在此住户中",
            field="household_id",
        )
    values: dict[Any, Any] = {
        Person.household_id: household_id,
        PERSON_IS_ACTIVE: True,
        PERSON_LEFT_ON: None,
        PERSON_LEFT_REASON: None,
    }
    if relation_to_head is not None:
        values[Person.relation_to_head] = validate_person(
            {"relation_to_head": relation_to_head}, partial=True
        ).get("relation_to_head")
    session.execute(update(Person).where(Person.id == person_id).values(values))
    after = _one(session, principal, person_id, reveal=False)
    audit(
        session,
        principal,
        action="move",
        resource="persons",
        ids=[person_id],
        fields=["household_id"] + (["relation_to_head"] if relation_to_head is not None else []),
        client_ip=client_ip,
        detail={
            "from_household_id": person["household_id"],
            "to_household_id": household_id,
            "from_grid": person["grid_code"],
            "to_grid": after["grid_code"],
            "reactivated": not person["is_active"],
        },
    )
    return after
