"""Parsing and checking input geometry: one place that turns GeoJSON into a storable shape.

Every path that accepts a geometry (API bodies, imports, drawn edits) goes through
:func:`parse_geometry`, so invalid, empty, mistyped, swapped or oversized input gets the same
clear answer everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from layers.errors import InvalidGeometry, InvalidInput
from layers.spatial.crs import WGS84, Crs, check_lonlat, to_storage

MAX_VERTICES = 100_000
_LOCATION_RE = re.compile(r"\[\s*(-?[\d.eE+-]+)\s+(-?[\d.eE+-]+)\s*\]")

_REASON_ZH = {
    "Self-intersection": "自相交",
    "Ring Self-intersection": "环自相交",
    "Too few points": "顶点过少",
    "Hole lies outside shell": "内环位于外环之外",
    "Nested holes": "内环嵌套",
    "Interior is disconnected": "内部不连通",
    "Nested shells": "外环嵌套",
    "Duplicate Rings": "重复的环",
    "Invalid Coordinate": "坐标无效",
    "Ring is not closed": "环未闭合",
}


def geometry_type_label(kinds: Collection[str]) -> str:
    """Human list of allowed geometry types."""
    return "/".join(sorted(kinds))


def parse_geometry(
    obj: Mapping[str, Any] | None,
    *,
    allowed: Collection[str],
    crs: Crs = WGS84,
    field: str = "geometry",
    promote_to_multi: bool = True,
    max_vertices: int = MAX_VERTICES,
) -> BaseGeometry:
    """Turn a GeoJSON geometry object in ``crs`` into a valid storage (EPSG:4326) geometry.

    Parameters
    ----------
    obj
        A GeoJSON geometry mapping (``{"type": ..., "coordinates": ...}``), x/y order.
    allowed
        Geometry types accepted, e.g. ``{"Polygon", "MultiPolygon"}``.
    crs
        The CRS the coordinates are in; converted to storage lon/lat.
    promote_to_multi
        Return a MultiPolygon for a Polygon input when ``MultiPolygon`` is allowed.

    Raises
    ------
    InvalidGeometry
        Unparsable, wrong type, empty, or invalid (with reason and location in ``extra``).
    InvalidInput
        Too many vertices, or lon/lat out of range (swapped order named).
    """
    if not isinstance(obj, Mapping) or "type" not in obj:
        raise InvalidGeometry(
            "A GeoJSON geometry object with 'type' and 'coordinates' is required",
            "需要包含 type 和 coordinates 的 GeoJSON 几何对象",
            field=field,
        )
    kind = obj.get("type")
    if kind not in allowed:
        raise InvalidGeometry(
            f"Geometry type {kind!r} is not allowed here; expected {geometry_type_label(allowed)}",
            f"此处不接受几何类型 {kind!r}，应为 {geometry_type_label(allowed)}",
            field=field,
        )
    try:
        geom = shape(obj)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise InvalidGeometry(
            f"The {kind} coordinates cannot be read", f"无法读取 {kind} 的坐标", field=field
        ) from exc
    if geom.is_empty:
        raise InvalidGeometry("The geometry is empty", "几何图形为空", field=field)
    coords = shapely.get_coordinates(geom)
    if len(coords) > max_vertices:
        raise InvalidInput(
            f"The geometry has {len(coords)} vertices; at most {max_vertices} are accepted",
            f"几何图形有 {len(coords)} 个顶点，最多允许 {max_vertices} 个",
            field=field,
        )
    if not np.isfinite(coords).all():
        raise InvalidGeometry(
            "Coordinates must be finite numbers", "坐标必须是有限数值", field=field
        )
    if crs.is_geographic:
        for lon, lat in (coords.min(axis=0), coords.max(axis=0)):
            check_lonlat(float(lon), float(lat), field=field)
    geom = to_storage(geom, crs)
    # Centimetre precision in degrees: what storage keeps, so validity is judged on that.
    geom = shapely.set_precision(geom, 1e-7, mode="pointwise")
    check_valid(geom, field=field)
    if promote_to_multi and isinstance(geom, Polygon) and "MultiPolygon" in allowed:
        geom = MultiPolygon([geom])
    return geom


def check_valid(geom: BaseGeometry, *, field: str = "geometry") -> None:
    """Raise InvalidGeometry naming the OGC reason and location when ``geom`` is not valid."""
    if shapely.is_valid(geom):
        return
    reason = shapely.is_valid_reason(geom)
    head = reason.split("[", 1)[0].strip()
    location = None
    match = _LOCATION_RE.search(reason)
    if match:
        location = [float(match.group(1)), float(match.group(2))]
    raise InvalidGeometry(
        f"The geometry is not valid: {reason}",
        f"几何图形无效：{_REASON_ZH.get(head, head)}"
        + (f"，位置 {location[0]:.7f},{location[1]:.7f}" if location else ""),
        field=field,
        extra={"reason": head, "location": location},
    )
