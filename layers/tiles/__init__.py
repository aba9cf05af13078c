"""Mapbox vector tiles (MVT) of the spatial layers, built by PostGIS (``ST_AsMVT``).

See :mod:`layers.tiles.mvt` for how a tile is made and docs/MAP.md for the HTTP side.
"""

from layers.tiles.mvt import (
    MVT_EXTENT,
    TILE_LAYERS,
    GcjShift,
    TileFilters,
    TileLayer,
    area_bounds,
    check_tile,
    render_tile,
    tile_layer,
)

__all__ = [
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
