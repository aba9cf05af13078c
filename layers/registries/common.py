"""Shared pieces of the registries: roles, scoping through the house chain, paging, masks.

Scoping: buildings and places are scoped by :func:`layers.scope.area_filter`; houses,
households and persons have no community of their own — they lie where their building lies
(以房管人: person → household → house → building → grid), so their filters are "the building
is in scope", written as ``IN (subquery)`` so they compose with any other where-clause.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Date,
    SQLColumnExpression,
    String,
    case,
    cast,
    func,
    select,
)
from sqlalchemy.orm import Session

from layers.access import Principal
from layers.audit import record
from layers.errors import Forbidden, InvalidInput, NotFound
from layers.models import Building, House, Household, Person
from layers.models.users import ROLE_LABELS_ZH, Role
from layers.scope import area_filter

# --------------------------------------------------------------------------------------------
# Roles (documented in docs/REGISTRIES.md)
# --------------------------------------------------------------------------------------------

ADMIN_ROLES = frozenset({Role.admin, Role.street_admin, Role.community_admin})
# Person-level registers: persons, households' members, care groups, visits, tenancies.
PEOPLE_ROLES = ADMIN_ROLES | {Role.grid_worker}
# Houses and households are managed by whoever manages the people in them.
HOUSE_WRITE_ROLES = PEOPLE_ROLES
# Buildings and houses (no personal data) are read by planners and dispatchers too.
BUILDING_READ_ROLES = PEOPLE_ROLES | {Role.planner, Role.dispatcher}
BUILDING_WRITE_ROLES = ADMIN_ROLES
# Places are read by every role; department handlers see their department's only (scope).
PLACE_READ_ROLES = frozenset(Role)
PLACE_WRITE_ROLES = ADMIN_ROLES
# Care-group categories are configuration of the deploying authority.
CATEGORY_ADMIN_ROLES = frozenset({Role.admin, Role.street_admin})

# Local calendar of the deployment: "today", visit dates and overdue days are counted in it.
LOCAL_TIMEZONE = "Asia/Shanghai"


def local_today() -> ColumnElement[Any]:
    """Today's date in the deployment's time zone, as the database sees it (transaction start)."""
    return cast(func.timezone(LOCAL_TIMEZONE, func.now()), Date)


def local_date(value: SQLColumnExpression[Any]) -> ColumnElement[Any]:
    """The local calendar date of a ``timestamptz`` expression."""
    return cast(func.timezone(LOCAL_TIMEZONE, value), Date)


def geojson(geom: SQLColumnExpression[Any]) -> ColumnElement[Any]:
    """RFC 7946 GeoJSON of a storage geometry: lon/lat, 7 decimals (~1 cm), CCW shells, no crs."""
    return cast(func.ST_AsGeoJSON(func.ST_ForcePolygonCCW(geom), 7, 0), JSON)


def require_role(
    principal: Principal, roles: Iterable[Role], *, what_en: str, what_zh: str
) -> None:
    """Raise Forbidden unless the principal's role is one of ``roles``."""
    allowed = [r for r in Role if r in set(roles)]
    if principal.role in allowed:
        return
    raise Forbidden(
        f"Your role ({principal.role.value}) may not {what_en}; allowed: "
        + ", ".join(r.value for r in allowed),
        f"您的角色（{ROLE_LABELS_ZH[principal.role]}）无权{what_zh}；允许的角色："
        + "、".join(ROLE_LABELS_ZH[r] for r in allowed),
    )


# --------------------------------------------------------------------------------------------
# Scope through the house chain
# --------------------------------------------------------------------------------------------


def buildings_in_scope(principal: Principal) -> ColumnElement[bool]:
    """Buildings the principal may see (layers.scope rule for buildings)."""
    return area_filter("buildings", principal)


def houses_in_scope(principal: Principal) -> ColumnElement[bool]:
    """Houses whose building is in scope."""
    return House.building_id.in_(select(Building.id).where(buildings_in_scope(principal)))


def households_in_scope(principal: Principal) -> ColumnElement[bool]:
    """Households whose house is in scope."""
    return Household.house_id.in_(select(House.id).where(houses_in_scope(principal)))


def persons_in_scope(principal: Principal) -> ColumnElement[bool]:
    """Persons whose household is in scope."""
    return Person.household_id.in_(select(Household.id).where(households_in_scope(principal)))


# --------------------------------------------------------------------------------------------
# Paging, errors, text search
# --------------------------------------------------------------------------------------------

MAX_ID = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing: rows as mappings, the total matching count and the window."""

    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


def not_found(what_en: str, what_zh: str, ident: object, *, field: str) -> NotFound:
    """The NotFound for a missing or out-of-scope row (the two are answered alike)."""
    return NotFound(
        f"There is no {what_en} {ident} within your area",
        f"在您的辖区内未找到{what_zh} {ident}",
        field=field,
    )


def check_id(value: int, *, what_en: str, what_zh: str, field: str) -> int:
    """An id that can exist (positive 32-bit); anything else is simply not found."""
    if not 0 < value <= MAX_ID:
        raise not_found(what_en, what_zh, value, field=field)
    return value


def like_pattern(text: str, *, field: str = "q", max_length: int = 100) -> str:
    """A ``%text%`` ILIKE pattern with the user's ``%``, ``_`` and ``\\`` taken literally."""
    cleaned = text.strip()
    if not cleaned:
        raise InvalidInput("The search text is empty", "搜索内容为空", field=field)
    if len(cleaned) > max_length:
        raise InvalidInput(
            f"The search text is longer than {max_length} characters",
            f"搜索内容不能超过{max_length}个字",
            field=field,
        )
    escaped = cleaned.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def rows(session: Session, stmt: Any) -> list[dict[str, Any]]:
    """Execute a select and return its rows as plain dicts."""
    return [dict(r._mapping) for r in session.execute(stmt)]


def page(
    session: Session,
    *,
    ids: Any,
    order_by: Sequence[Any],
    build: Callable[[Any], Any],
    limit: int,
    offset: int,
) -> Page:
    """Count ``ids`` (a select of one id column), page it, and build the rows of the page.

    ``build(page_ids)`` receives the paged id subquery (column ``id``) and returns the select of
    the page's rows, which must be ordered like ``order_by``.
    """
    total = session.execute(select(func.count()).select_from(ids.subquery())).scalar_one()
    page_ids = ids.order_by(*order_by).limit(limit).offset(offset).subquery("page_ids")
    return Page(rows(session, build(page_ids)), total, limit, offset)


# --------------------------------------------------------------------------------------------
# Personal data
# --------------------------------------------------------------------------------------------


def check_reveal(principal: Principal, reveal: bool) -> bool:
    """Whether to show identity numbers in full: only on request, and only for roles allowed.

    Raises Forbidden when ``reveal`` is asked by a role without
    :meth:`Principal.sees_full_personal_data`.
    """
    if reveal and not principal.sees_full_personal_data():
        raise Forbidden(
            "Your role may not reveal full ID numbers and phone numbers (reveal=true)",
            "您的角色无权查看完整的身份证号码和电话号码（reveal=true）",
            field="reveal",
        )
    return reveal


def sql_mask_id_number(value: SQLColumnExpression[Any]) -> ColumnElement[str]:
    """SQL mirror of :func:`layers.access.mask_id_number`: 6 digits, stars, check character."""
    n = func.char_length(value)
    return case(
        (n < 8, func.repeat("*", n)),
        else_=func.left(value, 6, type_=String)
        .concat(func.repeat("*", n - 7, type_=String))
        .concat(func.right(value, 1, type_=String)),
    )


def audit(
    session: Session,
    principal: Principal,
    *,
    action: str,
    resource: str,
    ids: Iterable[int],
    fields: Iterable[str] = (),
    unmasked: bool = False,
    client_ip: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """One audit row in the caller's transaction (thin wrapper naming the registry defaults)."""
    record(
        session,
        action=action,
        resource=resource,
        resource_ids=sorted(set(ids)),
        fields=list(fields),
        unmasked=unmasked,
        principal=principal,
        client_ip=client_ip,
        detail=dict(detail or {}),
    )


def only_keys(values: Mapping[str, Any], allowed: Iterable[str]) -> dict[str, Any]:
    """The given values restricted to ``allowed`` keys; an unknown key is a programming error."""
    allowed_set = set(allowed)
    unknown = set(values) - allowed_set
    if unknown:
        raise InvalidInput(
            f"Unknown field {sorted(unknown)[0]!r}",
            f"未知字段 {sorted(unknown)[0]!r}",
            field=sorted(unknown)[0],
        )
    return dict(values)
