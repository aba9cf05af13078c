"""The demo territory: roads, blocks, communities and grids as one noded planar partition.

Everything is built in a local metric frame (metres east/north of the street centre, on the
CGCS2000 3-degree Gauss-Kruger zone of 117°E, EPSG:4549) and converted to EPSG:4326 lon/lat
once, at the end, with every coordinate rounded to 1e-7 degree.

How the grids become a valid coverage: major roads are smooth curves; the blocks between them
are the faces of ``polygonize`` over the noded road lines. Communities are contiguous groups of
blocks. Each community's block rows are cut into bands by lines running across the community
(most of them minor roads), and each band of a block into one or two cells by a short line
(an alley or a compound wall). All lines overshoot their boundary by half a metre, the whole
line work is noded once (``union_all``) and polygonized once: the faces are the grids, and
neighbouring faces share their edges vertex for vertex because they come from the same noded
edges. A community is the coverage union of its grids, so "union of grids = community" holds by
construction; the generator checks it anyway (``shapely.coverage_is_valid``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

import shapely
from pyproj import Transformer
from shapely import LineString, Polygon

from layers.demo.arrays import IntArray, StrArray, cat, strs

CENTRE_LON = 117.06
CENTRE_LAT = 36.69
#: The local metric CRS: CGCS2000 / 3-degree Gauss-Kruger CM 117E.
LOCAL_CRS = "EPSG:4549"
STORAGE_CRS = "EPSG:4326"
#: Decimal places of stored lon/lat (1e-7 degree is about 1 cm).
COORD_DECIMALS = 7
#: How far split lines overshoot the boundary they end on (metres); noding turns the crossing
#: into a shared vertex and polygonize drops the overshoot as a dangle.
OVERSHOOT = 0.5

GeomArray = npt.NDArray[np.object_]


@dataclass(frozen=True)
class LayoutSpec:
    """Size and texture of the territory."""

    n_cols: int  #: blocks west → east
    n_rows: int  #: blocks north → south
    block_w: float  #: mean block width (m)
    block_h: float  #: mean block height (m)
    n_communities: int
    band_weights: tuple[float, float, float]  #: P(1, 2, 3 bands) per block row of a community
    cell_weights: tuple[float, float]  #: P(1, 2 cells) per band of a block
    named_band_share: float  #: share of band lines that are named minor roads
    named_cell_share: float  #: share of cell lines that are named alleys


@dataclass
class Territory:
    """The territory in the local metric frame. Grids are in final code order."""

    road_names: list[str]
    road_kinds: list[str]
    road_geoms: GeomArray
    community_geoms: GeomArray
    grid_geoms: GeomArray
    grid_community: IntArray  #: index into community_geoms
    grid_seq: IntArray  #: 1-based sequence within the community (west→east, north→south)
    grid_row: IntArray  #: reading-order row within the community
    street_geom: Polygon
    district_geom: Polygon


# ---------------------------------------------------------------------------------------------
# Smooth roads
# ---------------------------------------------------------------------------------------------


@dataclass
class _Curves:
    """A family of roads ``offset(s) = base + Σ amp·sin(2πs/λ + φ)`` (x(y) or y(x))."""

    base: npt.NDArray[np.float64]
    amp: npt.NDArray[np.float64]
    lam: npt.NDArray[np.float64]
    phase: npt.NDArray[np.float64]

    @classmethod
    def make(
        cls, rng: np.random.Generator, base: npt.NDArray[np.float64], amp_max: float, lam: float
    ) -> _Curves:
        n = len(base)
        return cls(
            base=base,
            amp=rng.uniform(0.3, 1.0, (n, 2)) * amp_max,
            lam=rng.uniform(1.2, 3.5, (n, 2)) * lam,
            phase=rng.uniform(0, 2 * np.pi, (n, 2)),
        )

    def at(self, i: npt.ArrayLike, s: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Offset of road(s) ``i`` at position(s) ``s`` (broadcast)."""
        i = np.asarray(i)
        s = np.asarray(s, dtype=np.float64)
        wave = self.amp[i] * np.sin(2 * np.pi * s[..., None] / self.lam[i] + self.phase[i])
        return np.asarray(self.base[i] + wave.sum(axis=-1))

    def all_at(self, s: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Offsets of every road at each position: shape (len(s), n_roads)."""
        s = np.asarray(s, dtype=np.float64)[:, None]
        idx = np.arange(len(self.base))
        wave = self.amp[idx] * np.sin(2 * np.pi * s[..., None] / self.lam[idx] + self.phase[idx])
        return np.asarray(self.base[None, :] + wave.sum(axis=-1))


def _samples(lo: float, hi: float, step: float) -> npt.NDArray[np.float64]:
    n = max(2, int(np.ceil((hi - lo) / step)) + 1)
    return np.linspace(lo, hi, n)


def _clip_parts(line: LineString, region: Polygon) -> list[LineString]:
    """The parts of ``line`` inside ``region`` (line work for the noding)."""
    clipped = shapely.intersection(line, region)
    return [p for p in shapely.get_parts(shapely.line_merge(clipped)) if p.length > 0]


# ---------------------------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------------------------


def build_territory(spec: LayoutSpec, rng: np.random.Generator) -> Territory:
    """Roads, communities and grids of the street (metric frame); see the module docstring."""
    bw, bh = spec.block_w, spec.block_h
    width, height = spec.n_cols * bw, spec.n_rows * bh
    step = min(bw, bh) / 14

    # Major roads: NS road i at x_i(y), EW road j at y_j(x); j = 0 is the northern edge.
    xs = np.asarray(-width / 2 + bw * np.arange(spec.n_cols + 1), dtype=np.float64)
    ys = np.asarray(height / 2 - bh * np.arange(spec.n_rows + 1), dtype=np.float64)
    xs[1:-1] += rng.uniform(-0.12, 0.12, spec.n_cols - 1) * bw
    ys[1:-1] += rng.uniform(-0.12, 0.12, spec.n_rows - 1) * bh
    lam = max(width, height, 3000.0)
    ns = _Curves.make(rng, xs, 0.03 * bw, lam)
    ew = _Curves.make(rng, ys, 0.03 * bh, lam)
    y_span = _samples(ys[-1] - 0.35 * bh, ys[0] + 0.35 * bh, step)
    x_span = _samples(xs[0] - 0.35 * bw, xs[-1] + 0.35 * bw, step)
    ns_lines = [LineString(np.column_stack([ns.at(i, y_span), y_span])) for i in range(len(xs))]
    ew_lines = [LineString(np.column_stack([x_span, ew.at(j, x_span)])) for j in range(len(ys))]

    def block_of(points: GeomArray) -> tuple[IntArray, IntArray]:
        px, py = shapely.get_x(points), shapely.get_y(points)
        col = (ns.all_at(py) < px[:, None]).sum(axis=1) - 1
        row = (ew.all_at(px) > py[:, None]).sum(axis=1) - 1
        return col.astype(np.int64), row.astype(np.int64)

    faces = _polygonize(ns_lines + ew_lines)
    col, row = block_of(shapely.point_on_surface(faces))
    blocks = {(int(c), int(r)): f for c, r, f in zip(col, row, faces, strict=True)}
    if len(blocks) != spec.n_cols * spec.n_rows:
        raise RuntimeError("major roads did not form the expected blocks")

    # The street leaves out two opposite corner blocks, so its outline is not a plain rectangle.
    dropped = {(spec.n_cols - 1, 0), (0, spec.n_rows - 1)}
    street_blocks = sorted(b for b in blocks if b not in dropped)
    community_of = _grow_communities(street_blocks, spec.n_communities, rng)

    # Bands: per (community, block row) 1–3 bands, cut by lines across the community's blocks.
    band_fracs: dict[tuple[int, int], npt.NDArray[np.float64]] = {}
    band_lines: list[LineString] = []
    band_line_named: list[bool] = []
    for (c, r), cols in _community_rows(community_of).items():
        n_bands = 1 + int(rng.choice(3, p=np.asarray(spec.band_weights) / sum(spec.band_weights)))
        if n_bands == 1:
            fracs = np.zeros(0)
        elif n_bands == 2:
            fracs = rng.uniform(0.4, 0.6, 1)
        else:
            fracs = np.array([rng.uniform(0.28, 0.38), rng.uniform(0.62, 0.72)])
        band_fracs[(c, r)] = fracs
        for run in _runs(cols):
            region = shapely.union_all([blocks[(cc, r)] for cc in run]).buffer(OVERSHOOT)
            xs_run = _samples(xs[run[0]] - 0.3 * bw, xs[run[-1] + 1] + 0.3 * bw, step)
            for f in fracs:
                y_line = (1 - f) * ew.at(r, xs_run) + f * ew.at(r + 1, xs_run)
                named = bool(rng.random() < spec.named_band_share)
                for part in _clip_parts(LineString(np.column_stack([xs_run, y_line])), region):
                    band_lines.append(part)
                    band_line_named.append(named)

    def band_of(points: GeomArray, col: IntArray, row: IntArray) -> IntArray:
        px, py = shapely.get_x(points), shapely.get_y(points)
        top, bottom = ew.at(row, px), ew.at(row + 1, px)
        t = (top - py) / (top - bottom)
        out = np.zeros(len(points), dtype=np.int64)
        for k, (c, r) in enumerate(zip(col, row, strict=True)):
            fracs = band_fracs.get((community_of.get((int(c), int(r)), -1), int(r)))
            if fracs is not None:
                out[k] = int(np.searchsorted(fracs, t[k]))
        return out

    band_faces = _polygonize(ns_lines + ew_lines + band_lines)
    reps = shapely.point_on_surface(band_faces)
    bcol, brow = block_of(reps)
    bband = band_of(reps, bcol, brow)

    # Cells: each band of a street block is one cell or two, cut by a line between its NS roads.
    cell_lines: list[LineString] = []
    cell_line_named: list[bool] = []
    n_cells_expected = 0
    last_g: dict[tuple[int, int], float] = {}
    order = np.lexsort((bband, brow, bcol))
    for k in order:
        key = (int(bcol[k]), int(brow[k]))
        if key not in community_of:
            continue
        n_cells = 1 + int(rng.choice(2, p=np.asarray(spec.cell_weights) / sum(spec.cell_weights)))
        n_cells_expected += n_cells
        if n_cells == 1:
            continue
        g = float(rng.uniform(0.35, 0.65))
        prev = last_g.get(key)
        if prev is not None and abs(g - prev) < 0.08:  # keep apart from the cut in the band above
            g = prev + 0.16 if prev < 0.5 else prev - 0.16
        last_g[key] = g
        c, r = key
        y_cut = _samples(ys[r + 1] - 0.3 * bh, ys[r] + 0.3 * bh, step)[::-1]
        x_cut = (1 - g) * ns.at(c, y_cut) + g * ns.at(c + 1, y_cut)
        named = bool(rng.random() < spec.named_cell_share)
        region = band_faces[k].buffer(OVERSHOOT)
        for part in _clip_parts(LineString(np.column_stack([x_cut, y_cut])), region):
            cell_lines.append(part)
            cell_line_named.append(named)

    faces = _polygonize(ns_lines + ew_lines + band_lines + cell_lines)
    reps = shapely.point_on_surface(faces)
    gcol, grow = block_of(reps)
    in_street = np.array(
        [(int(c), int(r)) in community_of for c, r in zip(gcol, grow, strict=True)], dtype=bool
    )
    faces, reps, gcol, grow = faces[in_street], reps[in_street], gcol[in_street], grow[in_street]
    if len(faces) != n_cells_expected:
        raise RuntimeError(f"expected {n_cells_expected} grids, line work made {len(faces)}")
    areas = shapely.area(faces)
    if areas.min() < 0.02 * bw * bh:
        raise RuntimeError("line work made a sliver grid")
    gband = band_of(reps, gcol, grow)
    gcomm = np.array([community_of[(int(c), int(r))] for c, r in zip(gcol, grow, strict=True)])

    # Community numbering: reading order of their north-westernmost block.
    first_block: dict[int, tuple[int, int]] = {}
    for (c, r), comm in sorted(community_of.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        first_block.setdefault(comm, (r, c))
    comm_order = sorted(first_block, key=lambda comm: first_block[comm])
    renumber = np.empty(len(comm_order), dtype=np.int64)
    renumber[comm_order] = np.arange(len(comm_order))
    gcomm = renumber[gcomm]

    # Grid numbering: rows (block row, band) north → south, then west → east.
    cx = shapely.get_x(shapely.centroid(faces))
    order = np.lexsort((cx, gband, grow, gcomm))
    faces, gcomm, grow, gband = faces[order], gcomm[order], grow[order], gband[order]
    seq = np.zeros(len(faces), dtype=np.int64)
    row_index = np.zeros(len(faces), dtype=np.int64)
    for comm in range(len(comm_order)):
        members = np.flatnonzero(gcomm == comm)
        seq[members] = np.arange(1, len(members) + 1)
        row_key = grow[members] * 10 + gband[members]
        row_index[members] = np.unique(row_key, return_inverse=True)[1]

    faces = shapely.orient_polygons(faces)
    communities = np.array(
        [shapely.coverage_union_all(faces[gcomm == comm]) for comm in range(len(comm_order))],
        dtype=object,
    )
    street = shapely.coverage_union_all(communities)
    if not isinstance(street, Polygon):
        raise RuntimeError("the street is not one polygon")

    names, kinds, geoms = _road_table(
        spec, rng, ns_lines, ew_lines, band_lines, band_line_named, cell_lines, cell_line_named
    )
    return Territory(
        road_names=names,
        road_kinds=kinds,
        road_geoms=geoms,
        community_geoms=communities,
        grid_geoms=faces,
        grid_community=gcomm.astype(np.int64),
        grid_seq=seq,
        grid_row=row_index,
        street_geom=street,
        district_geom=_district(street, rng),
    )


def _polygonize(lines: list[LineString]) -> GeomArray:
    noded = shapely.union_all(np.array(lines, dtype=object))
    return np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))))


def _grow_communities(
    blocks: list[tuple[int, int]], n: int, rng: np.random.Generator
) -> dict[tuple[int, int], int]:
    """Contiguous, balanced groups of blocks: spread seeds, then claim neighbours in turn."""
    pts = np.array(blocks, dtype=np.float64)
    seeds = [int(rng.integers(len(blocks)))]
    nearest_seed = np.full(len(blocks), np.inf)
    while len(seeds) < n:
        nearest_seed = np.minimum(nearest_seed, np.hypot(*(pts - pts[seeds[-1]]).T))
        seeds.append(int(np.argmax(nearest_seed + rng.uniform(0, 0.5, len(blocks)))))
    owner = {blocks[s]: i for i, s in enumerate(seeds)}
    free = set(blocks) - set(owner)

    def around(block: tuple[int, int]) -> set[tuple[int, int]]:
        c, r = block
        return {(c + 1, r), (c - 1, r), (c, r + 1), (c, r - 1)}

    frontier = [around(blocks[s]) for s in seeds]
    while free:
        grew = False
        for comm in range(n):
            candidates = sorted(frontier[comm] & free)
            frontier[comm] = set(candidates)
            if candidates:
                pick = candidates[int(rng.integers(len(candidates)))]
                owner[pick] = comm
                free.discard(pick)
                frontier[comm] |= around(pick)
                grew = True
        if not grew:
            raise RuntimeError("blocks left that no community can reach")
    return owner


def _community_rows(owner: dict[tuple[int, int], int]) -> dict[tuple[int, int], list[int]]:
    rows: dict[tuple[int, int], list[int]] = {}
    for (c, r), comm in sorted(owner.items(), key=lambda kv: (kv[1], kv[0][1], kv[0][0])):
        rows.setdefault((comm, r), []).append(c)
    return rows


def _runs(cols: list[int]) -> list[list[int]]:
    runs: list[list[int]] = [[cols[0]]]
    for c in cols[1:]:
        if c == runs[-1][-1] + 1:
            runs[-1].append(c)
        else:
            runs.append([c])
    return runs


def _road_table(
    spec: LayoutSpec,
    rng: np.random.Generator,
    ns_lines: list[LineString],
    ew_lines: list[LineString],
    band_lines: list[LineString],
    band_named: list[bool],
    cell_lines: list[LineString],
    cell_named: list[bool],
) -> tuple[list[str], list[str], GeomArray]:
    from layers.demo.names import EW_MAJOR_ROADS, NS_MAJOR_ROADS, road_names

    taken: set[str] = set()
    ns_names = list(NS_MAJOR_ROADS[: len(ns_lines)])
    ew_names = list(EW_MAJOR_ROADS[: len(ew_lines)])
    taken.update(ns_names + ew_names)
    ns_names += road_names(len(ns_lines) - len(ns_names), "major", taken)
    ew_names += road_names(len(ew_lines) - len(ew_names), "major", taken)

    def major_kinds(n: int) -> list[str]:
        kinds = ["primary" if i % 2 else "secondary" for i in range(n)]
        kinds[0] = kinds[-1] = "primary"
        return kinds

    ns_kinds = major_kinds(len(ns_lines))
    ns_kinds[0] = "trunk"  # the ring road on the western edge
    ew_kinds = major_kinds(len(ew_lines))
    minor = [line for line, named in zip(band_lines, band_named, strict=True) if named]
    alleys = [line for line, named in zip(cell_lines, cell_named, strict=True) if named]
    names = (
        ns_names
        + ew_names
        + road_names(len(minor), "minor", taken)
        + road_names(len(alleys), "alley", taken)
    )
    kinds = ns_kinds + ew_kinds + ["residential"] * len(minor) + ["alley"] * len(alleys)
    geoms = np.array(ns_lines + ew_lines + minor + alleys, dtype=object)
    return names, kinds, geoms


def _district(street: Polygon, rng: np.random.Generator) -> Polygon:
    """A convex district outline around the street, reaching far to the east and south."""
    minx, miny, maxx, maxy = street.bounds
    w, h = maxx - minx, maxy - miny
    box = (
        minx - 0.2 * w - 800,
        miny - 0.6 * h - 2500,
        maxx + 2.0 * w + 8000,
        maxy + 0.3 * h + 1500,
    )
    angles = np.sort(rng.uniform(0, 2 * np.pi, 14))
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    rx, ry = (box[2] - box[0]) / 2 * 1.25, (box[3] - box[1]) / 2 * 1.25
    scale = rng.uniform(0.85, 1.1, len(angles))
    ring = np.column_stack([cx + rx * scale * np.cos(angles), cy + ry * scale * np.sin(angles)])
    corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]])
    hull = shapely.convex_hull(shapely.multipoints(np.vstack([ring, corners])))
    if not hull.contains(street):
        raise RuntimeError("district does not contain the street")
    return Polygon(hull.exterior)


# ---------------------------------------------------------------------------------------------
# Footprints, sampling and addresses (metric frame)
# ---------------------------------------------------------------------------------------------


def rectangles(
    cx: npt.NDArray[np.float64],
    cy: npt.NDArray[np.float64],
    length: npt.NDArray[np.float64],
    width: npt.NDArray[np.float64],
    angle: npt.NDArray[np.float64],
) -> GeomArray:
    """Rotated rectangles (metres; ``angle`` in radians, counter-clockwise from east)."""
    hx = np.array([-0.5, 0.5, 0.5, -0.5, -0.5])
    hy = np.array([-0.5, -0.5, 0.5, 0.5, -0.5])
    dx = length[:, None] * hx
    dy = width[:, None] * hy
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    coords = np.stack([cx[:, None] + dx * cos - dy * sin, cy[:, None] + dx * sin + dy * cos], -1)
    return np.asarray(shapely.polygons(coords))


def lattice(
    polys: GeomArray,
    angle: npt.NDArray[np.float64],
    step_x: npt.NDArray[np.float64],
    step_y: npt.NDArray[np.float64],
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], IntArray, IntArray, IntArray]:
    """Candidate centres on a rotated lattice over each polygon's extent.

    Returns (x, y, polygon index, column, row); columns run along ``angle``, rows across it,
    row 0 in the north. One small numpy step per polygon; the candidates are then filtered by
    the caller with vectorised predicates.
    """
    out_x, out_y, out_i, out_c, out_r = [], [], [], [], []
    centres = shapely.get_coordinates(shapely.centroid(polys))
    for i, poly in enumerate(polys):
        if poly is None or shapely.is_empty(poly):
            continue
        cos, sin = np.cos(angle[i]), np.sin(angle[i])
        pts = shapely.get_coordinates(poly) - centres[i]
        u = pts[:, 0] * cos + pts[:, 1] * sin
        v = -pts[:, 0] * sin + pts[:, 1] * cos
        u0 = u.min() + rng.uniform(0.3, 0.7) * step_x[i]
        v0 = v.max() - rng.uniform(0.3, 0.7) * step_y[i]
        uu = np.arange(u0, u.max(), step_x[i])
        vv = np.arange(v0, v.min(), -step_y[i])
        gu, gv = np.meshgrid(uu, vv)
        gc, gr = np.meshgrid(np.arange(len(uu)), np.arange(len(vv)))
        out_x.append(centres[i, 0] + gu.ravel() * cos - gv.ravel() * sin)
        out_y.append(centres[i, 1] + gu.ravel() * sin + gv.ravel() * cos)
        out_i.append(np.full(gu.size, i, dtype=np.int64))
        out_c.append(gc.ravel().astype(np.int64))
        out_r.append(gr.ravel().astype(np.int64))
    return (
        np.concatenate(out_x),
        np.concatenate(out_y),
        np.concatenate(out_i),
        np.concatenate(out_c),
        np.concatenate(out_r),
    )


def address_numbers(
    points: GeomArray, road_geoms: GeomArray, rng: np.random.Generator
) -> tuple[IntArray, IntArray]:
    """Nearest road and a house number for each point (metric frame).

    Numbers grow along the road, odd on its left side and even on its right, with small gaps,
    the way door plates (门牌) are issued.
    """
    tree = shapely.STRtree(road_geoms)
    idx = tree.query_nearest(points, all_matches=False)
    road = np.full(len(points), -1, dtype=np.int64)
    road[idx[0]] = idx[1]
    lines = road_geoms[road]
    pos = shapely.line_locate_point(lines, points)
    here = shapely.get_coordinates(shapely.line_interpolate_point(lines, pos))
    ahead = shapely.get_coordinates(shapely.line_interpolate_point(lines, pos + 1.0))
    behind = shapely.get_coordinates(shapely.line_interpolate_point(lines, pos - 1.0))
    d = ahead - behind
    p = shapely.get_coordinates(points) - here
    right = (d[:, 0] * p[:, 1] - d[:, 1] * p[:, 0]) < 0
    group = road * 2 + right
    order = np.lexsort((np.arange(len(points)), pos, group))
    gap = rng.integers(1, 4, len(points))
    sorted_group = group[order]
    csum = np.cumsum(gap[order])
    starts = np.ones(len(points), dtype=bool)
    starts[1:] = sorted_group[1:] != sorted_group[:-1]
    base = np.maximum.accumulate(np.where(starts, csum - gap[order], 0))
    k = np.empty(len(points), dtype=np.int64)
    k[order] = csum - base
    number = 2 * k - 1 + right.astype(np.int64)
    return road, number


def sizhi(
    grid_geoms: GeomArray,
    grid_names: StrArray,
    road_geoms: GeomArray,
    road_names: StrArray,
    outside: str,
) -> StrArray:
    """四至 text per grid: the road, grid or street edge found east, south, west and north.

    From a point inside the grid, a ray in each direction meets the grid's boundary at P. If a
    road runs along P the text names it; otherwise it names the grid just beyond P, or
    ``outside`` when nothing is (the street's edge).
    """
    n = len(grid_geoms)
    rep = shapely.get_coordinates(shapely.point_on_surface(grid_geoms))
    road_tree = shapely.STRtree(road_geoms)
    grid_tree = shapely.STRtree(grid_geoms)
    boundaries = shapely.boundary(grid_geoms)
    texts = []
    for label, (dx, dy) in (
        ("东至", (1, 0)),
        ("南至", (0, -1)),
        ("西至", (-1, 0)),
        ("北至", (0, 1)),
    ):
        far = rep + 1e6 * np.array([dx, dy])
        rays = shapely.linestrings(np.stack([rep, far], axis=1))
        hits = shapely.intersection(boundaries, rays)
        parts, owner = shapely.get_parts(hits, return_index=True)
        pts = shapely.get_coordinates(shapely.centroid(parts))
        dist = (pts[:, 0] - rep[owner, 0]) * dx + (pts[:, 1] - rep[owner, 1]) * dy
        first = np.lexsort((dist, owner))
        keep = np.ones(len(first), dtype=bool)
        keep[1:] = owner[first][1:] != owner[first][:-1]
        p = np.zeros((n, 2))
        p[owner[first][keep]] = pts[first][keep]
        edge_pts = shapely.points(p)
        what = np.full(n, outside, dtype=object)
        near_road = road_tree.query_nearest(edge_pts, max_distance=1.0, all_matches=False)
        what[near_road[0]] = road_names[near_road[1]].astype(object)
        beyond = shapely.points(p + 5.0 * np.array([dx, dy]))
        hit = grid_tree.query(beyond, predicate="within")
        no_road = np.ones(n, dtype=bool)
        no_road[near_road[0]] = False
        sel = no_road[hit[0]]
        what[hit[0][sel]] = grid_names[hit[1][sel]].astype(object)
        texts.append(cat(label, strs(what)))
    return cat(texts[0], "，", texts[1], "，", texts[2], "，", texts[3])


def points_in(
    polys: GeomArray, owner: IntArray, rng: np.random.Generator, max_rounds: int = 50
) -> GeomArray:
    """One uniformly random point inside ``polys[owner[k]]`` for each k (rejection sampling)."""
    n = len(owner)
    out = np.empty(n, dtype=object)
    todo = np.arange(n)
    bounds = shapely.bounds(polys)
    shapely.prepare(polys)
    for _ in range(max_rounds):
        if not len(todo):
            return out
        b = bounds[owner[todo]]
        x = rng.uniform(b[:, 0], b[:, 2])
        y = rng.uniform(b[:, 1], b[:, 3])
        pts = shapely.points(x, y)
        ok = shapely.contains_properly(polys[owner[todo]], pts)
        out[todo[ok]] = pts[ok]
        todo = todo[~ok]
    out[todo] = shapely.point_on_surface(polys[owner[todo]])
    return out


# ---------------------------------------------------------------------------------------------
# Local metres → stored lon/lat
# ---------------------------------------------------------------------------------------------


class LonLat:
    """Converts the local metric frame to EPSG:4326 lon/lat rounded to 1e-7 degree."""

    def __init__(self) -> None:
        self._to_local = Transformer.from_crs(STORAGE_CRS, LOCAL_CRS, always_xy=True)
        self._to_lonlat = Transformer.from_crs(LOCAL_CRS, STORAGE_CRS, always_xy=True)
        self.origin = np.array(self._to_local.transform(CENTRE_LON, CENTRE_LAT))

    def coords(self, xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Local (x, y) metres → rounded (lon, lat)."""
        lon, lat = self._to_lonlat.transform(xy[:, 0] + self.origin[0], xy[:, 1] + self.origin[1])
        return np.round(np.column_stack([lon, lat]), COORD_DECIMALS)

    def geoms(self, geoms: GeomArray) -> GeomArray:
        """Every coordinate of every geometry converted in one vectorised call."""
        return np.asarray(shapely.transform(geoms, self.coords))
