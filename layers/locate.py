"""Point-in-grid: which grid, community and building a location falls in, and who serves it.

A grid worker on a phone, a dispatcher with a caller on the line, or a script with a column of
coordinates asks "whose is this place?". :func:`locate` answers for one point, :func:`locate_many`
for up to :data:`MAX_BULK_POINTS` at once (one set-based query over ``unnest``-ed arrays).

The grid is the one :mod:`layers.spatial.assign` would file a row at that point under
(``wangge_covering_grid``: current non-micro grids, ``ST_Covers``, smallest code on a shared
edge), so
``/locate`` and the stored ``grid_id`` of buildings, places and incidents always agree.

Who may ask about which point
-----------------------------
* A point whose grid (by the rule) belongs to the user's area — its code starts with the area
  prefix — is answered in full.
* A point no grid covers is answered with ``status = "outside"``, the nearest grid of the user's
  area and the distance to it in metres, when the point lies in the polygon of the user's area;
  such places are gaps in the grid map that the planner must close.
* Any other point (its grid belongs to another area, or it lies outside the area and outside
  every grid) is answered exactly like an unknown place: :class:`layers.errors.NotFound`, so the
  answer reveals nothing about other areas. On the boundary between two areas the tie rule
  decides whose point it is, for ``/locate`` as for stored rows.

Personal data: the grid's staff list (name, duty, phone) is masked per role like the grids
layer (:class:`layers.features.PersonalDataView`); an answer that lists staff writes one audit row
(``resource = "grids"``, ``detail.endpoint = "locate"``) in the caller's transaction.

Coordinates come in any CRS :func:`layers.spatial.crs.parse_crs` knows (WGS-84, CGCS2000,
GCJ-02, BD-09, projected EPSG codes; for a projected CRS ``lon``/``lat`` are easting/northing)
and are converted to storage lon/lat before PostGIS sees them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import case, func, select, text
from sqlalchemy.orm import Session

import shapely

from layers.access import Principal
from layers.audit import record
from layers.base import STORAGE_SRID
from layers.errors import InvalidInput, NotFound, OutsideAllGrids
from layers.features import PersonalDataView, sql_mask_name, sql_mask_phone
from layers.models import Building, Grid, GridStaff, User
from layers.scope import area_filter
from layers.spatial.assign import CANDIDATE_GRID_SQL, nearest_grid_lateral
from layers.spatial.crs import Crs, check_lonlat, parse_crs, point_to_storage, to_storage

#: The most points one bulk request may carry.
MAX_BULK_POINTS = 10_000

#: Personal fields of a locate answer, as the audit log names them (same as the grids layer).
STAFF_FIELDS = ("staff.name", "staff.phone")

_DUTY_ORDER = {"leader": 1, "worker": 2, "collector": 3, "volunteer": 4}

# One statement for the spatial part of an answer: the grid by the rule, every grid whose
# boundary the point lies on, the micro-grid, the admin chain, whether the point lies in the
# user's area, and (only when no grid covers it) the nearest grid of the area.
_LOCATE_SQL = f"""
WITH pt AS (
    SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), :srid) AS geom
), hit AS (
    SELECT wangge_grid_at(pt.geom) AS grid_id FROM pt
), community AS (
    SELECT a.id, a.code, a.name, a.parent_id
    FROM admin_units AS a
    WHERE a.id = (SELECT g.community_id FROM grids AS g, hit WHERE g.id = hit.grid_id)
    UNION ALL
    (SELECT a.id, a.code, a.name, a.parent_id
     FROM admin_units AS a, pt, hit
     WHERE hit.grid_id IS NULL AND a.level = 'community' AND ST_Covers(a.geom, pt.geom)
     ORDER BY a.code LIMIT 1)
), street AS (
    SELECT a.id, a.code, a.name, a.parent_id
    FROM admin_units AS a WHERE a.id = (SELECT c.parent_id FROM community AS c)
    UNION ALL
    (SELECT a.id, a.code, a.name, a.parent_id
     FROM admin_units AS a, pt
     WHERE NOT EXISTS (SELECT 1 FROM community) AND a.level = 'street'
       AND ST_Covers(a.geom, pt.geom)
     ORDER BY a.code LIMIT 1)
), district AS (
    SELECT a.id, a.code, a.name
    FROM admin_units AS a WHERE a.id = (SELECT s.parent_id FROM street AS s)
    UNION ALL
    (SELECT a.id, a.code, a.name
     FROM admin_units AS a, pt
     WHERE NOT EXISTS (SELECT 1 FROM street) AND a.level = 'district'
       AND ST_Covers(a.geom, pt.geom)
     ORDER BY a.code LIMIT 1)
)
SELECT
    g.id AS grid_id, g.code AS grid_code, g.name AS grid_name, g.kind AS grid_kind,
    g.sizing_type AS grid_sizing_type, g.sizhi AS grid_sizhi,
    starts_with(g.code, :prefix) AS grid_in_scope,
    (CAST(:area AS integer) IS NULL
     OR ST_Covers((SELECT a.geom FROM admin_units AS a WHERE a.id = :area), pt.geom)) AS in_area,
    (SELECT array_agg(b.code ORDER BY b.code) FROM grids AS b
     WHERE {CANDIDATE_GRID_SQL.replace("g.", "b.")} AND ST_Covers(b.geom, pt.geom)) AS covering,
    (SELECT json_build_object('code', m.code, 'name', m.name) FROM grids AS m
     WHERE m.valid_to IS NULL AND m.kind = 'micro' AND ST_Covers(m.geom, pt.geom)
     ORDER BY m.code LIMIT 1) AS micro_grid,
    (SELECT json_build_object('code', c.code, 'name', c.name) FROM community AS c) AS community,
    (SELECT json_build_object('code', s.code, 'name', s.name) FROM street AS s) AS street,
    (SELECT json_build_object('code', d.code, 'name', d.name) FROM district AS d) AS district,
    nearest.id AS nearest_id, nearest.code AS nearest_code, nearest.name AS nearest_name,
    nearest.distance_m AS nearest_distance_m
FROM pt
CROSS JOIN hit
LEFT JOIN grids AS g ON g.id = hit.grid_id
{nearest_grid_lateral("pt.geom", "hit.grid_id IS NULL AND starts_with(g.code, :prefix)")}
"""  # noqa: S608 (constant SQL; every value is a bound parameter)

# The bulk form: the same rule per point, in input order; nearest grids only for points no grid
# covers, and only grids of the user's area.
_LOCATE_MANY_SQL = f"""
WITH pt AS (
    SELECT u.ord, ST_SetSRID(ST_MakePoint(u.x, u.y), :srid) AS geom
    FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS u(x, y, ord)
), hit AS (
    SELECT pt.ord, pt.geom, cg.grid_id
    FROM pt LEFT JOIN LATERAL wangge_covering_grid(pt.geom) AS cg ON TRUE
), area AS (
    SELECT a.geom FROM admin_units AS a WHERE a.id = :area
)
SELECT
    hit.ord, g.code AS grid_code, g.name AS grid_name, c.code AS community_code,
    starts_with(g.code, :prefix) AS grid_in_scope,
    ST_Covers(area.geom, hit.geom) AS in_area,
    nearest.code AS nearest_code, nearest.name AS nearest_name,
    nearest.distance_m AS nearest_distance_m
FROM hit
CROSS JOIN area
LEFT JOIN grids AS g ON g.id = hit.grid_id
LEFT JOIN admin_units AS c ON c.id = g.community_id
{nearest_grid_lateral("hit.geom", "hit.grid_id IS NULL AND starts_with(g.code, :prefix)")}
ORDER BY hit.ord
"""  # noqa: S608 (constant SQL; every value is a bound parameter)


@dataclass(frozen=True, slots=True)
class StoragePoint:
    """A location converted to storage lon/lat (EPSG:4326 degrees)."""

    lon: float
    lat: float


def _as_crs(crs: Crs | str | None) -> Crs:
    return crs if isinstance(crs, Crs) else parse_crs(crs, field="crs")


def to_storage_point(x: float, y: float, crs: Crs, *, field: str = "lon,lat") -> StoragePoint:
    """Check one x/y (lon/lat or easting/northing in ``crs``) and convert it to storage lon/lat.

    Raises InvalidInput (with ``field``) for non-finite values, lon/lat out of range (naming a
    likely swap of the order), or a projected coordinate that lands outside the globe.
    """
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InvalidInput("Coordinates must be finite numbers", "坐标必须是有限数值", field=field)
    if crs.is_geographic:
        check_lonlat(x, y, field=field)
    lon, lat = point_to_storage(x, y, crs)
    if not (math.isfinite(lon) and math.isfinite(lat)) or abs(lat) > 90 or abs(lon) > 180:
        raise InvalidInput(
            f"({x}, {y}) in {crs.label} is not a place on Earth; check the CRS and the order x,y",
            f"{crs.label} 坐标 ({x}, {y}) 不在地球范围内，请检查坐标系和 x,y 顺序",
            field=field,
        )
    return StoragePoint(lon, lat)


# The operator's view (command line without an account): every area, personal data masked.
OPERATOR_VIEW = PersonalDataView(names_full=False, phones_full=False)


def _view(principal: Principal | None) -> PersonalDataView:
    return OPERATOR_VIEW if principal is None else PersonalDataView.for_principal(principal)


def _staff(session: Session, principal: Principal | None, code: str) -> list[dict[str, Any]]:
    """The grid code's active staff, leader first, masked per role (as the grids layer)."""
    view = _view(principal)
    name = User.full_name if view.names_full else sql_mask_name(User.full_name)
    phone = User.phone if view.phones_full else sql_mask_phone(User.phone)
    rows = session.execute(
        select(name.label("name"), GridStaff.duty, phone.label("phone"))
        .select_from(GridStaff)
        .join(User, User.id == GridStaff.user_id)
        .where(GridStaff.grid_code == code, User.is_active)
        .order_by(case(_DUTY_ORDER, value=GridStaff.duty, else_=9), User.id)
    )
    return [{"name": r.name, "duty": r.duty, "phone": r.phone} for r in rows]


def _building(
    session: Session, principal: Principal | None, point: StoragePoint
) -> dict[str, Any] | None:
    """The building whose footprint covers the point (lowest id if several), in the area."""
    location = func.ST_SetSRID(func.ST_MakePoint(point.lon, point.lat), STORAGE_SRID)
    grid = select(Grid.code).where(Grid.id == Building.grid_id).scalar_subquery()
    stmt = (
        select(
            Building.id,
            Building.code,
            Building.name,
            Building.kind,
            Building.floors,
            Building.address,
            grid.label("grid_code"),
        )
        .where(func.ST_Covers(Building.geom, location))
        .order_by(Building.id)
        .limit(1)
    )
    if principal is not None:
        stmt = stmt.where(area_filter("buildings", principal))
    row = session.execute(stmt).first()
    if row is None:
        return None
    return {
        "id": row.id,
        "code": row.code,
        "name": row.name,
        "kind": row.kind,
        "floors": row.floors,
        "address": row.address,
        "grid_code": row.grid_code,
    }


def _not_in_area(crs: Crs, x: float, y: float) -> NotFound:
    return NotFound(
        f"There is no grid of your area at ({x}, {y}) in {crs.label}",
        f"在您的辖区内，{crs.label} 坐标 ({x}, {y}) 处没有网格",
        field="lon,lat",
    )


def locate(
    session: Session,
    principal: Principal | None,
    *,
    lon: float,
    lat: float,
    crs: Crs | str | None = None,
    client_ip: str | None = None,
) -> dict[str, Any]:
    """The admin chain, grid (with 四至 and staff) and building at one point.

    Parameters
    ----------
    principal
        The user asking (scope, masking, audit). ``None`` is the command-line operator: every
        area, staff names and phones masked, audited under the name ``cli``.
    lon, lat
        The location in ``crs``: longitude/latitude in degrees, or easting/northing in metres
        for a projected CRS (always x first).
    crs
        Anything :func:`layers.spatial.crs.parse_crs` accepts; ``None`` is WGS-84.

    Returns
    -------
    dict
        ``status`` (``"inside"`` or ``"outside"``), ``query`` (as given), ``location`` (storage
        lon/lat), ``admin`` (district, street, community: ``{code, name}`` or None), ``grid``
        (id, code, name, kind, sizing_type, sizhi, staff) or None, ``micro_grid``,
        ``boundary_of`` (the codes of every grid covering the point when it lies on a shared
        edge; the first is the one chosen), ``building`` or None, and for ``"outside"`` the
        ``nearest`` grid of the user's area with ``distance_m`` (metres, WGS-84 spheroid) and a
        bilingual ``message``.

    Raises
    ------
    InvalidInput, UnknownCRS
        Bad coordinates or CRS (``field`` names the parameter).
    NotFound
        The point's grid belongs to another area, or the point lies outside the user's area
        and outside every grid.
    """
    crs_obj = _as_crs(crs)
    point = to_storage_point(lon, lat, crs_obj)
    row = session.execute(
        text(_LOCATE_SQL),
        {
            "lon": point.lon,
            "lat": point.lat,
            "srid": STORAGE_SRID,
            "area": principal.area_id if principal else None,
            "prefix": principal.area_prefix if principal else "",
        },
    ).one()
    inside = row.grid_id is not None
    if (inside and not row.grid_in_scope) or (not inside and not row.in_area):
        raise _not_in_area(crs_obj, lon, lat)

    answer: dict[str, Any] = {
        "status": "inside" if inside else "outside",
        "query": {"lon": lon, "lat": lat, "crs": crs_obj.label},
        "location": {"lon": point.lon, "lat": point.lat, "crs": "EPSG:4326"},
        "admin": {"district": row.district, "street": row.street, "community": row.community},
        "grid": None,
        "micro_grid": row.micro_grid,
        "boundary_of": list(row.covering) if row.covering and len(row.covering) > 1 else [],
        "building": _building(session, principal, point),
        "nearest": None,
    }
    if inside:
        staff = _staff(session, principal, row.grid_code)
        answer["grid"] = {
            "id": row.grid_id,
            "code": row.grid_code,
            "name": row.grid_name,
            "kind": row.grid_kind,
            "sizing_type": row.grid_sizing_type,
            "sizhi": row.grid_sizhi,
            "staff": staff,
        }
        if staff:
            _audit_staff_read(session, principal, row.grid_id, client_ip)
    else:
        answer["message"] = OutsideAllGrids.default_en
        answer["message_zh"] = OutsideAllGrids.default_zh
        if row.nearest_id is not None:
            answer["nearest"] = {
                "grid": {"id": row.nearest_id, "code": row.nearest_code, "name": row.nearest_name},
                "distance_m": round(float(row.nearest_distance_m), 2),
            }
    return answer


def _audit_staff_read(
    session: Session, principal: Principal | None, grid_id: int, client_ip: str | None
) -> None:
    view = _view(principal)
    shown = {"staff.name": view.names_full, "staff.phone": view.phones_full}
    masked = [f for f in STAFF_FIELDS if not shown[f]]
    record(
        session,
        action="read",
        resource="grids",
        resource_ids=[grid_id],
        fields=STAFF_FIELDS,
        unmasked=view.unmasked,
        principal=principal,
        username=None if principal else "cli",
        client_ip=client_ip,
        detail={"endpoint": "locate", "masked_fields": masked},
    )


@dataclass(frozen=True, slots=True)
class BulkPoint:
    """One point of a bulk request: the caller's id and x/y in the request's CRS."""

    id: str | int
    x: float
    y: float


def locate_many(
    session: Session,
    principal: Principal,
    *,
    points: Sequence[BulkPoint],
    crs: Crs | str | None = None,
) -> dict[str, Any]:
    """The grid of each of up to :data:`MAX_BULK_POINTS` points, in one set-based query.

    Each result carries the caller's ``id`` and a ``status``: ``"inside"`` (``grid_code``,
    ``grid_name``, ``community_code``), ``"outside"`` (no grid covers it but it lies in the
    user's area: ``nearest_grid_code``, ``nearest_grid_name``, ``distance_m``), or
    ``"not_in_area"`` (its grid belongs to another area, or it lies outside the area and every
    grid: nothing more is said). No staff, so no personal data and no audit row.
    """
    if len(points) > MAX_BULK_POINTS:
        raise InvalidInput(
            f"At most {MAX_BULK_POINTS} points per request; got {len(points)}",
            f"每次最多 {MAX_BULK_POINTS} 个点，实际为 {len(points)} 个",
            field="points",
        )
    crs_obj = _as_crs(crs)
    xy = np.array([(p.x, p.y) for p in points], dtype=float).reshape(-1, 2)
    lonlat = _bulk_to_storage(xy, crs_obj)
    rows = session.execute(
        text(_LOCATE_MANY_SQL),
        {
            "xs": lonlat[:, 0].tolist(),
            "ys": lonlat[:, 1].tolist(),
            "srid": STORAGE_SRID,
            "area": principal.area_id,
            "prefix": principal.area_prefix,
        },
    ).all()
    results: list[dict[str, Any]] = []
    counts = {"inside": 0, "outside": 0, "not_in_area": 0}
    for point, row in zip(points, rows, strict=True):
        item: dict[str, Any] = {"id": point.id, "lon": point.x, "lat": point.y}
        if row.grid_code is not None and row.grid_in_scope:
            item.update(
                status="inside",
                grid_code=row.grid_code,
                grid_name=row.grid_name,
                community_code=row.community_code,
            )
        elif row.grid_code is None and row.in_area:
            item.update(
                status="outside",
                nearest_grid_code=row.nearest_code,
                nearest_grid_name=row.nearest_name,
                distance_m=None
                if row.nearest_distance_m is None
                else round(float(row.nearest_distance_m), 2),
            )
        else:
            item["status"] = "not_in_area"
        counts[item["status"]] += 1
        results.append(item)
    return {"crs": crs_obj.label, "count": len(results), **counts, "results": results}


def _bulk_to_storage(xy: np.ndarray, crs: Crs) -> np.ndarray:
    """Check and convert an (N, 2) array of x/y in ``crs`` to storage lon/lat, vectorised."""
    bad = ~np.isfinite(xy).all(axis=1)
    if crs.is_geographic:
        bad |= (np.abs(xy[:, 1]) > 90) | (np.abs(xy[:, 0]) > 180)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        to_storage_point(float(xy[i, 0]), float(xy[i, 1]), crs, field=f"points.{i}")
    if crs.is_identity or len(xy) == 0:
        return xy
    converted = shapely.get_coordinates(to_storage(shapely.multipoints(xy), crs))
    off = ~np.isfinite(converted).all(axis=1)
    off |= (np.abs(converted[:, 1]) > 90) | (np.abs(converted[:, 0]) > 180)
    if off.any():
        i = int(np.flatnonzero(off)[0])
        to_storage_point(float(xy[i, 0]), float(xy[i, 1]), crs, field=f"points.{i}")
    return converted


__all__ = [
    "MAX_BULK_POINTS",
    "STAFF_FIELDS",
    "BulkPoint",
    "StoragePoint",
    "locate",
    "locate_many",
    "to_storage_point",
]
