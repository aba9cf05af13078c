"""Output coordinates for maps whose basemap is not WGS-84 (AMap's GCJ-02, Baidu's BD-09).

Storage and the default GeoJSON output are WGS-84 lon/lat (RFC 7946). A map drawn over an AMap
or Baidu basemap needs our geometries in the basemap's obfuscated datum, or every feature sits
50–500 m off. PostGIS/PROJ know no GCJ-02 (it is a published algorithm, not a datum), so the
GeoJSON built in SQL is converted here, page by page, with :func:`layers.spatial.crs.from_storage`.
Only geographic outputs make sense for GeoJSON; projected CRSs are refused.
"""

from __future__ import annotations

import json
from typing import Any

from shapely.geometry import mapping, shape

from layers.errors import UnknownCRS
from layers.spatial.crs import BD09, CGCS2000, GCJ02, WGS84, Crs, from_storage, parse_crs

#: Output CRS names accepted for GeoJSON, mapped to what they are.
OUTPUT_CRS_CHOICES = "CRS84 / WGS84 / EPSG:4326 (default), CGCS2000 / EPSG:4490, GCJ02, BD09"

#: OGC CRS84 URI: the default of OGC API Features and of RFC 7946.
CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

# Identifiers for the ``Content-Crs`` header. GCJ-02 and BD-09 have no EPSG code or OGC URI;
# these URNs are Wangge's own and documented in docs/API.md.
_CONTENT_CRS = {
    WGS84: CRS84_URI,
    CGCS2000: "http://www.opengis.net/def/crs/EPSG/0/4490",
    GCJ02: "urn:wangge:crs:gcj02",
    BD09: "urn:wangge:crs:bd09",
}


def parse_output_crs(value: str | None, *, field: str = "crs") -> Crs:
    """Parse the output CRS of a GeoJSON response (default WGS-84); refuse projected CRSs."""
    if value is not None and value.strip() == CRS84_URI:
        return WGS84
    crs = parse_crs(value, field=field)
    if crs not in _CONTENT_CRS:
        raise UnknownCRS(
            f"GeoJSON can be written in {OUTPUT_CRS_CHOICES}; not in {crs.label}",
            f"GeoJSON 输出仅支持 WGS84（默认）、CGCS2000、GCJ02、BD09 坐标系，不支持 {crs.label}",
            field=field,
        )
    return crs


def content_crs(crs: Crs) -> str:
    """The ``Content-Crs`` header value (OGC API Features part 2) for ``crs``."""
    return f"<{_CONTENT_CRS[crs]}>"


def _convert_geometry(geometry: dict[str, Any] | None, crs: Crs) -> dict[str, Any] | None:
    if geometry is None:
        return None
    return dict(mapping(from_storage(shape(geometry), crs)))


def convert_geojson(body: str, crs: Crs) -> str:
    """Return a GeoJSON Feature or FeatureCollection text with its geometries in ``crs``.

    Identity CRSs (WGS-84, CGCS2000 to the centimetre) return ``body`` unchanged. A ``bbox``
    member of a feature or collection is converted too (its two corners).
    """
    if crs.is_identity:
        return body
    document = json.loads(body)
    features = document["features"] if document.get("type") == "FeatureCollection" else [document]
    for feature in features:
        feature["geometry"] = _convert_geometry(feature.get("geometry"), crs)
        _convert_bbox(feature, crs)
    if document.get("type") == "FeatureCollection":
        _convert_bbox(document, crs)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def _convert_bbox(member: dict[str, Any], crs: Crs) -> None:
    bbox = member.get("bbox")
    if not bbox or len(bbox) != 4:
        return
    corners = from_storage(shape({"type": "MultiPoint", "coordinates": [bbox[:2], bbox[2:]]}), crs)
    (x1, y1), (x2, y2) = ((p.x, p.y) for p in corners.geoms)
    member["bbox"] = [min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)]
