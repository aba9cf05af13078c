"""Patrols of places by grid workers with the department checklist (傻瓜式清单).

* A place's checklist is ``places.checklist_kind`` (default by place kind, migration 0004); its
  items are ``patrol_checklist_items`` (migration 0007), each naming the incident category and
  risk level a failure raises.
* A patrol record answers every item (true = fine) at a GPS point; any false makes the result
  ``problem``. A failed item becomes an incident in one step (:func:`raise_incident`, or
  ``report_failures`` when recording), linked to the patrol, channel ``patrol``.
* Due: each place in a worker's grids needs ``patrols_per_month`` patrols per local calendar
  month (at least twice, configurable); :func:`due` lists the places still short this month.
* Coverage per grid: the share of its places patrolled enough in the month.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, select, update
from sqlalchemy.orm import Session

from geoalchemy2.shape import from_shape
from shapely.geometry import Point

from layers.access import Principal
from layers.base import STORAGE_SRID
from layers.errors import Conflict, Forbidden, InvalidInput, NotFound
from layers.incidents.deadlines import LOCAL_TZ, period
from layers.incidents.settings import IncidentSettings
from layers.models import Grid, GridStaff, Patrol, PatrolChecklistItem, Place
from layers.models.registries import DEFAULT_CHECKLIST_BY_PLACE_KIND, PLACE_CHECKLIST_KIND
from layers.models.users import Role
from layers.scope import area_filter

PATROL_ROLES = frozenset({Role.grid_worker, Role.community_admin, Role.street_admin, Role.admin})


def checklist(session: Session, kind: str) -> list[dict[str, Any]]:
    """The items of one checklist kind, in order."""
    rows = session.scalars(
        select(PatrolChecklistItem)
        .where(PatrolChecklistItem.checklist_kind == kind)
        .order_by(PatrolChecklistItem.sort_order, PatrolChecklistItem.code)
    ).all()
    if not rows:
        raise NotFound(f"Unknown checklist {kind[:32]!r}", "检查清单不存在", field="kind")
    return [
        {"code": r.code, "text_zh": r.text_zh, "text_en": r.text_en,
         "category_code": r.category_code, "risk_level": r.risk_level}
        for r in rows
    ]  # fmt: skip


def _place(session: Session, principal: Principal, place_id: int) -> Any:
    row = session.execute(
        select(Place.id, Place.name, Place.grid_id, Place.kind.label("place_kind"),
               PLACE_CHECKLIST_KIND.label("kind"),
               func.ST_X(func.ST_PointOnSurface(Place.geom)).label("x"),
               func.ST_Y(func.ST_PointOnSurface(Place.geom)).label("y"))
        .where(Place.id == place_id, area_filter("places", principal))
    ).one_or_none()  # fmt: skip
    if row is None:
        raise NotFound(f"Place {place_id} not found", f"未找到场所 {place_id}", field="place_id")
    return row


def record_patrol(
    session: Session,
    principal: Principal,
    *,
    now: datetime,
    settings: IncidentSettings,
    place_id: int,
    answers: dict[str, bool],
    lon: float | None = None,
    lat: float | None = None,
    report_failures: bool = False,
) -> dict[str, Any]:
    """Record one patrol (storage lon/lat); optionally turn every failed item into an incident."""
    if principal.role not in PATROL_ROLES:
        raise Forbidden("Your role does not patrol places", "您的角色无权登记巡查", field="role")
    place = _place(session, principal, place_id)
    kind = place.kind or DEFAULT_CHECKLIST_BY_PLACE_KIND.get(place.place_kind, "general")
    items = {i["code"]: i for i in checklist(session, kind)}
    if set(answers) != set(items):
        missing = sorted(set(items) - set(answers))
        extra = sorted(set(answers) - set(items))
        raise InvalidInput(
            f"Answer every item of checklist {kind}: missing {missing}, unknown {extra}",
            f"请逐项填写检查清单：缺少 {missing}，多余 {extra}",
            field="answers",
        )
    failed = [code for code in items if not answers[code]]
    patrol_id = session.scalar(
        insert(Patrol)
        .values(
            place_id=place_id, worker_id=principal.user_id, grid_id=place.grid_id,
            patrolled_at=now, answers=answers, checklist_kind=kind,
            result="problem" if failed else "ok",
            geom=from_shape(Point(lon, lat), STORAGE_SRID) if lon is not None and lat is not None
            else None,
        )
        .returning(Patrol.id)
    )  # fmt: skip
    assert patrol_id is not None
    incidents = [
        raise_incident(session, principal, now=now, settings=settings, patrol_id=patrol_id,
                       item_code=code)["id"]
        for code in (failed if report_failures else [])
    ]  # fmt: skip
    return {"id": patrol_id, "result": "problem" if failed else "ok", "failed": failed,
            "checklist_kind": kind, "incident_ids": incidents}  # fmt: skip


def raise_incident(
    session: Session,
    principal: Principal,
    *,
    now: datetime,
    settings: IncidentSettings,
    patrol_id: int,
    item_code: str,
) -> dict[str, Any]:
    """Report a failed checklist item of a patrol as an incident, in one step."""
    from layers.incidents.reporting import report

    patrol = session.get(Patrol, patrol_id)
    if patrol is None:
        raise NotFound(f"Patrol {patrol_id} not found", f"未找到巡查记录 {patrol_id}", field="id")
    place = _place(session, principal, patrol.place_id)
    if patrol.answers.get(item_code) is not False:
        raise InvalidInput(
            "Only a failed item can become an incident", "只有不合格的检查项才能转为事件",
            field="item_code",
        )  # fmt: skip
    item = session.get(PatrolChecklistItem, (patrol.checklist_kind or "general", item_code))
    assert item is not None
    if patrol.incident_id is not None and len([v for v in patrol.answers.values() if not v]) == 1:
        raise Conflict("This failure is already reported", "该问题已上报", field="item_code")
    point = (
        session.execute(select(func.ST_X(Patrol.geom), func.ST_Y(Patrol.geom))
                        .where(Patrol.id == patrol_id)).one()
    )  # fmt: skip
    lon, lat = (point[0], point[1]) if point[0] is not None else (place.x, place.y)
    answer = report(
        session, principal, now=now, settings=settings, category_code=item.category_code,
        title=f"{place.name}：{item.text_zh}（不合格）"[:200], channel="patrol",
        risk_level=item.risk_level, lon=lon, lat=lat,
        description=f"巡查发现：{item.text_zh}", note=f"巡查记录 {patrol_id} 转事件",
    )  # fmt: skip
    if patrol.incident_id is None:
        session.execute(
            update(Patrol).where(Patrol.id == patrol_id).values(incident_id=answer["id"])
        )
    return answer


def _worker_places(session: Session, principal: Principal) -> ColumnElement[bool]:
    cond = area_filter("places", principal)
    if principal.role == Role.grid_worker:
        grids = (
            select(Grid.id)
            .join(GridStaff, GridStaff.grid_code == Grid.code)
            .where(GridStaff.user_id == principal.user_id, Grid.valid_to.is_(None))
        )
        cond = and_(cond, Place.grid_id.in_(grids))
    return cond


def _month_counts(start: datetime, end: datetime) -> Any:
    return (
        select(Patrol.place_id, func.count().label("n"))
        .where(Patrol.patrolled_at >= start, Patrol.patrolled_at < end)
        .group_by(Patrol.place_id)
        .subquery()
    )


def due(
    session: Session, principal: Principal, *, now: datetime, settings: IncidentSettings
) -> list[dict[str, Any]]:
    """Places of the principal (a worker: their grids) patrolled fewer times this month than
    required, fewest first."""
    p = period("monthly", now.astimezone(LOCAL_TZ).date())
    counts = _month_counts(p.start, p.end)
    n = func.coalesce(counts.c.n, 0)
    rows = session.execute(
        select(Place.id, Place.name, Place.kind, Grid.code.label("grid_code"), n.label("done"))
        .outerjoin(counts, counts.c.place_id == Place.id)
        .outerjoin(Grid, Grid.id == Place.grid_id)
        .where(_worker_places(session, principal), n < settings.patrols_per_month)
        .order_by(n, Place.id)
    ).all()
    return [
        {"place_id": r.id, "name": r.name, "kind": r.kind, "grid_code": r.grid_code,
         "done": r.done, "required": settings.patrols_per_month, "month": p.label}
        for r in rows
    ]  # fmt: skip


def coverage(
    session: Session,
    principal: Principal,
    *,
    month: date,
    settings: IncidentSettings,
) -> list[dict[str, Any]]:
    """Per grid: places, places patrolled at all and enough times in the month, and coverage."""
    p = period("monthly", month)
    counts = _month_counts(p.start, p.end)
    n = func.coalesce(counts.c.n, 0)
    rows = session.execute(
        select(
            Grid.code, Grid.name, func.count(Place.id).label("places"),
            func.count(Place.id).filter(n > 0).label("patrolled"),
            func.count(Place.id).filter(n >= settings.patrols_per_month).label("enough"),
        )
        .join(Place, Place.grid_id == Grid.id)
        .outerjoin(counts, counts.c.place_id == Place.id)
        .where(area_filter("places", principal), area_filter("grids", principal))
        .group_by(Grid.code, Grid.name)
        .order_by(Grid.code)
    ).all()  # fmt: skip
    return [
        {"grid_code": r.code, "grid_name": r.name, "places": r.places,
         "patrolled": r.patrolled, "patrolled_enough": r.enough,
         "coverage": round(r.enough / r.places, 4) if r.places else None, "month": p.label}
        for r in rows
    ]  # fmt: skip
