"""Point-in-grid over HTTP: ``/locate``, ``/locate/bulk``, grid counts and the review list.

Each route validates its input (query parameters, or a pydantic body), calls one function of
:mod:`layers.locate`, :mod:`layers.counts` or :mod:`layers.spatial.assign`, and returns JSON.
The rules (which grid wins on an edge, who may ask about which point, masking) are documented
in those modules and in docs/LOCATE.md.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from gis_api.deps import PrincipalDep, SessionDep, client_ip, require_roles
from layers import counts, locate
from layers.access import Principal
from layers.errors import InvalidInput
from layers.models.users import Role
from layers.spatial import assign

router = APIRouter(tags=["locate"])

_CRS_DESCRIPTION = (
    "CRS of the coordinates: WGS84 / EPSG:4326 (default), CGCS2000 / EPSG:4490, GCJ02 (AMap, "
    "Tencent), BD09 (Baidu), or a projected EPSG code such as EPSG:4527 (then lon = easting, "
    "lat = northing, in metres)"
)
_LOCATE_PARAMS = frozenset({"lon", "lat", "crs"})
_ID_TEXT = re.compile(r"^[\w.:/-]{1,64}$")

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No grid of your area at this point (problem+json)"},
    422: {"description": "Invalid coordinates or CRS (problem+json with `field`)"},
}


def _only_known_params(request: Request) -> None:
    for name in request.query_params:
        if name not in _LOCATE_PARAMS:
            raise InvalidInput(
                f"Unknown query parameter {name[:64]!r}; allowed: crs, lat, lon",
                f"不支持查询参数 {name[:64]!r}；可用：crs、lat、lon",
                field=name[:64],
            )


@router.get(
    "/locate",
    summary="Which grid, community and building is at a point (点位查网格)",
    responses=_PROBLEMS,
    dependencies=[Depends(_only_known_params)],
)
def get_locate(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    lon: Annotated[float, Query(description="Longitude in degrees (or easting), e.g. 117.0025")],
    lat: Annotated[float, Query(description="Latitude in degrees (or northing), e.g. 36.605")],
    crs: Annotated[str | None, Query(description=_CRS_DESCRIPTION, max_length=64)] = None,
) -> dict[str, Any]:
    """The admin chain, the grid (四至, staff) and the building at a point.

    `status` is `inside`, or `outside` when no grid covers the point (then `nearest` names the
    nearest grid of your area and `distance_m` the distance in metres). A point on an edge
    shared by grids belongs to the grid with the smallest code (`boundary_of` lists them all).
    Staff phones and names are masked unless your role needs them; an answer with staff is
    written to the audit log.
    """
    return locate.locate(
        session, principal, lon=lon, lat=lat, crs=crs, client_ip=client_ip(request)
    )


class BulkPointIn(BaseModel):
    """One point to locate, with the caller's id."""

    model_config = ConfigDict(extra="forbid")

    id: int | str = Field(description="Your id for the point (echoed back), up to 64 characters")
    lon: float = Field(description="Longitude (or easting) in the request's CRS")
    lat: float = Field(description="Latitude (or northing) in the request's CRS")


class BulkLocateIn(BaseModel):
    """A bulk location request."""

    model_config = ConfigDict(extra="forbid")

    crs: str | None = Field(default=None, max_length=64, description=_CRS_DESCRIPTION)
    points: list[BulkPointIn] = Field(
        min_length=1,
        max_length=locate.MAX_BULK_POINTS,
        description=f"1 to {locate.MAX_BULK_POINTS} points",
    )


class BulkResult(BaseModel):
    """The grid of one point of a bulk request."""

    id: int | str
    lon: float
    lat: float
    status: Literal["inside", "outside", "not_in_area"]
    grid_code: str | None = None
    grid_name: str | None = None
    community_code: str | None = None
    nearest_grid_code: str | None = None
    nearest_grid_name: str | None = None
    distance_m: float | None = None


class BulkLocateOut(BaseModel):
    """The answer to a bulk request: one result per point, in request order."""

    crs: str
    count: int
    inside: int
    outside: int
    not_in_area: int
    results: list[BulkResult]


@router.post(
    "/locate/bulk",
    summary="The grid of many points at once (批量点位查网格)",
    response_model=BulkLocateOut,
    response_model_exclude_none=True,
    responses={
        413: {"description": "Request body too large (problem+json)"},
        422: {"description": f"Invalid point, CRS, or more than {locate.MAX_BULK_POINTS} points"},
    },
)
def post_locate_bulk(
    body: BulkLocateIn, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Locate up to `MAX_BULK_POINTS` points in one set-based query.

    Each result is `inside` (grid code and name, community code), `outside` (no grid covers it
    but it lies in your area: nearest grid of your area and `distance_m`), or `not_in_area`.
    """
    for i, point in enumerate(body.points):
        if isinstance(point.id, str) and not _ID_TEXT.match(point.id):
            raise InvalidInput(
                "A point id is 1 to 64 letters, digits or . : / - _",
                "点的 id 应为 1 到 64 个字母、数字或 . : / - _",
                field=f"points.{i}.id",
            )
    points = [locate.BulkPoint(id=p.id, x=p.lon, y=p.lat) for p in body.points]
    return locate.locate_many(session, principal, points=points, crs=body.crs)


class GridCountsOut(BaseModel):
    """Live counts of one grid."""

    grid_id: int
    code: str
    name: str
    version: int
    community_code: str
    counts: dict[str, int] = Field(
        description="buildings, houses, households, persons, persons_in_care_groups, places, "
        "open_incidents"
    )


@router.get(
    "/grids/{code}/counts",
    summary="Live counts of a grid (网格人口房屋场所事件统计)",
    response_model=GridCountsOut,
    responses={
        404: {"description": "No current grid with this code in your area"},
        422: {"description": "The code is not 15 digits"},
    },
)
def get_grid_counts(
    code: Annotated[str, Path(description="15-digit grid code", max_length=64)],
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """Buildings, houses, households, active persons, persons in care groups, places and open
    incidents of the current version of a grid, counted live from the derived grid of each row.
    """
    return counts.counts_for_grid_code(session, principal, code=code)


REVIEW_ROLES = (Role.admin, Role.street_admin, Role.community_admin, Role.planner, Role.dispatcher)


class UnassignedOut(BaseModel):
    """A row outside every grid, with the nearest grid of your area."""

    table: str
    id: int
    label: str
    lon: float
    lat: float
    nearest_grid_code: str | None
    nearest_grid_name: str | None
    distance_m: float | None


@router.get(
    "/assignment/review",
    summary="Rows outside every grid, for review (未入格清单)",
    response_model=list[UnassignedOut],
    responses={403: {"description": "Your role does not review assignment"}},
)
def get_assignment_review(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require_roles(*REVIEW_ROLES))],
    table: Annotated[
        Literal["buildings", "places", "incidents"] | None,
        Query(description="One table, or all three"),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=5000, description="At most this many rows per table")
    ] = 500,
) -> list[dict[str, Any]]:
    """Buildings, places and incidents in your area that no grid covers, with the nearest grid
    and the distance to it in metres: gaps in the grid map to close.
    """
    rows = assign.unassigned_rows(session, table=table, principal=principal, limit=limit)
    return [asdict(r) for r in rows]
