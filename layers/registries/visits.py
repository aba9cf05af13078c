"""Visits (走访) to persons under care, and the overdue list.

A visit is to a person (it serves every care group the person is filed under). The overdue
rule, in the local calendar (Asia/Shanghai):

* a person is *due* when they are active and filed under at least one active category;
* their interval is the shortest ``visit_interval_days`` of those filings;
* ``due_on`` = (date of the last visit on or before ``as_of``, else the earliest filing date
  ``since``) + interval;
* they are *overdue* when ``due_on < as_of``, by ``as_of - due_on`` days.

The list is computed in one SQL statement (filings grouped per person, each person's last
visit from the ``(person_id, visited_at)`` index), scoped to the principal's area, sorted by
days overdue (most first), then person id.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Date,
    Integer,
    Select,
    String,
    and_,
    cast,
    exists,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.orm import Session, aliased

from geoalchemy2 import Geography

from layers.access import Principal
from layers.errors import InvalidInput
from layers.models import (
    AdminUnit,
    Building,
    CareGroupCategory,
    Grid,
    House,
    Household,
    Person,
    PersonCareGroup,
    User,
)
from layers.models.registries import PERSON_IS_ACTIVE, Visit
from layers.registries.common import (
    ADMIN_ROLES,
    PEOPLE_ROLES,
    Page,
    audit,
    check_id,
    geojson,
    local_date,
    local_today,
    not_found,
    page,
    persons_in_scope,
    require_role,
    rows,
)
from layers.registries.placement import read_geometry

# Clocks of phones drift; a visit a few minutes "in the future" is accepted.
CLOCK_SKEW = timedelta(minutes=10)
EARLIEST_VISIT = datetime(2000, 1, 1, tzinfo=UTC)
NOTE_MAX_LENGTH = 2000


def _visit_select() -> Select[*tuple[Any, ...]]:
    visitor = aliased(User, name="visitor")
    distance = func.ST_Distance(cast(Visit.geom, Geography), cast(Building.geom, Geography))
    return (
        select(
            Visit.id,
            Visit.person_id,
            Person.name.label("person_name"),
            Visit.visitor_id,
            visitor.full_name.label("visitor_name"),
            Visit.visited_at,
            geojson(Visit.geom).label("location"),
            cast(func.round(distance), Integer).label("distance_to_home_m"),
            Visit.note,
        )
        .select_from(Visit)
        .join(Person, Person.id == Visit.person_id)
        .join(Household, Household.id == Person.household_id)
        .join(House, House.id == Household.house_id)
        .join(Building, Building.id == House.building_id)
        .outerjoin(visitor, visitor.id == Visit.visitor_id)
    )


def _check_person(session: Session, principal: Principal, person_id: int) -> None:
    check_id(person_id, what_en="person", what_zh="人员", field="person_id")
    visible = session.execute(
        select(exists().where(Person.id == person_id, persons_in_scope(principal)))
    ).scalar_one()
    if not visible:
        raise not_found("person", "人员", person_id, field="person_id")


def _check_visitor(session: Session, principal: Principal, visitor_id: int) -> None:
    """Admins may record a visit made by another active register user of their area."""
    if visitor_id == principal.user_id:
        return
    if principal.role not in ADMIN_ROLES:
        raise InvalidInput(
            "Grid workers record their own visits only (leave visitor_id empty)",
            "网格员只能登记本人的走访（visitor_id 请留空）",
            field="visitor_id",
        )
    check_id(visitor_id, what_en="user", what_zh="用户", field="visitor_id")
    area = aliased(AdminUnit)
    ok = session.execute(
        select(
            select(User.id)
            .join(area, area.id == User.area_id)
            .where(
                User.id == visitor_id,
                User.is_active,
                User.role.in_([r.value for r in PEOPLE_ROLES]),
                area.code.startswith(principal.area_prefix),
            )
            .exists()
        )
    ).scalar_one()
    if not ok:
        raise InvalidInput(
            f"User {visitor_id} is not an active grid worker or admin of your area",
            f"用户 {visitor_id} 不是您辖区内在岗的网格员或管理员",
            field="visitor_id",
        )


def record_visit(
    session: Session,
    *,
    principal: Principal,
    person_id: int,
    visited_at: datetime | None = None,
    location: Mapping[str, Any] | None = None,
    crs: str | None = None,
    note: str | None = None,
    visitor_id: int | None = None,
    client_ip: str | None = None,
) -> dict[str, Any]:
    """Record a visit to a person of the principal's area (audited).

    ``visited_at`` must carry a time zone (default: now); ``location`` is an optional GeoJSON
    Point in ``crs`` (default WGS-84 lon/lat), stored in EPSG:4326. The answer includes the
    distance in metres (geography) from the point to the person's building footprint.
    """
    require_role(principal, PEOPLE_ROLES, what_en="record visits", what_zh="登记走访")
    _check_person(session, principal, person_id)
    now = datetime.now(UTC)
    when = visited_at if visited_at is not None else now
    if when.tzinfo is None:
        raise InvalidInput(
            "visited_at needs a time zone offset, e.g. 2026-03-01T09:30:00+08:00",
            "走访时间需带时区，例如 2026-03-01T09:30:00+08:00",
            field="visited_at",
        )
    if when > now + CLOCK_SKEW:
        raise InvalidInput(
            "visited_at lies in the future", "走访时间不能晚于当前时间", field="visited_at"
        )
    if when < EARLIEST_VISIT:
        raise InvalidInput(
            "visited_at is before 2000", "走访时间不能早于2000年", field="visited_at"
        )
    if note is not None and len(note) > NOTE_MAX_LENGTH:
        raise InvalidInput(
            f"The note is longer than {NOTE_MAX_LENGTH} characters",
            f"走访记录不能超过{NOTE_MAX_LENGTH}个字",
            field="note",
        )
    visitor = principal.user_id if visitor_id is None else visitor_id
    _check_visitor(session, principal, visitor)
    geom = (
        None
        if location is None
        else read_geometry(location, crs=crs, allowed={"Point"}, field="location")
    )
    visit_id = session.execute(
        insert(Visit)
        .values(person_id=person_id, visitor_id=visitor, visited_at=when, geom=geom, note=note)
        .returning(Visit.id)
    ).scalar_one()
    audit(
        session,
        principal,
        action="create",
        resource="visits",
        ids=[visit_id],
        fields=["note", "location"],
        client_ip=client_ip,
        detail={"person_id": person_id},
    )
    return rows(session, _visit_select().where(Visit.id == visit_id))[0]


def list_visits(
    session: Session,
    *,
    principal: Principal,
    person_id: int | None = None,
    visitor_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
    limit: int,
    offset: int = 0,
    client_ip: str | None = None,
) -> Page:
    """Visits to persons of the principal's area, newest first (audited).

    ``since``/``until`` are local calendar dates, both inclusive.
    """
    require_role(principal, PEOPLE_ROLES, what_en="read visits", what_zh="查看走访记录")
    if since is not None and until is not None and since > until:
        raise InvalidInput("since is after until", "起始日期晚于结束日期", field="since")
    where: list[ColumnElement[bool]] = [
        Visit.person_id.in_(select(Person.id).where(persons_in_scope(principal)))
    ]
    if person_id is not None:
        where.append(Visit.person_id == person_id)
    if visitor_id is not None:
        where.append(Visit.visitor_id == visitor_id)
    if since is not None:
        where.append(local_date(Visit.visited_at) >= since)
    if until is not None:
        where.append(local_date(Visit.visited_at) <= until)
    order: list[ColumnElement[Any]] = [Visit.visited_at.desc(), Visit.id.desc()]
    result = page(
        session,
        ids=select(Visit.id.label("id")).where(*where),
        order_by=order,
        build=lambda p: _visit_select().join(p, p.c.id == Visit.id).order_by(*order),
        limit=limit,
        offset=offset,
    )
    if result.items:
        audit(
            session,
            principal,
            action="read",
            resource="visits",
            ids=[r["id"] for r in result.items],
            fields=["person_name", "note", "location"],
            client_ip=client_ip,
            detail={
                "endpoint": "list",
                "person_ids": sorted({r["person_id"] for r in result.items}),
            },
        )
    return result


def overdue_visits(
    session: Session,
    *,
    principal: Principal,
    as_of: date | None = None,
    community: str | None = None,
    grid: str | None = None,
    category: str | None = None,
    responsible_user_id: int | None = None,
    limit: int,
    offset: int = 0,
    client_ip: str | None = None,
) -> Page:
    """Persons of the principal's area whose next visit is overdue on ``as_of`` (default today).

    ``category`` counts only filings under that category (and its interval);
    ``responsible_user_id`` only filings whose 包保 is that user. Audited (names are returned).
    """
    require_role(principal, PEOPLE_ROLES, what_en="read the overdue list", what_zh="查看逾期走访")
    day: Any = local_today() if as_of is None else literal(as_of, Date)

    filing_where: list[ColumnElement[bool]] = [
        CareGroupCategory.is_active.is_(True),
        PERSON_IS_ACTIVE.is_(True),
        persons_in_scope(principal),
    ]
    if category is not None:
        filing_where.append(PersonCareGroup.category_code == category)
    if responsible_user_id is not None:
        filing_where.append(PersonCareGroup.responsible_user_id == responsible_user_id)
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
        households = select(Household.id).join(House, House.id == Household.house_id)
        filing_where.append(
            Person.household_id.in_(households.where(House.building_id.in_(buildings)))
        )
    responsible = aliased(User, name="responsible")
    filings = (
        select(
            PersonCareGroup.person_id,
            func.min(PersonCareGroup.visit_interval_days).label("interval_days"),
            func.min(PersonCareGroup.since).label("since"),
            func.array_agg(
                aggregate_order_by(PersonCareGroup.category_code, CareGroupCategory.sort_order)
            ).label("categories"),
            cast(
                func.coalesce(
                    func.json_agg(
                        aggregate_order_by(
                            func.json_build_object(
                                "user_id", responsible.id, "name", responsible.full_name
                            ),
                            CareGroupCategory.sort_order,
                        )
                    ).filter(responsible.id.is_not(None)),
                    cast(literal("[]"), JSON),
                ),
                JSON,
            ).label("responsible"),
        )
        .join(CareGroupCategory, CareGroupCategory.code == PersonCareGroup.category_code)
        .join(Person, Person.id == PersonCareGroup.person_id)
        .outerjoin(responsible, responsible.id == PersonCareGroup.responsible_user_id)
        .where(*filing_where)
        .group_by(PersonCareGroup.person_id)
        .cte("filings")
    )
    last_visit = (
        select(func.max(Visit.visited_at))
        .where(Visit.person_id == filings.c.person_id, local_date(Visit.visited_at) <= day)
        .scalar_subquery()
    )
    due = select(
        filings,
        last_visit.label("last_visited_at"),
        (func.coalesce(local_date(last_visit), filings.c.since) + filings.c.interval_days).label(
            "due_on"
        ),
    ).subquery("due")
    days_overdue = (day - due.c.due_on).label("days_overdue")
    grid_alias = aliased(Grid, name="grid")
    community_alias = aliased(AdminUnit, name="community")
    stmt = (
        select(
            due.c.person_id,
            Person.name,
            Person.gender,
            cast(func.date_part("year", func.age(day, Person.birth_date)), Integer).label("age"),
            Household.household_no,
            Building.address,
            House.unit,
            House.room,
            grid_alias.code.label("grid_code"),
            community_alias.code.label("community_code"),
            cast(due.c.categories, ARRAY(String)).label("categories"),
            due.c.responsible,
            due.c.interval_days,
            due.c.last_visited_at,
            due.c.due_on,
            days_overdue,
        )
        .select_from(due)
        .join(Person, Person.id == due.c.person_id)
        .join(Household, Household.id == Person.household_id)
        .join(House, House.id == Household.house_id)
        .join(Building, Building.id == House.building_id)
        .outerjoin(grid_alias, grid_alias.id == Building.grid_id)
        .outerjoin(community_alias, community_alias.id == Building.community_id)
        .where(and_(due.c.due_on < day))
    )
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    found = rows(
        session,
        stmt.order_by(days_overdue.desc(), due.c.person_id).limit(limit).offset(offset),
    )
    if found:
        audit(
            session,
            principal,
            action="read",
            resource="persons",
            ids=[r["person_id"] for r in found],
            fields=["name", "care_groups"],
            client_ip=client_ip,
            detail={"endpoint": "overdue", "masked_fields": []},
        )
    return Page(found, total, limit, offset)
