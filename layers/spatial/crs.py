"""Coordinate reference systems accepted on the way in, and the one used for storage.

Storage is EPSG:4326 lon/lat (numerically CGCS2000 to centimetres, see layers.base). Inputs may
come in:

* ``EPSG:4326`` / WGS-84 and ``EPSG:4490`` / CGCS2000: stored as they are (the datums differ by
  centimetres, below the accuracy of anything digitised here);
* any other EPSG code PROJ knows, e.g. CGCS2000 Gauss-Krüger zones (``EPSG:4527`` …) or UTM:
  transformed with pyproj, always in x/y (easting/northing, lon/lat) order;
* ``GCJ-02`` (AMap, Tencent) and ``BD-09`` (Baidu): PROJ refuses these obfuscated datums by design,
  so prcoords converts them exactly (iteratively, to well under a metre). Points outside China pass
  through unchanged, as the national rules define.

Output for maps whose basemap is GCJ-02 uses :func:`from_storage` with ``GCJ02``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

import prcoords
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from layers.errors import InvalidInput, UnknownCRS

STORAGE_EPSG = 4326
# Datums treated as identical to storage (difference of centimetres).
_IDENTITY_EPSG = {4326, 4490}

_ALIASES = {
    "wgs84": "EPSG:4326",
    "wgs-84": "EPSG:4326",
    "crs84": "EPSG:4326",
    "ogc:crs84": "EPSG:4326",
    "http://www.opengis.net/def/crs/ogc/1.3/crs84": "EPSG:4326",
    "cgcs2000": "EPSG:4490",
    "gcj02": "GCJ02",
    "gcj-02": "GCJ02",
    "gcj": "GCJ02",
    "mars": "GCJ02",
    "bd09": "BD09",
    "bd-09": "BD09",
    "baidu": "BD09",
}
_EPSG_RE = re.compile(r"^(?:epsg:?|http://www\.opengis\.net/def/crs/epsg/0/)?(\d{4,6})$")


@dataclass(frozen=True, slots=True)
class Crs:
    """A parsed input CRS: an EPSG code, or one of the Chinese obfuscated datums."""

    kind: str  # "epsg", "gcj02" or "bd09"
    epsg: int | None = None

    @property
    def label(self) -> str:
        """Canonical name: ``EPSG:4490``, ``GCJ02`` or ``BD09``."""
        return f"EPSG:{self.epsg}" if self.kind == "epsg" else self.kind.upper()

    @property
    def is_identity(self) -> bool:
        """True when coordinates are stored without conversion."""
        return self.kind == "epsg" and self.epsg in _IDENTITY_EPSG

    @property
    def is_geographic(self) -> bool:
        """True for lon/lat systems (so lon/lat range checks apply)."""
        if self.kind != "epsg":
            return True
        return bool(_pyproj_crs(self.epsg).is_geographic)


WGS84 = Crs("epsg", 4326)
CGCS2000 = Crs("epsg", 4490)
GCJ02 = Crs("gcj02")
BD09 = Crs("bd09")


@lru_cache(maxsize=64)
def _pyproj_crs(epsg: int) -> CRS:
    return CRS.from_epsg(epsg)


@lru_cache(maxsize=64)
def _to_storage_transformer(epsg: int) -> Transformer:
    return Transformer.from_crs(_pyproj_crs(epsg), STORAGE_EPSG, always_xy=True)


@lru_cache(maxsize=64)
def _from_storage_transformer(epsg: int) -> Transformer:
    return Transformer.from_crs(STORAGE_EPSG, _pyproj_crs(epsg), always_xy=True)


def parse_crs(value: str | int | None, *, field: str = "crs") -> Crs:
    """Parse a CRS name (``EPSG:4490``, ``4527``, ``CGCS2000``, ``GCJ-02``, ``BD09``...).

    ``None`` or an empty string means WGS-84. Raises UnknownCRS (with ``field``) for anything
    PROJ does not know.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return WGS84
    text = str(value).strip().lower()
    text = _ALIASES.get(text, text).lower()
    if text == "gcj02":
        return GCJ02
    if text == "bd09":
        return BD09
    match = _EPSG_RE.match(text)
    if not match:
        raise UnknownCRS(
            f"Unknown CRS {value!r}: use EPSG:<code>, CGCS2000, WGS84, GCJ02 or BD09",
            f"无法识别的坐标系 {value!r}：请使用 EPSG:<代码>、CGCS2000、WGS84、GCJ02 或 BD09",
            field=field,
        )
    epsg = int(match.group(1))
    try:
        crs = _pyproj_crs(epsg)
    except CRSError as exc:
        raise UnknownCRS(
            f"EPSG:{epsg} is not a known coordinate reference system",
            f"EPSG:{epsg} 不是已知的坐标参考系",
            field=field,
        ) from exc
    if not (crs.is_geographic or crs.is_projected):
        raise UnknownCRS(
            f"EPSG:{epsg} is neither geographic nor projected",
            f"EPSG:{epsg} 既不是地理坐标系也不是投影坐标系",
            field=field,
        )
    return Crs("epsg", epsg)


def _convert_xy(coords: np.ndarray, crs: Crs, *, inverse: bool) -> np.ndarray:
    """Convert an (N, 2) array of x/y (lon/lat) between ``crs`` and storage."""
    if crs.is_identity or len(coords) == 0:
        return coords
    if crs.kind == "epsg":
        assert crs.epsg is not None
        transformer = (
            _from_storage_transformer(crs.epsg) if inverse else _to_storage_transformer(crs.epsg)
        )
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])
    if crs.kind == "gcj02":
        fn = prcoords.wgs_gcj if inverse else prcoords.gcj_wgs_bored
    else:
        fn = prcoords.wgs_bd if inverse else prcoords.bd_wgs_bored
    out = np.array(coords, dtype=float, copy=True)
    # prcoords is scalar and takes (lat, lon); geometries here have at most thousands of vertices.
    # Outside China the obfuscation does not apply: those points pass through unchanged.
    for i, (lon, lat) in enumerate(coords):
        point = prcoords.Coords(float(lat), float(lon))
        if prcoords.sanity_in_china_p(point):
            converted = fn(point)
            out[i] = (converted.lon, converted.lat)
    return out


def to_storage(geom: BaseGeometry, crs: Crs) -> BaseGeometry:
    """Return ``geom`` (in ``crs``, x/y order) converted to storage lon/lat (EPSG:4326)."""
    return shapely.transform(geom, lambda c: _convert_xy(c, crs, inverse=False))


def from_storage(geom: BaseGeometry, crs: Crs) -> BaseGeometry:
    """Return a stored lon/lat geometry converted to ``crs`` (e.g. GCJ-02 for AMap basemaps)."""
    return shapely.transform(geom, lambda c: _convert_xy(c, crs, inverse=True))


def point_to_storage(x: float, y: float, crs: Crs) -> tuple[float, float]:
    """Convert one x/y (lon/lat, or easting/northing) pair to storage lon/lat."""
    out = _convert_xy(np.array([[x, y]], dtype=float), crs, inverse=False)
    return float(out[0, 0]), float(out[0, 1])


def check_lonlat(lon: float, lat: float, *, field: str = "lon,lat") -> None:
    """Refuse coordinates outside lon/lat range, naming a likely swap of the order.

    Chinese coordinates have lon 73–136 and lat 3–54, so a "latitude" above 90 with a longitude
    under 90 is almost certainly a lat,lon pair given in the wrong order.
    """
    if not (np.isfinite(lon) and np.isfinite(lat)):
        raise InvalidInput("Coordinates must be finite numbers", "坐标必须是有限数值", field=field)
    if abs(lat) > 90 and abs(lon) <= 90:
        raise InvalidInput(
            f"Latitude {lat} is out of range: coordinate order is lon,lat (x,y)",
            f"纬度 {lat} 超出范围：坐标顺序应为经度,纬度",
            field=field,
        )
    if abs(lat) > 90 or abs(lon) > 180:
        raise InvalidInput(
            f"Coordinates ({lon}, {lat}) are out of range for longitude/latitude",
            f"坐标 ({lon}, {lat}) 超出经纬度范围",
            field=field,
        )
