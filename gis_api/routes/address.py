"""Address search over HTTP: ``/address/search``, ``/address/reverse`` and ``/geocode/search``.

Each route validates its parameters, calls one function of :mod:`layers.address.search` and
shapes the answer. Ranking, scope and masking are explained there and in docs/ADDRESS.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from gis_api.deps import PrincipalDep, SessionDep, client_ip
from gis_api.schemas.address import NominatimPlace
from layers.address import search as address_search

router = APIRouter(tags=["address"])

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Nothing of your area at this point (problem+json)"},
    422: {"description": "Invalid query, limit, coordinates or CRS (problem+json with `field`)"},
}
_Q = Query(
    description="Free-text address as said: 华信路12号3号楼2单元301, 鲁能领秀城12-2-301, "
    "华信家园3栋, pinyin initials hxjy",
    min_length=1,
    max_length=address_search.MAX_QUERY_CHARS,
)
_LIMIT = Query(description="Most hits returned", ge=1, le=address_search.MAX_LIMIT)


@router.get("/address/search", summary="Find a building or house by address (地址查找)",
            responses=_PROBLEMS)  # fmt: skip
def get_address_search(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    q: Annotated[str, _Q],
    limit: Annotated[int, _LIMIT] = 10,
) -> dict[str, Any]:
    """Ranked buildings of your area for a free-text address; the house when a room is named.

    Each hit has the location, the building, the house (if matched), the grid and its staff
    (phones masked unless your role needs them; reading staff is audited).
    """
    result = address_search.search(
        session, principal, q=q, limit=limit, client_ip=client_ip(request)
    )
    return result.as_dict()


@router.get("/address/reverse", summary="The address at a point (逆地址)", responses=_PROBLEMS)
def get_address_reverse(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    lon: Annotated[float, Query(description="Longitude in degrees (or easting), e.g. 117.0025")],
    lat: Annotated[float, Query(description="Latitude in degrees (or northing), e.g. 36.605")],
    crs: Annotated[
        str | None,
        Query(
            description="CRS of lon/lat: WGS84 (default), CGCS2000, GCJ02, BD09, EPSG:nnnn",
            max_length=64,
        ),
    ] = None,
    max_m: Annotated[
        float,
        Query(
            description="Report the nearest building only up to this distance (metres)",
            gt=0,
            le=1000,
        ),
    ] = address_search.REVERSE_MAX_M,
) -> dict[str, Any]:
    """The building under the point (else the nearest within `max_m`) and the grid there."""
    return address_search.reverse(
        session, principal, lon=lon, lat=lat, crs=crs, max_distance_m=max_m,
        client_ip=client_ip(request),
    )  # fmt: skip


@router.get("/geocode/search", summary="Nominatim-style search for map search controls",
            responses=_PROBLEMS)  # fmt: skip
def get_geocode_search(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    q: Annotated[str, _Q],
    limit: Annotated[int, _LIMIT] = 10,
    format: Annotated[str, Query(description="Only json (Nominatim's default here)")] = "json",
) -> list[NominatimPlace]:
    """The same search as `/address/search` in Nominatim's JSON shape (no staff)."""
    result = address_search.search(
        session, principal, q=q, limit=limit, with_staff=False, client_ip=client_ip(request)
    )
    places = []
    for hit in result.hits:
        lon, lat = hit["location"]["lon"], hit["location"]["lat"]
        xmin, ymin, xmax, ymax = hit["building"]["bbox"]
        places.append(
            NominatimPlace(
                place_id=hit["building"]["id"],
                lat=f"{lat:.7f}",
                lon=f"{lon:.7f}",
                display_name=hit["address"],
                boundingbox=[f"{ymin:.7f}", f"{ymax:.7f}", f"{xmin:.7f}", f"{xmax:.7f}"],
                type="house" if hit["house"] else hit["building"]["kind"],
                importance=hit["score"],
                grid_code=hit["grid"]["code"] if hit["grid"] else None,
            )
        )
    return places
