"""Heat cells: incidents binned into squares or hexagons of a size in metres.

Metric CRS
----------
Cells are laid out in EPSG:4527, CGCS2000 / 3-degree Gauss-Krüger zone 39 (central meridian
117°E, the meridian of Jinan): a transverse Mercator whose scale error is below 0.01 % within a
few tens of kilometres of 117°E, so a "100 m" cell is 100 m on the ground at the demo latitude
(36.69°N). Web Mercator (EPSG:3857) would stretch a cell by 1/cos(latitude) = 1.25 here and need
a latitude correction that changes with the view; the Gauss-Krüger lattice is fixed, so the same
cell has the same id and outline in every request, tile and rollup.

Lattice and ids
---------------
Square cell ``(i, j)`` covers ``[i·s, (i+1)·s) × [j·s, (j+1)·s)`` in EPSG:4527 metres — the cell
of PostGIS ``ST_Square(s, i, j)``. Hexagon ``(i, j)`` is PostGIS ``ST_Hexagon(s, i, j)``: flat-top
hexagons of circumradius ``s`` (edge length ``s``), column ``i`` centred at ``x = 1.5·s·i``, rows at
``y = √3·s·(j + i mod 2 / 2)``. A point goes to the hexagon with the nearest centre (hexagons are
the Voronoi cells of their centres), computed arithmetically: two candidate columns, one rounded
row each. Every point lands in exactly one cell (a point on an edge goes to the lower index for
squares, to the first nearest centre for hexagons), so the cell counts always sum to the number of
incidents counted: the heatmap conserves the total.

Sources
-------
``live`` bins the filtered incidents at request time (``ST_Transform`` of each point, then an
arithmetic GROUP BY). ``rollup`` reads the materialized view ``incident_heat_rollup``: counts per
250 m square, month (Asia/Shanghai), category and community — or, without a category filter,
``incident_heat_rollup_all``, the same summed over categories — refreshed by
:func:`refresh_rollup`. It answers square cells whose size is a multiple of 250 m, for whole
months and without a status filter; a cell of k·250 m is the exact sum of k² rollup cells.
The rollup can only keep whole 250 m cells: with a bbox it counts the cells that touch it.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Date,
    Float,
    Integer,
    Select,
    String,
    Subquery,
    and_,
    case,
    cast,
    column,
    func,
    literal,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from layers.access import Principal
from layers.base import STORAGE_SRID
from layers.errors import InvalidInput
from layers.models import AdminUnit, Incident
from layers.stats.filters import (
    STATS_TIMEZONE,
    StatsFilter,
    category_match,
    require_stats_role,
    where,
)

# The rollup is a materialized view (migration 0008), described here as a lightweight table so
# queries can be built with SQLAlchemy; it is not part of the ORM metadata (no drift check).
rollup = table(
    "incident_heat_rollup",
    column("cell_i", Integer),
    column("cell_j", Integer),
    column("month", Date),
    column("category_code", String),
    column("community_id", Integer),
    column("n", Integer),
)
# The same summed over categories, for requests without a category filter.
rollup_all = table(
    "incident_heat_rollup_all",
    column("cell_i", Integer),
    column("cell_j", Integer),
    column("month", Date),
    column("community_id", Integer),
    column("n", Integer),
)
ROLLUP_VIEWS = ("incident_heat_rollup", "incident_heat_rollup_all")

#: The metric CRS of the cell lattice (see the module docstring).
METRIC_SRID = 4527
#: Web Mercator, the CRS of map tiles.
TILE_SRID = 3857

Shape = Literal["square", "hexagon"]
Source = Literal["live", "rollup"]

MIN_CELL_M = 10.0
MAX_CELL_M = 50_000.0
#: A GeoJSON answer holds at most this many (non-empty) cells.
MAX_CELLS = 100_000

#: Side of the rollup's square cells, metres.
ROLLUP_CELL_M = 250

#: MVT extent and buffer (tile units).
MVT_EXTENT = 4096
MVT_BUFFER = 64
#: Cell sizes a tile picks from when the client gives none (metres, coarse to fine).
TILE_SIZES_M = (50_000, 20_000, 10_000, 5_000, 2_000, 1_000, 500, 250, 100, 50, 25)
#: Earth's circumference in Web Mercator units: the width of tile 0/0/0.
WEB_MERCATOR_WIDTH = 40_075_016.685578488
MAX_ZOOM = 22


def check_size(size_m: float) -> float:
    """Validate a cell size in metres."""
    if not (math.isfinite(size_m) and MIN_CELL_M <= size_m <= MAX_CELL_M):
        raise InvalidInput(
            f"size must be between {MIN_CELL_M:g} and {MAX_CELL_M:g} metres",
            f"网格单元大小应在 {MIN_CELL_M:g} 到 {MAX_CELL_M:g} 米之间",
            field="size",
        )
    return float(size_m)


def _origin() -> ColumnElement[Any]:
    return func.ST_SetSRID(func.ST_MakePoint(0, 0), METRIC_SRID)


def cell_geometry(shape: Shape, size_m: float, i: Any, j: Any) -> ColumnElement[Any]:
    """The outline of cell ``(i, j)`` in EPSG:4527 (``ST_Square`` / ``ST_Hexagon``)."""
    fn = func.ST_Square if shape == "square" else func.ST_Hexagon
    return fn(literal(size_m, Float), cast(i, Integer), cast(j, Integer), _origin())


def _parity(expr: Any) -> Any:
    """``expr mod 2`` as 0/1 for any sign (PostgreSQL's % keeps the sign of the dividend)."""
    return expr - 2 * func.floor(expr / 2.0)


def binned_counts(points: Subquery, shape: Shape, size_m: float) -> Select[int, int, int]:
    """``SELECT i, j, n`` grouping the ``x, y`` (EPSG:4527 metres) of ``points`` into cells."""
    x, y = points.c.x, points.c.y
    if shape == "square":
        i = cast(func.floor(x / size_m), Integer)
        j = cast(func.floor(y / size_m), Integer)
    else:
        w, h = 1.5 * size_m, math.sqrt(3.0) * size_m
        col = select(x, y, func.floor(x / w).label("ia")).subquery("hex_col")
        ia, ib = col.c.ia, col.c.ia + 1
        pa, pb = _parity(ia), _parity(ib)
        rows = select(
            col.c.x,
            col.c.y,
            ia.label("ia"),
            pa.label("pa"),
            func.round(col.c.y / h - 0.5 * pa).label("ja"),
            pb.label("pb"),
            func.round(col.c.y / h - 0.5 * pb).label("jb"),
        ).subquery("hex_rows")
        r = rows.c
        da = func.power(r.x - w * r.ia, 2) + func.power(r.y - h * (r.ja + 0.5 * r.pa), 2)
        db = func.power(r.x - w * (r.ia + 1), 2) + func.power(r.y - h * (r.jb + 0.5 * r.pb), 2)
        nearer_a = da <= db
        i = cast(case((nearer_a, r.ia), else_=r.ia + 1), Integer)
        j = cast(case((nearer_a, r.ja), else_=r.jb), Integer)
    return select(i.label("i"), j.label("j"), func.count().label("n")).group_by(i, j)


def metric_points(principal: Principal, flt: StatsFilter, *extra: ColumnElement[bool]) -> Subquery:
    """The filtered incidents as ``x, y`` in EPSG:4527 metres.

    The ``OFFSET 0`` fence keeps PostgreSQL from inlining the subquery, which would run
    ``ST_Transform`` once for ``ST_X`` and again for ``ST_Y``.
    """
    projected = (
        select(func.ST_Transform(Incident.geom, METRIC_SRID).label("t"))
        .where(where(principal, flt), *extra)
        .offset(0)
        .subquery("projected")
    )
    return select(
        func.ST_X(projected.c.t).label("x"), func.ST_Y(projected.c.t).label("y")
    ).subquery("xy")


# ---------------------------------------------------------------------------------- rollup


def refresh_rollup(session: Session, *, concurrently: bool = True) -> None:
    """Recompute the rollup views (CONCURRENTLY keeps them readable meanwhile), then ANALYZE
    them: a view refreshed without statistics gets row estimates of 1 and poor plans."""
    mode = "CONCURRENTLY " if concurrently else ""
    for view in ROLLUP_VIEWS:  # the second is built from the first
        session.execute(text(f"REFRESH MATERIALIZED VIEW {mode}{view}"))
        session.execute(text(f"ANALYZE {view}"))


def _month_start(value: datetime) -> bool:
    local = value.astimezone(ZoneInfo(STATS_TIMEZONE))
    return (local.day, local.hour, local.minute, local.second, local.microsecond) == (
        1,
        0,
        0,
        0,
        0,
    )


def check_rollup(flt: StatsFilter, shape: Shape, size_m: float) -> None:
    """Raise InvalidInput when the rollup cannot answer this request exactly."""
    problems: list[tuple[str, str, str]] = []
    if shape != "square":
        problems.append(("shape", "the rollup holds square cells", "预聚合仅支持正方形单元"))
    if size_m % ROLLUP_CELL_M:
        problems.append(
            (
                "size",
                f"with source=rollup the size must be a multiple of {ROLLUP_CELL_M} m",
                f"使用预聚合时单元大小须为 {ROLLUP_CELL_M} 米的整数倍",
            )
        )
    if flt.statuses:
        problems.append(("status", "the rollup has no status", "预聚合不按状态区分"))
    for name in ("start", "end"):
        value = getattr(flt, name)
        if value is not None and not _month_start(value):
            problems.append(
                (
                    name,
                    f"with source=rollup {name} must be the first of a month, 00:00 "
                    f"{STATS_TIMEZONE}",
                    f"使用预聚合时 {name} 须为某月 1 日 0 时（北京时间）",
                )
            )
    if problems:
        field, en, zh = problems[0]
        raise InvalidInput(en, zh, field=field)


def rollup_counts(
    principal: Principal,
    flt: StatsFilter,
    size_m: float,
    metric_box: ColumnElement[Any] | None,
) -> Select[int, int, int]:
    """``SELECT i, j, n`` of square cells of ``size_m`` summed from the 250 m monthly rollup.

    ``metric_box``: an EPSG:4527 geometry whose bounding box limits the rollup cells read.
    """
    require_stats_role(principal)
    check_rollup(flt, "square", size_m)
    k = int(size_m // ROLLUP_CELL_M)
    source = rollup if flt.categories else rollup_all
    conditions: list[ColumnElement[bool]] = [
        source.c.community_id.in_(
            select(AdminUnit.id).where(AdminUnit.code.startswith(principal.area_prefix))
        )
    ]
    tz = ZoneInfo(STATS_TIMEZONE)
    if flt.start is not None:
        conditions.append(source.c.month >= flt.start.astimezone(tz).date())
    if flt.end is not None:
        conditions.append(source.c.month < flt.end.astimezone(tz).date())
    if flt.categories:
        conditions.append(category_match(rollup.c.category_code, flt.categories))
    boxes: list[ColumnElement[Any]] = []
    if flt.bbox is not None:
        boxes.append(func.ST_Transform(func.ST_MakeEnvelope(*flt.bbox, STORAGE_SRID), METRIC_SRID))
    if metric_box is not None:
        boxes.append(metric_box)
    for box in boxes:
        conditions.append(
            and_(
                source.c.cell_i.between(
                    cast(func.floor(func.ST_XMin(box) / ROLLUP_CELL_M), Integer),
                    cast(func.floor(func.ST_XMax(box) / ROLLUP_CELL_M), Integer),
                ),
                source.c.cell_j.between(
                    cast(func.floor(func.ST_YMin(box) / ROLLUP_CELL_M), Integer),
                    cast(func.floor(func.ST_YMax(box) / ROLLUP_CELL_M), Integer),
                ),
            )
        )
    i: Any = source.c.cell_i
    j: Any = source.c.cell_j
    if k > 1:
        i = cast(func.floor(i / float(k)), Integer)
        j = cast(func.floor(j / float(k)), Integer)
    return (
        select(i.label("i"), j.label("j"), cast(func.sum(source.c.n), Integer).label("n"))
        .where(*conditions)
        .group_by(i, j)
    )


# --------------------------------------------------------------------------------- GeoJSON


def heat_cells(
    session: Session,
    principal: Principal,
    flt: StatsFilter,
    *,
    shape: Shape = "square",
    size_m: float = 100.0,
    source: Source = "live",
) -> dict[str, Any]:
    """Non-empty cells with their incident counts, as an RFC 7946 FeatureCollection.

    Parameters
    ----------
    flt
        Which incidents (bbox in lon/lat degrees, EPSG:4326; time window; categories; statuses).
    shape, size_m
        Square side or hexagon circumradius (= edge), in metres on the EPSG:4527 lattice.
    source
        ``live`` (exact, any filter) or ``rollup`` (see the module docstring).

    Returns
    -------
    dict
        A FeatureCollection; each feature has ``count``, ``cell_i``, ``cell_j``; the collection
        carries ``total`` (sum of counts), ``max``, ``shape``, ``size_m``, ``metric_crs``,
        ``source``.
    """
    require_stats_role(principal)
    size_m = check_size(size_m)
    if source == "rollup":
        check_rollup(flt, shape, size_m)
        counts = rollup_counts(principal, flt, size_m, None).subquery("cells")
    else:
        counts = binned_counts(metric_points(principal, flt), shape, size_m).subquery("cells")
    outline = func.ST_ForcePolygonCCW(
        func.ST_Transform(cell_geometry(shape, size_m, counts.c.i, counts.c.j), STORAGE_SRID)
    )
    rows = session.execute(
        select(counts.c.i, counts.c.j, counts.c.n, func.ST_AsGeoJSON(outline, 7).label("g"))
        .order_by(counts.c.i, counts.c.j)
        .limit(MAX_CELLS + 1)
    ).all()
    if len(rows) > MAX_CELLS:
        raise InvalidInput(
            f"More than {MAX_CELLS} cells: choose a larger size or a smaller bbox",
            f"单元数超过 {MAX_CELLS}：请增大单元尺寸或缩小范围",
            field="size",
        )
    features = [
        {
            "type": "Feature",
            "id": f"{shape[0]}{size_m:g}:{r.i}:{r.j}",
            "geometry": json.loads(r.g),
            "properties": {"count": int(r.n), "cell_i": r.i, "cell_j": r.j},
        }
        for r in rows
    ]
    counts_list = [f["properties"]["count"] for f in features]
    return {
        "type": "FeatureCollection",
        "features": features,
        "total": sum(counts_list),
        "max": max(counts_list, default=0),
        "cells": len(features),
        "shape": shape,
        "size_m": size_m,
        "metric_crs": f"EPSG:{METRIC_SRID}",
        "source": source,
    }


# ------------------------------------------------------------------------------------ tiles


def check_tile(z: int, x: int, y: int) -> None:
    """Validate tile coordinates of the Web Mercator quad tree."""
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidInput(
            f"z must be 0 to {MAX_ZOOM}", f"缩放级别 z 应在 0 到 {MAX_ZOOM} 之间", field="z"
        )
    for name, value in (("x", x), ("y", y)):
        if not 0 <= value < 2**z:
            raise InvalidInput(
                f"{name} must be 0 to {2**z - 1} at zoom {z}",
                f"第 {z} 级瓦片的 {name} 应在 0 到 {2**z - 1} 之间",
                field=name,
            )


def tile_cell_size(z: int) -> float:
    """The default cell size of a zoom level: about 1/32 of the tile width, on a fixed ladder.

    Depends on z only, so neighbouring tiles always share one lattice.
    """
    target = WEB_MERCATOR_WIDTH / 2**z / 32
    for size in TILE_SIZES_M:
        if size <= target:
            return float(size)
    return float(TILE_SIZES_M[-1])


def heat_tile(
    session: Session,
    principal: Principal,
    flt: StatsFilter,
    *,
    z: int,
    x: int,
    y: int,
    shape: Shape = "square",
    size_m: float | None = None,
    source: Source = "live",
) -> bytes:
    """One Mapbox Vector Tile (layer ``heat``) of the cells that touch tile z/x/y.

    Cells are counted whole: incidents are read from the tile grown by a margin of four cell
    sizes (more than a cell's diameter in Web Mercator units up to 60° latitude), so a cell
    that straddles two tiles has the same count in both.
    """
    require_stats_role(principal)
    check_tile(z, x, y)
    size = check_size(size_m if size_m is not None else tile_cell_size(z))
    envelope = func.ST_TileEnvelope(z, x, y)
    grown = func.ST_Expand(envelope, 4 * size)
    if source == "rollup":
        check_rollup(flt, shape, size)
        counts = rollup_counts(
            principal, flt, size, func.ST_Transform(grown, METRIC_SRID)
        ).subquery("cells")
    else:
        in_tile = Incident.geom.op("&&")(func.ST_Transform(grown, STORAGE_SRID))
        counts = binned_counts(metric_points(principal, flt, in_tile), shape, size).subquery(
            "cells"
        )
    shaped = select(
        counts.c.n,
        counts.c.i,
        counts.c.j,
        func.ST_Transform(cell_geometry(shape, size, counts.c.i, counts.c.j), TILE_SRID).label("g"),
    ).subquery("shaped")
    heat = (
        select(
            shaped.c.n.label("count"),
            shaped.c.i.label("cell_i"),
            shaped.c.j.label("cell_j"),
            func.ST_AsMVTGeom(shaped.c.g, envelope, MVT_EXTENT, MVT_BUFFER, True).label("geom"),
        )
        .where(shaped.c.g.op("&&")(envelope))
        .subquery("heat")
    )
    tile = session.execute(
        select(func.ST_AsMVT(heat.table_valued(), "heat", MVT_EXTENT, "geom"))
    ).scalar_one()
    return bytes(tile or b"")
