"""Grid coverage: validation, repair with preview, and import/export of grid layers.

=========================  ==================================================================
endpoint                   roles
=========================  ==================================================================
GET  /grids/validate       admin, street_admin, community_admin, planner; dispatcher (read
                           only: gaps are where incidents fall outside every grid)
GET  /grids/export         the same roles
POST /grids/repair/preview roles that edit grids (``Principal.may_edit_grids``: admin,
POST /grids/repair/apply   street_admin, planner)
POST /grids/import
=========================  ==================================================================

Every parent must lie in the user's area; one outside it is answered 404 like an unknown one.
The work is done in :mod:`layers.grids.coverage`, :mod:`layers.grids.repair` and
:mod:`layers.grids.io`; this module validates the request and shapes the response.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile

from gis_api.deps import SessionDep, require_roles
from gis_api.schemas.grid_validation import (
    PARENT_DESCRIPTION,
    TOLERANCE_DESCRIPTION,
    ImportReportOut,
    RepairApplied,
    RepairApplyRequest,
    RepairPreview,
    RepairPreviewRequest,
)
from layers.access import GRID_EDIT_ROLES, Principal
from layers.errors import InvalidInput
from layers.features import parse_instant
from layers.grids import coverage, io, repair
from layers.grids.coverage import DEFAULT_TOLERANCE_M, MAX_TOLERANCE_M
from layers.models.users import Role

router = APIRouter(prefix="/grids", tags=["grid coverage"])

GEOJSON = "application/geo+json"

VALIDATE_ROLES = (
    Role.admin,
    Role.street_admin,
    Role.community_admin,
    Role.planner,
    Role.dispatcher,
)
EDIT_ROLES = tuple(r for r in Role if r in GRID_EDIT_ROLES)

ReaderDep = Annotated[Principal, Depends(require_roles(*VALIDATE_ROLES))]
EditorDep = Annotated[Principal, Depends(require_roles(*EDIT_ROLES))]

ParentQuery = Annotated[str, Query(description=PARENT_DESCRIPTION, max_length=32)]

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Your role may not do this (problem+json)"},
    404: {"description": "No such community or street in your area (problem+json)"},
    422: {"description": "Invalid input, with the offending field (problem+json)"},
}


def _only(request: Request, allowed: set[str]) -> None:
    """Refuse unknown query parameters: a misspelt option must not silently fall back."""
    for name in request.query_params:
        if name not in allowed:
            raise InvalidInput(
                f"Unknown query parameter {name[:64]!r}; allowed: {', '.join(sorted(allowed))}",
                f"不支持查询参数 {name[:64]!r}；可用：{'、'.join(sorted(allowed))}",
                field=name[:64],
            )


def validate_query(
    request: Request,
    parent: ParentQuery,
    tolerance_m: Annotated[
        float, Query(ge=0, le=MAX_TOLERANCE_M, description=TOLERANCE_DESCRIPTION)
    ] = DEFAULT_TOLERANCE_M,
) -> tuple[str, float]:
    """The validated query of GET /grids/validate."""
    _only(request, {"parent", "tolerance_m"})
    return parent, tolerance_m


@router.get(
    "/validate",
    summary="Validate the grid coverage of a community or street",
    response_class=Response,
    responses={
        200: {
            "content": {GEOJSON: {}},
            "description": "The problems as a GeoJSON FeatureCollection (RFC 7946) with a "
            "`summary` member: counts per severity and kind, areas, valid, messages",
        },
        **_PROBLEMS,
    },
)
def validate_grids(
    session: SessionDep,
    principal: ReaderDep,
    query: Annotated[tuple[str, float], Depends(validate_query)],
) -> Response:
    """Overlaps, gaps, leaks (with slivers apart), invalid geometries, unmatched edges,
    multi-part grids, grids without buildings and buildings straddling grids, each with its
    geometry and a message in Chinese and English."""
    parent, tolerance_m = query
    report = coverage.validate_in_area(
        session, principal=principal, parent_code=parent, tolerance_m=tolerance_m
    )
    return Response(content=json.dumps(report.to_geojson(), ensure_ascii=False), media_type=GEOJSON)


@router.post(
    "/repair/preview",
    summary="Preview the repair of a grid coverage (writes nothing)",
    response_model=RepairPreview,
    responses=_PROBLEMS,
)
def preview_repair(
    body: RepairPreviewRequest, session: SessionDep, principal: EditorDep
) -> dict[str, Any]:
    """What the repair would move: per grid the area and buildings gained and lost, the new
    geometries, and the validation before and after."""
    plan = repair.preview_repair_in_area(
        session, principal=principal, parent_code=body.parent, tolerance_m=body.tolerance_m
    )
    return plan.to_dict()


@router.post(
    "/repair/apply",
    summary="Apply a previewed repair as new grid versions",
    response_model=RepairApplied,
    responses={
        409: {
            "description": "The grids changed since the preview, or the repair cannot be "
            "verified (problem+json listing the grids); nothing written"
        },
        **_PROBLEMS,
    },
)
def apply_repair(
    body: RepairApplyRequest, session: SessionDep, principal: EditorDep
) -> dict[str, Any]:
    """Close the current versions of the changed grids and insert version + 1 of each, with
    lineage 'repair', in one transaction; then re-file buildings, places and incidents."""
    result = repair.apply_repair(
        session,
        principal,
        parent_code=body.parent,
        tolerance_m=body.tolerance_m,
        expected_versions=body.expected_versions,
    )
    return result.to_dict()


def mapping_form(
    mapping: Annotated[
        str | None,
        Form(
            description="Optional JSON object: attribute → column of the file, e.g. "
            '{"code": "WGBM", "name": "网格名称"}. Attributes: code, name, kind, sizing_type, '
            "sizhi, parent_grid_code"
        ),
    ] = None,
) -> dict[str, str] | None:
    """The parsed ``mapping`` form field."""
    return io.parse_mapping(mapping)


@router.post(
    "/import",
    summary="Import a grid layer file (a dry run unless commit=true)",
    response_model=ImportReportOut,
    responses=_PROBLEMS,
)
def import_grids(
    session: SessionDep,
    principal: EditorDep,
    file: Annotated[
        UploadFile, File(description=".geojson, .gpkg, .zip (Shapefile with .prj) or .kml")
    ],
    parent: Annotated[str, Form(description=PARENT_DESCRIPTION, max_length=32)],
    mapping: Annotated[dict[str, str] | None, Depends(mapping_form)],
    crs: Annotated[
        str | None,
        Form(
            description="CRS of the file when it does not say, or says wrongly: CGCS2000, "
            "WGS84, GCJ02 (must be declared), BD09, or EPSG:<code> (e.g. 4527)",
            max_length=100,
        ),
    ] = None,
    layer: Annotated[
        str | None, Form(description="Layer to read (files with several)", max_length=200)
    ] = None,
    replace: Annotated[
        bool, Form(description="Retire the parent's current grids that the file lacks")
    ] = False,
    commit: Annotated[bool, Form(description="Write the grids (default: dry run)")] = False,
    tolerance_m: Annotated[
        float, Form(ge=0, le=MAX_TOLERANCE_M, description=TOLERANCE_DESCRIPTION)
    ] = DEFAULT_TOLERANCE_M,
) -> dict[str, Any]:
    """Read, map and check the file, validate the coverage it would leave behind, and — with
    commit=true and no errors — write each grid as a new version."""
    report = io.import_grids(
        session,
        principal,
        data=file.file.read(),
        filename=file.filename or "",
        parent_code=parent,
        crs=crs,
        layer=layer,
        mapping=mapping,
        replace=replace,
        commit=commit,
        tolerance_m=tolerance_m,
    )
    return report.to_dict()


ExportFormatName = Literal["geojson", "gpkg", "shp", "kml"]


def export_query(
    request: Request,
    parent: ParentQuery,
    fmt: Annotated[
        ExportFormatName,
        Query(alias="format", description="geojson, gpkg, shp (zipped Shapefile) or kml"),
    ] = "geojson",
    at: Annotated[str | None, Query(description="The grid map valid at this RFC 3339 time")] = None,
    crs: Annotated[
        str | None,
        Query(description="Output CRS: WGS84 (default), CGCS2000, EPSG:<code>, GCJ02"),
    ] = None,
) -> tuple[str, str, datetime | None, str | None]:
    """The validated query of GET /grids/export."""
    _only(request, {"parent", "format", "at", "crs"})
    moment = parse_instant(at, field="at") if at is not None else None
    return parent, fmt, moment, crs


@router.get(
    "/export",
    summary="Export the grids of a community or street as a file",
    response_class=Response,
    responses={
        200: {
            "content": {
                GEOJSON: {},
                "application/geopackage+sqlite3": {},
                "application/zip": {},
                "application/vnd.google-earth.kml+xml": {},
            },
            "description": "The grid layer file (attachment)",
        },
        **_PROBLEMS,
    },
)
def export_grids(
    session: SessionDep,
    principal: ReaderDep,
    query: Annotated[tuple[str, str, datetime | None, str | None], Depends(export_query)],
) -> Response:
    """Current grids, or those valid at ``at``, with code, name, kind, sizing type, 四至,
    version and validity; in WGS-84 unless another CRS is asked for."""
    parent, fmt, at, crs = query
    exported = io.export_grids(session, principal, parent_code=parent, fmt=fmt, at=at, crs=crs)
    return Response(
        content=exported.content,
        media_type=exported.media_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(exported.filename)}",
            "X-Feature-Count": str(exported.count),
        },
    )
