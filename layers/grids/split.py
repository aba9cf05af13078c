"""Split a grid of a draft plan by a line the planner draws (``ST_Split`` in PostGIS).

The line must cross the grid: start outside, run through it and leave it again (a line that
stops inside, or only touches the boundary, cuts nothing and is refused). Every piece becomes a
new grid of the plan with the parent's kind and sizing type and a provisional key; at publish
each gets a new code and the parent's code is retired (:mod:`layers.grids.codes`). A line that
crosses a concave grid several times gives more than two pieces; all of them become grids.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

import shapely
from shapely.geometry.base import BaseGeometry

from layers.access import Principal
from layers.base import STORAGE_SRID
from layers.errors import InvalidGeometry, InvalidInput
from layers.grids import codes
from layers.grids.plans import (
    EditSummary,
    NewPart,
    check_expected_versions,
    live_grids,
    open_draft,
    record_edit,
)
from layers.models.plans import EditOp

# A piece smaller than this (m², WGS-84 spheroid), or narrower than this (m, as 2·area/perimeter,
# exact for long thin strips), is a sliver from a line drawn too close to the boundary, not a
# grid anyone means to create.
MIN_PART_AREA_M2 = 50.0
MIN_PART_WIDTH_M = 5.0

# The pieces of the grid cut by the line, each with its area and position (for naming in
# reading order). ST_Split keeps every vertex of the source, so the pieces' outer edges are
# exactly the old boundary and the cut edges exactly follow the line: the parts tile the parent.
_SPLIT_SQL = """
SELECT ST_AsEWKB(ST_Multi(d.geom)) AS geom,
       ST_Area(d.geom::geography) AS area_m2,
       2 * ST_Area(d.geom::geography) / nullif(ST_Perimeter(d.geom::geography), 0) AS width_m,
       ST_X(pos.pt) AS x, ST_Y(pos.pt) AS y,
       ST_YMax(d.geom) - ST_YMin(d.geom) AS height,
       ST_NumGeometries(src.geom) AS source_polygons
FROM (SELECT ST_GeomFromEWKB(:grid) AS geom) AS src
CROSS JOIN LATERAL ST_Dump(ST_Split(src.geom, ST_GeomFromWKB(:line, :srid))) AS d
CROSS JOIN LATERAL (SELECT ST_PointOnSurface(d.geom) AS pt) AS pos
WHERE GeometryType(d.geom) = 'POLYGON'
"""


def split_by_line(
    session: Session,
    *,
    principal: Principal,
    plan_id: int,
    key: str,
    line: BaseGeometry,
    expected_version: int | None = None,
    names: Sequence[str] | None = None,
) -> EditSummary:
    """Add to a draft plan the split of grid ``key`` by ``line`` (EPSG:4326 LineString).

    Parameters
    ----------
    key
        A grid code of the draft's current set (or a part key of an earlier edit).
    line
        The cutting line in storage CRS (lon/lat), as returned by ``parse_geometry``.
    expected_version
        The version of the grid the planner drew on; a newer current version is a Conflict.
    names
        Names of the parts in reading order (north→south, west→east); default
        ``<parent name>-1``, ``-2``, ...

    Raises
    ------
    InvalidGeometry
        ``line`` is not a LineString, or does not cross the grid (``field="geometry"``).
    InvalidInput
        A piece is a sliver (:data:`MIN_PART_AREA_M2`, :data:`MIN_PART_WIDTH_M`), or
        ``names`` has the wrong length.
    """
    if line.geom_type != "LineString":
        raise InvalidGeometry(
            f"A split needs a LineString, not {line.geom_type}",
            f"分割需要一条线（LineString），而不是 {line.geom_type}",
            field="geometry",
        )
    ctx = open_draft(session, principal=principal, plan_id=plan_id)
    grid = live_grids(session, ctx, [key], field_name="key")[key]
    check_expected_versions(
        {key: grid},
        None if expected_version is None else {key: expected_version},
        field_name="expected_version",
    )
    pieces = session.execute(
        text(_SPLIT_SQL),
        {"grid": grid.geom, "line": shapely.to_wkb(line), "srid": STORAGE_SRID},
    ).all()
    source_polygons = pieces[0].source_polygons if pieces else 1
    if len(pieces) <= source_polygons:
        raise InvalidGeometry(
            f"The line does not cross grid {key}: draw it from outside the grid, "
            "through it, to the other side",
            f"分割线没有穿过网格 {key}：请从网格外开始，穿过网格，画到另一侧",
            field="geometry",
        )
    slivers = [p for p in pieces if p.area_m2 < MIN_PART_AREA_M2 or p.width_m < MIN_PART_WIDTH_M]
    if slivers:
        s = min(slivers, key=lambda p: p.area_m2)
        raise InvalidInput(
            f"The line cuts off a sliver of {s.area_m2:.1f} m², {s.width_m:.1f} m wide (each "
            f"part needs {MIN_PART_AREA_M2:.0f} m² and {MIN_PART_WIDTH_M:.0f} m of width); "
            "move the line away from the boundary",
            f"分割线切出了面积 {s.area_m2:.1f} 平方米、宽 {s.width_m:.1f} 米的碎片"
            f"（每个部分至少 {MIN_PART_AREA_M2:.0f} 平方米、宽 {MIN_PART_WIDTH_M:.0f} 米），"
            "请让分割线离开网格边界",
            field="geometry",
        )
    order = codes.reading_order(
        [codes.Placed(str(i), p.x, p.y, p.height) for i, p in enumerate(pieces)]
    )
    ordered = [pieces[int(i)] for i in order]
    part_names = _part_names(grid.name, len(ordered), names)
    parts = [
        NewPart(
            key=None,
            name=name,
            kind=grid.kind,
            sizing_type=grid.sizing_type,
            community_id=grid.community_id,
            parent_grid_code=grid.parent_grid_code,
            geom=bytes(piece.geom),
        )
        for piece, name in zip(ordered, part_names, strict=True)
    ]
    return record_edit(
        session,
        ctx,
        op=EditOp.split,
        sources=[grid],
        parts=parts,
        params={"method": "line", "line": shapely.geometry.mapping(line)},
    )


def _part_names(parent: str, count: int, names: Sequence[str] | None) -> list[str]:
    if names is None:
        return [f"{parent}-{i}" for i in range(1, count + 1)]
    if len(names) != count or any(not n.strip() for n in names):
        raise InvalidInput(
            f"The line cuts the grid into {count} parts; give {count} non-empty names "
            "(north to south, west to east) or none",
            f"分割线把网格分成 {count} 个部分，"
            f"请给出 {count} 个非空名称（自北向南、自西向东）或不填",
            field="names",
        )
    return [n.strip() for n in names]
