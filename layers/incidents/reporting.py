"""Reporting an incident (上报) and reading it back.

A report gives a location — x/y in any CRS :func:`layers.spatial.crs.parse_crs` knows, or a
building address — and the database files it: the ``BEFORE INSERT`` trigger of migration 0003
sets ``grid_id`` and ``community_id`` by the grid rule (``wangge_covering_grid``), and the street
is the community's parent. On top of that the report gets:

* its **deadline**: reported time + the time limit of (category, risk level) from
  ``incident_time_limits``, else the category's ``time_limit_hours``, else its parent's, else
  ``IncidentSettings.default_limit_hours``;
* its **border flag**: the current grids within ``border_distance_m`` metres of the point (GiST
  prefilter on a box, exact distance on the spheroid); with two or more, ``border_grid_ids``
  lists them, the grid it is filed under first;
* **duplicate suggestions** (:func:`layers.incidents.dispatch.duplicates`) and the **suggested
  department** by the dispatch rules, in the answer.

Small matters handled on the spot (``handled_on_spot``) start in ``handled`` (a dispatcher still
verifies and closes: a grid worker never closes); high-risk items may not be reported so.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, aliased

from geoalchemy2.shape import from_shape
from shapely.geometry import Point

from layers.access import Principal
from layers.audit import record
from layers.base import STORAGE_SRID
from layers.errors import Forbidden, InvalidInput, NotFound, OutsideAllGrids
from layers.features import PersonalDataView, sql_mask_name, sql_mask_phone
from layers.incidents.dispatch import duplicates, suggest_department
from layers.incidents.settings import IncidentSettings
from layers.incidents.workflow import (
    STATUS_LABELS_ZH,
    _photos,
    allowed_actions,
    record_step,
    visible_incidents,
)
from layers.ledger.address import normalise, sql_normalise
from layers.locate import to_storage_point
from layers.models import (
    AdminUnit,
    Building,
    Department,
    Grid,
    Incident,
    IncidentCategory,
    IncidentDepartment,
    IncidentPhoto,
    IncidentStep,
    IncidentTimeLimit,
    User,
)
from layers.models.incidents import CHANNELS, RISK_LEVELS
from layers.models.users import Role
from layers.spatial.crs import parse_crs

#: Roles that may report an incident (采办分离: departments handle, they do not report).
REPORT_ROLES = frozenset(
    {Role.grid_worker, Role.dispatcher, Role.community_admin, Role.street_admin, Role.admin}
)

CHANNEL_LABELS_ZH = {
    "grid_worker": "网格员上报",
    "hotline_12345": "12345热线",
    "walk_in": "来访",
    "patrol": "巡查发现",
}


def time_limit_hours(
    session: Session, category_code: str, risk_level: str, settings: IncidentSettings
) -> int:
    """Hours allowed for (category, risk level): override, category, parent, default."""
    override = session.scalar(
        select(IncidentTimeLimit.limit_hours).where(
            IncidentTimeLimit.category_code == category_code,
            IncidentTimeLimit.risk_level == risk_level,
        )
    )
    if override is not None:
        return override
    code: str | None = category_code
    while code is not None:
        row = session.get(IncidentCategory, code)
        if row is None:
            break
        if row.time_limit_hours is not None:
            return row.time_limit_hours
        code = row.parent_code
    return settings.default_limit_hours


def _check_category(session: Session, code: str) -> IncidentCategory:
    row = session.get(IncidentCategory, code)
    has_children = session.scalar(select(func.count()).where(IncidentCategory.parent_code == code))
    if row is None or has_children:
        leaves = session.scalars(
            select(IncidentCategory.code)
            .where(
                ~IncidentCategory.code.in_(
                    select(IncidentCategory.parent_code).where(
                        IncidentCategory.parent_code.is_not(None)
                    )
                )
            )
            .order_by(IncidentCategory.code)
        ).all()
        raise InvalidInput(
            f"category_code must be a leaf category, one of {', '.join(leaves)}",
            f"事件类别应为末级类别之一：{'、'.join(leaves)}",
            field="category_code",
        )
    return row


def _point_from_address(session: Session, principal: Principal, address: str) -> Point:
    """A point on the footprint of the building whose address matches (in the user's area)."""
    key = normalise(address)
    if not key:
        raise InvalidInput("address is empty", "地址为空", field="address")
    from layers.scope import area_filter

    rows = session.execute(
        select(
            func.ST_X(func.ST_PointOnSurface(Building.geom)).label("x"),
            func.ST_Y(func.ST_PointOnSurface(Building.geom)).label("y"),
        )
        .where(area_filter("buildings", principal))
        .where(
            (sql_normalise(Building.address) == key)
            | func.right(sql_normalise(Building.address), len(key)).op("=")(key)
        )
        .order_by(Building.id)
        .limit(2)
    ).all()
    if len(rows) != 1:
        raise InvalidInput(
            "The address matches no building of your area"
            if not rows
            else "The address matches several buildings; give a point",
            "地址未匹配到辖区内的建筑" if not rows else "地址匹配到多栋建筑，请提供坐标",
            field="address",
        )
    return Point(rows[0].x, rows[0].y)


def border_grids(session: Session, lon: float, lat: float, distance_m: float) -> list[int]:
    """Ids of the current grids within ``distance_m`` metres of a storage lon/lat, nearest first.

    A box of the distance in degrees (generous: 1e-5 degree per metre) narrows the candidates
    on the GiST index; the exact distance is measured on the WGS-84 spheroid.
    """
    if distance_m <= 0:
        return []
    rows = session.execute(
        text(
            """
            WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), :srid) AS g)
            SELECT g.id, ST_Distance(g.geom::geography, pt.g::geography) AS d
            FROM grids AS g, pt
            WHERE g.valid_to IS NULL AND g.kind <> 'micro'
              AND g.geom && ST_Expand(pt.g, :deg)
              AND ST_DWithin(g.geom::geography, pt.g::geography, :dist)
            ORDER BY d, g.code
            """
        ),
        {"lon": lon, "lat": lat, "srid": STORAGE_SRID, "deg": distance_m * 1.2e-5 + 1e-6,
         "dist": distance_m},
    ).all()  # fmt: skip
    return [r.id for r in rows]


def _next_code(session: Session, now: datetime) -> tuple[int, str]:
    new_id = session.scalar(text("SELECT nextval(pg_get_serial_sequence('incidents', 'id'))"))
    assert new_id is not None
    return int(new_id), f"INC-{now:%Y%m%d}-{int(new_id):07d}"


def report(
    session: Session,
    principal: Principal,
    *,
    now: datetime,
    settings: IncidentSettings,
    category_code: str,
    title: str,
    channel: str,
    risk_level: str = "low",
    description: str | None = None,
    lon: float | None = None,
    lat: float | None = None,
    crs: str | None = None,
    address: str | None = None,
    handled_on_spot: bool = False,
    reporter_name: str | None = None,
    reporter_phone: str | None = None,
    photo_ids: list[int] | None = None,
    note: str | None = None,
    client_ip: str | None = None,
) -> dict[str, Any]:
    """Create an incident and its first step; return :func:`get_incident` plus suggestions."""
    if principal.role not in REPORT_ROLES:
        raise Forbidden("Your role may not report incidents", "您的角色无权上报事件", field="role")
    _check_category(session, category_code)
    if channel not in CHANNELS:
        raise InvalidInput(
            f"channel must be one of {', '.join(CHANNELS)}",
            f"渠道应为：{'、'.join(f'{k}（{v}）' for k, v in CHANNEL_LABELS_ZH.items())}",
            field="channel",
        )
    if risk_level not in RISK_LEVELS:
        raise InvalidInput(
            "risk_level must be high, medium or low",
            "风险等级应为 high、medium 或 low",
            field="risk_level",
        )
    if handled_on_spot and risk_level == "high":
        raise InvalidInput(
            "A high-risk item cannot be reported as handled on the spot",
            "高风险事项不能作为“现场已处置”上报",
            field="handled_on_spot",
        )
    if lon is not None and lat is not None:
        sp = to_storage_point(lon, lat, parse_crs(crs, field="crs"))
        point = Point(sp.lon, sp.lat)
    elif address:
        point = _point_from_address(session, principal, address)
    else:
        raise InvalidInput(
            "Give a location: lon and lat, or an address",
            "请提供位置：经纬度或地址",
            field="lon,lat",
        )
    photos = _photos(session, principal, -1, photo_ids or [])
    personal = [f for f, v in (("reporter_name", reporter_name),
                               ("reporter_phone", reporter_phone)) if v]  # fmt: skip
    hours = time_limit_hours(session, category_code, risk_level, settings)
    new_id, code = _next_code(session, now)
    status = "handled" if handled_on_spot else "reported"
    incident = Incident(
        id=new_id,
        code=code,
        category_code=category_code,
        title=title.strip(),
        description=description,
        status=status,
        channel=channel,
        risk_level=risk_level,
        handled_on_spot=handled_on_spot,
        geom=from_shape(point, STORAGE_SRID),
        address=address,
        reported_by=principal.user_id,
        reporter_name=reporter_name,
        reporter_phone=reporter_phone,
        reported_at=now,
        deadline_at=now + timedelta(hours=hours),
        updated_at=now,
    )
    session.add(incident)
    session.flush()
    session.refresh(incident, ["grid_id", "community_id"])
    if incident.grid_id is None:
        raise OutsideAllGrids(field="lon,lat")
    in_area = session.scalar(
        select(AdminUnit.code.startswith(principal.area_prefix)).where(
            AdminUnit.id == incident.community_id
        )
    )
    if not in_area:
        raise Forbidden(
            "The location is outside your area", "该位置不在您的辖区内", field="lon,lat"
        )
    border = border_grids(session, point.x, point.y, settings.border_distance_m)
    if len(border) > 1:
        incident.border_grid_ids = [incident.grid_id, *[g for g in border if g != incident.grid_id]]
    record_step(
        session,
        principal,
        incident,
        action="report",
        from_status=None,
        to_status=status,
        at=now,
        note=note or ("现场已处置" if handled_on_spot else CHANNEL_LABELS_ZH[channel]),
        location=(point.x, point.y),
        photos=photos,
        client_ip=client_ip,
        detail={"personal_fields": personal},
    )
    session.flush()
    answer = get_incident(session, principal, incident.id, client_ip=client_ip, audit=False)
    answer["suggested_department"] = suggest_department(session, incident.id)
    answer["possible_duplicates"] = duplicates(session, principal, incident.id, settings)
    return answer


def _grid_codes(session: Session, ids: list[int]) -> list[str]:
    if not ids:
        return []
    codes = dict(session.execute(select(Grid.id, Grid.code).where(Grid.id.in_(ids))).all())
    return [codes[i] for i in ids if i in codes]


def get_incident(
    session: Session,
    principal: Principal,
    incident_id: int,
    *,
    client_ip: str | None = None,
    audit: bool = True,
) -> dict[str, Any]:
    """One incident with its steps, joint departments, photos and the user's next actions.

    Reporter name and phone are masked per role (:class:`layers.features.PersonalDataView`);
    a read that returns them writes one audit row.
    """
    view = PersonalDataView.for_principal(principal)
    grid = aliased(Grid)
    community = aliased(AdminUnit)
    street = aliased(AdminUnit)
    name = Incident.reporter_name if view.names_full else sql_mask_name(Incident.reporter_name)
    phone = Incident.reporter_phone if view.phones_full else sql_mask_phone(Incident.reporter_phone)
    row = session.execute(
        select(
            Incident,
            name.label("reporter_name_v"),
            phone.label("reporter_phone_v"),
            func.ST_X(Incident.geom).label("lon"),
            func.ST_Y(Incident.geom).label("lat"),
            grid.code.label("grid_code"),
            grid.name.label("grid_name"),
            community.code.label("community_code"),
            community.name.label("community_name"),
            street.code.label("street_code"),
            street.name.label("street_name"),
            Department.name.label("department_name"),
            IncidentCategory.name_zh.label("category_name"),
        )
        .join(IncidentCategory, IncidentCategory.code == Incident.category_code)
        .outerjoin(grid, grid.id == Incident.grid_id)
        .outerjoin(community, community.id == Incident.community_id)
        .outerjoin(street, street.id == community.parent_id)
        .outerjoin(Department, Department.id == Incident.department_id)
        .where(Incident.id == incident_id, visible_incidents(principal))
    ).one_or_none()
    if row is None:
        raise NotFound(
            f"Incident {incident_id} not found", f"未找到事件 {incident_id}", field="incident_id"
        )
    inc: Incident = row.Incident
    actor = aliased(User)
    steps = [
        {
            "id": s.id,
            "action": s.action,
            "from_status": s.from_status,
            "to_status": s.to_status,
            "at": s.at,
            "actor": s.actor,
            "department_id": s.department_id,
            "note": s.note,
            "location": None if s.lon is None else {"lon": s.lon, "lat": s.lat},
            "attachments": s.attachments,
        }
        for s in session.execute(
            select(
                IncidentStep.id,
                IncidentStep.action,
                IncidentStep.from_status,
                IncidentStep.to_status,
                IncidentStep.at,
                actor.username.label("actor"),
                IncidentStep.department_id,
                IncidentStep.note,
                func.ST_X(IncidentStep.geom).label("lon"),
                func.ST_Y(IncidentStep.geom).label("lat"),
                IncidentStep.attachments,
            )
            .outerjoin(actor, actor.id == IncidentStep.actor_id)
            .where(IncidentStep.incident_id == incident_id)
            .order_by(IncidentStep.at, IncidentStep.id)
        )
    ]
    joint = [
        {
            "department_id": j.department_id,
            "department": j.name,
            "summoned_at": j.summoned_at,
            "checked_in_at": j.checked_in_at,
        }
        for j in session.execute(
            select(
                IncidentDepartment.department_id,
                Department.name,
                IncidentDepartment.summoned_at,
                IncidentDepartment.checked_in_at,
            )
            .join(Department, Department.id == IncidentDepartment.department_id)
            .where(IncidentDepartment.incident_id == incident_id)
            .order_by(IncidentDepartment.department_id)
        )
    ]
    photos = [
        {"id": p.id, "media_type": p.media_type, "size_bytes": p.size_bytes, "step_id": p.step_id}
        for p in session.scalars(
            select(IncidentPhoto)
            .where(IncidentPhoto.incident_id == incident_id)
            .order_by(IncidentPhoto.id)
        )
    ]
    personal = [f for f in ("reporter_name", "reporter_phone") if getattr(inc, f)]
    if audit and personal:
        record(
            session,
            action="read",
            resource="incidents",
            resource_ids=[incident_id],
            fields=personal,
            unmasked=view.names_full or view.phones_full,
            principal=principal,
            client_ip=client_ip,
        )
    return {
        "id": inc.id,
        "code": inc.code,
        "category_code": inc.category_code,
        "category_name": row.category_name,
        "title": inc.title,
        "description": inc.description,
        "status": inc.status,
        "status_zh": STATUS_LABELS_ZH[inc.status],
        "channel": inc.channel,
        "risk_level": inc.risk_level,
        "supervision": inc.supervision,
        "escalation_level": inc.escalation_level,
        "handled_on_spot": inc.handled_on_spot,
        "location": {"lon": row.lon, "lat": row.lat, "crs": "EPSG:4326"},
        "address": inc.address,
        "grid": {"id": inc.grid_id, "code": row.grid_code, "name": row.grid_name},
        "community": {"id": inc.community_id, "code": row.community_code,
                      "name": row.community_name},
        "street": {"code": row.street_code, "name": row.street_name},
        "department": {"id": inc.department_id, "name": row.department_name},
        "border_grids": _grid_codes(session, list(inc.border_grid_ids or [])),
        "reporter_name": row.reporter_name_v,
        "reporter_phone": row.reporter_phone_v,
        "reported_at": inc.reported_at,
        "deadline_at": inc.deadline_at,
        "closed_at": inc.closed_at,
        "deferred_until": inc.deferred_until,
        "deferral_approved": inc.deferral_approved,
        "duplicate_of": inc.duplicate_of,
        "joint_departments": joint,
        "photos": photos,
        "steps": steps,
        "allowed_actions": allowed_actions(session, principal, inc),
    }  # fmt: skip


def list_incidents(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    category_code: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Visible incidents, newest first (no personal data: the list never shows reporters)."""
    where = [visible_incidents(principal)]
    if status:
        where.append(Incident.status == status)
    if category_code:
        where.append(
            (Incident.category_code == category_code)
            | Incident.category_code.startswith(category_code + ".")
        )
    total = session.scalar(select(func.count()).select_from(Incident).where(*where)) or 0
    rows = session.execute(
        select(
            Incident.id, Incident.code, Incident.title, Incident.category_code, Incident.status,
            Incident.risk_level, Incident.supervision, Incident.reported_at, Incident.deadline_at,
            Incident.closed_at, Incident.grid_id, Incident.department_id,
        )
        .where(*where)
        .order_by(Incident.reported_at.desc(), Incident.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()  # fmt: skip
    return {
        "items": [dict(r._mapping) for r in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }
