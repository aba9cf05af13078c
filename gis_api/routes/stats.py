"""Incident statistics for dispatchers: heat cells, heat tiles, grid rates, hot spots, weeks.

Each route parses the shared filters (:func:`stats_filter`), admits only the statistics roles
(:data:`layers.stats.filters.STATS_ROLES`) and calls one function of :mod:`layers.stats`.
Answers are scoped to the caller's area, so they are cached privately (``Cache-Control:
private``, ``Vary: Authorization, Cookie``). See docs/STATISTICS.md.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from gis_api.deps import SessionDep, require_roles
from gis_api.schemas.stats import WeeklySeriesOut
from layers.access import Principal
from layers.stats import cells, grids, series
from layers.stats.filters import STATS_ROLES, StatsFilter, parse_bbox

router = APIRouter(prefix="/stats", tags=["statistics"])

GEOJSON = "application/geo+json"
MVT = "application/vnd.mapbox-vector-tile"
#: Seconds a browser may keep a heat tile or cell answer (a dispatcher's view, re-fetched often).
CACHE_SECONDS = 60

StatsPrincipal = Annotated[Principal, Depends(require_roles(*sorted(STATS_ROLES)))]

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not logged in (problem+json)"},
    403: {"description": "Your role reads no statistics (problem+json)"},
    422: {"description": "Invalid filter, size or tile (problem+json with `field`)"},
}


def stats_filter(
    bbox: Annotated[
        str | None,
        Query(
            description="minlon,minlat,maxlon,maxlat in degrees (WGS84); incidents on the edge "
            "count",
            max_length=200,
        ),
    ] = None,
    start: Annotated[
        datetime | None,
        Query(description="Reported at or after, ISO 8601 with zone, e.g. 2026-03-01T00:00+08:00"),
    ] = None,
    end: Annotated[datetime | None, Query(description="Reported before (exclusive)")] = None,
    category: Annotated[
        list[str] | None,
        Query(description="Category code, repeatable; `hazard` includes `hazard.fire`"),
    ] = None,
    status: Annotated[list[str] | None, Query(description="Status, repeatable")] = None,
) -> StatsFilter:
    """The filters shared by every statistic."""
    return StatsFilter(
        bbox=parse_bbox(bbox),
        start=start,
        end=end,
        categories=tuple(category or ()),
        statuses=tuple(status or ()),
    )


FilterDep = Annotated[StatsFilter, Depends(stats_filter)]
ShapeQ = Annotated[
    Literal["square", "hexagon"], Query(description="Cell shape on the EPSG:4527 lattice")
]
SourceQ = Annotated[
    Literal["live", "rollup"],
    Query(
        description="live: exact, any filter; rollup: the 250 m monthly pre-aggregation (square "
        "cells of a multiple of 250 m, whole months, no status filter)"
    ),
]


def _private(response: Response) -> None:
    response.headers["Cache-Control"] = f"private, max-age={CACHE_SECONDS}"
    response.headers["Vary"] = "Authorization, Cookie"


def _geojson(body: dict[str, Any]) -> Response:
    response = Response(json.dumps(body, ensure_ascii=False), media_type=GEOJSON)
    _private(response)
    return response


@router.get(
    "/cells",
    summary="Incident heat cells as GeoJSON (事件热力网格)",
    response_class=Response,
    responses={200: {"content": {GEOJSON: {}}}, **_PROBLEMS},
)
def get_cells(
    session: SessionDep,
    principal: StatsPrincipal,
    flt: FilterDep,
    shape: ShapeQ = "square",
    size: Annotated[
        float, Query(description="Square side or hexagon edge in metres (10 to 50,000)")
    ] = 100.0,
    source: SourceQ = "live",
) -> Response:
    """Non-empty square or hexagonal cells with incident counts; `total` is their sum, which
    equals the number of matching incidents in your area (and the bbox)."""
    return _geojson(
        cells.heat_cells(session, principal, flt, shape=shape, size_m=size, source=source)
    )


@router.get(
    "/heat/{z}/{x}/{y}.mvt",
    summary="Incident heat tiles (Mapbox Vector Tile, layer `heat`)",
    response_class=Response,
    responses={200: {"content": {MVT: {}}}, **_PROBLEMS},
)
def get_heat_tile(
    session: SessionDep,
    principal: StatsPrincipal,
    flt: FilterDep,
    z: Annotated[int, Path(description="Zoom level 0 to 22")],
    x: Annotated[int, Path(description="Tile column")],
    y: Annotated[int, Path(description="Tile row (XYZ, from the north)")],
    shape: ShapeQ = "square",
    size: Annotated[
        float | None,
        Query(description="Cell size in metres; default depends on z only (~1/32 tile)"),
    ] = None,
    source: SourceQ = "live",
) -> Response:
    """Cells touching the tile, counted whole, with `count`, `cell_i`, `cell_j`."""
    tile = cells.heat_tile(
        session, principal, flt, z=z, x=x, y=y, shape=shape, size_m=size, source=source
    )
    response = Response(tile, media_type=MVT)
    _private(response)
    return response


@router.get(
    "/grids",
    summary="Incidents per grid and per 100 households (网格事件分布)",
    response_class=Response,
    responses={200: {"content": {GEOJSON: {}}}, **_PROBLEMS},
)
def get_grid_rates(
    session: SessionDep,
    principal: StatsPrincipal,
    flt: FilterDep,
    simplify: Annotated[
        float, Query(description="Outline simplification tolerance, metres (0 to 500)")
    ] = 5.0,
) -> Response:
    """Current grids of your area with `count`, `households` and `per_100_households`."""
    return _geojson(grids.grid_rates(session, principal, flt, simplify_m=simplify))


@router.get(
    "/hotspots",
    summary="Hot and cold spots, Getis-Ord Gi* (热点分析)",
    response_class=Response,
    responses={200: {"content": {GEOJSON: {}}}, **_PROBLEMS},
)
def get_hotspots(
    session: SessionDep,
    principal: StatsPrincipal,
    flt: FilterDep,
    unit: Annotated[
        Literal["grid", "cell"], Query(description="Grids (queen contiguity) or square cells")
    ] = "grid",
    size: Annotated[float, Query(description="Cell side in metres (unit=cell)")] = 250.0,
    permutations: Annotated[
        int, Query(description="Permutations for the pseudo p-values (99 to 9,999)")
    ] = 999,
    seed: Annotated[int, Query(ge=0, le=2**31 - 1, description="Random seed")] = (
        grids.DEFAULT_SEED
    ),
) -> Response:
    """Each unit with `count`, `z`, `p` (two-sided normal), `p_sim` (permutation) and `class`
    (hot_99 ... cold_90, none)."""
    return _geojson(
        grids.hotspots(
            session,
            principal,
            flt,
            unit=unit,
            size_m=size,
            permutations=permutations,
            seed=seed,
        )
    )


@router.get(
    "/weekly",
    summary="Incidents per ISO week (周统计)",
    response_model=WeeklySeriesOut,
    responses=_PROBLEMS,
)
def get_weekly(
    session: SessionDep,
    principal: StatsPrincipal,
    flt: FilterDep,
    response: Response,
    group_by: Annotated[
        Literal["none", "category", "status"], Query(description="Split counts by")
    ] = "none",
) -> dict[str, Any]:
    """Counts per ISO week (Monday 00:00 Asia/Shanghai), every week of the window, zeros
    included. Without start/end: the 12 weeks up to now."""
    if flt.start is None or flt.end is None:
        end = flt.end or datetime.now(UTC)
        start = flt.start or end - timedelta(weeks=12)
        flt = StatsFilter(
            bbox=flt.bbox,
            start=start,
            end=end,
            categories=flt.categories,
            statuses=flt.statuses,
        )
    _private(response)
    return series.weekly_series(session, principal, flt, group_by=group_by)
