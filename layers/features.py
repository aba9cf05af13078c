"""OGC API Features style reads of the spatial layers, with GeoJSON built in SQL.

Each readable layer is described once (:data:`LAYERS`): its title, the filters it supports, the
properties it exposes and which of them are personal data. A read goes:

1. :mod:`layers.scope` gives the where-clause of the rows the principal may see;
2. the query's filters (bbox, property filters, time) add their where-clauses;
3. a count query gives ``numberMatched``; the caller turns it into paging links;
4. one SQL statement pages the ids, builds every Feature with ``json_build_object`` and
   ``ST_AsGeoJSON(ST_ForcePolygonCCW(geom), 7, 0)`` (RFC 7946: lon/lat, right-hand rings, no
   ``crs`` member), aggregates them into the FeatureCollection text and returns, beside it,
   the ids of the features that carry personal data;
5. if any feature carries personal data, one audit row is written in the same transaction.

Personal data (names and phones of grid staff, incident reporters and place contacts) is masked
in SQL by expressions that mirror :func:`layers.access.mask_phone` and
:func:`layers.access.mask_name`, so unmasked values never leave the database for a role that may
not see them. Every value reaches SQL as a bound parameter.

The bbox and time parsers here raise :class:`layers.errors.InvalidInput` (or ``UnknownCRS``) with
``field`` set; the HTTP layer turns them into problem+json.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    ColumnElement,
    Integer,
    Select,
    SQLColumnExpression,
    String,
    Text,
    case,
    cast,
    false,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session, aliased

from layers.access import Principal
from layers.audit import record
from layers.base import STORAGE_SRID
from layers.errors import InvalidInput, NotFound, UnknownCRS
from layers.models import (
    AdminUnit,
    Building,
    Department,
    Grid,
    GridStaff,
    Incident,
    IncidentCategory,
    Place,
    Road,
    User,
)
from layers.models.buildings import BUILDING_KINDS
from layers.models.grids import GridKind
from layers.models.incidents import INCIDENT_STATUSES
from layers.models.places import PLACE_KINDS
from layers.scope import area_filter

_S = TypeVar("_S", bound=Select)

# --------------------------------------------------------------------------------------------
# Coordinate reference systems of the bbox parameter
# --------------------------------------------------------------------------------------------

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

# Accepted values of ``bbox-crs``. Whatever the name, Wangge reads the bbox as lon,lat (the
# CRS84 axis order, which is also what every web map sends). CGCS2000 (EPSG:4490) and WGS 84
# agree to within centimetres, so no datum transformation is applied (see layers.base).
BBOX_CRS: dict[str, int] = {
    CRS84: 4326,
    "EPSG:4326": 4326,
    "EPSG:4490": 4490,
    "http://www.opengis.net/def/crs/EPSG/0/4326": 4326,
    "http://www.opengis.net/def/crs/EPSG/0/4490": 4490,
}

# Items queries are cut off after this long so one huge request cannot hog the database.
ITEMS_STATEMENT_TIMEOUT_MS = 10_000

# GeoJSON coordinate precision: 7 decimals of a degree is about 1 cm.
GEOJSON_DECIMALS = 7

# OFFSET beyond this is refused: deep paging is a scan; narrow the bbox or filters instead.
MAX_OFFSET = 10_000_000

# The largest value of an ``integer`` primary key.
MAX_ID = 2**31 - 1


@dataclass(frozen=True, slots=True)
class BBox:
    """A lon/lat bounding box in degrees (storage CRS, EPSG:4326 numerically)."""

    minx: float
    miny: float
    maxx: float
    maxy: float


def parse_bbox_crs(value: str | None) -> int:
    """Return the EPSG code of a ``bbox-crs`` value (default CRS84), or raise UnknownCRS."""
    if value is None or value.strip() == "":
        return 4326
    name = value.strip()
    srid = BBOX_CRS.get(name) or BBOX_CRS.get(name.upper())
    if srid is None:
        raise UnknownCRS(
            f"bbox-crs {name[:100]!r} is not supported; use {CRS84}, EPSG:4326 or EPSG:4490",
            f"不支持的 bbox-crs {name[:100]!r}；请使用 {CRS84}、EPSG:4326 或 EPSG:4490",
            field="bbox-crs",
        )
    return srid


def parse_bbox(value: str) -> BBox:
    """Parse ``minx,miny,maxx,maxy`` (lon/lat degrees; 6 numbers with heights also accepted).

    Raises InvalidInput with ``field="bbox"`` for a wrong count, non-numbers, values out of
    range, latitude and longitude given in the wrong order, or a minimum above its maximum.
    """
    parts = [p.strip() for p in value.split(",")]
    if len(parts) not in (4, 6):
        raise InvalidInput(
            f"bbox needs 4 numbers minx,miny,maxx,maxy (lon,lat); got {len(parts)}",
            f"bbox 应为 4 个数：最小经度,最小纬度,最大经度,最大纬度；实际为 {len(parts)} 个",
            field="bbox",
        )
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise InvalidInput(
            "bbox values must be decimal numbers, e.g. 117.0,36.6,117.1,36.7",
            "bbox 的取值必须是数字，例如 117.0,36.6,117.1,36.7",
            field="bbox",
        ) from None
    if not all(math.isfinite(n) for n in numbers):
        raise InvalidInput(
            "bbox values must be finite numbers", "bbox 的取值必须是有限数字", field="bbox"
        )
    if len(numbers) == 6:  # minx,miny,minz,maxx,maxy,maxz: heights are ignored
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    minx, miny, maxx, maxy = numbers
    xs, ys = (minx, maxx), (miny, maxy)
    if any(abs(y) > 90 for y in ys):
        if all(abs(x) <= 90 for x in xs):
            raise InvalidInput(
                "bbox latitude is beyond ±90: coordinate order is lon,lat "
                "(minx=min longitude, miny=min latitude, ...)",
                "bbox 纬度超出 ±90：坐标顺序应为经度,纬度（最小经度,最小纬度,最大经度,最大纬度）",
                field="bbox",
            )
        raise InvalidInput(
            "bbox latitude must lie within -90..90", "bbox 纬度必须在 -90 到 90 之间", field="bbox"
        )
    if any(abs(x) > 180 for x in xs):
        raise InvalidInput(
            "bbox longitude must lie within -180..180",
            "bbox 经度必须在 -180 到 180 之间",
            field="bbox",
        )
    if minx > maxx or miny > maxy:
        raise InvalidInput(
            "bbox minimum is greater than its maximum (order is minx,miny,maxx,maxy)",
            "bbox 的最小值大于最大值（顺序应为最小经度,最小纬度,最大经度,最大纬度）",
            field="bbox",
        )
    return BBox(minx, miny, maxx, maxy)


# --------------------------------------------------------------------------------------------
# Time parameters (RFC 3339)
# --------------------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[Zz]|[+-]\d{2}:\d{2})$"
)
# "2026-03-01T08:00:00 08:00": a '+' sent unencoded in a URL arrives as a space.
_PLUS_AS_SPACE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})? \d{2}:\d{2}$")


@dataclass(frozen=True, slots=True)
class TimeInterval:
    """A closed time interval; ``None`` at an end means open (OGC ``..``)."""

    start: datetime | None
    end: datetime | None


def parse_instant(value: str, *, field: str) -> datetime:
    """Parse one RFC 3339 date-time with an offset, e.g. ``2026-03-01T08:00:00+08:00``."""
    text = value.strip()
    if _PLUS_AS_SPACE.match(text):
        raise InvalidInput(
            f"{field}: the '+' of the UTC offset arrived as a space; encode it as %2B in the URL",
            f"{field}：时区偏移中的“+”被当作空格传入，请在 URL 中写成 %2B",
            field=field,
        )
    if not _RFC3339.match(text):
        raise InvalidInput(
            f"{field} must be an RFC 3339 date-time with offset, e.g. 2026-03-01T08:00:00+08:00",
            f"{field} 应为带时区的 RFC 3339 时间，例如 2026-03-01T08:00:00+08:00",
            field=field,
        )
    try:
        return datetime.fromisoformat(text.upper())
    except ValueError:
        raise InvalidInput(
            f"{field} is not a real date-time (check month, day and hour)",
            f"{field} 不是有效的日期时间（请检查月、日、时）",
            field=field,
        ) from None


def parse_interval(value: str, *, field: str = "datetime") -> TimeInterval:
    """Parse an OGC ``datetime``: an instant, ``start/end``, ``../end`` or ``start/..``."""
    text = value.strip()
    if "/" not in text:
        instant = parse_instant(text, field=field)
        return TimeInterval(instant, instant)
    if text.count("/") != 1:
        raise InvalidInput(
            f"{field} must be an instant or one interval start/end",
            f"{field} 应为一个时间点或一个时间区间 起始/结束",
            field=field,
        )
    start_text, end_text = (p.strip() for p in text.split("/"))
    start = None if start_text in ("", "..") else parse_instant(start_text, field=field)
    end = None if end_text in ("", "..") else parse_instant(end_text, field=field)
    if start is None and end is None:
        raise InvalidInput(
            f"{field}: give at least one end of the interval",
            f"{field}：时间区间至少要给出一端",
            field=field,
        )
    if start is not None and end is not None and start > end:
        raise InvalidInput(
            f"{field}: the interval starts after it ends",
            f"{field}：时间区间的起点晚于终点",
            field=field,
        )
    return TimeInterval(start, end)


# --------------------------------------------------------------------------------------------
# Layers and their filters
# --------------------------------------------------------------------------------------------

_COMMUNITY_CODE = re.compile(r"^[0-9]{12}$")
_CATEGORY_CODE = re.compile(r"^[a-z_.]{2,64}$")


@dataclass(frozen=True, slots=True)
class ItemsQuery:
    """The validated parameters of an items request (filters a layer lacks stay empty)."""

    limit: int
    offset: int = 0
    bbox: BBox | None = None
    community: str | None = None
    kind: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    category: str | None = None
    datetime_interval: TimeInterval | None = None
    at: datetime | None = None
    #: Only these properties (OGC API Features part 6 ``properties``); None: all of them.
    properties: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """What a client needs to know about one readable layer."""

    id: str
    title_zh: str
    title_en: str
    description: str
    geometry_type: str
    filters: tuple[str, ...] = ()
    # Personal fields as named in the audit log (``staff.phone`` = phone inside ``staff``).
    personal_fields: tuple[str, ...] = ()
    # Allowed values of the enumerated filters (``kind``, ``status``).
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)


LAYERS: dict[str, LayerInfo] = {
    info.id: info
    for info in (
        LayerInfo(
            "admin_units",
            "行政区划",
            "Administrative units",
            "Districts, streets and communities: your area, the units inside and above it.",
            "MultiPolygon",
        ),
        LayerInfo(
            "grids",
            "网格",
            "Grids",
            "Grid boundaries with 四至 and staff; the current map unless `at` asks for a past one.",
            "MultiPolygon",
            filters=("community", "kind", "at"),
            personal_fields=("staff.name", "staff.phone"),
            choices={"kind": tuple(k.value for k in GridKind)},
        ),
        LayerInfo("roads", "道路", "Roads", "Named road segments.", "LineString"),
        LayerInfo(
            "buildings",
            "建筑",
            "Buildings",
            "Building footprints with address parts, grid and community.",
            "Polygon",
            filters=("community", "kind"),
            choices={"kind": BUILDING_KINDS},
        ),
        LayerInfo(
            "places",
            "场所",
            "Places",
            "Schools, shops, 三合一 and 三小 premises... with the responsible department.",
            "Geometry",
            filters=("community", "kind"),
            personal_fields=("contact_name", "contact_phone"),
            choices={"kind": tuple(PLACE_KINDS)},
        ),
        LayerInfo(
            "incidents",
            "事件",
            "Incidents",
            "Reported incidents with category, status, risk level and deadlines.",
            "Point",
            filters=("community", "status", "category", "datetime"),
            personal_fields=("reporter_name", "reporter_phone"),
            choices={"status": INCIDENT_STATUSES},
        ),
    )
}


def get_layer(layer: str) -> LayerInfo:
    """The description of a readable layer, or NotFound."""
    info = LAYERS.get(layer)
    if info is None:
        raise NotFound(
            f"There is no collection {layer[:64]!r}; see /collections",
            f"不存在图层 {layer[:64]!r}，请查看 /collections",
            field="layer",
        )
    return info


def parse_properties(value: str) -> tuple[str, ...]:
    """Split the comma-separated ``properties`` parameter (names are checked per layer later)."""
    names = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    if not names or len(names) > 64:
        raise InvalidInput(
            "properties must name 1 to 64 properties, comma-separated (e.g. code,name)",
            "properties 应列出 1 到 64 个属性名，以逗号分隔（例如 code,name）",
            field="properties",
        )
    return names


def _select_properties(info: LayerInfo, src: _Source, names: tuple[str, ...]) -> _Source:
    """``src`` with only the named properties; personal only if a personal one is kept.

    Lets a map ask for what it draws: a marker layer that leaves out the reporter's name and
    phone reads no personal data, so its pages are not audited and expose nothing.
    """
    known = [key for key, _ in src.properties]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidInput(
            f"Unknown properties {', '.join(u[:64] for u in unknown[:5])} for {info.id}; "
            f"known: {', '.join(known)}",
            f"图层 {info.id} 没有属性 {'、'.join(u[:64] for u in unknown[:5])}；"
            f"可用：{'、'.join(known)}",
            field="properties",
        )
    personal_keys = {f.split(".", 1)[0] for f in info.personal_fields}
    return replace(
        src,
        properties=[(key, expr) for key, expr in src.properties if key in names],
        personal=src.personal if personal_keys & set(names) else None,
    )


def parse_choices(info: LayerInfo, name: str, value: str) -> tuple[str, ...]:
    """Split a comma-separated enumerated filter and check every value is allowed."""
    values = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    allowed = info.choices[name]
    unknown = [v for v in values if v not in allowed]
    if not values or unknown:
        shown = ", ".join(repr(v[:32]) for v in unknown[:3]) or "''"
        raise InvalidInput(
            f"{name} {shown} is not one of: {', '.join(allowed)}",
            f"{name} 取值 {shown} 无效，可选：{'、'.join(allowed)}",
            field=name,
        )
    return values


def parse_community(value: str) -> str:
    """Check a 12-digit community code."""
    code = value.strip()
    if not _COMMUNITY_CODE.match(code):
        raise InvalidInput(
            "community must be a 12-digit community code, e.g. 370112001001",
            "community 应为 12 位社区代码，例如 370112001001",
            field="community",
        )
    return code


def parse_category(value: str) -> str:
    """Check the form of an incident category code (``hazard`` or ``hazard.fire``)."""
    code = value.strip()
    if not _CATEGORY_CODE.match(code):
        raise InvalidInput(
            "category must be a category code such as hazard or hazard.fire",
            "category 应为事件类别代码，例如 hazard 或 hazard.fire",
            field="category",
        )
    return code


# --------------------------------------------------------------------------------------------
# Personal data: who sees what, and the masks in SQL
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonalDataView:
    """How personal names and phones are shown to one principal.

    Phones are full for :meth:`Principal.sees_full_phones`. Names are full for every role that
    sees either full phones or full personal data, and masked with ``mask_name`` for the roles
    that see neither (planner, dept_handler).
    """

    names_full: bool
    phones_full: bool

    @classmethod
    def for_principal(cls, principal: Principal) -> PersonalDataView:
        """The view a principal's role gives."""
        phones = principal.sees_full_phones()
        return cls(names_full=phones or principal.sees_full_personal_data(), phones_full=phones)

    @property
    def unmasked(self) -> bool:
        """Whether any personal field is returned in full (the audit log's ``unmasked``)."""
        return self.names_full or self.phones_full


def sql_mask_phone(value: SQLColumnExpression[Any]) -> ColumnElement[str]:
    """SQL mirror of :func:`layers.access.mask_phone`: 13987654321 → 139****4321, NULL → NULL."""
    n = func.char_length(value)
    return case(
        (n <= 7, func.repeat("*", n)),
        else_=func.left(value, 3, type_=String)
        .concat(func.repeat("*", n - 7, type_=String))
        .concat(func.right(value, 4, type_=String)),
    )


def sql_mask_name(value: SQLColumnExpression[Any]) -> ColumnElement[str]:
    """SQL mirror of :func:`layers.access.mask_name`: 李四 → 李*, NULL → NULL."""
    return func.left(value, 1, type_=String).concat(
        func.repeat("*", func.char_length(value) - 1, type_=String)
    )


def _name(value: SQLColumnExpression[Any], view: PersonalDataView) -> SQLColumnExpression[Any]:
    return value if view.names_full else sql_mask_name(value)


def _phone(value: SQLColumnExpression[Any], view: PersonalDataView) -> SQLColumnExpression[Any]:
    return value if view.phones_full else sql_mask_phone(value)


# --------------------------------------------------------------------------------------------
# How each layer becomes features
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """The SQL pieces of one layer: its table, the outer joins its properties need, the
    properties (key, expression) in output order, and whether a row carries personal data."""

    entity: Any
    id: SQLColumnExpression[int]
    geom: SQLColumnExpression[Any]
    properties: Sequence[tuple[str, SQLColumnExpression[Any]]]
    joins: Sequence[tuple[Any, SQLColumnExpression[bool]]] = ()
    personal: SQLColumnExpression[bool] | None = None


def _admin_units_source(view: PersonalDataView) -> _Source:
    parent = aliased(AdminUnit, name="parent_unit")
    return _Source(
        AdminUnit,
        AdminUnit.id,
        AdminUnit.geom,
        [
            ("code", AdminUnit.code),
            ("name", AdminUnit.name),
            ("level", AdminUnit.level),
            ("parent_code", parent.code),
        ],
        joins=[(parent, parent.id == AdminUnit.parent_id)],
    )


_DUTY_ORDER = {"leader": 1, "worker": 2, "collector": 3, "volunteer": 4}


def _grids_source(view: PersonalDataView) -> _Source:
    community = aliased(AdminUnit, name="community")
    staff_row = func.json_build_object(
        "name",
        _name(User.full_name, view),
        "duty",
        GridStaff.duty,
        "phone",
        _phone(User.phone, view),
    )
    staff = (
        select(
            func.coalesce(
                func.json_agg(
                    aggregate_order_by(
                        staff_row, case(_DUTY_ORDER, value=GridStaff.duty, else_=9), User.id
                    )
                ),
                cast(literal("[]"), JSON),
            )
        )
        .select_from(GridStaff)
        .join(User, User.id == GridStaff.user_id)
        .where(GridStaff.grid_code == Grid.code, User.is_active)
        .scalar_subquery()
    )
    has_staff = (
        select(GridStaff.user_id)
        .join(User, User.id == GridStaff.user_id)
        .where(GridStaff.grid_code == Grid.code, User.is_active)
        .exists()
    )
    return _Source(
        Grid,
        Grid.id,
        Grid.geom,
        [
            ("code", Grid.code),
            ("name", Grid.name),
            ("kind", Grid.kind),
            ("sizing_type", Grid.sizing_type),
            ("community_code", community.code),
            ("community_name", community.name),
            ("parent_grid_code", Grid.parent_grid_code),
            ("sizhi", Grid.sizhi),
            ("version", Grid.version),
            ("valid_from", Grid.valid_from),
            ("valid_to", Grid.valid_to),
            ("staff", staff),
        ],
        joins=[(community, community.id == Grid.community_id)],
        personal=has_staff,
    )


def _roads_source(view: PersonalDataView) -> _Source:
    return _Source(Road, Road.id, Road.geom, [("name", Road.name), ("kind", Road.kind)])


def _buildings_source(view: PersonalDataView) -> _Source:
    grid = aliased(Grid, name="grid")
    community = aliased(AdminUnit, name="community")
    return _Source(
        Building,
        Building.id,
        Building.geom,
        [
            ("code", Building.code),
            ("name", Building.name),
            ("kind", Building.kind),
            ("floors", Building.floors),
            ("road_name", Building.road_name),
            ("house_number", Building.house_number),
            ("compound", Building.compound),
            ("building_no", Building.building_no),
            ("address", Building.address),
            ("grid_code", grid.code),
            ("community_code", community.code),
        ],
        joins=[
            (grid, grid.id == Building.grid_id),
            (community, community.id == Building.community_id),
        ],
    )


def _places_source(view: PersonalDataView) -> _Source:
    grid = aliased(Grid, name="grid")
    community = aliased(AdminUnit, name="community")
    return _Source(
        Place,
        Place.id,
        Place.geom,
        [
            ("name", Place.name),
            ("kind", Place.kind),
            ("kind_zh", case(PLACE_KINDS, value=Place.kind)),
            ("address", Place.address),
            ("department", Department.name),
            ("contact_name", _name(Place.contact_name, view)),
            ("contact_phone", _phone(Place.contact_phone, view)),
            ("grid_code", grid.code),
            ("community_code", community.code),
        ],
        joins=[
            (Department, Department.id == Place.department_id),
            (grid, grid.id == Place.grid_id),
            (community, community.id == Place.community_id),
        ],
        personal=Place.contact_name.is_not(None) | Place.contact_phone.is_not(None),
    )


def _incidents_source(view: PersonalDataView) -> _Source:
    grid = aliased(Grid, name="grid")
    community = aliased(AdminUnit, name="community")
    return _Source(
        Incident,
        Incident.id,
        Incident.geom,
        [
            ("code", Incident.code),
            ("category_code", Incident.category_code),
            ("category_name", IncidentCategory.name_zh),
            ("category_name_en", IncidentCategory.name_en),
            ("title", Incident.title),
            ("status", Incident.status),
            ("risk_level", Incident.risk_level),
            ("channel", Incident.channel),
            ("supervision", Incident.supervision),
            ("reported_at", Incident.reported_at),
            ("deadline_at", Incident.deadline_at),
            ("closed_at", Incident.closed_at),
            ("grid_code", grid.code),
            ("community_code", community.code),
            ("department", Department.name),
            ("reporter_name", _name(Incident.reporter_name, view)),
            ("reporter_phone", _phone(Incident.reporter_phone, view)),
        ],
        joins=[
            (IncidentCategory, IncidentCategory.code == Incident.category_code),
            (Department, Department.id == Incident.department_id),
            (grid, grid.id == Incident.grid_id),
            (community, community.id == Incident.community_id),
        ],
        personal=Incident.reporter_name.is_not(None) | Incident.reporter_phone.is_not(None),
    )


_SOURCES: dict[str, Callable[[PersonalDataView], _Source]] = {
    "admin_units": _admin_units_source,
    "grids": _grids_source,
    "roads": _roads_source,
    "buildings": _buildings_source,
    "places": _places_source,
    "incidents": _incidents_source,
}


def _in_community(community_id: SQLColumnExpression[Any], code: str) -> ColumnElement[bool]:
    return community_id.in_(select(AdminUnit.id).where(AdminUnit.code == code))


# Query parameter → ItemsQuery attribute of every property/time filter.
_FILTER_ATTRIBUTES = {
    "community": "community",
    "kind": "kind",
    "status": "status",
    "category": "category",
    "datetime": "datetime_interval",
    "at": "at",
}


def _filters(info: LayerInfo, src: _Source, query: ItemsQuery) -> list[ColumnElement[bool]]:
    """The where-clauses of the query's filters (the scope is added separately)."""
    unsupported = [
        name
        for name, attribute in _FILTER_ATTRIBUTES.items()
        if getattr(query, attribute) not in (None, ()) and name not in info.filters
    ]
    if unsupported:
        raise InvalidInput(
            f"{info.id} cannot be filtered by {unsupported[0]}",
            f"图层 {info.id} 不支持按 {unsupported[0]} 筛选",
            field=unsupported[0],
        )
    where: list[ColumnElement[bool]] = []
    if query.bbox is not None:
        b = query.bbox
        envelope = func.ST_MakeEnvelope(b.minx, b.miny, b.maxx, b.maxy, STORAGE_SRID)
        where.append(func.ST_Intersects(src.geom, envelope))
    entity = src.entity
    if query.community is not None:
        where.append(_in_community(entity.community_id, query.community))
    if query.kind:
        where.append(entity.kind.in_(query.kind))
    if info.id == "grids":
        # Grids are versions: the current map by default, the map valid at `at` when asked.
        if query.at is None:
            where.append(Grid.valid_to.is_(None))
        else:
            where.append(Grid.valid_from <= query.at)
            where.append(or_(Grid.valid_to.is_(None), Grid.valid_to > query.at))
    if query.status:
        where.append(Incident.status.in_(query.status))
    if query.category is not None:
        where.append(
            or_(
                Incident.category_code == query.category,
                Incident.category_code.startswith(query.category + ".", autoescape=True),
            )
        )
    if query.datetime_interval is not None:
        if query.datetime_interval.start is not None:
            where.append(Incident.reported_at >= query.datetime_interval.start)
        if query.datetime_interval.end is not None:
            where.append(Incident.reported_at <= query.datetime_interval.end)
    return where


def _feature(src: _Source, links: list[dict[str, Any]] | None = None) -> ColumnElement[Any]:
    """One GeoJSON Feature built in SQL (lon/lat, 7 decimals, no ``crs`` member)."""
    properties = func.json_build_object(
        *(part for key, expr in src.properties for part in (key, expr))
    )
    # RFC 7946 §3.1.6: exterior rings counterclockwise, holes clockwise (no-op for points/lines).
    oriented = func.ST_ForcePolygonCCW(src.geom)
    geometry = cast(func.ST_AsGeoJSON(oriented, GEOJSON_DECIMALS, 0), JSON)
    parts: list[Any] = ["type", "Feature", "id", src.id, "geometry", geometry]
    parts += ["properties", properties]
    if links is not None:
        parts += ["links", _json_param(links)]
    return func.json_build_object(*parts)


def _json_param(value: Any) -> ColumnElement[Any]:
    """A Python value as one bound ``json`` parameter (UTF-8 kept readable, not \\u-escaped)."""
    return cast(literal(json.dumps(value, ensure_ascii=False), Text), JSON)


def _with_joins(stmt: _S, src: _Source) -> _S:
    for target, onclause in src.joins:
        stmt = stmt.outerjoin(target, onclause)
    return stmt


@contextmanager
def statement_timeout(session: Session, milliseconds: int) -> Iterator[None]:
    """Cap the statements run inside the block (``SET LOCAL statement_timeout``), then restore.

    The previous value is restored only on success: after a timeout the transaction is aborted
    and is rolled back anyway, which also undoes the local setting.
    """
    previous = session.execute(select(func.current_setting("statement_timeout"))).scalar_one()
    session.execute(select(func.set_config("statement_timeout", str(int(milliseconds)), True)))
    yield
    session.execute(select(func.set_config("statement_timeout", previous, True)))


@dataclass(frozen=True, slots=True)
class FeaturePage:
    """One page of a layer: the FeatureCollection as GeoJSON text and its counts."""

    body: str
    number_matched: int
    number_returned: int
    personal_ids: list[int]


LinkBuilder = Callable[[int], list[dict[str, Any]]]


def _check_category(session: Session, code: str) -> None:
    known = session.execute(
        select(IncidentCategory.code).where(IncidentCategory.code == code)
    ).first()
    if known is None:
        raise InvalidInput(
            f"There is no incident category {code!r}",
            f"不存在事件类别 {code!r}",
            field="category",
        )


def read_items(
    session: Session,
    *,
    principal: Principal,
    layer: str,
    query: ItemsQuery,
    links: LinkBuilder,
    client_ip: str | None = None,
    timeout_ms: int = ITEMS_STATEMENT_TIMEOUT_MS,
) -> FeaturePage:
    """One page of ``layer`` as a GeoJSON FeatureCollection built in SQL, scoped to the principal.

    ``links(number_matched)`` returns the collection's links (self, next, prev); they are passed
    into SQL as one bound JSON value. When any returned feature carries personal data, one audit
    row (action ``read``) lists those feature ids, the personal fields and whether they were
    shown unmasked. Ordered by id so that paging is stable.
    """
    info = get_layer(layer)
    if query.category is not None:
        _check_category(session, query.category)
    view = PersonalDataView.for_principal(principal)
    src = _SOURCES[layer](view)
    if query.properties is not None:
        src = _select_properties(info, src, query.properties)
    where = [area_filter(layer, principal), *_filters(info, src, query)]
    matching: Select[int] = select(src.id.label("id")).select_from(src.entity).where(*where)

    with statement_timeout(session, timeout_ms):
        number_matched = session.execute(
            select(func.count()).select_from(matching.subquery())
        ).scalar_one()
        page_ids = (
            matching.order_by(src.id).limit(query.limit).offset(query.offset).subquery("page_ids")
        )
        personal = src.personal if src.personal is not None else false()
        page = (
            _with_joins(
                select(
                    src.id.label("id"),
                    _feature(src).label("feature"),
                    personal.label("personal"),
                )
                .select_from(src.entity)
                .join(page_ids, page_ids.c.id == src.id),
                src,
            )
        ).subquery("page")
        collection = func.json_build_object(
            "type",
            "FeatureCollection",
            "features",
            func.coalesce(
                func.json_agg(aggregate_order_by(page.c.feature, page.c.id)),
                cast(literal("[]"), JSON),
            ),
            "links",
            _json_param(links(number_matched)),
            "numberMatched",
            literal(number_matched, Integer),
            "numberReturned",
            func.count(page.c.id),
            "timeStamp",
            func.to_char(
                func.timezone("UTC", func.statement_timestamp()), 'YYYY-MM-DD"T"HH24:MI:SS"Z"'
            ),
        )
        row = session.execute(
            select(
                cast(collection, Text),
                func.count(page.c.id),
                func.array_agg(page.c.id).filter(page.c.personal),
            )
        ).one()
    body, returned, personal_ids = row[0], row[1], sorted(row[2] or [])
    _audit(session, principal, info, view, personal_ids, client_ip, endpoint="items")
    return FeaturePage(body, number_matched, returned, personal_ids)


def read_item(
    session: Session,
    *,
    principal: Principal,
    layer: str,
    feature_id: int,
    links: list[dict[str, Any]],
    client_ip: str | None = None,
) -> str:
    """One Feature of ``layer`` as GeoJSON text; NotFound if absent or outside the scope.

    A row the principal may not see is reported exactly like a missing one, so its existence is
    not revealed. Grid versions of any time are reachable by id.
    """
    info = get_layer(layer)
    view = PersonalDataView.for_principal(principal)
    src = _SOURCES[layer](view)
    personal = src.personal if src.personal is not None else false()
    stmt = _with_joins(
        select(cast(_feature(src, links), Text), personal).select_from(src.entity), src
    ).where(src.id == feature_id, area_filter(layer, principal))
    row = session.execute(stmt).first() if 0 < feature_id <= MAX_ID else None
    if row is None:
        raise NotFound(
            f"There is no feature {feature_id} in {layer} within your area",
            f"在您的辖区内未找到图层 {layer} 中编号为 {feature_id} 的要素",
            field="featureId",
        )
    if row[1]:
        _audit(session, principal, info, view, [feature_id], client_ip, endpoint="item")
    return str(row[0])


def _audit(
    session: Session,
    principal: Principal,
    info: LayerInfo,
    view: PersonalDataView,
    ids: list[int],
    client_ip: str | None,
    *,
    endpoint: str,
) -> None:
    """One audit row for a read that returned personal data; nothing when it returned none."""
    if not ids or not info.personal_fields:
        return
    masked = [
        f
        for f in info.personal_fields
        if not (view.phones_full if f.endswith("phone") else view.names_full)
    ]
    record(
        session,
        action="read",
        resource=info.id,
        resource_ids=ids,
        fields=info.personal_fields,
        unmasked=view.unmasked,
        principal=principal,
        client_ip=client_ip,
        detail={"endpoint": endpoint, "masked_fields": masked},
    )


def area_extent(session: Session, principal: Principal) -> tuple[float, float, float, float]:
    """The lon/lat bounding box (degrees, EPSG:4326) of the principal's area of duty."""
    geom = select(AdminUnit.geom).where(AdminUnit.id == principal.area_id).scalar_subquery()
    box = session.execute(
        select(func.ST_XMin(geom), func.ST_YMin(geom), func.ST_XMax(geom), func.ST_YMax(geom))
    ).one()
    return (
        round(box[0], GEOJSON_DECIMALS),
        round(box[1], GEOJSON_DECIMALS),
        round(box[2], GEOJSON_DECIMALS),
        round(box[3], GEOJSON_DECIMALS),
    )


__all__ = [
    "BBOX_CRS",
    "CRS84",
    "LAYERS",
    "BBox",
    "FeaturePage",
    "ItemsQuery",
    "LayerInfo",
    "PersonalDataView",
    "TimeInterval",
    "area_extent",
    "get_layer",
    "parse_bbox",
    "parse_bbox_crs",
    "parse_category",
    "parse_choices",
    "parse_community",
    "parse_instant",
    "parse_interval",
    "read_item",
    "read_items",
    "sql_mask_name",
    "sql_mask_phone",
    "statement_timeout",
]
