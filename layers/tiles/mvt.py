"""Vector tiles of the spatial layers: one ``ST_AsMVT`` statement per tile, scoped per user.

A tile request ``(layer, z, x, y)`` becomes one SQL statement:

1. the tile's lon/lat box (plus a 64/4096 margin, so lines and outlines continue across tile
   borders) selects candidate rows through the layer's GiST index (``geom && envelope``);
2. :func:`layers.scope.area_filter` keeps only the rows the principal may see, and the layer's
   own filters apply (current grids only; incidents by status, category and time; kinds);
3. ``ST_AsMVTGeom(ST_Transform(geom, 3857), tile envelope, 4096, 64)`` clips and quantises
   each geometry to tile coordinates, and ``ST_AsMVT`` encodes the rows with their properties.

**Personal data never enters a tile**: incidents carry no reporter, places no contact. Tiles
therefore need no audit row, and they may be cached by the browser (``private``).

**Incident clusters.** Below zoom :data:`INCIDENT_DETAIL_ZOOM` an incidents tile holds one
point per occupied 64×64 cell of tile units (4 screen pixels at 256 px tiles) — the mean
position of its incidents — with ``count``, grouped in SQL on the raw coordinates: a z12 tile
over 125,000 incidents encodes at most 4,096 points instead of every incident. From that zoom
on, every incident is its own feature.

**GCJ-02 basemaps.** AMap/Tencent tiles are drawn in GCJ-02, offset hundreds of metres from our
CGCS2000/WGS-84 data. With :class:`GcjShift` the tile is built in GCJ-02 space: prcoords (the
exact conversion) maps three corners of the tile, the affine transform through them is applied
in SQL with ``ST_Affine`` before projection, and the query box is the inverse image of the tile.
The GCJ-02 offset varies smoothly (its shortest period is about 1/3 degree), so inside one tile
the affine fit stays under half a screen pixel at every zoom from 8 (worst z10: 41 m against
123 m pixels) and within centimetres from z15 on (tested against prcoords on a 9 × 9 lattice).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import numpy as np
from sqlalchemy import (
    ColumnElement,
    LargeBinary,
    Select,
    SQLColumnExpression,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import Session

import mercantile
from shapely.geometry import MultiPoint

from layers.access import Principal
from layers.errors import InvalidInput, NotFound
from layers.features import (
    ITEMS_STATEMENT_TIMEOUT_MS,
    TimeInterval,
    parse_category,
    parse_interval,
)
from layers.models import AdminUnit, Building, Grid, Incident, Place, Road
from layers.models.buildings import BUILDING_KINDS
from layers.models.grids import GridKind
from layers.models.incidents import INCIDENT_STATUSES
from layers.models.places import PLACE_KINDS
from layers.scope import area_filter
from layers.spatial.crs import GCJ02, from_storage

MVT_EXTENT = 4096
MVT_BUFFER = 64
MAX_ZOOM = 22
# Below this zoom incident tiles carry clusters: a count per 64×64 tile-unit cell (4 screen px).
INCIDENT_DETAIL_ZOOM = 15
CLUSTER_CELL = 64


@dataclass(frozen=True)
class TileLayer:
    """One layer served as vector tiles: zoom range, fields (for TileJSON) and filters."""

    name: str
    title_zh: str
    description: str
    minzoom: int
    maxzoom: int
    fields: dict[str, str]
    filters: tuple[str, ...] = ()
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)


_KIND_DOC = "kind (comma-separated)"

TILE_LAYERS: dict[str, TileLayer] = {
    layer.name: layer
    for layer in (
        TileLayer(
            "admin_units",
            "行政区划",
            "Streets and communities of your area (and the outlines above it).",
            8,
            MAX_ZOOM,
            {"id": "Number", "code": "String", "name": "String", "level": "String"},
        ),
        TileLayer(
            "grids",
            "网格",
            "Current grid boundaries (valid_to IS NULL).",
            10,
            MAX_ZOOM,
            {
                "id": "Number",
                "code": "String",
                "name": "String",
                "kind": "String",
                "sizing_type": "String",
                "version": "Number",
            },
            filters=("kind",),
            choices={"kind": tuple(k.value for k in GridKind)},
        ),
        TileLayer(
            "buildings",
            "建筑",
            "Building footprints with address.",
            13,
            MAX_ZOOM,
            {
                "id": "Number",
                "code": "String",
                "name": "String",
                "kind": "String",
                "floors": "Number",
                "compound": "String",
                "address": "String",
            },
            filters=("kind",),
            choices={"kind": tuple(BUILDING_KINDS)},
        ),
        TileLayer(
            "roads",
            "道路",
            "Named road segments crossing your area.",
            10,
            MAX_ZOOM,
            {"id": "Number", "name": "String", "kind": "String"},
        ),
        TileLayer(
            "places",
            "场所",
            "Places with kind and address (no contact data).",
            12,
            MAX_ZOOM,
            {"id": "Number", "name": "String", "kind": "String", "address": "String"},
            filters=("kind",),
            choices={"kind": tuple(PLACE_KINDS)},
        ),
        TileLayer(
            "incidents",
            "事件",
            f"Incidents (no reporter data); below z{INCIDENT_DETAIL_ZOOM} clusters with count.",
            8,
            MAX_ZOOM,
            {
                "id": "Number",
                "code": "String",
                "category_code": "String",
                "status": "String",
                "risk_level": "String",
                "reported_at": "String",
                "count": "Number",
            },
            filters=("status", "category", "datetime"),
            choices={"status": INCIDENT_STATUSES},
        ),
    )
}


def tile_layer(name: str) -> TileLayer:
    """The tile layer called ``name``, or NotFound (field ``layer``)."""
    layer = TILE_LAYERS.get(name)
    if layer is None:
        raise NotFound(
            f"There is no tile layer {name[:64]!r}; known: {', '.join(TILE_LAYERS)}",
            f"不存在瓦片图层 {name[:64]!r}；可用：{'、'.join(TILE_LAYERS)}",
            field="layer",
        )
    return layer


def check_tile(z: int, x: int, y: int) -> None:
    """Refuse a tile address outside the XYZ pyramid (422 naming the coordinate)."""
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidInput(
            f"z must lie within 0..{MAX_ZOOM}", f"z 必须在 0 到 {MAX_ZOOM} 之间", field="z"
        )
    n = 2**z
    for name, value in (("x", x), ("y", y)):
        if not 0 <= value < n:
            raise InvalidInput(
                f"{name} must lie within 0..{n - 1} at zoom {z}",
                f"缩放级别 {z} 下 {name} 必须在 0 到 {n - 1} 之间",
                field=name,
            )


@dataclass(frozen=True, slots=True)
class TileFilters:
    """Validated filters of a tile request (only those the layer supports may be set)."""

    kind: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    category: str | None = None
    interval: TimeInterval | None = None

    @classmethod
    def parse(
        cls,
        layer: TileLayer,
        *,
        kind: str | None = None,
        status: str | None = None,
        category: str | None = None,
        datetime: str | None = None,
    ) -> TileFilters:
        """Check each given filter against the layer; raise InvalidInput naming the field."""
        given = {"kind": kind, "status": status, "category": category, "datetime": datetime}
        for name, value in given.items():
            if value is not None and name not in layer.filters:
                allowed = ", ".join(layer.filters) or "none"
                raise InvalidInput(
                    f"The {layer.name} tiles have no filter {name!r} (filters: {allowed})",
                    f"{layer.title_zh}瓦片不支持筛选条件 {name}（可用：{allowed}）",
                    field=name,
                )
        return cls(
            kind=_choices(layer, "kind", kind),
            status=_choices(layer, "status", status),
            category=parse_category(category) if category is not None else None,
            interval=parse_interval(datetime) if datetime is not None else None,
        )

    def query_string(self) -> str:
        """The filters as URL query parameters (for TileJSON tile templates)."""
        params: list[tuple[str, str]] = []
        if self.kind:
            params.append(("kind", ",".join(self.kind)))
        if self.status:
            params.append(("status", ",".join(self.status)))
        if self.category:
            params.append(("category", self.category))
        if self.interval:
            start = self.interval.start.isoformat() if self.interval.start else ".."
            end = self.interval.end.isoformat() if self.interval.end else ".."
            params.append(
                (
                    "datetime",
                    start if self.interval.start == self.interval.end else f"{start}/{end}",
                )
            )
        return urlencode(params)


def _choices(layer: TileLayer, name: str, value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    values = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    allowed = layer.choices[name]
    unknown = [v for v in values if v not in allowed]
    if not values or unknown:
        shown = ", ".join(repr(v[:32]) for v in unknown[:3]) or "''"
        raise InvalidInput(
            f"{name} {shown} is not one of: {', '.join(allowed)}",
            f"{name} 取值 {shown} 无效，可选：{'、'.join(allowed)}",
            field=name,
        )
    return values


# --------------------------------------------------------------------------------------------
# GCJ-02 display shift
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GcjShift:
    """The affine map WGS-84 lon/lat → GCJ-02 lon/lat that is exact at three tile corners.

    ``x' = a·x + b·y + xoff``, ``y' = d·x + e·y + yoff`` (the argument order of ``ST_Affine``).
    """

    a: float
    b: float
    d: float
    e: float
    xoff: float
    yoff: float

    @classmethod
    def for_tile(cls, z: int, x: int, y: int) -> GcjShift:
        """Fit the map to prcoords' conversion at the SW, SE and NW corners of the tile."""
        west, south, east, north = mercantile.bounds(x, y, z)
        corners = MultiPoint([(west, south), (east, south), (west, north)])
        (q0, q1, q2) = [(p.x, p.y) for p in from_storage(corners, GCJ02).geoms]
        dx, dy = east - west, north - south
        a, d = (q1[0] - q0[0]) / dx, (q1[1] - q0[1]) / dx
        b, e = (q2[0] - q0[0]) / dy, (q2[1] - q0[1]) / dy
        return cls(a, b, d, e, q0[0] - a * west - b * south, q0[1] - d * west - e * south)

    def apply(self, lon: float, lat: float) -> tuple[float, float]:
        """WGS-84 lon/lat → GCJ-02 lon/lat by this affine map."""
        return (
            self.a * lon + self.b * lat + self.xoff,
            self.d * lon + self.e * lat + self.yoff,
        )

    def invert(self, lon: float, lat: float) -> tuple[float, float]:
        """GCJ-02 lon/lat → WGS-84 lon/lat by the inverse affine map."""
        matrix = np.array([[self.a, self.b], [self.d, self.e]])
        out = np.linalg.solve(matrix, np.array([lon - self.xoff, lat - self.yoff]))
        return float(out[0]), float(out[1])

    def sql(self, geom: SQLColumnExpression[Any]) -> ColumnElement[Any]:
        """``ST_Affine(geom, a, b, d, e, xoff, yoff)``."""
        return func.ST_Affine(geom, self.a, self.b, self.d, self.e, self.xoff, self.yoff)


def _query_box(z: int, x: int, y: int, shift: GcjShift | None) -> tuple[float, ...]:
    """Lon/lat box of storage rows that can reach the tile (its margin included)."""
    west, south, east, north = mercantile.bounds(x, y, z)
    pad_x = (east - west) * MVT_BUFFER / MVT_EXTENT
    pad_y = (north - south) * MVT_BUFFER / MVT_EXTENT
    west, south, east, north = west - pad_x, south - pad_y, east + pad_x, north + pad_y
    if shift is None:
        return west, south, east, north
    corners = [shift.invert(lon, lat) for lon in (west, east) for lat in (south, north)]
    lons = [c[0] for c in corners]
    lats = [c[1] for c in corners]
    return min(lons), min(lats), max(lons), max(lats)


# --------------------------------------------------------------------------------------------
# Layer sources
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    entity: Any
    id: SQLColumnExpression[int]
    geom: SQLColumnExpression[Any]
    properties: list[tuple[str, SQLColumnExpression[Any]]]
    where: list[ColumnElement[bool]]


def _utc_text(value: SQLColumnExpression[Any]) -> ColumnElement[str]:
    return func.to_char(func.timezone("UTC", value), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')


def _source(layer: str, principal: Principal, filters: TileFilters) -> _Source:
    scope = area_filter(layer, principal)
    if layer == "admin_units":
        return _Source(
            AdminUnit,
            AdminUnit.id,
            AdminUnit.geom,
            [("code", AdminUnit.code), ("name", AdminUnit.name), ("level", AdminUnit.level)],
            [scope],
        )
    if layer == "grids":
        where = [scope, Grid.valid_to.is_(None)]
        if filters.kind:
            where.append(Grid.kind.in_(filters.kind))
        return _Source(
            Grid,
            Grid.id,
            Grid.geom,
            [
                ("code", Grid.code),
                ("name", Grid.name),
                ("kind", Grid.kind),
                ("sizing_type", Grid.sizing_type),
                ("version", Grid.version),
            ],
            where,
        )
    if layer == "buildings":
        where = [scope]
        if filters.kind:
            where.append(Building.kind.in_(filters.kind))
        return _Source(
            Building,
            Building.id,
            Building.geom,
            [
                ("code", Building.code),
                ("name", Building.name),
                ("kind", Building.kind),
                ("floors", Building.floors),
                ("compound", Building.compound),
                ("address", Building.address),
            ],
            where,
        )
    if layer == "roads":
        return _Source(
            Road, Road.id, Road.geom, [("name", Road.name), ("kind", Road.kind)], [scope]
        )
    if layer == "places":
        where = [scope]
        if filters.kind:
            where.append(Place.kind.in_(filters.kind))
        return _Source(
            Place,
            Place.id,
            Place.geom,
            [("name", Place.name), ("kind", Place.kind), ("address", Place.address)],
            where,
        )
    if layer == "incidents":
        where = [scope]
        if filters.status:
            where.append(Incident.status.in_(filters.status))
        if filters.category is not None:
            where.append(
                or_(
                    Incident.category_code == filters.category,
                    Incident.category_code.startswith(filters.category + ".", autoescape=True),
                )
            )
        if filters.interval is not None:
            if filters.interval.start is not None:
                where.append(Incident.reported_at >= filters.interval.start)
            if filters.interval.end is not None:
                where.append(Incident.reported_at <= filters.interval.end)
        return _Source(
            Incident,
            Incident.id,
            Incident.geom,
            [
                ("code", Incident.code),
                ("category_code", Incident.category_code),
                ("status", Incident.status),
                ("risk_level", Incident.risk_level),
                ("reported_at", _utc_text(Incident.reported_at)),
            ],
            where,
        )
    raise NotFound(f"no tile layer {layer!r}", f"不存在瓦片图层 {layer!r}", field="layer")


def _cluster_statement(
    source: _Source,
    where: list[ColumnElement[bool]],
    tile: mercantile.Tile,
    envelope: ColumnElement[Any],
    shift: GcjShift | None,
) -> Select[Any]:
    """Incidents grouped into cells of CLUSTER_CELL tile units: one point (their mean) and count.

    Cells are cut on the raw lon/lat (cheap arithmetic on ``ST_X``/``ST_Y``), so only the cell
    points are projected and encoded, not every incident: a z12 tile over 125,000 incidents
    encodes at most (4096 / CLUSTER_CELL)² points. Cells are ``CLUSTER_CELL / 4096`` of the
    tile's width in longitude and of its height in latitude (Mercator is near-linear in latitude
    inside one tile; the cells only group, the points keep their true mean position).
    """
    west, south, east, north = mercantile.bounds(tile)
    dx = (east - west) * CLUSTER_CELL / MVT_EXTENT
    dy = (north - south) * CLUSTER_CELL / MVT_EXTENT
    x, y = func.ST_X(source.geom), func.ST_Y(source.geom)
    cells = (
        select(
            func.floor((x - west) / dx).label("cx"),
            func.floor((y - south) / dy).label("cy"),
            func.avg(x).label("x"),
            func.avg(y).label("y"),
            func.count().label("count"),
        )
        .select_from(source.entity)
        .where(*where)
        .group_by(literal_column("cx"), literal_column("cy"))
        .subquery("cells")
    )
    point: ColumnElement[Any] = func.ST_SetSRID(func.ST_MakePoint(cells.c.x, cells.c.y), 4326)
    if shift is not None:
        point = shift.sql(point)
    geom = func.ST_AsMVTGeom(func.ST_Transform(point, 3857), envelope, MVT_EXTENT, MVT_BUFFER, True)
    rows = select(geom.label("geom"), cells.c["count"]).subquery("clusters")
    kept = select(rows).where(rows.c.geom.is_not(None)).subquery("tile")
    return select(
        func.ST_AsMVT(kept.table_valued(), "incidents", MVT_EXTENT, "geom", type_=LargeBinary)
    ).select_from(kept)


def render_tile(
    session: Session,
    *,
    principal: Principal,
    layer: str,
    z: int,
    x: int,
    y: int,
    filters: TileFilters | None = None,
    shift: GcjShift | None = None,
) -> bytes:
    """The MVT bytes of one tile of ``layer`` as ``principal`` may see it (empty: no rows).

    Outside the layer's zoom range the tile is empty. ``shift`` draws the tile in GCJ-02 (see
    the module docstring). Geometry in storage lon/lat (EPSG:4326); tiles in EPSG:3857.
    """
    info = tile_layer(layer)
    check_tile(z, x, y)
    if not info.minzoom <= z <= info.maxzoom:
        return b""
    source = _source(layer, principal, filters or TileFilters())
    west, south, east, north = _query_box(z, x, y, shift)
    box = func.ST_MakeEnvelope(west, south, east, north, 4326)
    merc = mercantile.xy_bounds(x, y, z)
    envelope = func.ST_MakeEnvelope(merc.left, merc.bottom, merc.right, merc.top, 3857)
    geom = shift.sql(source.geom) if shift is not None else source.geom
    mvt_geom = func.ST_AsMVTGeom(
        func.ST_Transform(geom, 3857), envelope, MVT_EXTENT, MVT_BUFFER, True
    )
    where = [source.geom.op("&&")(box), *source.where]
    if layer == "incidents" and z < INCIDENT_DETAIL_ZOOM:
        tile = mercantile.Tile(x, y, z)
        stmt = _cluster_statement(source, where, tile, envelope, shift)
    else:
        rows = (
            select(
                source.id.label("id"),
                mvt_geom.label("geom"),
                *(expr.label(key) for key, expr in source.properties),
            )
            .select_from(source.entity)
            .where(*where)
            .subquery("inner_tile")
        )
        kept = select(rows).where(rows.c.geom.is_not(None)).subquery("tile")
        stmt = select(
            func.ST_AsMVT(kept.table_valued(), layer, MVT_EXTENT, "geom", "id", type_=LargeBinary)
        ).select_from(kept)
    # One round trip for the statement's settings (features.statement_timeout() needs three to
    # read and restore): a tile request is one statement in its own transaction, and the local
    # settings end with it. JIT off: the MVT and GEOS functions are declared expensive, so a
    # tile over many rows would be JIT-compiled for longer than it takes to run.
    session.execute(
        select(
            func.set_config("statement_timeout", str(ITEMS_STATEMENT_TIMEOUT_MS), True),
            func.set_config("jit", "off", True),
        )
    )
    data = session.execute(stmt).scalar_one_or_none()
    return bytes(data) if data else b""


def area_bounds(session: Session, *, principal: Principal) -> tuple[float, float, float, float]:
    """Lon/lat bounds of the principal's area (for TileJSON ``bounds`` and ``center``)."""
    row = session.execute(
        select(
            func.ST_XMin(AdminUnit.geom),
            func.ST_YMin(AdminUnit.geom),
            func.ST_XMax(AdminUnit.geom),
            func.ST_YMax(AdminUnit.geom),
        ).where(AdminUnit.id == principal.area_id)
    ).one_or_none()
    if row is None or row[0] is None:
        return (-180.0, -85.0511, 180.0, 85.0511)
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


__all__ = [
    "INCIDENT_DETAIL_ZOOM",
    "MVT_EXTENT",
    "TILE_LAYERS",
    "GcjShift",
    "TileFilters",
    "TileLayer",
    "area_bounds",
    "check_tile",
    "render_tile",
    "tile_layer",
]
