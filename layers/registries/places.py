"""Places (场所): CRUD with kind, responsible department, checklist kind and point or polygon.

Reads: every role, within its area (:func:`layers.scope.area_filter` for ``places``: a
department handler sees only the places of their department). Writes: admin, street_admin,
community_admin, within their area; a place must lie inside a current grid of that area.

The contact person (name, phone) is personal data: masked by role exactly as in the feature
layers (:class:`layers.features.PersonalDataView`), and every read returning a contact, and
every change of a place, is audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, case, delete, exists, insert, or_, select, update
from sqlalchemy.orm import Session, aliased

from layers.access import Principal
from layers.errors import Conflict, InvalidInput
from layers.features import PersonalDataView, sql_mask_name, sql_mask_phone
from layers.models import AdminUnit, Department, Grid, Patrol, Place
from layers.models.places import PLACE_KINDS
from layers.models.registries import (
    CHECKLIST_KINDS,
    DEFAULT_CHECKLIST_BY_PLACE_KIND,
    PLACE_CHECKLIST_KIND,
)
from layers.registries.common import (
    PLACE_READ_ROLES,
    PLACE_WRITE_ROLES,
    Page,
    audit,
    check_id,
    geojson,
    like_pattern,
    not_found,
    only_keys,
    page,
    require_role,
    rows,
)
from layers.registries.placement import check_filed_in_area, file_under_grid, read_geometry
from layers.registries.validation import validate_phone
from layers.scope import area_filter

PLACE_FIELDS = (
    "name",
    "kind",
    "address",
    "department_id",
    "checklist_kind",
    "contact_name",
    "contact_phone",
)
PERSONAL_FIELDS = ("contact_name", "contact_phone")
PLACE_GEOMETRIES = frozenset({"Point", "Polygon", "MultiPolygon"})


def _place_select(view: PersonalDataView) -> Select[*tuple[Any, ...]]:
    grid = aliased(Grid, name="grid")
    community = aliased(AdminUnit, name="community")
    name = Place.contact_name if view.names_full else sql_mask_name(Place.contact_name)
    phone = Place.contact_phone if view.phones_full else sql_mask_phone(Place.contact_phone)
    return (
        select(
            Place.id,
            Place.name,
            Place.kind,
            case(PLACE_KINDS, value=Place.kind).label("kind_zh"),
            Place.address,
            Place.department_id,
            Department.name.label("department_name"),
            PLACE_CHECKLIST_KIND.label("checklist_kind"),
            case(CHECKLIST_KINDS, value=PLACE_CHECKLIST_KIND).label("checklist_kind_zh"),
            name.label("contact_name"),
            phone.label("contact_phone"),
            grid.code.label("grid_code"),
            community.code.label("community_code"),
            geojson(Place.geom).label("geometry"),
        )
        .select_from(Place)
        .outerjoin(Department, Department.id == Place.department_id)
        .outerjoin(grid, grid.id == Place.grid_id)
        .outerjoin(community, community.id == Place.community_id)
    )


def _audit_read(
    session: Session,
    principal: Principal,
    found: list[dict[str, Any]],
    view: PersonalDataView,
    *,
    endpoint: str,
    client_ip: str | None,
) -> None:
    ids = [
        r["id"] for r in found if r["contact_name"] is not None or r["contact_phone"] is not None
    ]
    if not ids:
        return
    masked = [
        f
        for f, full in zip(PERSONAL_FIELDS, (view.names_full, view.phones_full), strict=True)
        if not full
    ]
    audit(
        session,
        principal,
        action="read",
        resource="places",
        ids=ids,
        fields=PERSONAL_FIELDS,
        unmasked=view.unmasked,
        client_ip=client_ip,
        detail={"endpoint": endpoint, "masked_fields": masked},
    )


def list_places(
    session: Session,
    *,
    principal: Principal,
    community: str | None = None,
    grid: str | None = None,
    kind: str | None = None,
    department_id: int | None = None,
    checklist_kind: str | None = None,
    q: str | None = None,
    limit: int,
    offset: int = 0,
    client_ip: str | None = None,
) -> Page:
    """Places the principal may see, filtered, by id; contacts masked by role and audited."""
    require_role(principal, PLACE_READ_ROLES, what_en="read places", what_zh="查看场所")
    where = [area_filter("places", principal)]
    if community is not None:
        where.append(
            Place.community_id
            == select(AdminUnit.id).where(AdminUnit.code == community).scalar_subquery()
        )
    if grid is not None:
        where.append(Place.grid_id.in_(select(Grid.id).where(Grid.code == grid)))
    if kind is not None:
        where.append(Place.kind == kind)
    if department_id is not None:
        where.append(Place.department_id == department_id)
    if checklist_kind is not None:
        where.append(PLACE_CHECKLIST_KIND.in_([checklist_kind]))
    if q is not None:
        pattern = like_pattern(q)
        where.append(
            or_(Place.name.ilike(pattern, escape="\\"), Place.address.ilike(pattern, escape="\\"))
        )
    view = PersonalDataView.for_principal(principal)
    result = page(
        session,
        ids=select(Place.id.label("id")).where(*where),
        order_by=[Place.id],
        build=lambda p: _place_select(view).join(p, p.c.id == Place.id).order_by(Place.id),
        limit=limit,
        offset=offset,
    )
    _audit_read(session, principal, result.items, view, endpoint="list", client_ip=client_ip)
    return result


def _one(
    session: Session, principal: Principal, place_id: int, view: PersonalDataView
) -> dict[str, Any]:
    check_id(place_id, what_en="place", what_zh="场所", field="place_id")
    found = rows(
        session, _place_select(view).where(Place.id == place_id, area_filter("places", principal))
    )
    if not found:
        raise not_found("place", "场所", place_id, field="place_id")
    return found[0]


def get_place(
    session: Session, *, principal: Principal, place_id: int, client_ip: str | None = None
) -> dict[str, Any]:
    """One place the principal may see (contact masked by role, audited), or NotFound."""
    require_role(principal, PLACE_READ_ROLES, what_en="read places", what_zh="查看场所")
    view = PersonalDataView.for_principal(principal)
    row = _one(session, principal, place_id, view)
    _audit_read(session, principal, [row], view, endpoint="get", client_ip=client_ip)
    return row


def _clean(session: Session, values: Mapping[str, Any]) -> dict[str, Any]:
    data = only_keys(values, PLACE_FIELDS)
    if data.get("kind") is not None and data["kind"] not in PLACE_KINDS:
        raise InvalidInput(
            f"kind must be one of {', '.join(PLACE_KINDS)}",
            f"场所类型应为：{'、'.join(f'{k}（{v}）' for k, v in PLACE_KINDS.items())}",
            field="kind",
        )
    if data.get("checklist_kind") is not None and data["checklist_kind"] not in CHECKLIST_KINDS:
        raise InvalidInput(
            f"checklist_kind must be one of {', '.join(CHECKLIST_KINDS)}",
            f"检查清单类型应为：{'、'.join(f'{k}（{v}）' for k, v in CHECKLIST_KINDS.items())}",
            field="checklist_kind",
        )
    if data.get("contact_phone") is not None:
        data["contact_phone"] = validate_phone(data["contact_phone"], field="contact_phone")
    if data.get("contact_name") is not None:
        data["contact_name"] = data["contact_name"].strip() or None
    department = data.get("department_id")
    if department is not None:
        check_id(department, what_en="department", what_zh="部门", field="department_id")
        known = session.execute(select(exists().where(Department.id == department))).scalar_one()
        if not known:
            raise InvalidInput(
                f"There is no department {department}",
                f"不存在部门 {department}",
                field="department_id",
            )
    return data


def _write_audit(
    session: Session,
    principal: Principal,
    place_id: int,
    *,
    action: str,
    fields: list[str],
    client_ip: str | None,
) -> None:
    audit(
        session,
        principal,
        action=action,
        resource="places",
        ids=[place_id],
        fields=fields,
        client_ip=client_ip,
    )


def create_place(
    session: Session,
    *,
    principal: Principal,
    values: Mapping[str, Any],
    geometry: Mapping[str, Any] | None,
    crs: str | None = None,
    client_ip: str | None = None,
) -> dict[str, Any]:
    """Create a place (Point, Polygon or MultiPolygon in ``crs``) inside the principal's area.

    Without a ``checklist_kind`` the default of the place kind is used
    (:data:`layers.models.registries.DEFAULT_CHECKLIST_BY_PLACE_KIND`).
    """
    require_role(principal, PLACE_WRITE_ROLES, what_en="create places", what_zh="新增场所")
    data = _clean(session, values)
    if data.get("checklist_kind") is None:
        data["checklist_kind"] = DEFAULT_CHECKLIST_BY_PLACE_KIND.get(data["kind"], "general")
    geom = read_geometry(geometry, crs=crs, allowed=PLACE_GEOMETRIES)
    place_id = session.execute(
        insert(Place).values(**data, geom=geom).returning(Place.id)
    ).scalar_one()
    file_under_grid(session, table="places", ids=[place_id])
    check_filed_in_area(session, principal=principal, table="places", row_id=place_id)
    _write_audit(
        session,
        principal,
        place_id,
        action="create",
        fields=sorted(k for k, v in values.items() if v is not None),
        client_ip=client_ip,
    )
    return _one(session, principal, place_id, PersonalDataView.for_principal(principal))


def update_place(
    session: Session,
    *,
    principal: Principal,
    place_id: int,
    values: Mapping[str, Any],
    geometry: Mapping[str, Any] | None = None,
    crs: str | None = None,
    client_ip: str | None = None,
) -> dict[str, Any]:
    """Change a place of the principal's area; a new geometry is re-filed by grid (audited)."""
    require_role(principal, PLACE_WRITE_ROLES, what_en="edit places", what_zh="修改场所")
    view = PersonalDataView.for_principal(principal)
    _one(session, principal, place_id, view)
    data = _clean(session, values)
    for required in ("name", "kind"):
        if required in data and data[required] is None:
            raise InvalidInput(
                f"{required} cannot be empty", f"{required} 不能为空", field=required
            )
    changes: dict[str, Any] = dict(data)
    if geometry is not None:
        changes["geom"] = read_geometry(geometry, crs=crs, allowed=PLACE_GEOMETRIES)
    if changes:
        session.execute(update(Place).where(Place.id == place_id).values(changes))
    if geometry is not None:
        file_under_grid(session, table="places", ids=[place_id])
        check_filed_in_area(session, principal=principal, table="places", row_id=place_id)
    _write_audit(
        session,
        principal,
        place_id,
        action="update",
        fields=sorted([*values, *(["geometry"] if geometry is not None else [])]),
        client_ip=client_ip,
    )
    return _one(session, principal, place_id, view)


def delete_place(
    session: Session, *, principal: Principal, place_id: int, client_ip: str | None = None
) -> None:
    """Delete a place of the principal's area that has no patrol records (Conflict otherwise)."""
    require_role(principal, PLACE_WRITE_ROLES, what_en="delete places", what_zh="删除场所")
    _one(session, principal, place_id, PersonalDataView.for_principal(principal))
    patrolled = session.execute(select(exists().where(Patrol.place_id == place_id))).scalar_one()
    if patrolled:
        raise Conflict(
            "The place has patrol records and cannot be deleted",
            "该场所已有巡查记录，不能删除",
            field="place_id",
        )
    session.execute(delete(Place).where(Place.id == place_id))
    _write_audit(
        session,
        principal,
        place_id,
        action="delete",
        fields=list(PERSONAL_FIELDS),
        client_ip=client_ip,
    )
