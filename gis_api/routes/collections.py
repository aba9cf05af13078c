"""OGC API Features style read access to the spatial layers.

``/collections`` lists the layers, ``/collections/{layer}/items`` pages a layer as a GeoJSON
FeatureCollection and ``/collections/{layer}/items/{featureId}`` returns one Feature. The GeoJSON
is built in SQL by :mod:`layers.features`; this module only parses and validates the query
(dependencies below), builds the links, and sends the text as ``application/geo+json``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from gis_api.deps import PrincipalDep, SessionDep, SettingsDep, client_ip
from gis_api.schemas.features import (
    Collection,
    Collections,
    Conformance,
    Extent,
    Link,
    SpatialExtent,
)
from layers import features
from layers.errors import InvalidInput, NotFound
from layers.features import CRS84, ItemsQuery, LayerInfo
from layers.spatial.crs import Crs
from layers.spatial.output_crs import (
    OUTPUT_CRS_CHOICES,
    content_crs,
    convert_geojson,
    parse_output_crs,
)

router = APIRouter(tags=["features"])

GEOJSON = "application/geo+json"
JSON_MEDIA = "application/json"

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]

# Query parameters every items request accepts; a layer adds its own filters (LayerInfo.filters).
COMMON_ITEMS_PARAMS = frozenset({"bbox", "bbox-crs", "crs", "limit", "offset", "properties"})

_FEATURE_ID = re.compile(r"^[0-9]{1,10}$")

_GEOJSON_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {GEOJSON: {}}, "description": "GeoJSON (RFC 7946, lon/lat)"},
    404: {"description": "Unknown layer, or no such feature within your area (problem+json)"},
    422: {"description": "Invalid query parameter (problem+json with `field`)"},
}


def get_layer_info(
    layer: Annotated[str, Path(description="Layer id, e.g. grids (see /collections)")],
) -> LayerInfo:
    """The layer named in the path, or 404."""
    return features.get_layer(layer)


LayerDep = Annotated[LayerInfo, Depends(get_layer_info)]


def get_output_crs(
    crs: Annotated[
        str | None,
        Query(
            description=f"CRS of the returned coordinates: {OUTPUT_CRS_CHOICES}. GCJ02 is for "
            "maps over an AMap (高德) basemap, BD09 for Baidu; the response names it in the "
            "Content-Crs header"
        ),
    ] = None,
) -> Crs:
    """The output CRS of a GeoJSON response (default WGS-84), or 422."""
    return parse_output_crs(crs)


OutputCrsDep = Annotated[Crs, Depends(get_output_crs)]


def get_items_query(
    request: Request,
    info: LayerDep,
    settings: SettingsDep,
    bbox: Annotated[
        str | None,
        Query(
            description="minx,miny,maxx,maxy in lon,lat degrees (e.g. 117.0,36.6,117.01,36.61)",
        ),
    ] = None,
    bbox_crs: Annotated[
        str | None,
        Query(
            alias="bbox-crs",
            description=f"CRS of bbox: {CRS84} (default), EPSG:4326 or EPSG:4490; "
            "always read in lon,lat order",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        Query(ge=1, description="Page size (default and maximum set by the server)"),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=features.MAX_OFFSET, description="Features to skip")] = 0,
    community: Annotated[
        str | None,
        Query(description="12-digit community code (grids, buildings, places, incidents)"),
    ] = None,
    kind: Annotated[
        str | None,
        Query(description="Kind, comma-separated for several (grids, buildings, places)"),
    ] = None,
    status: Annotated[
        str | None, Query(description="Incident status, comma-separated for several")
    ] = None,
    category: Annotated[
        str | None,
        Query(description="Incident category code; a group (hazard) includes its children"),
    ] = None,
    datetime_: Annotated[
        str | None,
        Query(
            alias="datetime",
            description="Incidents reported at an instant or in an interval (RFC 3339; "
            "start/end, ../end, start/..)",
        ),
    ] = None,
    at: Annotated[
        str | None,
        Query(description="Grids: the map valid at this RFC 3339 time (default: current)"),
    ] = None,
    properties: Annotated[
        str | None,
        Query(
            description="Only these properties, comma-separated (e.g. code,title,status); a "
            "page without personal properties is not audited"
        ),
    ] = None,
) -> ItemsQuery:
    """Validate the items query of one layer into an ItemsQuery (problem+json on bad input)."""
    allowed = COMMON_ITEMS_PARAMS | set(info.filters)
    for name in request.query_params:
        if name not in allowed:
            raise InvalidInput(
                f"Unknown query parameter {name[:64]!r} for {info.id}; "
                f"allowed: {', '.join(sorted(allowed))}",
                f"图层 {info.id} 不支持查询参数 {name[:64]!r}；可用：{'、'.join(sorted(allowed))}",
                field=name[:64],
            )
    page_size = settings.default_page_size if limit is None else limit
    if page_size > settings.max_page_size:
        raise InvalidInput(
            f"limit must be between 1 and {settings.max_page_size}",
            f"limit 必须在 1 到 {settings.max_page_size} 之间",
            field="limit",
        )
    # Validated only: every accepted bbox-crs is read as lon,lat in the storage CRS.
    features.parse_bbox_crs(bbox_crs)
    return ItemsQuery(
        limit=page_size,
        offset=offset,
        bbox=features.parse_bbox(bbox) if bbox is not None else None,
        community=features.parse_community(community) if community is not None else None,
        kind=features.parse_choices(info, "kind", kind) if kind is not None else (),
        status=features.parse_choices(info, "status", status) if status is not None else (),
        category=features.parse_category(category) if category is not None else None,
        datetime_interval=features.parse_interval(datetime_) if datetime_ is not None else None,
        at=features.parse_instant(at, field="at") if at is not None else None,
        properties=features.parse_properties(properties) if properties is not None else None,
    )


ItemsQueryDep = Annotated[ItemsQuery, Depends(get_items_query)]


def _collection(request: Request, info: LayerInfo, bbox: tuple[float, ...]) -> Collection:
    url = str(request.url_for("get_collection", layer=info.id))
    items = str(request.url_for("get_items", layer=info.id))
    return Collection(
        id=info.id,
        title=info.title_en,
        title_zh=info.title_zh,
        description=info.description,
        links=[
            Link(href=url, rel="self", type=JSON_MEDIA, title=f"{info.title_zh} {info.title_en}"),
            Link(href=items, rel="items", type=GEOJSON, title=f"{info.title_zh}要素 Features"),
            Link(href=str(request.url_for("get_collections")), rel="parent", type=JSON_MEDIA),
        ],
        extent=Extent(spatial=SpatialExtent(bbox=[list(bbox)])),
        geometryType=info.geometry_type,
        queryables=list(info.filters),
        personalFields=list(info.personal_fields),
    )


@router.get("/conformance", summary="OGC conformance classes", response_model=Conformance)
def get_conformance(principal: PrincipalDep) -> Conformance:
    """The OGC API Features conformance classes implemented."""
    return Conformance(conformsTo=CONFORMANCE)


@router.get(
    "/collections",
    summary="List the feature collections",
    response_model=Collections,
    response_model_exclude_none=True,
)
def get_collections(request: Request, session: SessionDep, principal: PrincipalDep) -> Collections:
    """Every readable layer; the extent is the bounding box of your area of duty."""
    bbox = features.area_extent(session, principal)
    return Collections(
        collections=[_collection(request, info, bbox) for info in features.LAYERS.values()],
        links=[Link(href=str(request.url), rel="self", type=JSON_MEDIA)],
    )


@router.get(
    "/collections/{layer}",
    summary="Describe one feature collection",
    response_model=Collection,
    response_model_exclude_none=True,
    responses={404: _GEOJSON_RESPONSES[404]},
)
def get_collection(
    request: Request, info: LayerDep, session: SessionDep, principal: PrincipalDep
) -> Collection:
    """One layer's metadata (id, titles, links, extent, CRS, filters, personal fields)."""
    return _collection(request, info, features.area_extent(session, principal))


def _page_links(
    request: Request, info: LayerInfo, query: ItemsQuery, matched: int
) -> list[dict[str, Any]]:
    """self, collection, and next/prev when there are more features either side."""
    links: list[dict[str, Any]] = [
        {"href": str(request.url), "rel": "self", "type": GEOJSON, "title": "本页 This page"},
        {
            "href": str(request.url_for("get_collection", layer=info.id)),
            "rel": "collection",
            "type": JSON_MEDIA,
            "title": f"{info.title_zh} {info.title_en}",
        },
    ]
    if query.offset + query.limit < matched:
        href = request.url.include_query_params(
            offset=query.offset + query.limit, limit=query.limit
        )
        links.append(
            {"href": str(href), "rel": "next", "type": GEOJSON, "title": "下一页 Next page"}
        )
    if query.offset > 0:
        previous = max(0, query.offset - query.limit)
        href = request.url.include_query_params(offset=previous, limit=query.limit)
        links.append(
            {"href": str(href), "rel": "prev", "type": GEOJSON, "title": "上一页 Previous page"}
        )
    return links


@router.get(
    "/collections/{layer}/items",
    summary="Features of a layer (GeoJSON FeatureCollection)",
    response_class=Response,
    responses=_GEOJSON_RESPONSES,
)
def get_items(
    request: Request,
    info: LayerDep,
    query: ItemsQueryDep,
    session: SessionDep,
    principal: PrincipalDep,
    crs: OutputCrsDep,
) -> Response:
    """Page through the features of a layer that lie in your area, filtered by bbox and properties.

    Personal fields are masked unless your role needs them; a page that returns personal data
    is written to the audit log.
    """
    page = features.read_items(
        session,
        principal=principal,
        layer=info.id,
        query=query,
        links=lambda matched: _page_links(request, info, query, matched),
        client_ip=client_ip(request),
    )
    return _geojson(page.body, crs)


@router.get(
    "/collections/{layer}/items/{featureId}",
    summary="One feature (GeoJSON Feature)",
    response_class=Response,
    responses=_GEOJSON_RESPONSES,
)
def get_item(
    request: Request,
    info: LayerDep,
    session: SessionDep,
    principal: PrincipalDep,
    crs: OutputCrsDep,
    feature_id: Annotated[str, Path(alias="featureId", description="The feature's id")],
) -> Response:
    """One feature by id; 404 when it does not exist or lies outside your area."""
    if not _FEATURE_ID.match(feature_id):
        raise NotFound(
            f"There is no feature {feature_id[:32]!r} in {info.id}",
            f"图层 {info.id} 中不存在要素 {feature_id[:32]!r}",
            field="featureId",
        )
    links = [
        {"href": str(request.url), "rel": "self", "type": GEOJSON},
        {
            "href": str(request.url_for("get_collection", layer=info.id)),
            "rel": "collection",
            "type": JSON_MEDIA,
        },
    ]
    body = features.read_item(
        session,
        principal=principal,
        layer=info.id,
        feature_id=int(feature_id),
        links=links,
        client_ip=client_ip(request),
    )
    return _geojson(body, crs)


def _geojson(body: str, crs: Crs) -> Response:
    """The GeoJSON text in ``crs``, with its Content-Crs header."""
    return Response(
        content=convert_geojson(body, crs),
        media_type=GEOJSON,
        headers={"Content-Crs": content_crs(crs)},
    )
