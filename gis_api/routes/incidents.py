"""Incident API: report, read, act on the workflow, photos, warnings, rates and ledgers.

Every route authenticates, calls one function of :mod:`layers.incidents` and returns its
answer; role, area and status rules live in the layer (docs/INCIDENTS.md). Time comes from the
injectable clock (``app.state.clock``), settings from ``app.state.incident_settings``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile, status
from sqlalchemy import select

from gis_api.deps import PrincipalDep, SessionDep, client_ip, require_roles
from gis_api.schemas.incidents import ActionIn, DispatchRuleCreate, IncidentCreate
from layers.errors import InvalidInput
from layers.incidents import deadlines, dispatch, photos, reporting, workflow
from layers.incidents.settings import Clock, IncidentSettings, system_clock
from layers.locate import to_storage_point
from layers.models import AdminUnit, DispatchRule, IncidentCategory
from layers.models.users import Role
from layers.spatial.crs import parse_crs

router = APIRouter(prefix="/incidents", tags=["incidents"])


def get_clock(request: Request) -> Clock:
    """The app's clock (tests inject a fixed one)."""
    clock: Clock = getattr(request.app.state, "clock", system_clock)
    return clock


def get_incident_settings(request: Request) -> IncidentSettings:
    """The incident settings of the app, built once from the environment."""
    settings = getattr(request.app.state, "incident_settings", None)
    if settings is None:
        settings = IncidentSettings()
        request.app.state.incident_settings = settings
    return settings


ClockDep = Annotated[Clock, Depends(get_clock)]
IncidentSettingsDep = Annotated[IncidentSettings, Depends(get_incident_settings)]
RULE_ROLES = (Role.admin, Role.street_admin)


@router.get("/workflow", summary="The workflow state machine (action, from, to, roles)")
def get_workflow(principal: PrincipalDep) -> dict[str, Any]:
    """The declarative transition table, as the layer enforces it."""
    return {"statuses": workflow.STATUS_LABELS_ZH, "transitions": workflow.transitions_table()}


@router.get("/categories", summary="The configurable category tree")
def get_categories(session: SessionDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Every category with its parent and time limit."""
    rows = session.scalars(select(IncidentCategory).order_by(IncidentCategory.code))
    return [
        {"code": c.code, "parent_code": c.parent_code, "name_zh": c.name_zh,
         "name_en": c.name_en, "time_limit_hours": c.time_limit_hours}
        for c in rows
    ]  # fmt: skip


@router.post("", status_code=status.HTTP_201_CREATED, summary="Report an incident")
def create_incident(
    body: IncidentCreate,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: IncidentSettingsDep,
) -> dict[str, Any]:
    """Report at a location (any supported CRS) or an address; grid and community by query."""
    return reporting.report(
        session, principal, now=clock(), settings=settings, client_ip=client_ip(request),
        **body.model_dump(),
    )  # fmt: skip


@router.get("", summary="List incidents in your area")
def list_incidents(
    session: SessionDep,
    principal: PrincipalDep,
    status_: Annotated[str | None, Query(alias="status", max_length=16)] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Visible incidents, newest first."""
    return reporting.list_incidents(
        session, principal, status=status_, category_code=category, limit=limit, offset=offset
    )


@router.post("/photos", status_code=status.HTTP_201_CREATED, summary="Upload a photo")
async def upload_photo(
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: IncidentSettingsDep,
    file: Annotated[UploadFile, File(description="JPEG, PNG or WebP")],
) -> dict[str, Any]:
    """Store a photo (type sniffed from its bytes); use its id in a report or a step."""
    data = await file.read(settings.photo_max_bytes + 1)
    return photos.store_photo(session, principal, data=data, settings=settings, now=clock())


@router.get("/photos/{photo_id}", summary="A stored photo")
def get_photo(
    photo_id: int, session: SessionDep, principal: PrincipalDep, settings: IncidentSettingsDep
) -> Response:
    """The photo's bytes, if its incident is visible to you (or you uploaded it)."""
    data, media_type = photos.read_photo(session, principal, photo_id, settings)
    return Response(content=data, media_type=media_type)


@router.get("/warnings", summary="Due soon, overdue and T+2 no-response lists")
def get_warnings(
    session: SessionDep, principal: PrincipalDep, clock: ClockDep, settings: IncidentSettingsDep
) -> dict[str, Any]:
    """Early warnings of the incidents in your area."""
    return deadlines.warnings(session, principal, now=clock(), settings=settings)


@router.get("/overdue", summary="Overdue incidents, most overdue first")
def get_overdue(session: SessionDep, principal: PrincipalDep, clock: ClockDep) -> list[Any]:
    """Pending incidents past their deadline."""
    return deadlines.overdue(session, principal, now=clock())


GroupQuery = Annotated[Literal["grid", "community", "department"], Query()]


@router.get("/rates", summary="Resolution rates per grid, community or department")
def get_rates(
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    start: Annotated[datetime, Query(description="Reported at or after (ISO 8601)")],
    end: Annotated[datetime, Query(description="Reported before (ISO 8601)")],
    group_by: GroupQuery = "grid",
) -> list[dict[str, Any]]:
    """Rates against the targets (high 100 %, medium/low 90 %)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("start and end need a UTC offset", "时间需带时区", field="start")
    return deadlines.rates(session, principal, now=clock(), start=start, end=end, group_by=group_by)


@router.get("/ledger", summary="日核/周调/月统 ledger, as JSON, CSV or XLSX")
def get_ledger(
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    kind: Annotated[Literal["daily", "weekly", "monthly"], Query()],
    day: Annotated[date | None, Query(description="A day in the period (default: today)")] = None,
    group_by: GroupQuery = "grid",
    format_: Annotated[Literal["json", "csv", "xlsx"], Query(alias="format")] = "json",
) -> Any:
    """The ledger of the local day, week or month containing ``day``."""
    now = clock()
    data = deadlines.ledger(
        session, principal, now=now, kind=kind,
        day=day or now.astimezone(deadlines.LOCAL_TZ).date(), group_by=group_by,
    )  # fmt: skip
    if format_ == "json":
        return data
    name = f"incident-ledger-{kind}-{data['period']}"
    if format_ == "csv":
        return Response(
            deadlines.ledger_csv(data), media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )  # fmt: skip
    return Response(
        deadlines.ledger_xlsx(data),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )


@router.get("/dispatch-rules", summary="Dispatch rules (category + area → department)")
def list_rules(session: SessionDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Every rule (configuration, no personal data)."""
    rows = session.execute(
        select(DispatchRule, AdminUnit.code)
        .join(AdminUnit, AdminUnit.id == DispatchRule.admin_unit_id)
        .order_by(DispatchRule.id)
    ).all()  # fmt: skip
    return [
        {"id": r.DispatchRule.id, "category_code": r.DispatchRule.category_code,
         "admin_unit_code": r.code, "department_id": r.DispatchRule.department_id}
        for r in rows
    ]  # fmt: skip


@router.post(
    "/dispatch-rules",
    status_code=status.HTTP_201_CREATED,
    summary="Add a dispatch rule",
    dependencies=[Depends(require_roles(*RULE_ROLES))],
)
def create_rule(
    body: DispatchRuleCreate, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """A rule for an area inside yours; without a category it is the territory's fallback."""
    unit = session.scalars(
        select(AdminUnit).where(
            AdminUnit.code == body.admin_unit_code,
            AdminUnit.code.startswith(principal.area_prefix),
        )
    ).one_or_none()
    if unit is None:
        raise InvalidInput(
            "admin_unit_code is not an area inside yours", "区划不在您的辖区内",
            field="admin_unit_code",
        )  # fmt: skip
    if body.category_code is not None and session.get(IncidentCategory, body.category_code) is None:
        raise InvalidInput("Unknown category", "事件类别不存在", field="category_code")
    rule = DispatchRule(
        category_code=body.category_code, admin_unit_id=unit.id, department_id=body.department_id
    )
    session.add(rule)
    session.flush()
    return {"id": rule.id, "category_code": rule.category_code,
            "admin_unit_code": unit.code, "department_id": rule.department_id}  # fmt: skip


@router.get("/{incident_id}", summary="One incident with its steps")
def get_incident(
    incident_id: int, request: Request, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Reporter data masked per role; reading it is audited."""
    return reporting.get_incident(session, principal, incident_id, client_ip=client_ip(request))


@router.get("/{incident_id}/duplicates", summary="Possible duplicates")
def get_duplicates(
    incident_id: int, session: SessionDep, principal: PrincipalDep, settings: IncidentSettingsDep
) -> list[dict[str, Any]]:
    """Same category within the configured distance and time."""
    reporting.get_incident(session, principal, incident_id, audit=False)  # 404 when not visible
    return dispatch.duplicates(session, principal, incident_id, settings)


@router.post("/{incident_id}/actions/{action}", summary="Take a workflow action")
def take_action(
    incident_id: int,
    action: str,
    body: ActionIn,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> dict[str, Any]:
    """403 outside your role or remit, 409 from a status the action does not start from."""
    location = None
    if body.lon is not None and body.lat is not None:
        sp = to_storage_point(body.lon, body.lat, parse_crs(body.crs, field="crs"))
        location = (sp.lon, sp.lat)
    params = body.model_dump(include={"department_id", "until", "department_ids", "level",
                                      "into_id"}, exclude_none=True)  # fmt: skip
    return workflow.act(
        session, principal, incident_id=incident_id, action=action[:40], now=clock(),
        note=body.note, location=location, photo_ids=body.photo_ids, params=params,
        client_ip=client_ip(request),
    )  # fmt: skip
