"""Import and export of grid layers: GeoJSON, GeoPackage, Shapefile (zipped) and KML.

Import
------
:func:`import_grids` reads a file with pyogrio (GDAL), converts every feature through
:func:`layers.spatial.geometry.parse_geometry` (the one way geometry enters Wangge), maps the
attributes and checks the codes, then runs the coverage validator
(:func:`layers.grids.coverage.validate_coverage`) on the grid set the import would leave behind.
It is a **dry run** that writes nothing unless ``commit=True``.

* **CRS.** Declared (``crs=``: ``CGCS2000``, ``WGS84``, ``GCJ02``, ``BD09``, ``EPSG:4527`` …) or
  detected from the file (``.prj``, the GeoPackage SRS, KML and RFC 7946 GeoJSON are WGS-84). A
  declared CRS wins: GCJ-02 coordinates are usually labelled WGS-84 in the file and cannot be
  told apart, so they must be declared. A file with no CRS and none declared is refused, as are
  coordinates that do not fit the CRS (projected metres read as degrees, or the reverse).
* **Attributes.** ``code`` (required), ``name`` (required), ``kind``, ``sizing_type``, ``sizhi``
  (四至) and ``parent_grid_code`` (micro-grids) are found by the column names in
  :data:`ATTRIBUTE_ALIASES` (English or Chinese, any case), or named explicitly with ``mapping``
  (``{"code": "WGBM", "name": "网格名"}``). Kinds and sizing types may be given in Chinese
  (基础网格/微网格/专属网格; 散居/小区/平房/专属).
* **Codes.** 15 digits starting with the code of the parent community (or of one of the
  communities of a parent street); unique in the file; a retired code is refused (codes are
  never reissued); a code registered to another community is refused.
* **Commit.** Refused (InvalidInput with the report) while any feature has an error or the
  coverage validation finds an error; slivers and warnings do not block (repair them after).
  Each imported grid becomes a new version: a code with a current version gets version + 1
  (the old one is closed at ``now()``, lineage ``reshape``), a new code is registered in
  ``grid_codes`` and gets version 1. A feature identical to the current version (geometry
  vertex for vertex and attributes) is left alone. With ``replace=True`` the current grids of
  the parent that are not in the file are closed and their codes retired. Then buildings,
  places and incidents are re-filed (``reassign_after_grid_change``).

Export
------
:func:`export_grids` writes the grids of a community or street — current, or valid at a moment —
to any of the four formats, in WGS-84 (default) or another CRS (CGCS2000, a projected EPSG code,
or GCJ-02 for AMap users; KML is WGS-84 by definition). Coordinate conversion is done by PostGIS
for EPSG codes and by :func:`layers.spatial.crs.from_storage` for GCJ-02/BD-09 (which PROJ
refuses). A Shapefile comes as a zip of its parts, with UTF-8 attributes (``.cpg``).
"""

from __future__ import annotations

import io
import json
import math
import re
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError
from sqlalchemy import Integer, LargeBinary, String, bindparam, func, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

import geopandas as gpd
import shapely
from shapely.geometry import mapping

from layers.access import Principal
from layers.audit import record
from layers.errors import Forbidden, InvalidInput, UnknownCRS, WanggeError
from layers.grids.coverage import (
    DEFAULT_TOLERANCE_M,
    CoverageReport,
    ParentArea,
    check_tolerance,
    resolve_parent,
    validate_coverage,
    without_jit,
)
from layers.models import AdminUnit, Grid, GridCode
from layers.models.grids import GridKind, SizingType
from layers.scope import area_filter
from layers.spatial.crs import WGS84, Crs, from_storage, parse_crs
from layers.spatial.geometry import parse_geometry

MAX_IMPORT_FEATURES = 20_000

# File extension → (GDAL driver, what users call it).
IMPORT_FORMATS: dict[str, tuple[str, str]] = {
    ".geojson": ("GeoJSON", "GeoJSON"),
    ".json": ("GeoJSON", "GeoJSON"),
    ".gpkg": ("GPKG", "GeoPackage"),
    ".zip": ("ESRI Shapefile", "Shapefile (zip)"),
    ".kml": ("KML", "KML"),
}


@dataclass(frozen=True, slots=True)
class ExportFormat:
    """One export format: GDAL driver, file extension and media type."""

    driver: str
    extension: str
    media_type: str


EXPORT_FORMATS: dict[str, ExportFormat] = {
    "geojson": ExportFormat("GeoJSON", ".geojson", "application/geo+json"),
    "gpkg": ExportFormat("GPKG", ".gpkg", "application/geopackage+sqlite3"),
    "shp": ExportFormat("ESRI Shapefile", ".zip", "application/zip"),
    "kml": ExportFormat("KML", ".kml", "application/vnd.google-earth.kml+xml"),
}

TARGETS = ("code", "name", "kind", "sizing_type", "sizhi", "parent_grid_code")

# Column names recognised for each attribute (compared case-insensitively).
ATTRIBUTE_ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("code", "grid_code", "gridcode", "wgbm", "网格编码", "网格代码", "编码", "代码"),
    "name": ("name", "grid_name", "gridname", "wgmc", "网格名称", "网格名", "名称"),
    "kind": ("kind", "grid_kind", "type", "grid_type", "网格类型", "类型"),
    "sizing_type": ("sizing_type", "sizing", "划分类型", "规模类型", "网格规模类型"),
    "sizhi": ("sizhi", "四至", "四至范围", "boundary"),
    "parent_grid_code": ("parent_grid_code", "parent_grid", "parent", "上级网格编码", "上级网格"),
}

KIND_VALUES = {
    "basic": GridKind.basic,
    "基础网格": GridKind.basic,
    "基本网格": GridKind.basic,
    "网格": GridKind.basic,
    "micro": GridKind.micro,
    "微网格": GridKind.micro,
    "special": GridKind.special,
    "专属网格": GridKind.special,
    "专业网格": GridKind.special,
}
SIZING_VALUES = {
    "scattered": SizingType.scattered,
    "散居": SizingType.scattered,
    "散居型": SizingType.scattered,
    "compound": SizingType.compound,
    "小区": SizingType.compound,
    "封闭小区": SizingType.compound,
    "小区型": SizingType.compound,
    "bungalow": SizingType.bungalow,
    "平房": SizingType.bungalow,
    "平房区": SizingType.bungalow,
    "special": SizingType.special,
    "专属": SizingType.special,
}

_CODE_RE = re.compile(r"^[0-9]{15}$")
_MAX_NAME = 100
_MAX_SIZHI = 1000


# --------------------------------------------------------------------------------------------
# Reading a file
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LayerFile:
    """A grid layer read from a file, before any checking."""

    frame: gpd.GeoDataFrame
    format_name: str
    layer: str
    detected_crs: str | None


def _format_of(filename: str) -> tuple[str, str, str]:
    suffix = Path(filename or "").suffix.lower()
    if suffix not in IMPORT_FORMATS:
        raise InvalidInput(
            f"Unsupported file type {suffix or '(none)'!r}: upload .geojson, .gpkg, "
            ".zip (a Shapefile with its .shp, .shx, .dbf and .prj) or .kml",
            f"不支持的文件类型 {suffix or '（无扩展名）'!r}：请上传 .geojson、.gpkg、"
            ".zip（包含 .shp、.shx、.dbf、.prj 的 Shapefile 压缩包）或 .kml 文件",
            field="file",
        )
    driver, name = IMPORT_FORMATS[suffix]
    return suffix, driver, name


def read_layer_file(data: bytes, filename: str, *, layer: str | None = None) -> LayerFile:
    """Read the features of a grid layer file (GDAL via pyogrio), in the file's own CRS.

    Raises InvalidInput (``field="file"`` or ``"layer"``) for an unsupported, unreadable or
    empty file, or an ambiguous or unknown layer.
    """
    suffix, _driver, format_name = _format_of(filename)
    if not data:
        raise InvalidInput("The uploaded file is empty", "上传的文件为空", field="file")
    with tempfile.TemporaryDirectory(prefix="wangge-import-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        if suffix == ".zip":
            _check_zip(path)
        try:
            layers = pyogrio.list_layers(path)
            chosen = _choose_layer(layers, layer)
            frame = pyogrio.read_dataframe(path, layer=chosen, max_features=MAX_IMPORT_FEATURES + 1)
        except (DataSourceError, DataLayerError, OSError, ValueError) as exc:
            raise InvalidInput(
                f"The file cannot be read as {format_name}",
                f"无法按 {format_name} 格式读取该文件",
                field="file",
            ) from exc
    if len(frame) > MAX_IMPORT_FEATURES:
        raise InvalidInput(
            f"The file has more than {MAX_IMPORT_FEATURES} features",
            f"文件中的要素超过 {MAX_IMPORT_FEATURES} 个",
            field="file",
        )
    if len(frame) == 0:
        raise InvalidInput("The layer has no features", "图层中没有要素", field="file")
    detected = None
    if frame.crs is not None:
        epsg = frame.crs.to_epsg() or frame.crs.to_epsg(min_confidence=25)
        detected = f"EPSG:{epsg}" if epsg else "unknown"
    return LayerFile(frame, format_name, str(chosen), detected)


def _check_zip(path: Path) -> None:
    """A zipped Shapefile: a real zip holding one .shp with its .shx and .dbf."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n.lower() for n in archive.namelist()]
    except zipfile.BadZipFile as exc:
        raise InvalidInput(
            "The .zip file is damaged", "上传的 .zip 文件已损坏", field="file"
        ) from exc
    stems = {n[:-4] for n in names if n.endswith(".shp")}
    if not stems:
        raise InvalidInput(
            "The .zip holds no Shapefile (.shp)", "压缩包中没有 Shapefile（.shp）文件", field="file"
        )
    missing = [
        f"{stem}{ext}" for stem in stems for ext in (".shx", ".dbf") if f"{stem}{ext}" not in names
    ]
    if missing:
        raise InvalidInput(
            f"The Shapefile is incomplete: {', '.join(missing)} missing from the .zip",
            f"Shapefile 不完整：压缩包中缺少 {'、'.join(missing)}",
            field="file",
        )


def _choose_layer(layers: Any, wanted: str | None) -> str:
    names = [str(row[0]) for row in layers]
    if wanted:
        if wanted not in names:
            raise InvalidInput(
                f"The file has no layer {wanted!r}; it has: {', '.join(names)}",
                f"文件中没有图层 {wanted!r}；现有图层：{'、'.join(names)}",
                field="layer",
            )
        return wanted
    if len(names) == 1:
        return names[0]
    polygonal = [str(row[0]) for row in layers if "polygon" in str(row[1]).lower()]
    if len(polygonal) == 1:
        return polygonal[0]
    raise InvalidInput(
        f"The file has several layers ({', '.join(names)}): say which one to import",
        f"文件包含多个图层（{'、'.join(names)}）：请指定要导入的图层",
        field="layer",
    )


def resolve_crs(declared: str | None, detected: str | None) -> Crs:
    """The CRS to read the file in: the declared one, else the one the file names.

    Raises UnknownCRS (``field="crs"``) when neither is known.
    """
    if declared is not None and declared.strip():
        return parse_crs(declared, field="crs")
    if detected and detected != "unknown":
        return parse_crs(detected, field="crs")
    raise UnknownCRS(
        "The file does not say which coordinate system it uses: declare it with crs "
        "(e.g. CGCS2000, WGS84, GCJ02 or EPSG:4527)",
        "文件未注明坐标系：请用 crs 参数声明（如 CGCS2000、WGS84、GCJ02 或 EPSG:4527）",
        field="crs",
    )


def _check_bounds(frame: gpd.GeoDataFrame, crs: Crs) -> None:
    """Refuse coordinates that do not fit the CRS (the commonest mistake with local data)."""
    minx, miny, maxx, maxy = (float(v) for v in frame.total_bounds)
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        return
    looks_lonlat = minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90
    if crs.is_geographic and not looks_lonlat:
        raise InvalidInput(
            f"The coordinates (e.g. {minx:.1f}, {miny:.1f}) are not longitude/latitude but "
            f"{crs.label} is geographic: declare the projected CRS of the file, e.g. EPSG:4527",
            f"坐标（如 {minx:.1f}, {miny:.1f}）不是经纬度，而 {crs.label} 是地理坐标系："
            "请声明文件的投影坐标系，如 EPSG:4527",
            field="crs",
        )
    if not crs.is_geographic and looks_lonlat:
        raise InvalidInput(
            f"The coordinates look like longitude/latitude but {crs.label} is projected: "
            "declare a geographic CRS (CGCS2000, WGS84 or GCJ02)",
            f"坐标看起来是经纬度，而 {crs.label} 是投影坐标系：请声明地理坐标系"
            "（CGCS2000、WGS84 或 GCJ02）",
            field="crs",
        )


# --------------------------------------------------------------------------------------------
# Attributes
# --------------------------------------------------------------------------------------------


def resolve_mapping(columns: list[str], mapping_in: Mapping[str, str] | None) -> dict[str, str]:
    """Which file column feeds each attribute: explicit ``mapping`` first, then the aliases."""
    given = dict(mapping_in or {})
    unknown = sorted(set(given) - set(TARGETS))
    if unknown:
        raise InvalidInput(
            f"mapping names unknown attributes {', '.join(unknown)}; known: {', '.join(TARGETS)}",
            f"mapping 中有未知属性 {'、'.join(unknown)}；可用属性：{'、'.join(TARGETS)}",
            field="mapping",
        )
    missing = sorted(v for v in given.values() if v not in columns)
    if missing:
        raise InvalidInput(
            f"mapping names columns the file does not have: {', '.join(missing)}; "
            f"the file has: {', '.join(columns)}",
            f"mapping 中的列在文件中不存在：{'、'.join(missing)}；文件中的列：{'、'.join(columns)}",
            field="mapping",
        )
    by_lower = {c.lower(): c for c in columns}
    resolved = dict(given)
    for target in TARGETS:
        if target in resolved:
            continue
        for alias in ATTRIBUTE_ALIASES[target]:
            if alias.lower() in by_lower:
                resolved[target] = by_lower[alias.lower()]
                break
    if "code" not in resolved:
        raise InvalidInput(
            "No grid code column found (looked for "
            f"{', '.join(a for a in ATTRIBUTE_ALIASES['code'] if a.isascii())} and Chinese names): "
            'name it with mapping, e.g. {"code": "WGBM"}',
            f"未找到网格编码列（已查找 {'、'.join(ATTRIBUTE_ALIASES['code'])}）："
            '请用 mapping 指定，例如 {"code": "WGBM"}',
            field="mapping",
        )
    return resolved


def _text(value: Any) -> str | None:
    """A cell as text: numbers without a spurious '.0', blanks and NaN as None."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    text_value = str(value).strip()
    return text_value or None


# --------------------------------------------------------------------------------------------
# The import report
# --------------------------------------------------------------------------------------------


@dataclass
class ImportedFeature:
    """One feature of the file: its attributes, what the import does with it, its errors."""

    index: int
    code: str | None
    name: str | None
    kind: str
    sizing_type: str
    sizhi: str | None
    parent_grid_code: str | None
    wkb: bytes | None = field(default=None, repr=False)
    action: str = "error"  # create | new_version | unchanged | error
    current_id: int | None = None
    current_version: int | None = None
    new_version: int | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)

    def error(self, field_name: str, en: str, zh: str, **extra: Any) -> None:
        """Record an error of this feature."""
        self.errors.append({"field": field_name, "message_en": en, "message_zh": zh, **extra})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {
            "index": self.index,
            "code": self.code,
            "name": self.name,
            "kind": self.kind,
            "sizing_type": self.sizing_type,
            "action": self.action,
            "current_version": self.current_version,
            "new_version": self.new_version,
            "errors": self.errors,
        }


@dataclass
class ImportReport:
    """The dry-run report of an import (and, once committed, what was written)."""

    filename: str
    format_name: str
    layer: str
    parent: ParentArea
    crs_declared: str | None
    crs_detected: str | None
    crs_used: str
    mapping: dict[str, str]
    replace: bool
    features: list[ImportedFeature]
    retire: list[str]
    coverage: CoverageReport | None
    committed: bool = False
    written_ids: list[int] = field(default_factory=list)
    reassigned: dict[str, int] = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        """Features with at least one error."""
        return sum(1 for f in self.features if f.errors)

    @property
    def committable(self) -> bool:
        """No feature error and no coverage error (slivers and warnings do not block)."""
        coverage_errors = self.coverage.count(severity="error") if self.coverage else 0
        return self.error_count == 0 and coverage_errors == 0

    def counts(self) -> dict[str, int]:
        """How many features each action applies to."""
        out = dict.fromkeys(("create", "new_version", "unchanged", "error"), 0)
        for f in self.features:
            out[f.action] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report (the coverage problems as a GeoJSON FeatureCollection)."""
        return {
            "file": {"name": self.filename, "format": self.format_name, "layer": self.layer},
            "parent": {
                "code": self.parent.code,
                "name": self.parent.name,
                "level": self.parent.level,
            },
            "crs": {
                "declared": self.crs_declared,
                "detected": self.crs_detected,
                "used": self.crs_used,
            },
            "mapping": self.mapping,
            "replace": self.replace,
            "features": [f.to_dict() for f in self.features],
            "counts": self.counts(),
            "errors": self.error_count,
            "retire": self.retire,
            "coverage": self.coverage.to_summary() if self.coverage else None,
            "problems": self.coverage.to_geojson() if self.coverage else None,
            "committable": self.committable,
            "committed": self.committed,
            "written_ids": self.written_ids,
            "reassigned": self.reassigned,
        }


# --------------------------------------------------------------------------------------------
# Import
# --------------------------------------------------------------------------------------------

_REGISTRY = text(
    """
    SELECT c.code, c.retired_at IS NOT NULL AS retired, a.code AS community_code,
           g.id AS current_id, g.version AS current_version, g.valid_from > now() AS future,
           g.name, g.kind, g.sizing_type, g.sizhi, g.parent_grid_code,
           (SELECT max(v.version) FROM grids AS v WHERE v.code = c.code) AS max_version
    FROM grid_codes AS c
    JOIN admin_units AS a ON a.id = c.community_id
    LEFT JOIN grids AS g ON g.code = c.code AND g.valid_to IS NULL
    WHERE c.code = ANY(CAST(:codes AS varchar[]))
    """
)

# A feature equal to the current version (vertex for vertex, and every attribute) is left alone.
_UNCHANGED = text(
    """
    SELECT g.id FROM grids AS g
    JOIN unnest(CAST(:ids AS integer[]), CAST(:wkbs AS bytea[]), CAST(:names AS text[]),
                CAST(:kinds AS text[]), CAST(:sizings AS text[]), CAST(:sizhis AS text[]),
                CAST(:parents AS text[]))
         AS f(id, wkb, name, kind, sizing_type, sizhi, parent_grid_code) ON f.id = g.id
    WHERE ST_AsBinary(ST_Normalize(g.geom))
          = ST_AsBinary(ST_Normalize(ST_SetSRID(ST_GeomFromWKB(f.wkb), 4326)))
      AND g.name = f.name AND g.kind = f.kind AND g.sizing_type = f.sizing_type
      AND g.sizhi IS NOT DISTINCT FROM f.sizhi
      AND g.parent_grid_code IS NOT DISTINCT FROM f.parent_grid_code
    """
)


def import_grids(
    session: Session,
    principal: Principal,
    *,
    data: bytes,
    filename: str,
    parent_code: str,
    crs: str | None = None,
    layer: str | None = None,
    mapping: Mapping[str, str] | None = None,
    replace: bool = False,
    commit: bool = False,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
) -> ImportReport:
    """Check a grid layer file against a parent; write it as new grid versions if ``commit``.

    Returns the report (a dry run unless ``commit``). Raises Forbidden for a role that may not
    edit grids, NotFound for a parent outside the principal's area, InvalidInput / UnknownCRS
    for a file that cannot be read at all, and InvalidInput with the report in
    ``extra["report"]`` when ``commit`` is asked for a file with errors.
    """
    if not principal.may_edit_grids():
        raise Forbidden(
            "Only planners, street admins and admins may import grids",
            "仅网格规划员、街道管理员和系统管理员可以导入网格",
        )
    tolerance = check_tolerance(tolerance_m)
    parent = resolve_parent(session, parent_code, principal=principal)
    source = read_layer_file(data, filename, layer=layer)
    used = resolve_crs(crs, source.detected_crs)
    _check_bounds(source.frame, used)
    columns = [c for c in source.frame.columns if c != source.frame.geometry.name]
    resolved = resolve_mapping(columns, mapping)
    features = _parse_features(source.frame, resolved, used)
    with without_jit(session):
        _check_codes(session, parent, features, mapped=set(resolved))
        _mark_unchanged(session, features)
    retire = _to_retire(session, parent, features) if replace else []
    coverage = _validate_import(session, parent, features, retire, replace, tolerance)
    report = ImportReport(
        filename=filename,
        format_name=source.format_name,
        layer=source.layer,
        parent=parent,
        crs_declared=crs.strip() if crs and crs.strip() else None,
        crs_detected=source.detected_crs,
        crs_used=used.label,
        mapping=resolved,
        replace=replace,
        features=features,
        retire=retire,
        coverage=coverage,
    )
    if commit:
        if not report.committable:
            raise InvalidInput(
                f"The import cannot be committed: {report.error_count} feature(s) with errors, "
                f"{coverage.count(severity='error')} coverage error(s); see the report",
                f"无法提交导入：{report.error_count} 个要素有错误，覆盖检查发现 "
                f"{coverage.count(severity='error')} 处错误；详见报告",
                field="file",
                extra={"report": report.to_dict()},
            )
        with without_jit(session):
            _write(session, principal, report)
    return report


def _parse_features(
    frame: gpd.GeoDataFrame, resolved: dict[str, str], crs: Crs
) -> list[ImportedFeature]:
    """Attributes and storage geometry of each feature; problems recorded, never raised."""
    features = []
    geometries = frame.geometry.array
    for index in range(len(frame)):
        row = frame.iloc[index]
        values = {t: _text(row[c]) if c in row else None for t, c in resolved.items()}
        kind_text = values.get("kind")
        sizing_text = values.get("sizing_type")
        feature = ImportedFeature(
            index=index,
            code=values.get("code"),
            name=values.get("name"),
            kind=KIND_VALUES.get((kind_text or "basic").lower(), GridKind.basic).value,
            sizing_type=SIZING_VALUES.get(
                (sizing_text or "scattered").lower(), SizingType.scattered
            ).value,
            sizhi=values.get("sizhi"),
            parent_grid_code=values.get("parent_grid_code"),
        )
        if kind_text and kind_text.lower() not in KIND_VALUES:
            feature.error(
                "kind",
                f"Unknown grid kind {kind_text!r}: use basic, micro or special",
                f"未知的网格类型 {kind_text!r}：应为基础网格、微网格或专属网格",
            )
        if sizing_text and sizing_text.lower() not in SIZING_VALUES:
            feature.error(
                "sizing_type",
                f"Unknown sizing type {sizing_text!r}: use scattered, compound, bungalow or "
                "special",
                f"未知的规模类型 {sizing_text!r}：应为散居、小区、平房或专属",
            )
        if "name" in resolved and not feature.name:
            feature.error("name", "The grid name is missing", "缺少网格名称")
        elif feature.name and len(feature.name) > _MAX_NAME:
            feature.error(
                "name",
                f"The grid name is longer than {_MAX_NAME} characters",
                f"网格名称超过 {_MAX_NAME} 个字符",
            )
        if feature.sizhi and len(feature.sizhi) > _MAX_SIZHI:
            feature.error(
                "sizhi",
                f"四至 is longer than {_MAX_SIZHI} characters",
                f"四至描述超过 {_MAX_SIZHI} 个字符",
            )
        if feature.kind == GridKind.micro.value and not feature.parent_grid_code:
            feature.error(
                "parent_grid_code",
                "A micro-grid needs the code of the grid it lies in",
                "微网格需要填写所属网格的编码",
            )
        _parse_geometry(feature, geometries[index], crs)
        features.append(feature)
    return features


def _parse_geometry(feature: ImportedFeature, geom: Any, crs: Crs) -> None:
    if geom is None or shapely.is_empty(geom):
        feature.error("geometry", "The feature has no geometry", "要素没有几何图形")
        return
    try:
        parsed = parse_geometry(
            mapping(shapely.force_2d(geom)),
            allowed={"Polygon", "MultiPolygon"},
            crs=crs,
            field="geometry",
        )
    except WanggeError as exc:
        feature.error("geometry", exc.message_en, exc.message_zh, **exc.extra)
        return
    feature.wkb = shapely.to_wkb(parsed)


def _check_codes(
    session: Session, parent: ParentArea, features: list[ImportedFeature], *, mapped: set[str]
) -> None:
    """Code format, community, duplicates, retired codes; the version each import will get.

    An attribute the file has no column for keeps the current version's value (a file of
    boundaries only changes boundaries); a new code gets the defaults and needs a name.
    """
    communities = {c[1] for c in parent.communities}
    seen: dict[str, int] = {}
    for f in features:
        if f.code is None:
            f.error("code", "The grid code is missing", "缺少网格编码")
        elif not _CODE_RE.match(f.code):
            f.error(
                "code",
                f"Grid code {f.code!r} is not 15 digits",
                f"网格编码 {f.code!r} 不是 15 位数字",
            )
        elif f.code[:12] not in communities:
            f.error(
                "code",
                f"Grid code {f.code} does not start with the code of "
                + (
                    f"community {parent.code}"
                    if parent.level == "community"
                    else f"a community of street {parent.code}"
                ),
                f"网格编码 {f.code} 不以"
                + (
                    f"社区代码 {parent.code}"
                    if parent.level == "community"
                    else f"{parent.name}下属社区的代码"
                )
                + " 开头",
            )
        elif f.code in seen:
            f.error(
                "code",
                f"Grid code {f.code} appears twice in the file (features {seen[f.code]} and "
                f"{f.index})",
                f"网格编码 {f.code} 在文件中重复出现（第 {seen[f.code]} 和第 {f.index} 个要素）",
            )
        else:
            seen[f.code] = f.index
        if f.parent_grid_code and not _CODE_RE.match(f.parent_grid_code):
            f.error(
                "parent_grid_code",
                f"Parent grid code {f.parent_grid_code!r} is not 15 digits",
                f"所属网格编码 {f.parent_grid_code!r} 不是 15 位数字",
            )
    registry = {row.code: row for row in session.execute(_REGISTRY, {"codes": sorted(seen)})}
    _check_parent_grids(session, features, in_file=set(seen))
    for f in features:
        if f.errors or f.code is None:
            continue
        row = registry.get(f.code)
        if row is None:
            f.action, f.new_version = "create", 1
            if "name" not in mapped:
                f.error(
                    "name",
                    "A new grid needs a name: the file has no name column",
                    "新网格需要名称：文件中没有名称列",
                )
        elif row.retired:
            f.error(
                "code",
                f"Grid code {f.code} is retired and is never issued again",
                f"网格编码 {f.code} 已撤销，不能再次使用",
            )
        elif row.community_code != f.code[:12]:
            f.error(
                "code",
                f"Grid code {f.code} is registered to community {row.community_code}",
                f"网格编码 {f.code} 已登记在社区 {row.community_code} 名下",
            )
        elif row.future:
            f.error(
                "code",
                f"Grid {f.code} has a version that takes effect in the future",
                f"网格 {f.code} 有尚未生效的新版本",
            )
        else:
            f.action = "new_version"
            f.current_id, f.current_version = row.current_id, row.current_version
            f.new_version = int(row.max_version or 0) + 1
            if row.current_id is not None:
                _keep_unmapped(f, row, mapped)
        if f.errors:
            f.action = "error"


def _check_parent_grids(
    session: Session, features: list[ImportedFeature], *, in_file: set[str]
) -> None:
    """A micro-grid's parent grid must be a registered, unretired code or one in the file."""
    wanted = sorted({f.parent_grid_code for f in features if f.parent_grid_code} - in_file)
    known = set(
        session.scalars(
            select(GridCode.code).where(GridCode.code.in_(wanted), GridCode.retired_at.is_(None))
        )
    )
    for f in features:
        code = f.parent_grid_code
        if code and code not in in_file and code not in known and _CODE_RE.match(code):
            f.error(
                "parent_grid_code",
                f"Parent grid {code} does not exist (or is retired)",
                f"所属网格 {code} 不存在或已撤销",
            )


def _keep_unmapped(feature: ImportedFeature, current: Any, mapped: set[str]) -> None:
    """Fill the attributes the file has no column for from the current version."""
    if "name" not in mapped:
        feature.name = current.name
    for target in ("kind", "sizing_type", "sizhi", "parent_grid_code"):
        if target not in mapped:
            setattr(feature, target, getattr(current, target))


def _mark_unchanged(session: Session, features: list[ImportedFeature]) -> None:
    candidates = [f for f in features if f.action == "new_version" and f.current_id]
    if not candidates:
        return
    same = set(
        session.scalars(
            _UNCHANGED,
            {
                "ids": [f.current_id for f in candidates],
                "wkbs": [f.wkb for f in candidates],
                "names": [f.name for f in candidates],
                "kinds": [f.kind for f in candidates],
                "sizings": [f.sizing_type for f in candidates],
                "sizhis": [f.sizhi for f in candidates],
                "parents": [f.parent_grid_code for f in candidates],
            },
        )
    )
    for f in candidates:
        if f.current_id in same:
            f.action, f.new_version = "unchanged", None


def _to_retire(session: Session, parent: ParentArea, features: list[ImportedFeature]) -> list[str]:
    """Current grids of the parent that a replacing import would close (codes retired)."""
    in_file = {f.code for f in features if f.code}
    current = session.scalars(
        select(Grid.code)
        .where(Grid.valid_to.is_(None), Grid.community_id.in_(parent.community_ids))
        .order_by(Grid.code)
    )
    return [code for code in current if code not in in_file]


def _validate_import(
    session: Session,
    parent: ParentArea,
    features: list[ImportedFeature],
    retire: list[str],
    replace: bool,
    tolerance: float,
) -> CoverageReport:
    """The validator on the grid set the import leaves behind (imported + kept current grids)."""
    usable = [
        f for f in features if f.wkb is not None and f.code and f.kind != GridKind.micro.value
    ]
    imported = (
        func.unnest(
            bindparam("imp_ids", [-(f.index + 1) for f in usable], type_=ARRAY(Integer)),
            bindparam("imp_codes", [f.code for f in usable], type_=ARRAY(String)),
            bindparam("imp_wkbs", [f.wkb for f in usable], type_=ARRAY(LargeBinary)),
        )
        .table_valued("id", "code", "wkb")
        .render_derived()
    )
    grids = select(
        imported.c.id,
        imported.c.code,
        func.ST_SetSRID(func.ST_GeomFromWKB(imported.c.wkb), 4326).label("geom"),
    )
    replaced = {f.code for f in usable} | set(retire if replace else [])
    kept = select(Grid.id, Grid.code, Grid.geom).where(
        Grid.valid_to.is_(None),
        Grid.kind != GridKind.micro.value,
        Grid.community_id.in_(parent.community_ids),
        Grid.code.not_in(sorted(replaced)) if replaced else Grid.code.is_not(None),
    )
    return validate_coverage(
        session, parent_code=parent.code, tolerance_m=tolerance, grids=grids.union_all(kept)
    )


_REGISTER = text(
    """
    INSERT INTO grid_codes (code, community_id)
    SELECT n.code, a.id FROM unnest(CAST(:codes AS varchar[])) AS n(code)
    JOIN admin_units AS a ON a.code = left(n.code, 12)
    """
)

_CLOSE = text(
    """
    UPDATE grids SET valid_to = now()
    WHERE valid_to IS NULL AND code = ANY(CAST(:codes AS varchar[]))
    RETURNING id, code
    """
)

_INSERT = text(
    """
    INSERT INTO grids (code, version, name, kind, sizing_type, community_id, parent_grid_code,
                       sizhi, geom, valid_from, created_by)
    SELECT f.code, f.version, f.name, f.kind, f.sizing_type, a.id, f.parent_grid_code, f.sizhi,
           ST_Multi(ST_SetSRID(ST_GeomFromWKB(f.wkb), 4326)), now(), :user_id
    FROM unnest(CAST(:codes AS varchar[]), CAST(:versions AS integer[]),
                CAST(:names AS text[]), CAST(:kinds AS text[]), CAST(:sizings AS text[]),
                CAST(:parents AS varchar[]), CAST(:sizhis AS text[]), CAST(:wkbs AS bytea[]))
         AS f(code, version, name, kind, sizing_type, parent_grid_code, sizhi, wkb)
    JOIN admin_units AS a ON a.code = left(f.code, 12)
    ORDER BY f.code
    RETURNING id, code
    """
)

_LINEAGE = text(
    """
    INSERT INTO grid_lineage (grid_id, source_grid_id, relation)
    SELECT n.new_id, n.old_id, 'reshape'
    FROM unnest(CAST(:new_ids AS integer[]), CAST(:old_ids AS integer[])) AS n(new_id, old_id)
    """
)

_RETIRE = text(
    """
    UPDATE grid_codes SET retired_at = now() WHERE code = ANY(CAST(:codes AS varchar[]))
    """
)


def _write(session: Session, principal: Principal, report: ImportReport) -> None:
    """Write a checked import: codes, closed versions, new versions, lineage, re-filing."""
    writing = [f for f in report.features if f.action in ("create", "new_version")]
    if not writing and not report.retire:
        report.committed = True  # every grid is unchanged: nothing to write
        return
    new_codes = [f.code for f in writing if f.action == "create"]
    if new_codes:
        session.execute(_REGISTER, {"codes": new_codes})
    closed = session.execute(
        _CLOSE, {"codes": [f.code for f in writing if f.action == "new_version"] + report.retire}
    ).all()
    old_by_code = {row.code: row.id for row in closed}
    inserted = (
        session.execute(
            _INSERT,
            {
                "codes": [f.code for f in writing],
                "versions": [f.new_version for f in writing],
                "names": [f.name for f in writing],
                "kinds": [f.kind for f in writing],
                "sizings": [f.sizing_type for f in writing],
                "parents": [f.parent_grid_code for f in writing],
                "sizhis": [f.sizhi for f in writing],
                "wkbs": [f.wkb for f in writing],
                "user_id": principal.user_id,
            },
        ).all()
        if writing
        else []
    )
    pairs = [(row.id, old_by_code[row.code]) for row in inserted if row.code in old_by_code]
    if pairs:
        session.execute(
            _LINEAGE, {"new_ids": [p[0] for p in pairs], "old_ids": [p[1] for p in pairs]}
        )
    if report.retire:
        session.execute(_RETIRE, {"codes": report.retire})
    changed = [row.id for row in inserted] + list(old_by_code.values())
    record(
        session,
        action="import",
        resource="grids",
        resource_ids=[row.id for row in inserted],
        principal=principal,
        detail={
            "parent": report.parent.code,
            "file": report.filename,
            "crs": report.crs_used,
            "created": new_codes,
            "new_versions": [f.code for f in writing if f.action == "new_version"],
            "retired": report.retire,
        },
    )
    from layers.spatial.assign import reassign_after_grid_change

    report.reassigned = dict(reassign_after_grid_change(session, changed_grid_ids=changed))
    report.written_ids = [row.id for row in inserted]
    report.committed = True


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportFile:
    """An exported grid layer, ready to send or save."""

    filename: str
    media_type: str
    content: bytes
    count: int


# Shapefile field names are at most 10 characters.
_SHAPEFILE_FIELDS = {
    "sizing_type": "sizing",
    "parent_grid_code": "parent",
    "valid_from": "valid_from",
    "community_code": "comm_code",
    "community_name": "comm_name",
}


def export_grids(
    session: Session,
    principal: Principal,
    *,
    parent_code: str,
    fmt: str,
    at: datetime | None = None,
    crs: str | None = None,
) -> ExportFile:
    """The grids of a community or street in the principal's area, as a file.

    Parameters
    ----------
    fmt
        ``geojson``, ``gpkg``, ``shp`` (a zip) or ``kml``.
    at
        The moment whose grid map is exported (``valid_from <= at < valid_to``); default the
        current grids.
    crs
        Output CRS (default WGS-84 / EPSG:4326): CGCS2000, an EPSG code, GCJ02 or BD09.
    """
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(
            f"Unknown format {fmt!r}: use {', '.join(EXPORT_FORMATS)}",
            f"未知的导出格式 {fmt!r}：可用 {'、'.join(EXPORT_FORMATS)}",
            field="format",
        )
    out_format = EXPORT_FORMATS[fmt]
    parent = resolve_parent(session, parent_code, principal=principal)
    target = parse_crs(crs, field="crs") if crs else WGS84
    if fmt == "kml" and target.kind == "epsg" and not target.is_identity:
        raise InvalidInput(
            "KML is always WGS-84 longitude/latitude: export KML without crs (or use GCJ02)",
            "KML 只能使用 WGS-84 经纬度：导出 KML 时请勿指定其他坐标系（或使用 GCJ02）",
            field="crs",
        )
    srid = target.epsg if target.kind == "epsg" and not target.is_identity else None
    geom = Grid.geom if srid is None else func.ST_Transform(Grid.geom, srid)
    query = (
        select(
            Grid.code,
            Grid.name,
            Grid.kind,
            Grid.sizing_type,
            Grid.sizhi,
            Grid.parent_grid_code,
            Grid.version,
            Grid.valid_from,
            Grid.valid_to,
            AdminUnit.code.label("community_code"),
            AdminUnit.name.label("community_name"),
            func.ST_AsBinary(geom).label("wkb"),
        )
        .join(AdminUnit, AdminUnit.id == Grid.community_id)
        .where(Grid.community_id.in_(parent.community_ids), area_filter("grids", principal))
        .order_by(Grid.code)
    )
    if at is None:
        query = query.where(Grid.valid_to.is_(None))
    else:
        query = query.where(Grid.valid_from <= at, or_(Grid.valid_to.is_(None), Grid.valid_to > at))
    rows = session.execute(query).all()
    geoms = shapely.from_wkb([r.wkb for r in rows]) if rows else []
    if target.kind != "epsg":
        geoms = [from_storage(g, target) for g in geoms]
    frame = gpd.GeoDataFrame(
        {
            "code": [r.code for r in rows],
            "name": [r.name for r in rows],
            "kind": [r.kind for r in rows],
            "sizing_type": [r.sizing_type for r in rows],
            "sizhi": [r.sizhi or "" for r in rows],
            "parent_grid_code": [r.parent_grid_code or "" for r in rows],
            "version": [r.version for r in rows],
            "valid_from": [_iso(r.valid_from) for r in rows],
            "valid_to": [_iso(r.valid_to) for r in rows],
            "community_code": [r.community_code for r in rows],
            "community_name": [r.community_name for r in rows],
        },
        geometry=list(geoms),
        crs=f"EPSG:{target.epsg}" if target.kind == "epsg" else "EPSG:4326",
    )
    content = _write_frame(frame, out_format, layer=f"grids_{parent.code}")
    stamp = (at or datetime.now(UTC)).strftime("%Y%m%d")
    return ExportFile(
        filename=f"grids_{parent.code}_{stamp}{out_format.extension}",
        media_type=out_format.media_type,
        content=content,
        count=len(rows),
    )


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _write_frame(frame: gpd.GeoDataFrame, out: ExportFormat, *, layer: str) -> bytes:
    """Write a frame with GDAL into a temporary directory and return the file's bytes."""
    with tempfile.TemporaryDirectory(prefix="wangge-export-") as tmp:
        if out.driver == "ESRI Shapefile":
            shp = Path(tmp) / f"{layer}.shp"
            pyogrio.write_dataframe(
                frame.rename(columns=_SHAPEFILE_FIELDS),
                shp,
                driver=out.driver,
                encoding="UTF-8",
                promote_to_multi=True,
            )
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for part in sorted(Path(tmp).glob(f"{layer}.*")):
                    archive.write(part, part.name)
            return buffer.getvalue()
        path = Path(tmp) / f"{layer}{out.extension}"
        options: dict[str, Any] = {}
        if out.driver == "GeoJSON":
            geographic = frame.crs is None or frame.crs.is_geographic
            options["layer_options"] = (
                {"RFC7946": "YES", "COORDINATE_PRECISION": 7} if geographic else {}
            )
        if out.driver == "KML":
            frame = frame.rename(columns={"name": "Name"})
        pyogrio.write_dataframe(
            frame, path, driver=out.driver, layer=layer, promote_to_multi=True, **options
        )
        return path.read_bytes()


def parse_mapping(value: str | None) -> dict[str, str] | None:
    """Parse a ``mapping`` JSON object given as text (the form field of the import request)."""
    if value is None or not value.strip():
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            'mapping must be a JSON object such as {"code": "WGBM", "name": "MC"}',
            'mapping 应为 JSON 对象，例如 {"code": "WGBM", "name": "网格名称"}',
            field="mapping",
        ) from exc
    if not isinstance(parsed, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()
    ):
        raise InvalidInput(
            "mapping must map attribute names to column names (text to text)",
            "mapping 应为“属性名 → 列名”的文本对照",
            field="mapping",
        )
    return parsed
