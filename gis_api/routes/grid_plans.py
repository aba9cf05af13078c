"""Grid plans over HTTP: draft, edit, undo, validate, diff and publish; sizing, history, 四至.

Each route validates its input (pydantic bodies, ``parse_geometry`` for drawn shapes, query
dependencies), calls one function of :mod:`layers.grids` and shapes the JSON. Who may do what
and every rule of the edits are documented there and in docs/GRID_PLANNING.md. Planners,
street admins and admins edit plans of their area; community admins may look; a plan or grid
outside your area is answered 404. A grid changed since it was edited is a 409 problem+json
with ``conflicts`` (code, expected_version, current_version).
"""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import date, datetime, time, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response

from gis_api.deps import PrincipalDep, SessionDep
from gis_api.schemas.grid_plans import (
    BuildingGridAtOut,
    CreateEdit,
    DiffOut,
    EditOut,
    GridHistoryOut,
    GridSizingOut,
    MergeEdit,
    PlanCreate,
    PlanList,
    PlanOut,
    PublishIn,
    PublishOut,
    ReshapeEdit,
    RetireEdit,
    SetAttributesEdit,
    SizhiIn,
    SizhiOut,
    SizingOut,
    SizingTargetIn,
    SplitEdit,
    TargetOut,
    ValidationOut,
)
from layers.access import Principal
from layers.errors import InvalidInput
from layers.grids import balance, diff, edits, history, merge, plans, sizhi, sizing, split
from layers.spatial.crs import parse_crs
from layers.spatial.geometry import parse_geometry

router = APIRouter(tags=["grid plans"])

GEOJSON = "application/geo+json"
# A date without a time is read in China Standard Time (UTC+8), the zone of every deployment:
# "on 2026-06-01" is from 2026-06-01T00:00+08:00.
CHINA_STANDARD_TIME = timezone(timedelta(hours=8))
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

PlanId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Plan id")]
GridCodePath = Annotated[
    str, Path(pattern=r"^[0-9]{15}$", description="15-digit grid code, e.g. 370112004001001")
]
EditBody = Annotated[
    SplitEdit | ReshapeEdit | CreateEdit | MergeEdit | RetireEdit | SetAttributesEdit,
    Body(discriminator="op"),
]

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Your role may not do this (problem+json)"},
    404: {"description": "No such plan or grid in your area (problem+json)"},
    409: {"description": "Conflict: grids changed since edited, or the edit does not fit"},
    422: {"description": "Invalid input (problem+json with `field`)"},
}


def _plan_out(summary: plans.PlanSummary) -> PlanOut:
    return PlanOut.model_validate(summary)


@router.post("/plans", summary="Open a draft grid plan", status_code=201, responses=_PROBLEMS)
def post_plan(body: PlanCreate, session: SessionDep, principal: PrincipalDep) -> PlanOut:
    """A new, empty draft for a community or street of your area."""
    ctx = plans.create_plan(
        session,
        principal=principal,
        scope_code=body.scope_code,
        name=body.name,
        description=body.description,
    )
    return _plan_out(plans.plan_summary(session, ctx))


@router.get("/plans", summary="List grid plans", responses=_PROBLEMS)
def get_plans(
    session: SessionDep,
    principal: PrincipalDep,
    status: Annotated[
        str | None, Query(description="draft, published or abandoned", max_length=16)
    ] = None,
) -> PlanList:
    """Plans whose area overlaps yours, newest first (edits omitted)."""
    return PlanList(
        plans=[_plan_out(p) for p in plans.list_plans(session, principal=principal, status=status)]
    )


@router.get("/plans/{plan_id}", summary="A plan with its edits", responses=_PROBLEMS)
def get_plan(plan_id: PlanId, session: SessionDep, principal: PrincipalDep) -> PlanOut:
    """The plan, its status and every edit (undone ones flagged)."""
    return _plan_out(plans.get_plan(session, principal=principal, plan_id=plan_id))


@router.get(
    "/plans/{plan_id}/grids",
    summary="The plan's resulting grids as GeoJSON",
    responses={200: {"content": {GEOJSON: {}}}, **_PROBLEMS},
    response_class=Response,
)
def get_plan_grids(plan_id: PlanId, session: SessionDep, principal: PrincipalDep) -> Response:
    """Current grids the plan leaves alone plus the grids it makes (``draft: true``)."""
    return Response(
        plans.draft_features(session, principal=principal, plan_id=plan_id), media_type=GEOJSON
    )


def _geometry(obj: dict[str, Any] | None, crs: str | None, allowed: set[str]) -> Any:
    if obj is None:
        raise InvalidInput("geometry is required", "缺少 geometry", field="geometry")
    return parse_geometry(obj, allowed=allowed, crs=parse_crs(crs), field="geometry")


def _apply_edit(session: Any, principal: Principal, plan_id: int, body: Any) -> plans.EditSummary:
    """Dispatch one edit body to its layer function (exactly one call per request)."""
    if isinstance(body, SplitEdit):
        if body.method == "balanced":
            return balance.split_balanced(
                session,
                principal=principal,
                plan_id=plan_id,
                key=body.key,
                k=body.k,
                expected_version=body.expected_version,
            )
        return split.split_by_line(
            session,
            principal=principal,
            plan_id=plan_id,
            key=body.key,
            line=_geometry(body.geometry, body.crs, {"LineString"}),
            expected_version=body.expected_version,
            names=body.names,
        )
    if isinstance(body, ReshapeEdit):
        return edits.reshape_grid(
            session,
            principal=principal,
            plan_id=plan_id,
            key=body.key,
            shape=_geometry(body.geometry, body.crs, {"Polygon", "MultiPolygon"}),
            expected_versions=body.expected_versions,
        )
    if isinstance(body, CreateEdit):
        return edits.create_grid(
            session,
            principal=principal,
            plan_id=plan_id,
            shape=_geometry(body.geometry, body.crs, {"Polygon", "MultiPolygon"}),
            name=body.name,
            kind=body.kind,
            sizing_type=body.sizing_type,
            parent_grid_code=body.parent_grid_code,
            expected_versions=body.expected_versions,
        )
    if isinstance(body, MergeEdit):
        return merge.merge_grids(
            session,
            principal=principal,
            plan_id=plan_id,
            keys=body.keys,
            name=body.name,
            kind=body.kind,
            sizing_type=body.sizing_type,
            expected_versions=body.expected_versions,
        )
    if isinstance(body, RetireEdit):
        return edits.retire_grid(
            session,
            principal=principal,
            plan_id=plan_id,
            key=body.key,
            absorb_into=body.absorb_into,
            expected_versions=body.expected_versions,
        )
    return edits.set_attributes(
        session,
        principal=principal,
        plan_id=plan_id,
        key=body.key,
        name=body.name,
        kind=body.kind,
        sizing_type=body.sizing_type,
        parent_grid_code=body.parent_grid_code,
        sizhi=body.sizhi,
        expected_version=body.expected_version,
    )


@router.post(
    "/plans/{plan_id}/edits",
    summary="Add an edit to a draft (split, reshape, create, merge, retire, set_attributes)",
    status_code=201,
    responses=_PROBLEMS,
)
def post_edit(
    plan_id: PlanId, body: EditBody, session: SessionDep, principal: PrincipalDep
) -> EditOut:
    """Add one edit; nothing in the published map changes until the plan is published.

    Geometry is GeoJSON in `crs` (default WGS84). A reshape or create that cannot be fitted
    among the neighbours is a 409 listing every conflict; a grid changed since the version you
    name in `expected_version(s)` is a 409 listing code, expected and current version.
    """
    return EditOut.model_validate(_apply_edit(session, principal, plan_id, body))


@router.post("/plans/{plan_id}/undo", summary="Undo the newest edit", responses=_PROBLEMS)
def post_undo(plan_id: PlanId, session: SessionDep, principal: PrincipalDep) -> PlanOut:
    """Mark the newest active edit undone (edits are undone newest first)."""
    return _plan_out(plans.undo_last_edit(session, principal=principal, plan_id=plan_id))


@router.post("/plans/{plan_id}/abandon", summary="Abandon a draft", responses=_PROBLEMS)
def post_abandon(plan_id: PlanId, session: SessionDep, principal: PrincipalDep) -> PlanOut:
    """The draft is kept for the record but can no longer change or be published."""
    return _plan_out(plans.abandon_plan(session, principal=principal, plan_id=plan_id))


@router.get("/plans/{plan_id}/validate", summary="Validate a draft", responses=_PROBLEMS)
def get_validate(plan_id: PlanId, session: SessionDep, principal: PrincipalDep) -> ValidationOut:
    """Coverage of the resulting grids (no gap, no overlap) and grids changed since edited."""
    result = plans.validate_plan(session, principal=principal, plan_id=plan_id)
    return ValidationOut(
        ok=result.ok,
        active_edits=result.active_edits,
        stale=result.stale,
        coverage=result.coverage.to_summary(),
        problems=[asdict(p) for p in result.coverage.problems],
    )


@router.get("/plans/{plan_id}/diff", summary="What publishing would change", responses=_PROBLEMS)
def get_diff(plan_id: PlanId, session: SessionDep, principal: PrincipalDep) -> DiffOut:
    """Per grid before/after counts, rows moved between grids, codes created and retired, and
    households against the sizing target. Codes of new grids are provisional."""
    return DiffOut.model_validate(diff.plan_diff(session, principal=principal, plan_id=plan_id))


@router.post("/plans/{plan_id}/publish", summary="Publish a draft", responses=_PROBLEMS)
def post_publish(
    plan_id: PlanId,
    session: SessionDep,
    principal: PrincipalDep,
    body: PublishIn | None = None,
) -> PublishOut:
    """Close the replaced versions at `effective_at`, insert the new ones with lineage, issue
    and retire codes, regenerate 四至 and re-file buildings, places and incidents — all in one
    transaction. A grid changed since it was edited makes the whole publish a 409."""
    result = plans.publish_plan(
        session,
        principal=principal,
        plan_id=plan_id,
        effective_at=body.effective_at if body else None,
    )
    return PublishOut.model_validate(result)


@router.get("/grids/sizing", summary="Households per grid against the targets", responses=_PROBLEMS)
def get_sizing(
    session: SessionDep,
    principal: PrincipalDep,
    community: Annotated[
        str | None,
        Query(pattern=r"^[0-9]{12}$", description="Only this community (12-digit code)"),
    ] = None,
) -> SizingOut:
    """Every current basic and special grid of your area with its live household count and
    deviation from the target of its sizing type (scattered 120–160, compound 200–250, bungalow
    80–120 by default)."""
    rows = sizing.grid_sizing(session, principal=principal, community_code=community)
    return SizingOut(
        targets=[TargetOut.model_validate(t) for t in sizing.targets(session).values()],
        grids=[GridSizingOut.model_validate(r) for r in rows],
    )


@router.put(
    "/grids/sizing/targets/{sizing_type}",
    summary="Change the household range of a sizing type (admin)",
    responses=_PROBLEMS,
)
def put_sizing_target(
    sizing_type: Annotated[str, Path(description="scattered, compound, bungalow or special")],
    body: SizingTargetIn,
    session: SessionDep,
    principal: PrincipalDep,
) -> TargetOut:
    """Configure the deployment's target for one sizing type."""
    return TargetOut.model_validate(
        sizing.set_target(
            session,
            principal=principal,
            sizing_type=sizing_type,
            min_households=body.min_households,
            max_households=body.max_households,
        )
    )


@router.get("/grids/{code}/history", summary="Every version of a grid code", responses=_PROBLEMS)
def get_history(code: GridCodePath, session: SessionDep, principal: PrincipalDep) -> GridHistoryOut:
    """Versions oldest first with validity and lineage (came from / went to)."""
    return GridHistoryOut.model_validate(
        history.grid_history(session, principal=principal, code=code)
    )


def _moment(value: str) -> datetime:
    text = value.strip()
    if _DATE.match(text):
        try:
            return datetime.combine(date.fromisoformat(text), time(0), CHINA_STANDARD_TIME)
        except ValueError:
            pass
    else:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            if moment.tzinfo is not None:
                return moment
        except ValueError:
            pass
    raise InvalidInput(
        "date must be a date (2026-06-01, read as China Standard Time) or an RFC 3339 time "
        "with offset (2026-06-01T08:00:00+08:00)",
        "date 应为日期（如 2026-06-01，按北京时间）或带时区的 RFC 3339 时间"
        "（如 2026-06-01T08:00:00+08:00）",
        field="date",
    )


@router.get(
    "/buildings/{building_id}/grid-at",
    summary="Which grid a building was in on a date",
    responses=_PROBLEMS,
)
def get_building_grid_at(
    building_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: SessionDep,
    principal: PrincipalDep,
    date_: Annotated[
        str,
        Query(
            alias="date",
            max_length=40,
            description="A date (2026-06-01, China Standard Time) or RFC 3339 time with offset",
        ),
    ],
) -> BuildingGridAtOut:
    """The grid version valid at that moment that covers the building's point-on-surface."""
    return BuildingGridAtOut.model_validate(
        history.building_grid_at(
            session, principal=principal, building_id=building_id, at=_moment(date_)
        )
    )


@router.get(
    "/grids/{code}/sizhi", summary="四至 of a grid: stored and generated", responses=_PROBLEMS
)
def get_sizhi(code: GridCodePath, session: SessionDep, principal: PrincipalDep) -> SizhiOut:
    """The stored text, what generation gives now, and whether the stored text was typed."""
    stored, generated, typed = sizhi.preview_sizhi(session, principal=principal, code=code)
    return SizhiOut(code=code, sizhi=stored, generated=generated, typed=typed)


@router.put("/grids/{code}/sizhi", summary="Type the 四至 of a grid", responses=_PROBLEMS)
def put_sizhi(
    code: GridCodePath, body: SizhiIn, session: SessionDep, principal: PrincipalDep
) -> SizhiOut:
    """Store a typed 四至 (kept when texts are regenerated), or `null` to regenerate."""
    value, typed = sizhi.set_sizhi(session, principal=principal, code=code, sizhi=body.sizhi)
    return SizhiOut(code=code, sizhi=value, typed=typed)
