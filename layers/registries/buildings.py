"""Buildings (楼栋), houses (房) and households (户): the chain that files people under grids.

A building's grid and community are derived from its footprint (:mod:`.placement`); a house
lies in its building, a household in its house, so moving a household to another house moves
it (and its members) to that house's grid — no grid is ever stored below the building.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import Select, and_, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased

from layers.access import Principal
from layers.errors import Conflict, InvalidInput
from layers.models import AdminUnit, Building, Grid, House, Household, Person
from layers.models.registries import PERSON_IS_ACTIVE, Tenancy
from layers.registries.common import (
    BUILDING_READ_ROLES,
    BUILDING_WRITE_ROLES,
    HOUSE_WRITE_ROLES,
    Page,
    audit,
    buildings_in_scope,
    check_id,
    geojson,
    households_in_scope,
    houses_in_scope,
    like_pattern,
    local_today,
    not_found,
    only_keys,
    page,
    require_role,
    rows,
)
from layers.registries.placement import check_filed_in_area, file_under_grid, read_geometry
from layers.registries.tenancies import current_tenancy, refresh_rental_flags

BUILDING_FIELDS = (
    "code",
    "name",
    "kind",
    "floors",
    "road_name",
    "house_number",
    "compound",
    "building_no",
    "address",
)
HOUSE_FIELDS = ("unit", "floor", "room", "use", "area_m2", "is_rental")
HOUSEHOLD_FIELDS = ("household_no", "residence")


# --------------------------------------------------------------------------------------------
# Buildings
# --------------------------------------------------------------------------------------------


def _building_select() -> Select[*tuple[Any, ...]]:
    grid = aliased(Grid, name="grid")
    community = aliased(AdminUnit, name="community")
    house_count = select(func.count()).where(House.building_id == Building.id).scalar_subquery()
    return (
        select(
            Building.id,
            Building.code,
            Building.name,
            Building.kind,
            Building.floors,
            Building.road_name,
            Building.house_number,
            Building.compound,
            Building.building_no,
            Building.address,
            grid.code.label("grid_code"),
            community.code.label("community_code"),
            house_count.label("house_count"),
            geojson(Building.geom).label("geometry"),
        )
        .select_from(Building)
        .outerjoin(grid, grid.id == Building.grid_id)
        .outerjoin(community, community.id == Building.community_id)
    )


def _in_community(community_id: Any, code: str) -> Any:
    return community_id == select(AdminUnit.id).where(AdminUnit.code == code).scalar_subquery()


def _in_grid(grid_id: Any, code: str) -> Any:
    return grid_id.in_(select(Grid.id).where(Grid.code == code))


def list_buildings(
    session: Session,
    *,
    principal: Principal,
    community: str | None = None,
    grid: str | None = None,
    compound: str | None = None,
    kind: str | None = None,
    q: str | None = None,
    limit: int,
    offset: int = 0,
) -> Page:
    """Buildings in the principal's area, filtered, ordered by id.

    ``community`` is a 12-digit community code, ``grid`` a 15-digit grid code, ``compound`` the
    exact 小区 name, ``q`` a substring of the address, name or code.
    """
    require_role(principal, BUILDING_READ_ROLES, what_en="read buildings", what_zh="查看楼栋")
    where = [buildings_in_scope(principal)]
    if community is not None:
        where.append(_in_community(Building.community_id, community))
    if grid is not None:
        where.append(_in_grid(Building.grid_id, grid))
    if compound is not None:
        where.append(Building.compound == compound.strip())
    if kind is not None:
        where.append(Building.kind == kind)
    if q is not None:
        pattern = like_pattern(q)
        where.append(
            or_(
                Building.address.ilike(pattern, escape="\\"),
                Building.name.ilike(pattern, escape="\\"),
                Building.code.ilike(pattern, escape="\\"),
            )
        )
    ids = select(Building.id.label("id")).where(*where)
    return page(
        session,
        ids=ids,
        order_by=[Building.id],
        build=lambda p: _building_select().join(p, p.c.id == Building.id).order_by(Building.id),
        limit=limit,
        offset=offset,
    )


def get_building(session: Session, *, principal: Principal, building_id: int) -> dict[str, Any]:
    """One building in the principal's area, or NotFound."""
    require_role(principal, BUILDING_READ_ROLES, what_en="read buildings", what_zh="查看楼栋")
    return _one_building(session, principal, building_id)


def _one_building(session: Session, principal: Principal, building_id: int) -> dict[str, Any]:
    check_id(building_id, what_en="building", what_zh="楼栋", field="building_id")
    found = rows(
        session,
        _building_select().where(Building.id == building_id, buildings_in_scope(principal)),
    )
    if not found:
        raise not_found("building", "楼栋", building_id, field="building_id")
    return found[0]


def _check_building_code_free(session: Session, code: str, *, except_id: int | None) -> None:
    clash = select(Building.id).where(Building.code == code)
    if except_id is not None:
        clash = clash.where(Building.id != except_id)
    if session.execute(select(exists(clash))).scalar_one():
        raise Conflict(
            f"A building with code {code!r} already exists",
            f"楼栋编码 {code!r} 已存在",
            field="code",
        )


def create_building(
    session: Session,
    *,
    principal: Principal,
    values: Mapping[str, Any],
    geometry: Mapping[str, Any] | None,
    crs: str | None = None,
) -> dict[str, Any]:
    """Create a building from attributes and a GeoJSON Polygon footprint in ``crs``.

    The footprint is filed under the grid covering its point-on-surface; a footprint outside
    every grid is refused (OutsideAllGrids), one outside the principal's area is Forbidden.
    """
    require_role(principal, BUILDING_WRITE_ROLES, what_en="create buildings", what_zh="新建楼栋")
    data = only_keys(values, BUILDING_FIELDS)
    geom = read_geometry(geometry, crs=crs, allowed={"Polygon"})
    _check_building_code_free(session, data["code"], except_id=None)
    building_id = session.execute(
        insert(Building).values(**data, geom=geom).returning(Building.id)
    ).scalar_one()
    file_under_grid(session, table="buildings", ids=[building_id])
    check_filed_in_area(session, principal=principal, table="buildings", row_id=building_id)
    return _one_building(session, principal, building_id)


def update_building(
    session: Session,
    *,
    principal: Principal,
    building_id: int,
    values: Mapping[str, Any],
    geometry: Mapping[str, Any] | None = None,
    crs: str | None = None,
) -> dict[str, Any]:
    """Change a building's attributes and/or footprint; a new footprint is re-filed by grid.

    The building must be in the principal's area (else NotFound), and stay there.
    """
    require_role(principal, BUILDING_WRITE_ROLES, what_en="edit buildings", what_zh="修改楼栋")
    _one_building(session, principal, building_id)
    data = only_keys(values, BUILDING_FIELDS)
    if "code" in data:
        _check_building_code_free(session, data["code"], except_id=building_id)
    if geometry is not None:
        data["geom"] = read_geometry(geometry, crs=crs, allowed={"Polygon"})
    if data:
        session.execute(update(Building).where(Building.id == building_id).values(**data))
    if geometry is not None:
        file_under_grid(session, table="buildings", ids=[building_id])
        check_filed_in_area(session, principal=principal, table="buildings", row_id=building_id)
    return _one_building(session, principal, building_id)


# --------------------------------------------------------------------------------------------
# Houses
# --------------------------------------------------------------------------------------------


def _house_select() -> Select[*tuple[Any, ...]]:
    grid = aliased(Grid, name="grid")
    community = aliased(AdminUnit, name="community")
    households = select(func.count()).where(Household.house_id == House.id).scalar_subquery()
    current = (
        select(func.count())
        .where(Tenancy.house_id == House.id, current_tenancy())
        .scalar_subquery()
    )
    return (
        select(
            House.id,
            House.building_id,
            Building.code.label("building_code"),
            Building.address,
            House.unit,
            House.floor,
            House.room,
            House.use,
            House.area_m2,
            House.is_rental,
            households.label("household_count"),
            current.label("current_tenancy_count"),
            grid.code.label("grid_code"),
            community.code.label("community_code"),
        )
        .select_from(House)
        .join(Building, Building.id == House.building_id)
        .outerjoin(grid, grid.id == Building.grid_id)
        .outerjoin(community, community.id == Building.community_id)
    )


def list_houses(
    session: Session,
    *,
    principal: Principal,
    building_id: int | None = None,
    is_rental: bool | None = None,
    limit: int,
    offset: int = 0,
) -> Page:
    """Houses in the principal's area, optionally of one building or by rental flag."""
    require_role(principal, BUILDING_READ_ROLES, what_en="read houses", what_zh="查看房屋")
    if building_id is not None:
        _one_building(session, principal, building_id)
    where = [houses_in_scope(principal)]
    if building_id is not None:
        where.append(House.building_id == building_id)
    if is_rental is not None:
        where.append(House.is_rental.is_(is_rental))
    order = [House.building_id, House.unit, House.floor, House.room, House.id]
    ids = select(House.id.label("id")).where(*where)
    return page(
        session,
        ids=ids,
        order_by=order,
        build=lambda p: _house_select().join(p, p.c.id == House.id).order_by(*order),
        limit=limit,
        offset=offset,
    )


def get_house(session: Session, *, principal: Principal, house_id: int) -> dict[str, Any]:
    """One house in the principal's area, or NotFound."""
    require_role(principal, BUILDING_READ_ROLES, what_en="read houses", what_zh="查看房屋")
    return _one_house(session, principal, house_id)


def _one_house(
    session: Session, principal: Principal, house_id: int, *, field: str = "house_id"
) -> dict[str, Any]:
    check_id(house_id, what_en="house", what_zh="房屋", field=field)
    found = rows(session, _house_select().where(House.id == house_id, houses_in_scope(principal)))
    if not found:
        raise not_found("house", "房屋", house_id, field=field)
    return found[0]


def _check_room_free(
    session: Session, building_id: int, unit: str, room: str, *, except_id: int | None
) -> None:
    clash = select(House.id).where(
        House.building_id == building_id, House.unit == unit, House.room == room
    )
    if except_id is not None:
        clash = clash.where(House.id != except_id)
    if session.execute(select(exists(clash))).scalar_one():
        label = f"{unit}单元{room}室" if unit else f"{room}室"
        raise Conflict(
            f"The building already has room {room!r} in unit {unit!r}",
            f"该楼栋已登记 {label}",
            field="room",
        )


def create_house(
    session: Session, *, principal: Principal, building_id: int, values: Mapping[str, Any]
) -> dict[str, Any]:
    """Create a house (unit/floor/room) in a building of the principal's area."""
    require_role(principal, HOUSE_WRITE_ROLES, what_en="create houses", what_zh="新增房屋")
    _one_building(session, principal, building_id)
    data = only_keys(values, HOUSE_FIELDS)
    data.setdefault("unit", "")
    _check_room_free(session, building_id, data["unit"], data["room"], except_id=None)
    house_id = session.execute(
        insert(House).values(building_id=building_id, **data).returning(House.id)
    ).scalar_one()
    return _one_house(session, principal, house_id)


def update_house(
    session: Session, *, principal: Principal, house_id: int, values: Mapping[str, Any]
) -> dict[str, Any]:
    """Change a house's unit, floor, room, use, area or rental flag.

    The rental flag cannot be cleared while the house has a current tenancy (Conflict): the
    flag follows the tenancies (see :mod:`.tenancies`).
    """
    require_role(principal, HOUSE_WRITE_ROLES, what_en="edit houses", what_zh="修改房屋")
    house = _one_house(session, principal, house_id)
    data = only_keys(values, HOUSE_FIELDS)
    if "unit" in data or "room" in data:
        _check_room_free(
            session,
            house["building_id"],
            data.get("unit", house["unit"]),
            data.get("room", house["room"]),
            except_id=house_id,
        )
    if data.get("is_rental") is False and house["current_tenancy_count"] > 0:
        raise Conflict(
            "The house has a current tenancy: end it before clearing the rental flag",
            "该房屋仍有在租记录，请先结束租赁再取消出租标记",
            field="is_rental",
        )
    if data:
        session.execute(update(House).where(House.id == house_id).values(**data))
    return _one_house(session, principal, house_id)


# --------------------------------------------------------------------------------------------
# Households
# --------------------------------------------------------------------------------------------


def _household_select() -> Select[*tuple[Any, ...]]:
    grid = aliased(Grid, name="grid")
    community = aliased(AdminUnit, name="community")
    members = (
        select(func.count())
        .where(Person.household_id == Household.id, PERSON_IS_ACTIVE)
        .scalar_subquery()
    )
    return (
        select(
            Household.id,
            Household.household_no,
            Household.residence,
            Household.house_id,
            House.unit,
            House.floor,
            House.room,
            House.building_id,
            Building.address,
            members.label("member_count"),
            grid.code.label("grid_code"),
            community.code.label("community_code"),
        )
        .select_from(Household)
        .join(House, House.id == Household.house_id)
        .join(Building, Building.id == House.building_id)
        .outerjoin(grid, grid.id == Building.grid_id)
        .outerjoin(community, community.id == Building.community_id)
    )


def list_households(
    session: Session,
    *,
    principal: Principal,
    house_id: int | None = None,
    building_id: int | None = None,
    household_no: str | None = None,
    limit: int,
    offset: int = 0,
) -> Page:
    """Households in the principal's area (by house, building or household number)."""
    require_role(principal, BUILDING_READ_ROLES, what_en="read households", what_zh="查看住户")
    where = [households_in_scope(principal)]
    if house_id is not None:
        where.append(Household.house_id == house_id)
    if building_id is not None:
        where.append(
            Household.house_id.in_(select(House.id).where(House.building_id == building_id))
        )
    if household_no is not None:
        where.append(Household.household_no == household_no.strip())
    ids = select(Household.id.label("id")).where(*where)
    return page(
        session,
        ids=ids,
        order_by=[Household.id],
        build=lambda p: _household_select().join(p, p.c.id == Household.id).order_by(Household.id),
        limit=limit,
        offset=offset,
    )


def get_household(session: Session, *, principal: Principal, household_id: int) -> dict[str, Any]:
    """One household in the principal's area, or NotFound."""
    require_role(principal, BUILDING_READ_ROLES, what_en="read households", what_zh="查看住户")
    return _one_household(session, principal, household_id)


def _one_household(
    session: Session, principal: Principal, household_id: int, *, field: str = "household_id"
) -> dict[str, Any]:
    check_id(household_id, what_en="household", what_zh="住户", field=field)
    found = rows(
        session,
        _household_select().where(Household.id == household_id, households_in_scope(principal)),
    )
    if not found:
        raise not_found("household", "住户", household_id, field=field)
    return found[0]


def _check_household_no_free(session: Session, number: str, *, except_id: int | None) -> None:
    clash = select(Household.id).where(Household.household_no == number)
    if except_id is not None:
        clash = clash.where(Household.id != except_id)
    if session.execute(select(exists(clash))).scalar_one():
        raise Conflict(
            f"Household number {number!r} is already registered",
            f"户号 {number!r} 已被登记",
            field="household_no",
        )


def create_household(
    session: Session, *, principal: Principal, house_id: int, values: Mapping[str, Any]
) -> dict[str, Any]:
    """Register a household at a house of the principal's area."""
    require_role(principal, HOUSE_WRITE_ROLES, what_en="register households", what_zh="登记住户")
    _one_house(session, principal, house_id)
    data = only_keys(values, HOUSEHOLD_FIELDS)
    _check_household_no_free(session, data["household_no"], except_id=None)
    household_id = session.execute(
        insert(Household).values(house_id=house_id, **data).returning(Household.id)
    ).scalar_one()
    return _one_household(session, principal, household_id)


def update_household(
    session: Session, *, principal: Principal, household_id: int, values: Mapping[str, Any]
) -> dict[str, Any]:
    """Change a household's number or residence type."""
    require_role(principal, HOUSE_WRITE_ROLES, what_en="edit households", what_zh="修改住户")
    _one_household(session, principal, household_id)
    data = only_keys(values, HOUSEHOLD_FIELDS)
    if "household_no" in data:
        _check_household_no_free(session, data["household_no"], except_id=household_id)
    if data:
        session.execute(update(Household).where(Household.id == household_id).values(**data))
    return _one_household(session, principal, household_id)


def move_household(
    session: Session,
    *,
    principal: Principal,
    household_id: int,
    house_id: int,
    moved_on: date | None = None,
    client_ip: str | None = None,
) -> dict[str, Any]:
    """Move a household (and so its members) to another house; its grid follows the house.

    Current tenancies of the household in its old house end on ``moved_on`` (default: today)
    and the old house's rental flag is refreshed. Both houses must be in the principal's area.
    The move is audited (it changes where persons live).
    """
    require_role(principal, HOUSE_WRITE_ROLES, what_en="move households", what_zh="迁移住户")
    before = _one_household(session, principal, household_id)
    _one_house(session, principal, house_id)
    old_house = before["house_id"]
    if old_house == house_id:
        raise InvalidInput(
            "The household already lives in that house", "该住户已在此房屋", field="house_id"
        )
    end_on = (
        moved_on if moved_on is not None else session.execute(select(local_today())).scalar_one()
    )
    open_here = and_(
        Tenancy.tenant_household_id == household_id,
        Tenancy.house_id == old_house,
        or_(Tenancy.ended_on.is_(None), Tenancy.ended_on > end_on),
    )
    started_later = session.execute(
        select(exists().where(open_here, Tenancy.started_on > end_on))
    ).scalar_one()
    if started_later:
        raise InvalidInput(
            "The household's tenancy of its current house starts after the move date",
            "该住户在原房屋的租赁开始日期晚于迁移日期",
            field="moved_on",
        )
    session.execute(update(Tenancy).where(open_here).values(ended_on=end_on))
    session.execute(update(Household).where(Household.id == household_id).values(house_id=house_id))
    refresh_rental_flags(session, house_ids=[old_house])
    member_ids = session.scalars(select(Person.id).where(Person.household_id == household_id))
    after = _one_household(session, principal, household_id)
    audit(
        session,
        principal,
        action="move",
        resource="households",
        ids=[household_id],
        fields=["house_id"],
        client_ip=client_ip,
        detail={
            "from_house_id": old_house,
            "to_house_id": house_id,
            "from_grid": before["grid_code"],
            "to_grid": after["grid_code"],
            "person_ids": sorted(member_ids),
            "moved_on": end_on.isoformat(),
        },
    )
    return after
