"""Filing a new or moved building or place under its grid, and checking it lies in the user's area.

The assignment rule belongs to :mod:`layers.spatial.assign` (the grid covering the footprint's
point-on-surface, points as they are, current non-micro grids, smallest grid code on a shared
edge); this module only applies it to the rows a registry write touched and then checks the
result against the writer's area.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from geoalchemy2.shape import from_shape
from shapely.geometry.base import BaseGeometry

from layers.access import Principal
from layers.base import STORAGE_SRID
from layers.errors import Forbidden, OutsideAllGrids
from layers.models import Building, Place
from layers.scope import area_filter
from layers.spatial.assign import assign_rows
from layers.spatial.crs import WGS84, parse_crs
from layers.spatial.geometry import parse_geometry

_ENTITIES: dict[str, Any] = {"buildings": Building, "places": Place}


def read_geometry(
    obj: Mapping[str, Any] | None,
    *,
    crs: str | None,
    allowed: Collection[str],
    field: str = "geometry",
) -> Any:
    """Parse GeoJSON in ``crs`` (default WGS-84 lon/lat) into a storage (EPSG:4326) WKB element.

    Raises InvalidGeometry / UnknownCRS / InvalidInput through
    :func:`layers.spatial.geometry.parse_geometry`.
    """
    source = WGS84 if crs is None else parse_crs(crs, field="crs")
    geom: BaseGeometry = parse_geometry(
        obj, allowed=allowed, crs=source, field=field, promote_to_multi=False
    )
    return from_shape(geom, srid=STORAGE_SRID)


def file_under_grid(session: Session, *, table: str, ids: Sequence[int]) -> None:
    """Set ``grid_id`` and ``community_id`` of the given rows by the assignment rule.

    The insert/update trigger of migration 0003 has normally done this already; calling
    :func:`layers.spatial.assign.assign_rows` again makes the answer independent of whether the
    trigger ran (a bulk session may have switched it off) and costs one index probe per row.
    """
    assign_rows(session, table=table, ids=list(ids))


def check_filed_in_area(session: Session, *, principal: Principal, table: str, row_id: int) -> None:
    """After a write: the row must lie in some grid, and in the principal's area.

    Raises OutsideAllGrids when no current grid covers it, Forbidden when it lies in a grid
    outside the principal's area (the caller's transaction is then rolled back).
    """
    entity = _ENTITIES[table]
    grid_id = session.execute(select(entity.grid_id).where(entity.id == row_id)).scalar_one()
    if grid_id is None:
        raise OutsideAllGrids(
            "The location lies outside every current grid; draw it inside a grid",
            "该位置不在任何现行网格内，请在网格范围内绘制",
            field="geometry",
        )
    inside = session.execute(
        select(exists().where(entity.id == row_id, area_filter(table, principal)))
    ).scalar_one()
    if not inside:
        raise Forbidden(
            "The location lies outside your area", "该位置不在您的辖区内", field="geometry"
        )
