"""Deterministic generator of the demo street 全福街道 (Quanfu street, Licheng district, Jinan).

``generate(seed, scale)`` returns a :class:`~layers.demo.dataset.DemoDataset`: the same seed and
scale always give byte-identical tables (every random draw comes from a per-section RNG seeded
from ``seed``, and every time is relative to the fixed :data:`REFERENCE_TIME`, never the clock).

Scales: ``small`` (about 60 grids, 1,500 buildings, 20,000 households, 50,000 persons, 5,000
incidents) for the running demo and the tests; ``large`` (about 5,000 grids, 1,000,000 persons
and 1,000,000 incidents) for benchmarks. Big tables are built with numpy/shapely array
operations only; Python loops run over grids or blocks, never over rows of the big tables.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

import shapely

from layers.demo import events, people
from layers.demo.arrays import (
    NULL,
    STR,
    FloatArray,
    IntArray,
    StrArray,
    cat,
    choice_index,
    group_rank,
    pick,
    rng_for,
    strs,
    zero_pad,
)
from layers.demo.constants import (
    DEMO_PASSWORD,
    DEPARTMENTS,
    DEPT_INDEX,
    DISTRICT_CODE,
    DISTRICT_NAME,
    GRID_VALID_FROM,
    REFERENCE_TIME,
    STREET_CODE,
    STREET_NAME,
    STREET_PREFIX,
    local_time_text,
)
from layers.demo.dataset import DemoDataset, Table
from layers.demo.geometry import (
    GeomArray,
    LayoutSpec,
    LonLat,
    Territory,
    address_numbers,
    build_territory,
    lattice,
    points_in,
    rectangles,
    sizhi,
)
from layers.demo.names import (
    CITY_PREFIX,
    PLACE_TRADES,
    STEMS,
    community_names,
    compound_names,
    generated_names,
    landlines,
    mobile_phones,
    random_names,
    trade_names,
    zh_number,
)

#: Responsible department of each place kind.
PLACE_DEPARTMENT = {
    "school": "qf-social",
    "kindergarten": "qf-social",
    "hospital": "qf-health",
    "shop": "qf-market",
    "restaurant": "qf-market",
    "hotel": "qf-police",
    "rental": "qf-police",
    "three_in_one": "qf-fire",
    "small_workshop": "qf-market",
    "small_stall": "qf-urban",
    "small_entertainment": "qf-police",
    "market": "qf-market",
    "construction_site": "qf-urban",
}

# Building styles of a grid's lattice.
SLAB, TOWER, MIXED, BUNGALOW, PUBLIC = range(5)
SIZING = ("scattered", "compound", "bungalow", "special")
SCATTERED, COMPOUND, BUNGALOW_GRID, SPECIAL = range(4)


@dataclass(frozen=True)
class ScaleSpec:
    """How big the demo is."""

    layout: LayoutSpec
    households_per_grid: tuple[float, float, float]  #: scattered, compound, bungalow
    special_grids: int
    bungalow_villages: int
    grids_per_village: int
    lots: tuple[
        int, int, int
    ]  #: school campuses, markets, construction sites (outside special grids)
    places_per_grid: dict[str, float]
    incidents: int
    ok_patrols: int


_PLACES_PER_GRID = {
    "shop": 2.5,
    "restaurant": 1.6,
    "rental": 0.8,
    "three_in_one": 0.35,
    "small_workshop": 0.3,
    "small_stall": 0.45,
    "small_entertainment": 0.25,
    "hotel": 0.2,
    "kindergarten": 0.17,
    "hospital": 0.1,
}

SCALES: dict[str, ScaleSpec] = {
    "small": ScaleSpec(
        layout=LayoutSpec(
            n_cols=5,
            n_rows=4,
            block_w=700.0,
            block_h=750.0,
            n_communities=7,
            band_weights=(0.1, 0.6, 0.3),
            cell_weights=(0.55, 0.45),
            named_band_share=0.75,
            named_cell_share=0.4,
        ),
        households_per_grid=(330.0, 420.0, 115.0),
        special_grids=2,
        bungalow_villages=1,
        grids_per_village=5,
        lots=(3, 4, 5),
        places_per_grid=_PLACES_PER_GRID,
        incidents=5_000,
        ok_patrols=500,
    ),
    "large": ScaleSpec(
        layout=LayoutSpec(
            n_cols=40,
            n_rows=40,
            block_w=500.0,
            block_h=500.0,
            n_communities=580,
            band_weights=(0.1, 0.6, 0.3),
            cell_weights=(0.55, 0.45),
            named_band_share=0.75,
            named_cell_share=0.4,
        ),
        households_per_grid=(41.0, 54.0, 17.0),
        special_grids=50,
        bungalow_villages=60,
        grids_per_village=6,
        lots=(40, 60, 60),
        places_per_grid=_PLACES_PER_GRID,
        incidents=1_000_000,
        ok_patrols=40_000,
    ),
}

# The public names of the generator (the street's constants live in layers.demo.constants and
# are re-exported here for callers of generate()).
__all__ = [
    "DEMO_PASSWORD",
    "DISTRICT_CODE",
    "REFERENCE_TIME",
    "SCALES",
    "STEPS",
    "STREET_CODE",
    "STREET_PREFIX",
    "DemoDataset",
    "generate",
]

ProgressHook = Callable[[str], None]

#: Generator steps, in order (the CLI shows them as a progress bar).
STEPS = ("territory", "buildings", "houses and people", "places", "incidents", "patrols")


def as_multipolygons(polys: GeomArray) -> GeomArray:
    """Polygons → one-part MultiPolygons (the storage type of areas)."""
    return np.asarray(shapely.multipolygons(polys, indices=np.arange(len(polys))))


# ---------------------------------------------------------------------------------------------
# The world under construction (metric geometry plus local ids), passed between steps
# ---------------------------------------------------------------------------------------------


@dataclass
class Buildings:
    """Buildings in the metric frame with their derived attributes (one row per building)."""

    cx: FloatArray
    cy: FloatArray
    length: FloatArray
    width: FloatArray
    angle: FloatArray
    style: IntArray  #: SLAB … PUBLIC
    kind: StrArray  #: buildings.kind
    floors: IntArray
    units: IntArray  #: 单元 (0 for non-residential)
    rooms: IntArray  #: rooms per unit and floor
    grid: IntArray  #: index of the grid (by construction the footprint lies inside it)
    compound: StrArray  #: 小区 name or NULL
    label: StrArray  #: short location label (compound or road)
    address: StrArray
    geoms: GeomArray  #: footprints, metric


@dataclass
class World:
    """Everything later steps need from earlier ones."""

    seed: int
    spec: ScaleSpec
    lonlat: LonLat
    territory: Territory
    community_codes: list[str]
    community_names: list[str]
    grid_codes: StrArray
    grid_names: StrArray
    grid_sizing: IntArray
    grid_ids: IntArray  #: local ids of grids (1..n)
    community_ids: IntArray  #: local admin_units id per community
    district_id: int
    street_id: int
    dispatcher_id: int
    grid_worker_ids: IntArray  #: local user id of each grid's worker
    handler_ids: IntArray  #: local user id of each department's handler
    institution_names: list[str] = field(default_factory=list)
    lots: GeomArray | None = None  #: school, market and construction lots (metric)
    lot_kind: StrArray | None = None
    lot_grid: IntArray | None = None
    lot_name: StrArray | None = None
    lot_address: StrArray | None = None
    campus_address: StrArray | None = None  #: address of each special grid's institution
    buildings: Buildings | None = None
    households_per_building: IntArray | None = None
    places_kind: StrArray | None = None
    places_geom: GeomArray | None = None  #: metric
    places_grid: IntArray | None = None
    incident_xy: FloatArray | None = None  #: metric
    incident_grid: IntArray | None = None
    incident_reported: npt.NDArray[np.datetime64] | None = None
    incident_channel: IntArray | None = None


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def generate(
    seed: int = 2026, scale: str = "small", progress: ProgressHook | None = None
) -> DemoDataset:
    """Generate the demo street deterministically for ``seed`` and ``scale``."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {sorted(SCALES)}")
    spec = SCALES[scale]
    tables: dict[str, Table] = {}
    timings: dict[str, float] = {}

    def step(name: str) -> float:
        if progress is not None:
            progress(name)
        return time.perf_counter()

    t = step("territory")
    world = _territory(seed, spec, tables)
    timings["territory"] = time.perf_counter() - t

    t = step("buildings")
    _lots(world)
    _buildings(world, tables)
    timings["buildings"] = time.perf_counter() - t

    t = step("houses and people")
    assert world.buildings is not None
    b = world.buildings
    households_per_building = people.generate_people(
        rng_for(seed, "people"),
        tables,
        kind=b.kind,
        style=b.style,
        floors=b.floors,
        units=b.units,
        rooms=b.rooms,
        footprint=b.length * b.width,
        grid_sizing=world.grid_sizing[b.grid],
        grid_worker=world.grid_worker_ids[b.grid],
        reference=REFERENCE_TIME,
        household_prefix=STREET_PREFIX,
    )
    world.households_per_building = households_per_building
    timings["houses and people"] = time.perf_counter() - t

    t = step("places")
    _places(world, tables)
    timings["places"] = time.perf_counter() - t

    t = step("incidents")
    events.generate_incidents(world, tables)
    timings["incidents"] = time.perf_counter() - t

    t = step("patrols")
    events.generate_patrols(world, tables)
    timings["patrols"] = time.perf_counter() - t

    order = (
        "admin_units",
        "roads",
        "departments",
        "users",
        "grid_codes",
        "grids",
        "grid_staff",
        "buildings",
        "houses",
        "households",
        "persons",
        "person_care_groups",
        "places",
        "incidents",
        "incident_steps",
        "patrols",
    )
    return DemoDataset(
        seed=seed,
        scale=scale,
        reference_time=str(local_time_text(np.array([REFERENCE_TIME]))[0]),
        tables={name: tables[name] for name in order},
        timings=timings,
    )


# ---------------------------------------------------------------------------------------------
# Territory, departments, users, grids
# ---------------------------------------------------------------------------------------------


def _territory(seed: int, spec: ScaleSpec, tables: dict[str, Table]) -> World:
    rng = rng_for(seed, "territory")
    terr = build_territory(spec.layout, rng)
    lonlat = LonLat()
    n_comm = len(terr.community_geoms)
    if n_comm > 999:
        raise ValueError("a street has at most 999 communities")
    comm_codes = [f"{STREET_PREFIX}{i + 1:03d}" for i in range(n_comm)]
    comm_names = community_names(n_comm)

    # admin_units: district (1), street (2), communities (3..)
    areas = np.array([terr.district_geom, terr.street_geom, *terr.community_geoms], dtype=object)
    tables["admin_units"] = Table(
        "admin_units",
        {
            "id": np.arange(1, n_comm + 3, dtype=np.int64),
            "code": strs([DISTRICT_CODE, STREET_CODE, *comm_codes]),
            "name": strs([DISTRICT_NAME, STREET_NAME, *comm_names]),
            "level": strs(["district", "street"] + ["community"] * n_comm),
            "parent_id": np.array([0, 1] + [2] * n_comm, dtype=np.int64),
            "geom": as_multipolygons(lonlat.geoms(areas)),
        },
        refs={"parent_id": "admin_units"},
        geometry=("geom",),
    )
    community_ids = np.arange(3, n_comm + 3, dtype=np.int64)

    tables["roads"] = Table(
        "roads",
        {
            "id": np.arange(1, len(terr.road_names) + 1, dtype=np.int64),
            "name": strs(terr.road_names),
            "kind": strs(terr.road_kinds),
            "geom": lonlat.geoms(terr.road_geoms),
        },
        geometry=("geom",),
    )

    n_dept = len(DEPARTMENTS)
    tables["departments"] = Table(
        "departments",
        {
            "id": np.arange(1, n_dept + 1, dtype=np.int64),
            "code": strs([d[0] for d in DEPARTMENTS]),
            "name": strs([d[1] for d in DEPARTMENTS]),
            "admin_unit_id": np.full(n_dept, 2, dtype=np.int64),
            "phone": strs([d[2] for d in DEPARTMENTS]),
        },
        refs={"admin_unit_id": "admin_units"},
    )

    # Grids: sizing, names, codes.
    n = len(terr.grid_geoms)
    grid_codes = cat(pick(comm_codes, terr.grid_community), zero_pad(terr.grid_seq, 3))
    sizing = _grid_sizing(terr, spec, rng)
    n_special = int((sizing == SPECIAL).sum())
    institutions = _institution_names(n_special)
    basic_names = cat(
        pick(comm_names, terr.grid_community),
        "第",
        strs([zh_number(int(s)) for s in terr.grid_seq]),
        "网格",
    )
    grid_names = basic_names.copy()
    special_idx = np.flatnonzero(sizing == SPECIAL)
    grid_names[special_idx] = cat(strs(institutions), "专属网格")

    # Users: admin, street, planner, dispatcher, community admins, grid workers, handlers.
    urng = rng_for(seed, "users")
    fixed = (
        ("admin", "admin", 1, 0),
        ("street", "street_admin", 2, 0),
        ("planner", "planner", 2, 0),
        ("dispatcher", "dispatcher", 2, 0),
    )
    usernames = [f[0] for f in fixed]
    roles = [f[1] for f in fixed]
    area = [f[2] for f in fixed]
    dept = [f[3] for f in fixed]
    usernames += [f"ca_{i + 1}" for i in range(n_comm)]
    roles += ["community_admin"] * n_comm
    area += community_ids.tolist()
    dept += [0] * n_comm
    usernames += [f"gw_{code[-6:]}" for code in grid_codes.tolist()]
    roles += ["grid_worker"] * n
    area += community_ids[terr.grid_community].tolist()
    dept += [0] * n
    usernames += [f"dh_{d[0]}" for d in DEPARTMENTS]
    roles += ["dept_handler"] * n_dept
    area += [2] * n_dept
    dept += list(range(1, n_dept + 1))
    n_users = len(usernames)
    full_names, _ = random_names(urng, n_users)
    tables["users"] = Table(
        "users",
        {
            "id": np.arange(1, n_users + 1, dtype=np.int64),
            "username": strs(usernames),
            "full_name": full_names,
            "phone": mobile_phones(urng, n_users),
            "role": strs(roles),
            "area_id": np.array(area, dtype=np.int64),
            "department_id": np.array(dept, dtype=np.int64),
        },
        refs={"area_id": "admin_units", "department_id": "departments"},
    )
    ca_ids = np.arange(5, 5 + n_comm, dtype=np.int64)
    gw_ids = np.arange(5 + n_comm, 5 + n_comm + n, dtype=np.int64)
    dh_ids = np.arange(5 + n_comm + n, 5 + n_comm + n + n_dept, dtype=np.int64)

    grid_ids = np.arange(1, n + 1, dtype=np.int64)
    tables["grid_codes"] = Table(
        "grid_codes",
        {"code": grid_codes, "community_id": community_ids[terr.grid_community]},
        refs={"community_id": "admin_units"},
    )
    sizhi_text = sizhi(
        terr.grid_geoms, grid_names, terr.road_geoms, strs(terr.road_names), "街道边界"
    )
    tables["grids"] = Table(
        "grids",
        {
            "id": grid_ids,
            "code": grid_codes,
            "version": np.ones(n, dtype=np.int64),
            "name": grid_names,
            "kind": np.where(sizing == SPECIAL, "special", "basic").astype(STR),
            "sizing_type": pick(SIZING, sizing),
            "community_id": community_ids[terr.grid_community],
            "sizhi": sizhi_text,
            "geom": as_multipolygons(lonlat.geoms(terr.grid_geoms)),
            "valid_from": np.full(n, GRID_VALID_FROM, dtype=STR),
        },
        refs={"community_id": "admin_units"},
        geometry=("geom",),
    )
    # Each grid: its worker, and the community admin as grid leader (网格长).
    tables["grid_staff"] = Table(
        "grid_staff",
        {
            "grid_code": np.concatenate([grid_codes, grid_codes]),
            "user_id": np.concatenate([gw_ids, ca_ids[terr.grid_community]]),
            "duty": np.concatenate(
                [np.full(n, "worker", dtype=STR), np.full(n, "leader", dtype=STR)]
            ),
        },
        refs={"user_id": "users"},
    )
    return World(
        seed=seed,
        spec=spec,
        lonlat=lonlat,
        territory=terr,
        community_codes=comm_codes,
        community_names=comm_names,
        grid_codes=grid_codes,
        grid_names=grid_names,
        grid_sizing=sizing,
        grid_ids=grid_ids,
        community_ids=community_ids,
        district_id=1,
        street_id=2,
        dispatcher_id=4,
        grid_worker_ids=gw_ids,
        handler_ids=dh_ids,
        institution_names=institutions,
    )


def _institution_names(n: int) -> list[str]:
    """Names of the institutions of special grids: a school, a hospital, a school, ..."""
    schools = generated_names(STEMS, ("中学", "小学", "实验学校"), ("全福中学",), (n + 1) // 2)
    hospitals = generated_names(
        STEMS, ("医院", "中医院", "社区卫生服务中心"), ("全福医院",), n // 2
    )
    out = []
    for i in range(n):
        out.append(schools[i // 2] if i % 2 == 0 else hospitals[i // 2])
    return out


def _grid_sizing(terr: Territory, spec: ScaleSpec, rng: np.random.Generator) -> IntArray:
    """Sizing type per grid: a few special grids, bungalow villages, the rest compound/scattered."""
    n = len(terr.grid_geoms)
    sizing = np.where(rng.random(n) < 0.5, COMPOUND, SCATTERED).astype(np.int64)
    areas = shapely.area(terr.grid_geoms)
    reps = shapely.get_coordinates(shapely.point_on_surface(terr.grid_geoms))
    median = np.median(areas)
    eligible = np.flatnonzero((areas > 0.5 * median) & (areas < 1.3 * median))
    chosen: list[int] = []
    used_communities: set[int] = set()
    for i in rng.permutation(eligible):
        comm = int(terr.grid_community[i])
        if comm in used_communities and len(used_communities) < len(terr.community_geoms):
            continue
        chosen.append(int(i))
        used_communities.add(comm)
        if len(chosen) == spec.special_grids:
            break
    sizing[chosen] = SPECIAL
    for _ in range(spec.bungalow_villages):
        free = np.flatnonzero(sizing != SPECIAL)
        centre = reps[rng.choice(free)]
        d = np.linalg.norm(reps - centre, axis=1)
        d[sizing == SPECIAL] = np.inf
        d[sizing == BUNGALOW_GRID] = np.inf
        sizing[np.argsort(d, kind="stable")[: spec.grids_per_village]] = BUNGALOW_GRID
    return sizing


# ---------------------------------------------------------------------------------------------
# Lots and buildings
# ---------------------------------------------------------------------------------------------

_LOT_SIZES = {
    "school": (170.0, 120.0),
    "market": (110.0, 80.0),
    "construction_site": (140.0, 100.0),
}
_SETBACK = 12.0  #: metres between a grid edge (road centre line) and any footprint
_FILL_SHARE = 0.12  #: share of free lattice cells that get a non-residential building


def _lots(world: World) -> None:
    """School campuses, markets and construction sites: rectangles inside non-special grids."""
    rng = rng_for(world.seed, "lots")
    terr = world.territory
    n_school, n_market, n_site = world.spec.lots
    kinds = ["school"] * n_school + ["market"] * n_market + ["construction_site"] * n_site
    hosts_ok = np.flatnonzero((world.grid_sizing == SCATTERED) | (world.grid_sizing == COMPOUND))
    hosts = rng.choice(hosts_ok, size=min(len(kinds), len(hosts_ok)), replace=False)
    kinds = kinds[: len(hosts)]
    inner = shapely.buffer(terr.grid_geoms[hosts], -_SETBACK - 5)
    angle = rng.normal(0, np.radians(3), len(hosts))
    step = np.full(len(hosts), 25.0)
    x, y, owner, _, _ = lattice(inner, angle, step, step, rng)
    dims = np.array([_LOT_SIZES[k] for k in kinds])
    rects = rectangles(x, y, dims[owner, 0], dims[owner, 1], angle[owner])
    ok = shapely.contains_properly(inner[owner], rects)
    priority = np.where(ok, rng.random(len(owner)), 2.0)
    first = (group_rank(owner, priority) == 0) & ok
    lot_of = owner[first]
    world.lots = rects[first]
    world.lot_kind = pick(kinds, lot_of)
    world.lot_grid = hosts[lot_of].astype(np.int64)
    n_lots = len(lot_of)
    school_names = generated_names(
        STEMS,
        ("小学", "中学", "实验小学", "初级中学"),
        ("华信小学", "鑫苑小学", "七里河中学"),
        n_lots,
    )
    market_names = generated_names(
        STEMS, ("农贸市场", "综合市场", "便民市场"), ("全福农贸市场", "华信综合市场"), n_lots
    )
    site_names = generated_names(
        STEMS, ("府项目工地", "城二期工地", "苑项目工地"), ("华信府项目工地",), n_lots
    )
    rank = group_rank(world.lot_kind)
    world.lot_name = np.where(
        world.lot_kind == "school",
        pick(school_names, rank),
        np.where(world.lot_kind == "market", pick(market_names, rank), pick(site_names, rank)),
    )


Columns = dict[str, npt.NDArray[Any]]


def _take(cols: Columns, index: npt.NDArray[Any]) -> Columns:
    """The same rows (mask or index array) of every column."""
    return {name: values[index] for name, values in cols.items()}


def _buildings(world: World, tables: dict[str, Table]) -> None:
    """Footprints by grid style, each strictly inside one grid, with address parts."""
    rng = rng_for(world.seed, "buildings")
    bld = _footprints(world, rng)
    compound, building_no, name = _compounds(world, bld, rng)
    road_name, house_no = _door_plates(world, bld, compound, rng)
    shops = np.flatnonzero(bld["kind"] == "commercial")
    name[shops] = cat(
        np.strings.slice(road_name[shops], 0, 2),
        pick(["商厦", "大厦", "商务楼", "商业楼"], rng.integers(0, 4, len(shops))),
    )
    street_part = cat(CITY_PREFIX, road_name, house_no, "号")
    has_compound = compound != NULL
    address = np.where(has_compound, cat(street_part, compound, building_no), street_part)
    nb = len(bld["x"])
    geoms = rectangles(bld["x"], bld["y"], bld["length"], bld["width"], bld["angle"])
    tables["buildings"] = Table(
        "buildings",
        {
            "id": np.arange(1, nb + 1, dtype=np.int64),
            "code": cat(f"{STREET_PREFIX}-B", zero_pad(np.arange(1, nb + 1), 6)),
            "name": name,
            "kind": bld["kind"],
            "floors": bld["floors"],
            "road_name": road_name,
            "house_number": cat(house_no, "号"),
            "compound": compound,
            "building_no": building_no,
            "address": address,
            "geom": world.lonlat.geoms(geoms),
        },
        geometry=("geom",),
    )
    world.buildings = Buildings(
        cx=bld["x"],
        cy=bld["y"],
        length=bld["length"],
        width=bld["width"],
        angle=bld["angle"],
        style=bld["style"],
        kind=bld["kind"],
        floors=bld["floors"],
        units=bld["units"],
        rooms=bld["rooms"],
        grid=bld["grid"],
        compound=compound,
        label=np.where(has_compound, compound, road_name),
        address=address,
        geoms=geoms,
    )


def _footprints(world: World, rng: np.random.Generator) -> Columns:
    """Per-building columns: position, size, angle, kind, floors, units; ordered by grid.

    Each grid gets a style from its sizing type (slabs or towers in compounds, a mix in
    scattered grids, bungalows, public buildings in special grids) and a rotated lattice of
    candidate sites; a grid keeps the sites nearest a random anchor, as many as its household
    target needs, so homes cluster like real compounds, plus a sprinkling of non-residential
    buildings. Schools get teaching blocks on their campus, markets a hall.
    """
    terr = world.territory
    assert world.lots is not None and world.lot_kind is not None and world.lot_grid is not None
    n = len(terr.grid_geoms)
    sizing = world.grid_sizing
    hh_target = np.zeros(n)
    for s in (SCATTERED, COMPOUND, BUNGALOW_GRID):
        m = sizing == s
        hh_target[m] = world.spec.households_per_grid[s] * rng.uniform(0.8, 1.2, int(m.sum()))
    style = np.full(n, MIXED, dtype=np.int64)
    style[sizing == COMPOUND] = np.where(
        rng.random(int((sizing == COMPOUND).sum())) < 0.72, SLAB, TOWER
    )
    style[sizing == BUNGALOW_GRID] = BUNGALOW
    style[sizing == SPECIAL] = PUBLIC
    slab_len = np.array([30.0, 45.0, 60.0])[rng.integers(0, 3, n)]
    slab_floors = rng.choice([5, 6, 6, 7], n)
    tower_floors = rng.integers(18, 34, n)
    angle = np.where(
        style == BUNGALOW, rng.normal(0, np.radians(1.5), n), rng.normal(0, np.radians(3.5), n)
    )
    by_style = [style == SLAB, style == TOWER, style == BUNGALOW, style == PUBLIC]
    # lattice cell (along, across) and the largest footprint of each style (metres)
    step_x = np.select(by_style, [slab_len + 16, 56.0, 15.0, 82.0], 58.0)
    step_y = np.select(by_style, [40.0, 58.0, 13.0, 50.0], 44.0)
    max_len = np.select(by_style, [slab_len + 1, 33.0, 12.0, 60.0], 45.0)
    max_wid = np.select(by_style, [13.0, 19.0, 9.0, 24.0], 26.0)
    occupancy = np.select([sizing == COMPOUND, sizing == BUNGALOW_GRID], [0.9, 0.95], 0.86)
    houses_per_building = np.select(
        [style == SLAB, style == TOWER, style == BUNGALOW, style == MIXED],
        [slab_len / 15 * slab_floors * 2, 2 * 4 * tower_floors, 1.7, 28.0],
        1.0,
    )
    k_res = np.ceil(hh_target / occupancy / houses_per_building).astype(np.int64)
    k_other = np.where(style == MIXED, np.ceil(0.5 * k_res).astype(np.int64) + 1, 0)
    k_total = np.where(style == PUBLIC, rng.integers(4, 8, n), k_res + k_other)

    inner = shapely.buffer(terr.grid_geoms, -_SETBACK)
    x, y, gi, col, row = lattice(inner, angle, step_x, step_y, rng)
    c: Columns = {"x": x, "y": y, "grid": gi, "col": col, "row": row}
    c["angle"] = angle[gi] + rng.normal(0, np.radians(0.8), len(x))
    probe = rectangles(x, y, max_len[gi], max_wid[gi], c["angle"])
    ok = shapely.contains_properly(inner[gi], probe)
    blocked = shapely.STRtree(shapely.buffer(world.lots, 8.0)).query(probe, predicate="intersects")
    ok[blocked[0]] = False
    c = _take(c, ok)
    gi = c["grid"]
    anchor = np.flatnonzero(group_rank(gi, rng.random(len(gi))) == 0)
    anchor_xy = np.zeros((n, 2))
    anchor_xy[gi[anchor]] = np.column_stack([c["x"][anchor], c["y"][anchor]])
    dist = np.hypot(c["x"] - anchor_xy[gi, 0], c["y"] - anchor_xy[gi, 1])
    selected = group_rank(gi, dist + rng.uniform(0, 6, len(gi))) < k_total[gi]
    fill = (
        ~selected
        & (rng.random(len(gi)) < _FILL_SHARE)
        & (style[gi] != BUNGALOW)
        & (style[gi] != PUBLIC)
    )
    c["fill"] = fill
    c = _take(c, selected | fill)
    gi, fill = c["grid"], c["fill"]
    nb = len(gi)
    bstyle = style[gi]

    # kinds: in mixed grids the buildings nearest the grid edge (frontage) are non-residential
    kind = np.full(nb, "residential", dtype=object)
    kind[bstyle == BUNGALOW] = "bungalow"
    kind[bstyle == PUBLIC] = "public"
    edge = shapely.distance(shapely.points(c["x"], c["y"]), shapely.boundary(terr.grid_geoms[gi]))
    frontage = (bstyle == MIXED) & (group_rank(gi, edge) < k_other[gi])
    kind[frontage] = pick(
        ["commercial", "mixed", "industrial"],
        choice_index(rng, [0.45, 0.4, 0.15], int(frontage.sum())),
    )
    kind[fill] = pick(
        ["commercial", "industrial", "public"],
        choice_index(rng, [0.45, 0.35, 0.2], int(fill.sum())),
    )
    kind = strs(kind)
    by_style = [bstyle == SLAB, bstyle == TOWER, bstyle == BUNGALOW, bstyle == PUBLIC]
    by_kind = [kind == "mixed", kind == "commercial", kind == "industrial"]
    length = np.select(
        by_style,
        [slab_len[gi], np.full(nb, 32.0), rng.uniform(9, 12, nb), np.full(nb, 60.0)],
        np.array([30.0, 45.0])[rng.integers(0, 2, nb)],
    )
    width = np.select(
        by_style,
        [rng.uniform(11.5, 13, nb), np.full(nb, 18.0), rng.uniform(7, 9, nb), np.full(nb, 16.0)],
        11.5,
    )
    floors = np.select(
        by_style,
        [slab_floors[gi], tower_floors[gi], np.ones(nb, dtype=np.int64), rng.integers(3, 6, nb)],
        rng.integers(4, 8, nb),
    )
    length = np.select(by_kind, [40.0, 36.0, 45.0], length)
    width = np.select(by_kind, [14.0, 22.0, 26.0], width)
    floors = np.select(
        by_kind, [rng.integers(5, 8, nb), rng.integers(2, 6, nb), rng.integers(1, 4, nb)], floors
    )
    # fill buildings must fit their lattice cell whatever the grid's style
    c["length"] = np.where(fill, np.minimum(36.0, step_x[gi] - 12), length)
    c["width"] = np.where(fill, np.minimum(22.0, step_y[gi] - 14), width)
    c["floors"] = np.where(fill & (kind == "public"), rng.integers(2, 5, nb), floors)
    units = np.where((kind == "residential") | (kind == "mixed"), np.round(length / 15), 0)
    units = np.where(bstyle == TOWER, 2, np.where(kind == "mixed", 2, np.maximum(units, 0)))
    c["units"] = units.astype(np.int64)
    c["rooms"] = np.where(bstyle == TOWER, 4, np.where(units > 0, 2, 0)).astype(np.int64)
    c["kind"] = kind
    c["style"] = bstyle
    c["lot"] = np.full(nb, -1, dtype=np.int64)
    del c["fill"]
    inside = shapely.contains_properly(
        inner[gi], rectangles(c["x"], c["y"], c["length"], c["width"], c["angle"])
    )
    c = _take(c, inside)  # a fill building larger than the probe near a grid edge: dropped

    lots = _lot_buildings(world, rng)
    c = {name: np.concatenate([values, lots[name]]) for name, values in c.items()}
    return _take(c, np.lexsort((c["x"], -np.round(c["y"] / 15), c["grid"])))


def _lot_buildings(world: World, rng: np.random.Generator) -> Columns:
    """Teaching blocks on school campuses (up to four) and one hall in each market."""
    assert world.lots is not None and world.lot_kind is not None and world.lot_grid is not None
    lots = world.lots
    lot_inner = shapely.buffer(lots, -12.0)
    lot_angle = _lot_angles(lots)
    n_lots = len(lots)
    x, y, lot, col, row = lattice(
        lot_inner, lot_angle, np.full(n_lots, 80.0), np.full(n_lots, 45.0), rng
    )
    school = world.lot_kind[lot] == "school"
    x, y, lot, col, row = x[school], y[school], lot[school], col[school], row[school]
    blocks = rectangles(x, y, np.full(len(x), 60.0), np.full(len(x), 16.0), lot_angle[lot])
    ok = shapely.contains_properly(lot_inner[lot], blocks) & (group_rank(lot) < 4)
    x, y, lot, col, row = x[ok], y[ok], lot[ok], col[ok], row[ok]
    markets = np.flatnonzero(world.lot_kind == "market")
    hall_xy = shapely.get_coordinates(shapely.centroid(lots[markets]))
    n_blocks, n_halls = len(x), len(markets)
    hall = np.arange(n_blocks + n_halls) >= n_blocks
    lot = np.concatenate([lot, markets]).astype(np.int64)
    n = len(lot)
    return {
        "x": np.concatenate([x, hall_xy[:, 0]]),
        "y": np.concatenate([y, hall_xy[:, 1]]),
        "grid": world.lot_grid[lot],
        "col": np.concatenate([col, np.zeros(n_halls, dtype=np.int64)]),
        "row": np.concatenate([row, np.zeros(n_halls, dtype=np.int64)]),
        "angle": lot_angle[lot],
        "length": np.where(hall, 50.0, 60.0),
        "width": np.where(hall, 30.0, 16.0),
        "floors": np.where(hall, 1, rng.integers(3, 6, n)).astype(np.int64),
        "units": np.zeros(n, dtype=np.int64),
        "rooms": np.zeros(n, dtype=np.int64),
        "kind": np.where(hall, "commercial", "public").astype(STR),
        "style": np.full(n, PUBLIC, dtype=np.int64),
        "lot": lot,
    }


_HOSPITAL_BLOCKS = ("门诊楼", "住院楼", "医技楼", "综合楼", "行政楼", "后勤楼", "科研楼")


def _compounds(
    world: World, bld: Columns, rng: np.random.Generator
) -> tuple[StrArray, StrArray, StrArray]:
    """(compound, building_no, name) per building (shop blocks are named with their road later).

    Compounds (小区): one per compound grid (two when it is large), 3x3 lattice blocks of homes
    in mixed grids, the institution for public buildings of a campus; shops, factories and
    bungalows stand alone. ``building_no`` numbers a compound's buildings ("3号楼").
    """
    assert world.lot_name is not None
    n = len(world.grid_codes)
    gi, col, row, kind, style = bld["grid"], bld["col"], bld["row"], bld["kind"], bld["style"]
    nb = len(gi)
    res = kind == "residential"
    in_compound_grid = res & ((style == SLAB) | (style == TOWER))
    col_lo = np.full(n, 10**6, dtype=np.int64)
    col_hi = np.full(n, -1, dtype=np.int64)
    np.minimum.at(col_lo, gi[in_compound_grid], col[in_compound_grid])
    np.maximum.at(col_hi, gi[in_compound_grid], col[in_compound_grid])
    large = np.bincount(gi[in_compound_grid], minlength=n)[gi] > 14
    east_half = large & (2 * col > col_lo[gi] + col_hi[gi])
    sub = np.full(nb, -1, dtype=np.int64)
    sub = np.where(in_compound_grid, east_half.astype(np.int64), sub)
    sub = np.where(res & (style == MIXED), 10 + col // 3 + 100 * (row // 3), sub)
    on_campus = (kind == "public") & ((bld["lot"] >= 0) | (world.grid_sizing[gi] == SPECIAL))
    sub = np.where(on_campus, _CAMPUS, sub)
    has_compound = sub >= 0
    keys, cid = np.unique((gi * 1_000_000 + sub)[has_compound], return_inverse=True)
    n_comp = len(keys)
    comp_grid = keys // 1_000_000
    campus = keys % 1_000_000 == _CAMPUS
    comp_lot = np.full(n_comp, -1, dtype=np.int64)
    np.maximum.at(comp_lot, cid, bld["lot"][has_compound])
    special_rank = np.cumsum(world.grid_sizing == SPECIAL) - 1  # institution index per grid
    names = np.empty(n_comp, dtype=STR)
    homes = compound_names(int((~campus).sum()))
    names[~campus] = pick(homes, rng.permutation(len(homes)))
    at_lot = campus & (comp_lot >= 0)
    in_special = campus & (comp_lot < 0)
    names[at_lot] = world.lot_name[comp_lot[at_lot]]
    names[in_special] = pick(world.institution_names, special_rank[comp_grid[in_special]])
    compound = np.full(nb, NULL, dtype=STR)
    compound[has_compound] = names[cid]
    rank = group_rank(cid)
    building_no = np.full(nb, NULL, dtype=STR)
    building_no[has_compound] = cat((rank + 1).astype(STR), "号楼")
    # an institution's blocks are named after it (special grids alternate school, hospital)
    name = np.full(nb, NULL, dtype=STR)
    hospital_comp = in_special & (special_rank[comp_grid] % 2 == 1)
    idx = np.flatnonzero(has_compound)
    campus_b = idx[campus[cid]]
    hospital_b = idx[hospital_comp[cid]]
    name[campus_b] = cat(compound[campus_b], "第", (rank[campus[cid]] + 1).astype(STR), "教学楼")
    name[hospital_b] = cat(
        compound[hospital_b],
        pick(_HOSPITAL_BLOCKS, rank[hospital_comp[cid]] % len(_HOSPITAL_BLOCKS)),
    )
    return compound, building_no, name


_CAMPUS = 99_999


def _door_plates(
    world: World, bld: Columns, compound: StrArray, rng: np.random.Generator
) -> tuple[StrArray, StrArray]:
    """(road name, house number) per building; sets the lots' and campuses' addresses.

    Lots, special campuses, compounds and lone buildings each get a door plate on their nearest
    road; a compound's buildings share its plate, and a campus's buildings use the campus plate.
    """
    assert world.lots is not None
    terr = world.territory
    gi = bld["grid"]
    special = np.flatnonzero(world.grid_sizing == SPECIAL)
    lot_xy = shapely.get_coordinates(shapely.centroid(world.lots))
    campus_xy = shapely.get_coordinates(shapely.point_on_surface(terr.grid_geoms[special]))
    has_compound = compound != NULL
    # a compound is identified by (grid, name); its plate sits at the mean of its buildings
    comp_key = np.where(has_compound, cat(gi.astype(STR), "|", compound), "")
    keys, cid = np.unique(comp_key[has_compound], return_inverse=True)
    n_comp = len(keys)
    comp_xy = np.zeros((n_comp, 2))
    np.add.at(comp_xy, cid, np.column_stack([bld["x"][has_compound], bld["y"][has_compound]]))
    comp_xy /= np.bincount(cid, minlength=n_comp)[:, None]
    lone = np.flatnonzero(~has_compound)
    entities = np.vstack(
        [lot_xy, campus_xy, comp_xy, np.column_stack([bld["x"][lone], bld["y"][lone]])]
    )
    road, number = address_numbers(shapely.points(entities), terr.road_geoms, rng)
    n_lots, n_campus = len(lot_xy), len(special)
    campus_of_grid = np.full(len(world.grid_codes), -1, dtype=np.int64)
    campus_of_grid[special] = np.arange(n_campus)
    comp_grid = np.zeros(n_comp, dtype=np.int64)
    comp_grid[cid] = gi[has_compound]
    comp_lot = np.full(n_comp, -1, dtype=np.int64)
    np.maximum.at(comp_lot, cid, bld["lot"][has_compound])
    comp_entity = n_lots + n_campus + np.arange(n_comp)
    in_campus = (campus_of_grid[comp_grid] >= 0) & (comp_lot < 0)
    comp_entity[in_campus] = n_lots + campus_of_grid[comp_grid[in_campus]]
    on_lot = comp_lot >= 0
    comp_entity[on_lot] = comp_lot[on_lot]
    entity = np.empty(len(gi), dtype=np.int64)
    entity[has_compound] = comp_entity[cid]
    entity[lone] = n_lots + n_campus + n_comp + np.arange(len(lone))
    road_names = strs(terr.road_names)[road]
    numbers = number.astype(STR)
    plates = cat(CITY_PREFIX, road_names, numbers, "号")
    world.lot_address = plates[:n_lots]
    world.campus_address = cat(plates[n_lots : n_lots + n_campus], strs(world.institution_names))
    return road_names[entity], numbers[entity]


def _lot_angles(lots: GeomArray) -> FloatArray:
    """Orientation of each lot rectangle (radians), for the buildings placed on it."""
    coords = shapely.get_coordinates(shapely.get_exterior_ring(lots)).reshape(len(lots), 5, 2)
    d = coords[:, 1] - coords[:, 0]
    return np.asarray(np.arctan2(d[:, 1], d[:, 0]))


# ---------------------------------------------------------------------------------------------
# Places
# ---------------------------------------------------------------------------------------------

_HOST_WEIGHTS = {
    # place kind: weight of host buildings by building kind
    "shop": {"commercial": 3.0, "mixed": 3.0, "residential": 0.15},
    "restaurant": {"commercial": 3.0, "mixed": 2.5, "residential": 0.1},
    "hotel": {"commercial": 3.0, "mixed": 1.0},
    "three_in_one": {"bungalow": 1.0, "industrial": 3.0, "mixed": 0.5},
    "small_workshop": {"industrial": 3.0, "bungalow": 0.5},
    "small_entertainment": {"commercial": 2.0, "mixed": 1.0},
    "kindergarten": {"residential": 1.0},
    "hospital": {"commercial": 1.0, "mixed": 1.0},
    "rental": {"bungalow": 2.0, "residential": 0.4},
}


def _places(world: World, tables: dict[str, Table]) -> None:
    """Places: points in host buildings, stalls near markets, campus/market/site polygons."""
    rng = rng_for(world.seed, "places")
    b = world.buildings
    assert b is not None and world.lots is not None and world.lot_kind is not None
    assert world.lot_grid is not None and world.lot_name is not None
    n_grids = len(world.grid_codes)
    lonlat = world.lonlat
    kinds: list[StrArray] = []
    names: list[StrArray] = []
    addresses: list[StrArray] = []
    geoms: list[GeomArray] = []
    grids: list[IntArray] = []

    # Point places inside host buildings.
    for kind, weights in _HOST_WEIGHTS.items():
        count = round(world.spec.places_per_grid[kind] * n_grids)
        w = np.zeros(len(b.kind))
        for building_kind, weight in weights.items():
            w[b.kind == building_kind] = weight
        if kind == "kindergarten":
            w[(b.style != SLAB) & (b.style != TOWER)] = 0.0
        if count == 0 or w.sum() == 0:
            continue
        host = choice_index(rng, w, count)
        u = rng.uniform(-0.4, 0.4, count) * b.length[host]
        v = rng.uniform(-0.25, 0.25, count) * b.width[host]
        cos, sin = np.cos(b.angle[host]), np.sin(b.angle[host])
        pts = shapely.points(b.cx[host] + u * cos - v * sin, b.cy[host] + u * sin + v * cos)
        if kind in PLACE_TRADES:
            name = trade_names(rng, kind, count)
        elif kind == "kindergarten":
            name = cat(
                np.where(
                    b.compound[host] == NULL,
                    pick(STEMS, rng.integers(0, len(STEMS), count)),
                    b.compound[host],
                ),
                "幼儿园",
            )
        elif kind == "hospital":
            surname, _ = random_names(rng, count)
            name = np.where(
                rng.random(count) < 0.5,
                cat(np.strings.slice(surname, 0, 1), "氏诊所"),
                cat(np.strings.slice(b.label[host], 0, 2), "社区卫生室"),
            )
        else:  # rental
            name = cat(np.strings.replace(b.address[host], CITY_PREFIX, ""), "出租房屋")
        kinds.append(np.full(count, kind, dtype=STR))
        names.append(name)
        addresses.append(b.address[host])
        geoms.append(pts)
        grids.append(b.grid[host])

    # Stalls: around markets, else along the edge of scattered grids.
    n_stalls = round(world.spec.places_per_grid["small_stall"] * n_grids)
    markets = np.flatnonzero(world.lot_kind == "market")
    at_market = rng.random(n_stalls) < 0.6 if len(markets) else np.zeros(n_stalls, dtype=bool)
    owner = np.where(
        at_market,
        markets[rng.integers(0, max(len(markets), 1), n_stalls)] if len(markets) else 0,
        0,
    )
    stall_pts = np.empty(n_stalls, dtype=object)
    stall_grid = np.zeros(n_stalls, dtype=np.int64)
    stall_addr = np.empty(n_stalls, dtype=STR)
    lot_address = world.lot_address
    assert lot_address is not None and world.campus_address is not None
    if at_market.any():
        lot_inner = shapely.buffer(world.lots, -3.0)
        stall_pts[at_market] = points_in(lot_inner, owner[at_market], rng)
        stall_grid[at_market] = world.lot_grid[owner[at_market]]
        stall_addr[at_market] = lot_address[owner[at_market]]
    off = ~at_market
    scattered = np.flatnonzero(world.grid_sizing == SCATTERED)
    g = scattered[rng.integers(0, len(scattered), int(off.sum()))]
    ring = shapely.difference(
        shapely.buffer(world.territory.grid_geoms[g], -3.0),
        shapely.buffer(world.territory.grid_geoms[g], -12.0),
    )
    stall_pts[off] = points_in(ring, np.arange(int(off.sum())), rng)
    stall_grid[off] = g
    nearest = shapely.STRtree(b.geoms).query_nearest(stall_pts[off], all_matches=False)
    stall_addr[off] = cat(b.address[nearest[1]], "附近")
    kinds.append(np.full(n_stalls, "small_stall", dtype=STR))
    names.append(trade_names(rng, "small_stall", n_stalls))
    addresses.append(stall_addr)
    geoms.append(stall_pts)
    grids.append(stall_grid)

    # Polygons: school campuses, markets, construction sites, and the special grids' campuses.
    special = np.flatnonzero(world.grid_sizing == SPECIAL)
    campus = shapely.buffer(world.territory.grid_geoms[special], -6.0)
    special_kind = np.where(np.arange(len(special)) % 2 == 0, "school", "hospital").astype(STR)
    kinds += [world.lot_kind, special_kind]
    names += [world.lot_name, strs(world.institution_names)]
    addresses += [lot_address, world.campus_address]
    geoms += [world.lots, campus]
    grids += [world.lot_grid, special.astype(np.int64)]

    kind_all = np.concatenate(kinds)
    n = len(kind_all)
    geom_all = np.concatenate(geoms)
    grid_all = np.concatenate(grids)
    # Stable order: by grid, then kind.
    order = np.lexsort((np.arange(n), kind_all, grid_all))
    kind_all, geom_all, grid_all = kind_all[order], geom_all[order], grid_all[order]
    name_all = np.concatenate(names)[order]
    addr_all = np.concatenate(addresses)[order]
    contact, _ = random_names(rng, n)
    phone = np.where(rng.random(n) < 0.8, mobile_phones(rng, n), landlines(rng, n))
    distinct, inverse = np.unique(kind_all, return_inverse=True)
    dept_of_kind = [DEPT_INDEX[PLACE_DEPARTMENT[str(k)]] + 1 for k in distinct.tolist()]
    dept = np.asarray(dept_of_kind, dtype=np.int64)[inverse]
    tables["places"] = Table(
        "places",
        {
            "id": np.arange(1, n + 1, dtype=np.int64),
            "name": name_all,
            "kind": kind_all,
            "address": addr_all,
            "department_id": dept,
            "contact_name": contact,
            "contact_phone": phone,
            "geom": lonlat.geoms(geom_all),
        },
        refs={"department_id": "departments"},
        geometry=("geom",),
    )
    world.places_kind = kind_all
    world.places_geom = geom_all
    world.places_grid = grid_all
