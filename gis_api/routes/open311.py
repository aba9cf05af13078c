"""Open311 GeoReport v2 façade over the incident workflow (JSON format only).

* ``services.json``: the leaf incident categories (service_code = category code).
* ``requests.json`` GET: incidents visible to the caller; POST (form fields, as the spec): a
  report through :func:`layers.incidents.reporting.report`, channel ``hotline_12345``.
* ``requests/{id}.json``: one incident by its code (service_request_id).

Status maps to ``open`` unless the incident is ``closed``; ``status_notes`` carries the
workflow status in Chinese, ``agency_responsible`` the department, ``expected_datetime`` the
deadline. Authentication is the same bearer token as the rest of the API (``api_key`` is
accepted and ignored); errors are problem+json like every other endpoint.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from sqlalchemy import select, update
from sqlalchemy.orm import Session, aliased

from gis_api.deps import PrincipalDep, SessionDep, client_ip
from gis_api.routes.incidents import ClockDep, IncidentSettingsDep
from layers.access import Principal
from layers.errors import NotFound
from layers.incidents.reporting import report
from layers.incidents.workflow import STATUS_LABELS_ZH, visible_incidents
from layers.models import Department, Incident, IncidentCategory

router = APIRouter(prefix="/open311/v2", tags=["open311"])
MAX_REQUESTS = 1000


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _request_rows(session: Session, principal: Principal, *where: Any) -> list[dict[str, Any]]:
    parent = aliased(IncidentCategory)
    rows = session.execute(
        select(
            Incident.code, Incident.status, Incident.category_code, Incident.description,
            Incident.title, Incident.address, Incident.reported_at, Incident.updated_at,
            Incident.closed_at, Incident.deadline_at, IncidentCategory.name_zh,
            Department.name.label("department"),
            Incident.geom.ST_Y().label("lat"), Incident.geom.ST_X().label("lon"),
        )
        .join(IncidentCategory, IncidentCategory.code == Incident.category_code)
        .outerjoin(parent, parent.code == IncidentCategory.parent_code)
        .outerjoin(Department, Department.id == Incident.department_id)
        .where(visible_incidents(principal), *where)
        .order_by(Incident.reported_at.desc(), Incident.id.desc())
        .limit(MAX_REQUESTS)
    ).all()  # fmt: skip
    out = []
    for r in rows:
        item = {
            "service_request_id": r.code,
            "status": "closed" if r.status == "closed" else "open",
            "status_notes": STATUS_LABELS_ZH[r.status],
            "service_name": r.name_zh,
            "service_code": r.category_code,
            "description": r.description or r.title,
            "agency_responsible": r.department,
            "requested_datetime": _iso(r.reported_at),
            "updated_datetime": _iso(r.closed_at or r.updated_at or r.reported_at),
            "expected_datetime": _iso(r.deadline_at),
            "address": r.address,
            "lat": r.lat,
            "long": r.lon,
        }
        out.append({k: v for k, v in item.items() if v is not None})
    return out


@router.get("/services.json", summary="GeoReport v2 service list")
def services(session: SessionDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Leaf incident categories as Open311 services."""
    parent = aliased(IncidentCategory)
    has_children = select(IncidentCategory.parent_code).where(
        IncidentCategory.parent_code.is_not(None)
    )
    rows = session.execute(
        select(IncidentCategory, parent.name_zh.label("group"))
        .outerjoin(parent, parent.code == IncidentCategory.parent_code)
        .where(IncidentCategory.code.not_in(has_children))
        .order_by(IncidentCategory.code)
    ).all()
    return [
        {
            "service_code": r.IncidentCategory.code,
            "service_name": r.IncidentCategory.name_zh,
            "description": r.IncidentCategory.name_en,
            "metadata": False,
            "type": "realtime",
            "keywords": ", ".join(filter(None, [r.IncidentCategory.name_zh, r.group])),
            "group": r.group or r.IncidentCategory.name_zh,
        }
        for r in rows
    ]


@router.get("/requests.json", summary="GeoReport v2 service requests")
def list_requests(
    session: SessionDep,
    principal: PrincipalDep,
    service_request_id: Annotated[str | None, Query(max_length=2000)] = None,
    service_code: Annotated[str | None, Query(max_length=64)] = None,
    start_date: Annotated[datetime | None, Query()] = None,
    end_date: Annotated[datetime | None, Query()] = None,
    status: Annotated[Literal["open", "closed"] | None, Query()] = None,
) -> list[dict[str, Any]]:
    """Requests visible to you, newest first (at most 1000)."""
    where: list[Any] = []
    if service_request_id:
        where.append(Incident.code.in_([s.strip() for s in service_request_id.split(",")]))
    if service_code:
        where.append(Incident.category_code.in_(service_code.split(",")))
    if start_date:
        where.append(Incident.reported_at >= start_date)
    if end_date:
        where.append(Incident.reported_at <= end_date)
    if status == "closed":
        where.append(Incident.status == "closed")
    elif status == "open":
        where.append(Incident.status != "closed")
    return _request_rows(session, principal, *where)


@router.post("/requests.json", summary="GeoReport v2 create a service request")
def create_request(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: IncidentSettingsDep,
    service_code: Annotated[str, Form(max_length=64)],
    lat: Annotated[float | None, Form()] = None,
    long: Annotated[float | None, Form()] = None,
    address_string: Annotated[str | None, Form(max_length=255)] = None,
    description: Annotated[str | None, Form(max_length=4000)] = None,
    first_name: Annotated[str | None, Form(max_length=32)] = None,
    last_name: Annotated[str | None, Form(max_length=32)] = None,
    phone: Annotated[str | None, Form(max_length=20)] = None,
    api_key: Annotated[str | None, Form(max_length=200)] = None,
) -> list[dict[str, Any]]:
    """Create an incident from an Open311 request (12345 hotline channel)."""
    name = "".join(filter(None, [last_name, first_name])) or None
    created = report(
        session, principal, now=clock(), settings=settings, category_code=service_code,
        title=(description or service_code)[:60], description=description,
        channel="hotline_12345", lon=long, lat=lat, crs="EPSG:4326",
        address=None if lat is not None and long is not None else address_string,
        reporter_name=name, reporter_phone=phone, client_ip=client_ip(request),
    )  # fmt: skip
    if lat is not None and long is not None and address_string:
        session.execute(
            update(Incident).where(Incident.id == created["id"]).values(address=address_string)
        )
    notice = f"已受理，预计办理时限至 {created['deadline_at'].isoformat()}"
    return [{"service_request_id": created["code"], "service_notice": notice}]


@router.get("/requests/{service_request_id}.json", summary="GeoReport v2 one request")
def get_request(
    service_request_id: str, session: SessionDep, principal: PrincipalDep
) -> list[dict[str, Any]]:
    """One request by id, as a one-element list (as the spec)."""
    rows = _request_rows(session, principal, Incident.code == service_request_id[:32])
    if not rows:
        raise NotFound(
            f"Service request {service_request_id[:32]!r} not found", "未找到该诉求",
            field="service_request_id",
        )  # fmt: skip
    return rows
