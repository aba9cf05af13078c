"""Per-grid incident rates (per 100 households) and Getis-Ord Gi* hot spots.

Rates
-----
For each current grid of the user's area (basic and special grids: the level incidents are filed
under, see :mod:`layers.spatial.assign`) the number of filtered incidents filed under it, the
households living in it (live, :func:`layers.counts.grid_counts`) and ``count / households × 100``
(``null`` for a grid without households). A bbox selects the grids that intersect it; their
incidents are counted whole. Outlines are simplified with ``ST_SimplifyPreserveTopology`` by a
tolerance given in metres (converted at 111,320 m per degree, so it is approximate; neighbouring
outlines may part by about that much).

Hot spots
---------
Getis-Ord Gi* (``esda.G_Local`` with ``star=True``, binary weights) over either the grids (queen
contiguity of their outlines, ``libpysal.weights.Queen``) or a full lattice of square cells over
the bbox / the user's area (queen contiguity on the lattice, ``libpysal.weights.lat2W``, zeros
included — a hot spot is only meaningful against the empty cells around it).

Two p-values are returned. ``p`` is the two-sided normal p-value of the Gi* z-score, and the
classes follow it as in the usual hot-spot analysis (ArcGIS "Hot Spot Analysis"): a unit is
``hot_99`` / ``hot_95`` / ``hot_90`` when z > 0 and p ≤ 0.01 / 0.05 / 0.10 (|z| ≥ 2.58 / 1.96 /
1.65), ``cold_*`` likewise for z < 0, else ``none``. ``p_sim`` is esda's conditional-permutation
pseudo p-value (one-sided, seeded, so reproducible): it asks whether a unit's *neighbours* are
unusual given its own value, so a peak confined to one cell among empty neighbours has a small
``p`` but not a small ``p_sim``. Both are reported; the classes use ``p``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from typing import Any, Literal

import numpy as np
from scipy.stats import norm
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geoalchemy2.shape import to_shape

from layers.access import Principal
from layers.base import STORAGE_SRID
from layers.counts import grid_counts
from layers.errors import InvalidInput
from layers.models import AdminUnit, Grid, Incident
from layers.scope import area_filter
from layers.stats.cells import (
    METRIC_SRID,
    binned_counts,
    cell_geometry,
    check_size,
    metric_points,
)
from layers.stats.filters import StatsFilter, require_stats_role, where

METRES_PER_DEGREE = 111_320.0
MAX_LATTICE_CELLS = 40_000
MIN_PERMUTATIONS, MAX_PERMUTATIONS = 99, 9_999
DEFAULT_SEED = 20261122

Unit = Literal["grid", "cell"]


def _grid_rows(
    session: Session, principal: Principal, flt: StatsFilter, simplify_m: float
) -> list[Any]:
    conditions = [
        Grid.valid_to.is_(None),
        Grid.kind != "micro",
        area_filter("grids", principal),
    ]
    if flt.bbox is not None:
        conditions.append(
            func.ST_Intersects(Grid.geom, func.ST_MakeEnvelope(*flt.bbox, STORAGE_SRID))
        )
    outline = func.ST_ForcePolygonCCW(
        func.ST_SimplifyPreserveTopology(Grid.geom, simplify_m / METRES_PER_DEGREE)
    )
    return list(
        session.execute(
            select(
                Grid.id,
                Grid.code,
                Grid.name,
                AdminUnit.code.label("community_code"),
                func.ST_AsGeoJSON(outline, 7).label("outline"),
                Grid.geom,
            )
            .join(AdminUnit, AdminUnit.id == Grid.community_id)
            .where(*conditions)
            .order_by(Grid.code)
        ).all()
    )


def grid_rates(
    session: Session,
    principal: Principal,
    flt: StatsFilter,
    *,
    simplify_m: float = 5.0,
) -> dict[str, Any]:
    """Incidents per current grid, absolute and per 100 households, as a FeatureCollection."""
    require_stats_role(principal)
    if not (math.isfinite(simplify_m) and 0 <= simplify_m <= 500):
        raise InvalidInput(
            "simplify must be 0 to 500 metres", "简化容差应在 0 到 500 米之间", field="simplify"
        )
    grids = _grid_rows(session, principal, flt, simplify_m)
    ids = [g.id for g in grids]
    whole = dataclasses.replace(flt, bbox=None)
    counted: dict[int, int] = {}
    if ids:
        counted = {
            gid: n
            for gid, n in session.execute(
                select(Incident.grid_id, func.count())
                .where(where(principal, whole), Incident.grid_id.in_(ids))
                .group_by(Incident.grid_id)
            )
            if gid is not None
        }
    households = {gid: c.households for gid, c in grid_counts(session, grid_ids=ids).items()}
    features = []
    for g in grids:
        n = counted.get(g.id, 0)
        hh = households.get(g.id, 0)
        features.append(
            {
                "type": "Feature",
                "id": g.id,
                "geometry": json.loads(g.outline),
                "properties": {
                    "code": g.code,
                    "name": g.name,
                    "community_code": g.community_code,
                    "count": n,
                    "households": hh,
                    "per_100_households": round(n * 100.0 / hh, 3) if hh else None,
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        "total": sum(counted.values()),
    }


def classify(z: float, p: float) -> str:
    """The hot/cold class of a Gi* z-score and p-value at 90/95/99 % confidence."""
    if not math.isfinite(z) or not math.isfinite(p) or z == 0:
        return "none"
    side = "hot" if z > 0 else "cold"
    for level, alpha in ((99, 0.01), (95, 0.05), (90, 0.10)):
        if p <= alpha:
            return f"{side}_{level}"
    return "none"


def getis_ord(
    counts: np.ndarray, weights: Any, *, permutations: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gi* z-scores, two-sided normal p-values and permutation pseudo p-values of ``counts``.

    A constant field has no hot spots: z = 0, p = 1 everywhere (esda would divide by zero).
    ``counts`` are ordered as the ids of ``weights`` (a libpysal ``W``).
    """
    from esda.getisord import G_Local

    y = np.asarray(counts, dtype=float)
    if y.size == 0 or float(y.std()) == 0.0:
        ones = np.ones_like(y)
        return np.zeros_like(y), ones, ones
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = G_Local(y, weights, transform="B", permutations=permutations, star=True, seed=seed)
    z = np.asarray(g.Zs, dtype=float)
    p_sim = np.asarray(g.p_sim, dtype=float)
    # A unit whose neighbourhood is the whole study area has no defined z (0/0): report 0, p 1.
    undefined = ~np.isfinite(z)
    z[undefined] = 0.0
    p_sim[~np.isfinite(p_sim)] = 1.0
    return z, 2.0 * norm.sf(np.abs(z)), p_sim


def _check_hotspot_args(permutations: int) -> None:
    if not MIN_PERMUTATIONS <= permutations <= MAX_PERMUTATIONS:
        raise InvalidInput(
            f"permutations must be {MIN_PERMUTATIONS} to {MAX_PERMUTATIONS}",
            f"置换次数应在 {MIN_PERMUTATIONS} 到 {MAX_PERMUTATIONS} 之间",
            field="permutations",
        )


def hotspots(
    session: Session,
    principal: Principal,
    flt: StatsFilter,
    *,
    unit: Unit = "grid",
    size_m: float = 250.0,
    permutations: int = 999,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """Gi* hot and cold spots over grids or square cells, as a FeatureCollection.

    Every feature has ``count``, ``z``, ``p`` (two-sided normal), ``p_sim`` (permutation) and
    ``class``.
    For ``unit="cell"`` only cells with incidents or a significant class are returned (the
    lattice itself, zeros included, enters the statistic).
    """
    require_stats_role(principal)
    _check_hotspot_args(permutations)
    if unit == "grid":
        return _grid_hotspots(session, principal, flt, permutations=permutations, seed=seed)
    return _cell_hotspots(
        session, principal, flt, size_m=check_size(size_m), permutations=permutations, seed=seed
    )


def _result(features: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    classes: dict[str, int] = {}
    for f in features:
        classes[f["properties"]["class"]] = classes.get(f["properties"]["class"], 0) + 1
    return {"type": "FeatureCollection", "features": features, "classes": classes, **extra}


def _grid_hotspots(
    session: Session, principal: Principal, flt: StatsFilter, *, permutations: int, seed: int
) -> dict[str, Any]:
    from libpysal.weights import Queen

    rates = grid_rates(session, principal, flt)
    shapes = [to_shape(g.geom) for g in _grid_rows(session, principal, flt, 0.0)]
    features = rates["features"]
    counts = np.array([f["properties"]["count"] for f in features], dtype=float)
    if len(features) < 3:
        raise InvalidInput(
            "Hot spots need at least 3 grids in the area",
            "热点分析至少需要 3 个网格",
            field="unit",
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # islands (grids without neighbours) are allowed
        weights = Queen.from_iterable(shapes)
    z, p, p_sim = getis_ord(counts, weights, permutations=permutations, seed=seed)
    for k, f in enumerate(features):
        f["properties"].update(
            z=round(float(z[k]), 4),
            p=float(p[k]),
            p_sim=float(p_sim[k]),
            **{"class": classify(float(z[k]), float(p[k]))},
        )
    return _result(features, unit="grid", permutations=permutations, seed=seed)


def _cell_hotspots(
    session: Session,
    principal: Principal,
    flt: StatsFilter,
    *,
    size_m: float,
    permutations: int,
    seed: int,
) -> dict[str, Any]:
    from libpysal.weights import lat2W

    extent: Any
    if flt.bbox is not None:
        extent = func.ST_MakeEnvelope(*flt.bbox, STORAGE_SRID)
    else:
        extent = select(AdminUnit.geom).where(AdminUnit.id == principal.area_id).scalar_subquery()
    box = session.execute(
        select(
            func.ST_XMin(func.ST_Transform(extent, METRIC_SRID)),
            func.ST_YMin(func.ST_Transform(extent, METRIC_SRID)),
            func.ST_XMax(func.ST_Transform(extent, METRIC_SRID)),
            func.ST_YMax(func.ST_Transform(extent, METRIC_SRID)),
        )
    ).one()
    i0, j0 = math.floor(box[0] / size_m), math.floor(box[1] / size_m)
    i1, j1 = math.floor(box[2] / size_m), math.floor(box[3] / size_m)
    ncols, nrows = i1 - i0 + 1, j1 - j0 + 1
    if ncols * nrows > MAX_LATTICE_CELLS:
        raise InvalidInput(
            f"{ncols * nrows} cells exceed {MAX_LATTICE_CELLS}: choose a larger size or bbox",
            f"单元数 {ncols * nrows} 超过 {MAX_LATTICE_CELLS}：请增大单元尺寸或缩小范围",
            field="size",
        )
    grid = np.zeros((nrows, ncols))
    cells = binned_counts(metric_points(principal, flt), "square", size_m).subquery("cells")
    for i, j, n in session.execute(select(cells.c.i, cells.c.j, cells.c.n)):
        if i0 <= i <= i1 and j0 <= j <= j1:
            grid[j - j0, i - i0] = n
    weights = lat2W(nrows, ncols, rook=False)
    flat = grid.ravel()  # row-major: id = row * ncols + col, as lat2W numbers them
    z, p, p_sim = getis_ord(flat, weights, permutations=permutations, seed=seed)
    classes = [classify(float(z[k]), float(p[k])) for k in range(flat.size)]
    keep = [k for k in range(flat.size) if flat[k] > 0 or classes[k] != "none"]
    outlines: dict[tuple[int, int], str] = {}
    if keep:
        ii = [i0 + k % ncols for k in keep]
        jj = [j0 + k // ncols for k in keep]
        pairs = select(func.unnest(ii).label("i"), func.unnest(jj).label("j")).subquery("pairs")
        outline = func.ST_ForcePolygonCCW(
            func.ST_Transform(cell_geometry("square", size_m, pairs.c.i, pairs.c.j), STORAGE_SRID)
        )
        for i, j, g in session.execute(select(pairs.c.i, pairs.c.j, func.ST_AsGeoJSON(outline, 7))):
            outlines[(i, j)] = g
    features = []
    for k in keep:
        i, j = i0 + k % ncols, j0 + k // ncols
        features.append(
            {
                "type": "Feature",
                "id": f"s{size_m:g}:{i}:{j}",
                "geometry": json.loads(outlines[(i, j)]),
                "properties": {
                    "cell_i": i,
                    "cell_j": j,
                    "count": int(flat[k]),
                    "z": round(float(z[k]), 4),
                    "p": float(p[k]),
                    "p_sim": float(p_sim[k]),
                    "class": classes[k],
                },
            }
        )
    return _result(
        features,
        unit="cell",
        size_m=size_m,
        lattice={"columns": ncols, "rows": nrows, "cells": ncols * nrows},
        total=int(flat.sum()),
        permutations=permutations,
        seed=seed,
    )
