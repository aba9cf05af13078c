"""Vector tiles over HTTP: ``/tiles/{layer}/{z}/{x}/{y}.mvt`` and a TileJSON per layer.

The tile itself is built by :func:`layers.tiles.render_tile` (one ``ST_AsMVT`` statement,
scoped to the user's area). Here: parameters, the GCJ-02 switch, and caching. A tile differs
per user (area scoping), so it is ``Cache-Control: private`` with a short ``max-age`` (grids
change when a plan is published) and a strong ``ETag`` over the bytes; a revalidation with a
matching ``If-None-Match`` is answered ``304`` without a body.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from gis_api.deps import PrincipalDep, SessionDep, SettingsDep
from layers.errors import InvalidInput
from layers.tiles import (
    MVT_EXTENT,
    TILE_LAYERS,
    GcjShift,
    TileFilters,
    area_bounds,
    check_tile,
    render_tile,
    tile_layer,
)

router = APIRouter(tags=["tiles"])

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
TILE_MAX_AGE_S = 60
# ``v`` is a client-side cache key (ignored here): a page bumps it after a publish so the
# browser does not reuse grid tiles it cached for up to TILE_MAX_AGE_S.
_TILE_PARAMS = frozenset({"kind", "status", "category", "datetime", "crs", "v"})

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not logged in (problem+json)"},
    404: {"description": "No such tile layer (problem+json)"},
    422: {"description": "Invalid tile address or filter (problem+json with `field`)"},
}

LayerPath = Annotated[str, Path(max_length=32, description="Tile layer, see GET /tiles")]
KindQuery = Annotated[
    str | None,
    Query(max_length=200, description="grids, buildings, places: kinds, comma-separated"),
]
StatusQuery = Annotated[
    str | None,
    Query(max_length=200, description="incidents: statuses, comma-separated (reported,...)"),
]
CategoryQuery = Annotated[
    str | None,
    Query(max_length=64, description="incidents: a category code and its subcategories"),
]
DatetimeQuery = Annotated[
    str | None,
    Query(
        max_length=100,
        description="incidents: reported_at instant or interval (RFC 3339, `start/end`, `..`)",
    ),
]
CrsQuery = Annotated[
    Literal["wgs84", "cgcs2000", "gcj02"] | None,
    Query(description="Draw the tile for a basemap in this datum; gcj02 shifts our geometries"),
]


def _only_known_params(request: Request) -> None:
    for name in request.query_params:
        if name not in _TILE_PARAMS:
            allowed = ", ".join(sorted(_TILE_PARAMS))
            raise InvalidInput(
                f"Unknown query parameter {name[:64]!r}; allowed: {allowed}",
                f"不支持查询参数 {name[:64]!r}；可用：{'、'.join(sorted(_TILE_PARAMS))}",
                field=name[:64],
            )


def _etag(data: bytes) -> str:
    return '"' + hashlib.blake2b(data, digest_size=16).hexdigest() + '"'


@router.get("/tiles", summary="The vector tile layers")
def get_tile_layers(principal: PrincipalDep) -> dict[str, Any]:
    """Every tile layer with its zoom range, filters and TileJSON link."""
    return {
        "layers": [
            {
                "id": layer.name,
                "title_zh": layer.title_zh,
                "description": layer.description,
                "minzoom": layer.minzoom,
                "maxzoom": layer.maxzoom,
                "filters": list(layer.filters),
                "tilejson": f"/tiles/{layer.name}/tilejson.json",
            }
            for layer in TILE_LAYERS.values()
        ]
    }


@router.get(
    "/tiles/{layer}/tilejson.json",
    summary="TileJSON 3.0 of a tile layer",
    responses=_PROBLEMS,
    dependencies=[Depends(_only_known_params)],
)
def get_tilejson(
    request: Request,
    layer: LayerPath,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    kind: KindQuery = None,
    status: StatusQuery = None,
    category: CategoryQuery = None,
    datetime: DatetimeQuery = None,
    crs: CrsQuery = None,
) -> Response:
    """TileJSON whose tile URL carries the given filters (and ``crs=gcj02`` when the configured
    basemap is GCJ-02 and no ``crs`` is given); ``bounds`` is your area."""
    info = tile_layer(layer)
    filters = TileFilters.parse(
        info, kind=kind, status=status, category=category, datetime=datetime
    )
    query = filters.query_string()
    datum = crs or settings.basemap_crs
    if datum == "gcj02":
        query = f"{query}&crs=gcj02" if query else "crs=gcj02"
    west, south, east, north = area_bounds(session, principal=principal)
    base = str(request.base_url).rstrip("/")
    template = f"{base}/tiles/{info.name}/{{z}}/{{x}}/{{y}}.mvt" + (f"?{query}" if query else "")
    body = {
        "tilejson": "3.0.0",
        "name": info.title_zh,
        "description": info.description,
        "scheme": "xyz",
        "tiles": [template],
        "minzoom": info.minzoom,
        "maxzoom": info.maxzoom,
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, max(info.minzoom, 14)],
        "vector_layers": [
            {
                "id": info.name,
                "description": info.description,
                "minzoom": info.minzoom,
                "maxzoom": info.maxzoom,
                "fields": info.fields,
            }
        ],
        "extent": MVT_EXTENT,
    }
    return JSONResponse(body, headers={"Cache-Control": "private, no-cache", "Vary": "Cookie"})


@router.get(
    "/tiles/{layer}/{z}/{x}/{y}.mvt",
    summary="One vector tile (Mapbox Vector Tile) of a layer, scoped to your area",
    responses={
        200: {"content": {MVT_MEDIA_TYPE: {}}, "description": "The tile (may be empty)"},
        304: {"description": "Not modified (If-None-Match matched the ETag)"},
        **_PROBLEMS,
    },
    response_class=Response,
    dependencies=[Depends(_only_known_params)],
)
def get_tile(
    request: Request,
    layer: LayerPath,
    z: Annotated[int, Path(description="Zoom level 0..22")],
    x: Annotated[int, Path(description="Column, 0..2^z-1, west to east")],
    y: Annotated[int, Path(description="Row, 0..2^z-1, north to south (XYZ)")],
    session: SessionDep,
    principal: PrincipalDep,
    kind: KindQuery = None,
    status: StatusQuery = None,
    category: CategoryQuery = None,
    datetime: DatetimeQuery = None,
    crs: CrsQuery = None,
) -> Response:
    """The layer's features in the tile (EPSG:3857, extent 4096, buffer 64) that you may see."""
    info = tile_layer(layer)
    filters = TileFilters.parse(
        info, kind=kind, status=status, category=category, datetime=datetime
    )
    check_tile(z, x, y)
    shift = GcjShift.for_tile(z, x, y) if crs == "gcj02" else None
    data = render_tile(
        session,
        principal=principal,
        layer=info.name,
        z=z,
        x=x,
        y=y,
        filters=filters,
        shift=shift,
    )
    etag = _etag(data)
    headers = {
        "Cache-Control": f"private, max-age={TILE_MAX_AGE_S}",
        "ETag": etag,
        "Vary": "Cookie, Authorization",
        "X-Content-Type-Options": "nosniff",
    }
    match = request.headers.get("if-none-match")
    if match and etag in [tag.strip() for tag in match.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=MVT_MEDIA_TYPE, headers=headers)
