"""Rental houses (出租房屋): tenancies over time, landlords and tenants, and the rental flag.

A tenancy is one tenant household renting one house from a landlord between ``started_on`` and
``ended_on`` (both inclusive, in the local calendar); an open end means current. A change of
landlord or tenant is a new tenancy, so the history of a house is its list of tenancies.

The rental flag of a house follows its tenancies: for every house that has tenancy records,
``houses.is_rental`` is true exactly while one of them is current. It is refreshed after every
tenancy change and, because tenancies end by date, daily by ``wangge registries tenancies
refresh-flags --commit``. A house without any tenancy record keeps the flag it was given (a
vacant house registered as rental).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Date,
    Select,
    and_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session, aliased

from layers.access import Principal
from layers.errors import Conflict, InvalidInput
from layers.features import sql_mask_phone
from layers.models import AdminUnit, Building, Grid, House, Household, Person
from layers.models.registries import PERSON_IS_ACTIVE, Tenancy
from layers.registries.common import (
    PEOPLE_ROLES,
    Page,
    audit,
    check_id,
    check_reveal,
    households_in_scope,
    houses_in_scope,
    local_today,
    not_found,
    only_keys,
    page,
    persons_in_scope,
    require_role,
    rows,
)
from layers.registries.validation import validate_phone

TENANCY_FIELDS = (
    "house_id",
    "tenant_household_id",
    "landlord_person_id",
    "landlord_name",
    "landlord_phone",
    "started_on",
    "ended_on",
    "note",
)
# Personal fields of a tenancy as named in the audit log.
PERSONAL_FIELDS = ("landlord_name", "landlord_phone", "tenants.name")


def current_tenancy(as_of: date | None = None) -> ColumnElement[bool]:
    """Tenancies running on ``as_of`` (default: today in the local calendar), ends inclusive."""
    day: Any = local_today() if as_of is None else literal(as_of, Date)
    return and_(Tenancy.started_on <= day, or_(Tenancy.ended_on.is_(None), Tenancy.ended_on >= day))


def _stale_flags(house_ids: Sequence[int] | None) -> list[ColumnElement[bool]]:
    rented = exists().where(Tenancy.house_id == House.id, current_tenancy())
    has_history = exists().where(Tenancy.house_id == House.id)
    where = [has_history, House.is_rental.is_distinct_from(rented)]
    if house_ids is not None:
        where.append(House.id.in_(list(house_ids)))
    return where


def refresh_rental_flags(session: Session, *, house_ids: Sequence[int] | None = None) -> int:
    """Set ``is_rental`` from the current tenancies (houses with tenancy records only).

    One set-based UPDATE over the given houses (default: all); returns the rows changed.
    """
    rented = exists().where(Tenancy.house_id == House.id, current_tenancy())
    result = session.execute(update(House).where(*_stale_flags(house_ids)).values(is_rental=rented))
    return int(getattr(result, "rowcount", 0) or 0)


def count_stale_rental_flags(session: Session) -> int:
    """How many houses' rental flags disagree with their current tenancies (for a dry run)."""
    return int(
        session.execute(
            select(func.count()).select_from(House).where(*_stale_flags(None))
        ).scalar_one()
    )


def _tenancy_select(*, reveal: bool) -> Select[*tuple[Any, ...]]:
    landlord = aliased(Person, name="landlord")
    grid = aliased(Grid, name="grid")
    community = aliased(AdminUnit, name="community")
    phone = func.coalesce(landlord.phone, Tenancy.landlord_phone)
    tenants = (
        select(
            func.coalesce(
                func.json_agg(
                    aggregate_order_by(
                        func.json_build_object("person_id", Person.id, "name", Person.name),
                        Person.id,
                    )
                ),
                cast(literal("[]"), JSON),
            )
        )
        .where(Person.household_id == Tenancy.tenant_household_id, PERSON_IS_ACTIVE)
        .scalar_subquery()
    )
    return (
        select(
            Tenancy.id,
            Tenancy.house_id,
            House.building_id,
            Building.address,
            House.unit,
            House.floor,
            House.room,
            Tenancy.landlord_person_id,
            func.coalesce(landlord.name, Tenancy.landlord_name).label("landlord_name"),
            (phone if reveal else sql_mask_phone(phone)).label("landlord_phone"),
            Tenancy.tenant_household_id,
            Household.household_no.label("tenant_household_no"),
            cast(tenants, JSON).label("tenants"),
            Tenancy.started_on,
            Tenancy.ended_on,
            case((current_tenancy(), True), else_=False).label("is_current"),
            Tenancy.note,
            grid.code.label("grid_code"),
            community.code.label("community_code"),
        )
        .select_from(Tenancy)
        .join(House, House.id == Tenancy.house_id)
        .join(Building, Building.id == House.building_id)
        .join(Household, Household.id == Tenancy.tenant_household_id)
        .outerjoin(landlord, landlord.id == Tenancy.landlord_person_id)
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
) -> None:
    if not ids:
        return
    audit(
        session,
        principal,
        action="read",
        resource="tenancies",
        ids=ids,
        fields=PERSONAL_FIELDS,
        unmasked=reveal,
        client_ip=client_ip,
        detail={"endpoint": endpoint, "masked_fields": [] if reveal else ["landlord_phone"]},
    )


def list_tenancies(
    session: Session,
    *,
    principal: Principal,
    house_id: int | None = None,
    household_id: int | None = None,
    landlord_person_id: int | None = None,
    current: bool | None = None,
    reveal: bool = False,
    limit: int,
    offset: int = 0,
    client_ip: str | None = None,
) -> Page:
    """Tenancies of houses in the principal's area, newest start first; the read is audited.

    ``current=True`` keeps the tenancies running today, ``False`` the ended or future ones.
    """
    require_role(principal, PEOPLE_ROLES, what_en="read tenancies", what_zh="查看租赁信息")
    check_reveal(principal, reveal)
    where: list[ColumnElement[bool]] = [
        Tenancy.house_id.in_(select(House.id).where(houses_in_scope(principal)))
    ]
    if house_id is not None:
        _check_in_scope(session, principal, {"house_id": house_id})
        where.append(Tenancy.house_id == house_id)
    if household_id is not None:
        where.append(Tenancy.tenant_household_id == household_id)
    if landlord_person_id is not None:
        where.append(Tenancy.landlord_person_id == landlord_person_id)
    if current is not None:
        where.append(current_tenancy() if current else ~current_tenancy())
    order: list[ColumnElement[Any]] = [Tenancy.started_on.desc(), Tenancy.id.desc()]
    result = page(
        session,
        ids=select(Tenancy.id.label("id")).where(*where),
        order_by=order,
        build=lambda p: (
            _tenancy_select(reveal=reveal).join(p, p.c.id == Tenancy.id).order_by(*order)
        ),
        limit=limit,
        offset=offset,
    )
    _audit_read(
        session,
        principal,
        [r["id"] for r in result.items],
        reveal=reveal,
        endpoint="list",
        client_ip=client_ip,
    )
    return result


def get_tenancy(
    session: Session,
    *,
    principal: Principal,
    tenancy_id: int,
    reveal: bool = False,
    client_ip: str | None = None,
) -> dict[str, Any]:
    """One tenancy of a house in the principal's area (audited), or NotFound."""
    require_role(principal, PEOPLE_ROLES, what_en="read tenancies", what_zh="查看租赁信息")
    check_reveal(principal, reveal)
    row = _one(session, principal, tenancy_id, reveal=reveal)
    _audit_read(
        session, principal, [tenancy_id], reveal=reveal, endpoint="get", client_ip=client_ip
    )
    return row


def _one(
    session: Session, principal: Principal, tenancy_id: int, *, reveal: bool
) -> dict[str, Any]:
    check_id(tenancy_id, what_en="tenancy", what_zh="租赁记录", field="tenancy_id")
    found = rows(
        session,
        _tenancy_select(reveal=reveal).where(
            Tenancy.id == tenancy_id,
            Tenancy.house_id.in_(select(House.id).where(houses_in_scope(principal))),
        ),
    )
    if not found:
        raise not_found("tenancy", "租赁记录", tenancy_id, field="tenancy_id")
    return found[0]


def _check_in_scope(session: Session, principal: Principal, data: Mapping[str, Any]) -> None:
    checks: list[tuple[str, Any, Any, str, str]] = [
        ("house_id", House.id, houses_in_scope(principal), "house", "房屋"),
        ("tenant_household_id", Household.id, households_in_scope(principal), "household", "住户"),
        ("landlord_person_id", Person.id, persons_in_scope(principal), "person", "人员"),
    ]
    for key, column, scope, what_en, what_zh in checks:
        value = data.get(key)
        if value is None:
            continue
        check_id(value, what_en=what_en, what_zh=what_zh, field=key)
        if not session.execute(select(exists().where(column == value, scope))).scalar_one():
            raise not_found(what_en, what_zh, value, field=key)


def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("landlord_name") is not None:
        data["landlord_name"] = data["landlord_name"].strip() or None
    if data.get("landlord_phone") is not None:
        data["landlord_phone"] = validate_phone(data["landlord_phone"], field="landlord_phone")
    return data


def _check_consistent(session: Session, merged: Mapping[str, Any], except_id: int | None) -> None:
    if merged.get("landlord_person_id") is not None and (
        merged.get("landlord_name") is not None or merged.get("landlord_phone") is not None
    ):
        raise InvalidInput(
            "Give the landlord either as a registered person (landlord_person_id) or by name "
            "and phone, not both",
            "房东请二选一：填写已登记人员（landlord_person_id），或填写姓名和电话",
            field="landlord_name",
        )
    if merged.get("landlord_person_id") is None and merged.get("landlord_name") is None:
        raise InvalidInput(
            "A landlord is required: landlord_person_id or landlord_name",
            "请填写房东：已登记人员（landlord_person_id）或房东姓名",
            field="landlord_name",
        )
    started, ended = merged["started_on"], merged.get("ended_on")
    if ended is not None and ended < started:
        raise InvalidInput(
            "The tenancy ends before it starts", "租赁结束日期早于开始日期", field="ended_on"
        )
    window = func.daterange(literal(started, Date), literal(ended, Date), "[]")
    clash = select(Tenancy.id).where(
        Tenancy.house_id == merged["house_id"],
        Tenancy.tenant_household_id == merged["tenant_household_id"],
        func.daterange(Tenancy.started_on, Tenancy.ended_on, "[]").op("&&")(window),
    )
    if except_id is not None:
        clash = clash.where(Tenancy.id != except_id)
    if session.execute(select(exists(clash))).scalar_one():
        raise Conflict(
            "The household already rents this house during these dates",
            "该住户在此期间已有该房屋的租赁记录，日期不能重叠",
            field="started_on",
        )


def create_tenancy(
    session: Session,
    *,
    principal: Principal,
    values: Mapping[str, Any],
    client_ip: str | None = None,
) -> dict[str, Any]:
    """Record a tenancy; the house's rental flag follows. Audited (landlord data)."""
    require_role(principal, PEOPLE_ROLES, what_en="record tenancies", what_zh="登记租赁")
    data = _normalise(only_keys(values, TENANCY_FIELDS))
    _check_in_scope(session, principal, data)
    _check_consistent(session, data, except_id=None)
    tenancy_id = session.execute(insert(Tenancy).values(**data).returning(Tenancy.id)).scalar_one()
    refresh_rental_flags(session, house_ids=[data["house_id"]])
    audit(
        session,
        principal,
        action="create",
        resource="tenancies",
        ids=[tenancy_id],
        fields=sorted(k for k, v in data.items() if v is not None),
        client_ip=client_ip,
        detail={"house_id": data["house_id"], "tenant_household_id": data["tenant_household_id"]},
    )
    return _one(session, principal, tenancy_id, reveal=False)


def update_tenancy(
    session: Session,
    *,
    principal: Principal,
    tenancy_id: int,
    values: Mapping[str, Any],
    client_ip: str | None = None,
) -> dict[str, Any]:
    """Change a tenancy (typically: end it); the house's rental flag follows. Audited."""
    require_role(principal, PEOPLE_ROLES, what_en="edit tenancies", what_zh="修改租赁")
    _one(session, principal, tenancy_id, reveal=False)
    data = _normalise(only_keys(values, TENANCY_FIELDS))
    if "house_id" in data or "tenant_household_id" in data:
        raise InvalidInput(
            "A tenancy's house and tenant cannot change: end it and record a new one",
            "租赁记录的房屋和租户不能修改：请结束本条并新登记一条",
            field="house_id" if "house_id" in data else "tenant_household_id",
        )
    _check_in_scope(session, principal, data)
    stored = session.execute(select(Tenancy).where(Tenancy.id == tenancy_id)).scalar_one()
    merged = {key: getattr(stored, key) for key in TENANCY_FIELDS} | data
    if data.get("landlord_person_id") is not None:
        # naming a registered landlord replaces a free-text one, and vice versa
        merged.update(landlord_name=None, landlord_phone=None)
        data.update(landlord_name=None, landlord_phone=None)
    elif data.get("landlord_name") is not None:
        merged["landlord_person_id"] = None
        data["landlord_person_id"] = None
    _check_consistent(session, merged, except_id=tenancy_id)
    if data:
        session.execute(update(Tenancy).where(Tenancy.id == tenancy_id).values(**data))
    refresh_rental_flags(session, house_ids=[stored.house_id])
    audit(
        session,
        principal,
        action="update",
        resource="tenancies",
        ids=[tenancy_id],
        fields=sorted(data),
        client_ip=client_ip,
        detail={"house_id": stored.house_id},
    )
    return _one(session, principal, tenancy_id, reveal=False)
