"""Care groups (关爱对象): configurable categories, and persons filed under them with a
responsible team member (包保) and a visit interval.

Categories are configuration owned by the deploying authority. The product ships only the
service-oriented defaults of migration 0002 (elderly living alone, persons with disabilities,
low-income households, children without de-facto caregivers, left-behind children). Only
``admin`` and ``street_admin`` may create, rename, reorder, deactivate or reactivate a category,
and every such change writes an audit row (``resource = care_group_categories``, the code in
``detail``). Categories are never deleted: filings keep pointing at them.

Filing a person under a category is personal data of the sensitive kind (health, disability,
family situation): reads and changes of filings are audited like person reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import Integer, Select, case, delete, exists, func, insert, select, update
from sqlalchemy.orm import Session

from layers.access import Principal
from layers.errors import Conflict, InvalidInput, NotFound
from layers.models import (
    AdminUnit,
    Building,
    CareGroupCategory,
    House,
    Household,
    Person,
    PersonCareGroup,
    User,
)
from layers.models.admin import ADMIN_PREFIX_LENGTH
from layers.registries.common import (
    CATEGORY_ADMIN_ROLES,
    PEOPLE_ROLES,
    audit,
    check_id,
    local_today,
    not_found,
    only_keys,
    persons_in_scope,
    require_role,
    rows,
)

CATEGORY_FIELDS = ("name_zh", "name_en", "sort_order", "is_active")
FILING_FIELDS = ("responsible_user_id", "visit_interval_days", "since", "note")


# --------------------------------------------------------------------------------------------
# Categories
# --------------------------------------------------------------------------------------------


def _category_select(principal: Principal) -> Select[*tuple[Any, ...]]:
    in_area = select(Person.id).where(persons_in_scope(principal))
    filed = (
        select(func.count())
        .where(
            PersonCareGroup.category_code == CareGroupCategory.code,
            PersonCareGroup.person_id.in_(in_area),
        )
        .scalar_subquery()
    )
    return select(
        CareGroupCategory.code,
        CareGroupCategory.name_zh,
        CareGroupCategory.name_en,
        CareGroupCategory.sort_order,
        CareGroupCategory.is_active,
        filed.label("filing_count"),
    ).order_by(CareGroupCategory.sort_order, CareGroupCategory.code)


def list_categories(
    session: Session, *, principal: Principal, include_inactive: bool = False
) -> list[dict[str, Any]]:
    """Care-group categories in display order (every role may read the configuration).

    ``filing_count`` is the number of filings under each category in the principal's area; it
    is only given to the roles that configure categories (others get ``None``).
    """
    stmt = _category_select(principal)
    if not include_inactive:
        stmt = stmt.where(CareGroupCategory.is_active)
    found = rows(session, stmt)
    if principal.role not in CATEGORY_ADMIN_ROLES:
        for row in found:
            row["filing_count"] = None
    return found


def _one_category(session: Session, principal: Principal, code: str) -> dict[str, Any]:
    found = rows(session, _category_select(principal).where(CareGroupCategory.code == code))
    if not found:
        raise NotFound(
            f"There is no care-group category {code!r}",
            f"不存在关爱对象类别 {code!r}",
            field="code",
        )
    return found[0]


def _check_name_free(session: Session, name_zh: str, *, except_code: str | None) -> None:
    clash = select(CareGroupCategory.code).where(CareGroupCategory.name_zh == name_zh)
    if except_code is not None:
        clash = clash.where(CareGroupCategory.code != except_code)
    if session.execute(select(exists(clash))).scalar_one():
        raise Conflict(
            "Another category already has this Chinese name",
            f"已有名为 {name_zh!r} 的类别",
            field="name_zh",
        )


def create_category(
    session: Session,
    *,
    principal: Principal,
    code: str,
    values: Mapping[str, Any],
    client_ip: str | None = None,
) -> dict[str, Any]:
    """Add a care-group category (admin and street_admin only; audited)."""
    require_role(
        principal, CATEGORY_ADMIN_ROLES, what_en="configure care groups", what_zh="配置关爱对象类别"
    )
    data = only_keys(values, CATEGORY_FIELDS)
    exists_already = session.execute(
        select(exists().where(CareGroupCategory.code == code))
    ).scalar_one()
    if exists_already:
        raise Conflict(
            f"The category code {code!r} is taken (categories are deactivated, never deleted)",
            f"类别代码 {code!r} 已被使用（类别只能停用，不能删除）",
            field="code",
        )
    _check_name_free(session, data["name_zh"], except_code=None)
    session.execute(insert(CareGroupCategory).values(code=code, **data))
    audit(
        session,
        principal,
        action="create",
        resource="care_group_categories",
        ids=[],
        client_ip=client_ip,
        detail={"code": code, "changes": _jsonable(data)},
    )
    return _one_category(session, principal, code)


def update_category(
    session: Session,
    *,
    principal: Principal,
    code: str,
    values: Mapping[str, Any],
    client_ip: str | None = None,
) -> dict[str, Any]:
    """Rename, reorder, deactivate or reactivate a category (admin and street_admin; audited)."""
    require_role(
        principal, CATEGORY_ADMIN_ROLES, what_en="configure care groups", what_zh="配置关爱对象类别"
    )
    before = _one_category(session, principal, code)
    data = only_keys(values, CATEGORY_FIELDS)
    if "name_zh" in data:
        _check_name_free(session, data["name_zh"], except_code=code)
    if not data:
        return before
    session.execute(update(CareGroupCategory).where(CareGroupCategory.code == code).values(**data))
    audit(
        session,
        principal,
        action="update",
        resource="care_group_categories",
        ids=[],
        client_ip=client_ip,
        detail={
            "code": code,
            "changes": _jsonable(data),
            "before": {k: before[k] for k in data},
        },
    )
    return _one_category(session, principal, code)


def _jsonable(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in data.items()}


# --------------------------------------------------------------------------------------------
# Filings: a person under a category, with 包保 and visit interval
# --------------------------------------------------------------------------------------------


def _filing_select() -> Select[*tuple[Any, ...]]:
    return (
        select(
            PersonCareGroup.person_id,
            PersonCareGroup.category_code,
            CareGroupCategory.name_zh.label("category_name_zh"),
            CareGroupCategory.name_en.label("category_name_en"),
            CareGroupCategory.is_active.label("category_active"),
            PersonCareGroup.since,
            PersonCareGroup.responsible_user_id,
            User.full_name.label("responsible_name"),
            PersonCareGroup.visit_interval_days,
            PersonCareGroup.note,
        )
        .select_from(PersonCareGroup)
        .join(CareGroupCategory, CareGroupCategory.code == PersonCareGroup.category_code)
        .outerjoin(User, User.id == PersonCareGroup.responsible_user_id)
        .order_by(CareGroupCategory.sort_order, PersonCareGroup.category_code)
    )


def _check_person(session: Session, principal: Principal, person_id: int) -> None:
    check_id(person_id, what_en="person", what_zh="人员", field="person_id")
    visible = session.execute(
        select(exists().where(Person.id == person_id, persons_in_scope(principal)))
    ).scalar_one()
    if not visible:
        raise not_found("person", "人员", person_id, field="person_id")


def _filing_audit(
    session: Session,
    principal: Principal,
    person_id: int,
    *,
    action: str,
    fields: list[str],
    client_ip: str | None,
    detail: Mapping[str, Any],
) -> None:
    audit(
        session,
        principal,
        action=action,
        resource="person_care_groups",
        ids=[person_id],
        fields=fields,
        client_ip=client_ip,
        detail=detail,
    )


def list_filings(
    session: Session, *, principal: Principal, person_id: int, client_ip: str | None = None
) -> list[dict[str, Any]]:
    """The care groups a person of the principal's area is filed under (audited)."""
    require_role(principal, PEOPLE_ROLES, what_en="read care groups", what_zh="查看关爱对象")
    _check_person(session, principal, person_id)
    found = rows(session, _filing_select().where(PersonCareGroup.person_id == person_id))
    _filing_audit(
        session,
        principal,
        person_id,
        action="read",
        fields=["category_code", "responsible_user_id", "note"],
        client_ip=client_ip,
        detail={"categories": [f["category_code"] for f in found]},
    )
    return found


def _one_filing(session: Session, person_id: int, code: str) -> dict[str, Any]:
    found = rows(
        session,
        _filing_select().where(
            PersonCareGroup.person_id == person_id, PersonCareGroup.category_code == code
        ),
    )
    if not found:
        raise NotFound(
            f"Person {person_id} is not filed under care group {code!r}",
            f"人员 {person_id} 未列入关爱对象类别 {code!r}",
            field="category_code",
        )
    return found[0]


def _check_responsible(
    session: Session, principal: Principal, person_id: int, user_id: int | None
) -> None:
    """The responsible user (包保) must be an active register user whose area covers the person."""
    if user_id is None:
        return
    check_id(user_id, what_en="user", what_zh="用户", field="responsible_user_id")
    area = AdminUnit.__table__.alias("user_area")
    prefix_length = case(
        *((area.c.level == level.value, length) for level, length in ADMIN_PREFIX_LENGTH.items()),
        else_=12,
    ).cast(Integer)
    community = AdminUnit.__table__.alias("person_community")
    person_community = (
        select(community.c.code)
        .select_from(Person)
        .join(Household, Household.id == Person.household_id)
        .join(House, House.id == Household.house_id)
        .join(Building, Building.id == House.building_id)
        .join(community, community.c.id == Building.community_id)
        .where(Person.id == person_id)
        .scalar_subquery()
    )
    fits = session.execute(
        select(
            select(User.id)
            .join(area, area.c.id == User.area_id)
            .where(
                User.id == user_id,
                User.is_active,
                User.role.in_([r.value for r in PEOPLE_ROLES]),
                func.left(person_community, prefix_length) == func.left(area.c.code, prefix_length),
            )
            .exists()
        )
    ).scalar_one()
    if not fits:
        raise InvalidInput(
            f"User {user_id} cannot be responsible for this person: the responsible team member "
            "must be an active grid worker or admin whose area covers the person's community",
            f"用户 {user_id} 不能担任该人员的包保责任人：责任人须为辖区覆盖该人员所在社区的"
            "在岗网格员或管理员",
            field="responsible_user_id",
        )


def _check_filing_values(data: Mapping[str, Any], today: date) -> None:
    since = data.get("since")
    if since is not None and since > today:
        raise InvalidInput("since lies in the future", "列入日期不能晚于今天", field="since")


def file_person(
    session: Session,
    *,
    principal: Principal,
    person_id: int,
    category_code: str,
    values: Mapping[str, Any],
    client_ip: str | None = None,
) -> dict[str, Any]:
    """File a person of the principal's area under an active category (audited)."""
    require_role(principal, PEOPLE_ROLES, what_en="file care groups", what_zh="登记关爱对象")
    _check_person(session, principal, person_id)
    category = _one_category_for_filing(session, principal, category_code)
    if not category["is_active"]:
        raise InvalidInput(
            f"The care-group category {category_code!r} is deactivated",
            f"关爱对象类别 {category_code!r} 已停用",
            field="category_code",
        )
    data = only_keys(values, FILING_FIELDS)
    today = session.execute(select(local_today())).scalar_one()
    _check_filing_values(data, today)
    if data.get("since") is None:
        data["since"] = today
    _check_responsible(session, principal, person_id, data.get("responsible_user_id"))
    filed = session.execute(
        select(
            exists().where(
                PersonCareGroup.person_id == person_id,
                PersonCareGroup.category_code == category_code,
            )
        )
    ).scalar_one()
    if filed:
        raise Conflict(
            f"The person is already filed under {category_code!r}",
            f"该人员已列入关爱对象类别 {category_code!r}",
            field="category_code",
        )
    session.execute(
        insert(PersonCareGroup).values(
            person_id=person_id,
            category_code=category_code,
            **{k: v for k, v in data.items() if v is not None or k == "note"},
        )
    )
    _filing_audit(
        session,
        principal,
        person_id,
        action="create",
        fields=["category_code", *sorted(data)],
        client_ip=client_ip,
        detail={"category_code": category_code},
    )
    return _one_filing(session, person_id, category_code)


def _one_category_for_filing(session: Session, principal: Principal, code: str) -> dict[str, Any]:
    try:
        return _one_category(session, principal, code)
    except NotFound:
        raise InvalidInput(
            f"There is no care-group category {code!r}",
            f"不存在关爱对象类别 {code!r}",
            field="category_code",
        ) from None


def update_filing(
    session: Session,
    *,
    principal: Principal,
    person_id: int,
    category_code: str,
    values: Mapping[str, Any],
    client_ip: str | None = None,
) -> dict[str, Any]:
    """Change the responsible user, visit interval, start date or note of a filing (audited)."""
    require_role(principal, PEOPLE_ROLES, what_en="edit care groups", what_zh="修改关爱对象")
    _check_person(session, principal, person_id)
    _one_filing(session, person_id, category_code)
    data = only_keys(values, FILING_FIELDS)
    _check_filing_values(data, session.execute(select(local_today())).scalar_one())
    if "since" in data and data["since"] is None:
        raise InvalidInput("since cannot be empty", "列入日期不能为空", field="since")
    if "visit_interval_days" in data and data["visit_interval_days"] is None:
        raise InvalidInput(
            "visit_interval_days cannot be empty", "走访周期不能为空", field="visit_interval_days"
        )
    _check_responsible(session, principal, person_id, data.get("responsible_user_id"))
    if data:
        session.execute(
            update(PersonCareGroup)
            .where(
                PersonCareGroup.person_id == person_id,
                PersonCareGroup.category_code == category_code,
            )
            .values(**data)
        )
    _filing_audit(
        session,
        principal,
        person_id,
        action="update",
        fields=sorted(data),
        client_ip=client_ip,
        detail={"category_code": category_code},
    )
    return _one_filing(session, person_id, category_code)


def remove_filing(
    session: Session,
    *,
    principal: Principal,
    person_id: int,
    category_code: str,
    client_ip: str | None = None,
) -> None:
    """Take a person off a care group (audited). Their visit records are kept."""
    require_role(principal, PEOPLE_ROLES, what_en="edit care groups", what_zh="修改关爱对象")
    _check_person(session, principal, person_id)
    _one_filing(session, person_id, category_code)
    session.execute(
        delete(PersonCareGroup).where(
            PersonCareGroup.person_id == person_id,
            PersonCareGroup.category_code == category_code,
        )
    )
    _filing_audit(
        session,
        principal,
        person_id,
        action="delete",
        fields=["category_code"],
        client_ip=client_ip,
        detail={"category_code": category_code},
    )
