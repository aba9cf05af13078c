"""Assignment of buildings, places and incidents to grids: the rule, its three paths, the review.

Known answers come from the world (tests/fixtures/world.py): four box grids whose shared edges
and corners are exact doubles, so a point meant to lie on an edge lies exactly on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from click.testing import Result
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from geoalchemy2.shape import from_shape
from pyproj import Geod
from shapely.geometry import Point, Polygon, box

from layers.errors import InvalidInput
from layers.models import AuditLog, Building, Grid, Incident, Place
from layers.spatial import assign, cli
from layers.users import load_principal
from tests.fixtures.assign import (
    add_building,
    add_grid,
    add_incident,
    add_lattice,
    add_place,
    l_shape,
)
from tests.fixtures.world import (
    COMMUNITY_A,
    COMMUNITY_B,
    GRID_A1,
    GRID_A2,
    GRID_B1,
    GRID_B2,
    World,
)

MICRO_IN_A1 = COMMUNITY_A + "009"
SPECIAL_OVER_B1 = COMMUNITY_A + "005"  # sorts before every grid of community B
CLOSED_EAST = COMMUNITY_B + "003"


def grid_code_at(db: Session, lon: float, lat: float) -> str | None:
    grid_id = assign.grid_at_point(db, lon=lon, lat=lat)
    if grid_id is None:
        return None
    return db.execute(select(Grid.code).where(Grid.id == grid_id)).scalar_one()


def filing(db: Session, model: type, row_id: int) -> tuple[str | None, int | None]:
    """(grid code, community id) a row is filed under."""
    row = db.execute(
        select(Grid.code, model.community_id)
        .select_from(model)
        .outerjoin(Grid, Grid.id == model.grid_id)
        .where(model.id == row_id)
    ).one()
    return row[0], row[1]


def add_extra_grids(db: Session, world: World) -> dict[str, int]:
    """A micro-grid in A1, a special grid overlapping B1, and a closed version east of B."""
    return {
        MICRO_IN_A1: add_grid(
            db, MICRO_IN_A1, box(117.001, 36.601, 117.002, 36.602), kind="micro", parent=GRID_A1
        ),
        SPECIAL_OVER_B1: add_grid(
            db, SPECIAL_OVER_B1, box(117.016, 36.608, 117.018, 36.609), kind="special"
        ),
        CLOSED_EAST: add_grid(
            db,
            CLOSED_EAST,
            box(117.020, 36.600, 117.024, 36.610),
            valid_to=datetime(2026, 6, 1, tzinfo=UTC),
        ),
    }


# --------------------------------------------------------------------------------------------
# The rule
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lon", "lat", "expected", "why"),
    [
        (117.0025, 36.6050, GRID_A1, "interior"),
        (117.0050, 36.6050, GRID_A1, "edge A1|A2: smallest code"),
        (117.0100, 36.6050, GRID_A2, "vertex of A2, B1, B2: smallest code"),
        (117.0100, 36.6075, GRID_A2, "edge A2|B1"),
        (117.0150, 36.6050, GRID_B1, "edge B1|B2"),
        (117.0200, 36.6075, GRID_B1, "outer edge of B1 counts (ST_Covers)"),
        (117.0000, 36.6000, GRID_A1, "outer corner of A1"),
        (117.0200, 36.6100, GRID_B1, "outer corner of B1"),
        (117.0250, 36.6050, None, "outside every grid"),
        (117.0150, 36.6150, None, "north of the world"),
    ],
)
def test_the_grid_at_a_point_follows_the_documented_rule(
    db: Session, world: World, lon: float, lat: float, expected: str | None, why: str
) -> None:
    assert grid_code_at(db, lon, lat) == expected, why


def test_micro_grids_and_closed_versions_are_not_candidates(db: Session, world: World) -> None:
    add_extra_grids(db, world)
    assert grid_code_at(db, 117.0015, 36.6015) == GRID_A1  # inside the micro-grid of A1
    assert grid_code_at(db, 117.0220, 36.6050) is None  # only a closed version covers it


def test_an_overlap_goes_to_the_smallest_code(db: Session, world: World) -> None:
    add_extra_grids(db, world)
    assert SPECIAL_OVER_B1 < GRID_B1
    assert grid_code_at(db, 117.0170, 36.6085) == SPECIAL_OVER_B1
    assert grid_code_at(db, 117.0150, 36.6085) == GRID_B1


def test_a_straddling_building_goes_where_its_point_on_surface_lies(
    db: Session, world: World
) -> None:
    # Mostly in A2; its point on surface is the middle of its widest section, in A2.
    straddling = add_building(db, "S-1", box(117.0049, 36.6040, 117.0060, 36.6041))
    assert filing(db, Building, straddling) == (GRID_A2, world.units[COMMUNITY_A])
    # An L whose centroid lies in A2 but outside the footprint; its surface point is in A1.
    footprint = l_shape(117.00488, 36.6046)
    assert footprint.centroid.x > 117.005 and not footprint.contains(footprint.centroid)
    place = add_place(db, "S-L", footprint)
    assert filing(db, Place, place) == (GRID_A1, world.units[COMMUNITY_A])
    surface = db.execute(
        text("SELECT ST_Covers(geom, wangge_assign_point(geom)) FROM places WHERE id = :id"),
        {"id": place},
    ).scalar_one()
    assert surface is True


# --------------------------------------------------------------------------------------------
# Incremental: the triggers
# --------------------------------------------------------------------------------------------


def test_the_trigger_files_new_rows_and_overrides_typed_in_values(
    db: Session, world: World
) -> None:
    row = Incident(
        code="TR-1",
        category_code="hazard.fire",
        title="触发器",
        channel="walk_in",
        geom=from_shape(Point(117.0150, 36.6025), 4326),
        grid_id=world.grids[GRID_A1],  # wrong on purpose: the grid is derived, never typed in
        community_id=world.units[COMMUNITY_A],
    )
    db.add(row)
    db.flush()
    assert filing(db, Incident, row.id) == (GRID_B2, world.units[COMMUNITY_B])
    outside = add_incident(db, "TR-2", 117.0300, 36.6050)
    assert filing(db, Incident, outside) == (None, None)


def test_the_trigger_follows_a_moved_geometry_but_not_other_updates(
    db: Session, world: World
) -> None:
    building = world.buildings["1"]
    db.execute(
        update(Building)
        .where(Building.id == building)
        .values(geom=from_shape(box(117.0148, 36.6074, 117.0152, 36.6076), 4326))
    )
    assert filing(db, Building, building) == (GRID_B1, world.units[COMMUNITY_B])
    db.execute(update(Building).where(Building.id == building).values(name="改名不改网格"))
    assert filing(db, Building, building) == (GRID_B1, world.units[COMMUNITY_B])


@pytest.mark.parametrize(("value", "assigned"), [("on", False), ("", True), ("off", True)])
def test_bulk_mode_turns_the_trigger_off_only_for_the_exact_value_on(
    db: Session, world: World, value: str, assigned: bool
) -> None:
    db.execute(text("SELECT set_config('wangge.bulk_assign', :v, true)"), {"v": value})
    incident = add_incident(db, f"BULK-{value or 'empty'}", 117.0025, 36.6025)
    expected = (GRID_A1, world.units[COMMUNITY_A]) if assigned else (None, None)
    assert filing(db, Incident, incident) == expected
    db.execute(text("SELECT set_config('wangge.bulk_assign', '', true)"))
    if not assigned:
        assert assign.assign_all(db) == {"buildings": 0, "places": 0, "incidents": 1}
        assert filing(db, Incident, incident) == (GRID_A1, world.units[COMMUNITY_A])


def test_an_unset_bulk_setting_reads_as_null_and_assigns(db: Session, world: World) -> None:
    setting = db.execute(text("SELECT current_setting('wangge.bulk_assign', true)")).scalar()
    assert setting in (None, "")  # NULL on a fresh connection, '' on a reused one
    incident = add_incident(db, "BULK-unset", 117.0075, 36.6025)
    assert filing(db, Incident, incident) == (GRID_A2, world.units[COMMUNITY_A])


# --------------------------------------------------------------------------------------------
# The bulk path gives the function's answers
# --------------------------------------------------------------------------------------------

_LATTICE_ROWS = {
    "incidents": "r.code LIKE 'L-%'",
    "buildings": "r.code LIKE 'L-%'",
    "places": "r.name LIKE 'L-%'",
}


def _lattice_count(db: Session, table: str, condition: str) -> int:
    statement = f"SELECT count(*) FROM {table} AS r WHERE {_LATTICE_ROWS[table]} AND {condition}"  # noqa: S608
    return int(db.execute(text(statement)).scalar_one())


def test_the_grid_driven_bulk_path_agrees_with_wangge_grid_at_on_every_row(
    db: Session, world: World
) -> None:
    add_extra_grids(db, world)
    made = add_lattice(db)
    # The lattice puts many points on shared edges and corners, where the tie rule decides.
    ties = _lattice_count(
        db,
        "incidents",
        "(SELECT count(*) FROM grids AS g WHERE g.valid_to IS NULL AND g.kind <> 'micro' "
        "AND ST_Covers(g.geom, r.geom)) > 1",
    )
    assert ties >= 20
    covered = {}
    for table, model in (("incidents", Incident), ("buildings", Building), ("places", Place)):
        db.execute(
            update(model).where(model.id.in_(made[table])).values(grid_id=None, community_id=None)
        )
        covered[table] = _lattice_count(db, table, "wangge_grid_at(r.geom) IS NOT NULL")
    assert 0 < covered["incidents"] < len(made["incidents"])

    changed = assign.assign_all(db)
    mismatch = (
        "r.grid_id IS DISTINCT FROM wangge_grid_at(r.geom) OR r.community_id IS DISTINCT FROM "
        "(SELECT g.community_id FROM grids AS g WHERE g.id = wangge_grid_at(r.geom))"
    )
    for table in _LATTICE_ROWS:
        assert changed[table] >= covered[table], table
        assert _lattice_count(db, table, mismatch) == 0, table
        assert _lattice_count(db, table, "r.grid_id IS NOT NULL") == covered[table], table
    # the statement the benchmark times is the same SQL
    hits = text(
        f"SELECT count(*) FROM ({assign.hits_query('incidents')}) AS h "  # noqa: S608
        "JOIN incidents AS r ON r.id = h.id "
        f"WHERE {_LATTICE_ROWS['incidents']} AND h.grid_id = wangge_grid_at(r.geom)"
    )
    assert db.execute(hits).scalar_one() == covered["incidents"]
    assert assign.assign_all(db) == {"buildings": 0, "places": 0, "incidents": 0}


# --------------------------------------------------------------------------------------------
# assign_rows: scopes and dry runs
# --------------------------------------------------------------------------------------------


def _unfile(db: Session, model: type, ids: list[int]) -> None:
    db.execute(update(model).where(model.id.in_(ids)).values(grid_id=None, community_id=None))


def test_assign_rows_by_ids_touches_only_those_rows(db: Session, world: World) -> None:
    b1, b2, b3 = world.buildings["1"], world.buildings["2"], world.buildings["3"]
    _unfile(db, Building, [b1, b2, b3])
    assert assign.assign_rows(db, table="buildings", ids=[b1, b2], dry_run=True) == 2
    assert filing(db, Building, b1) == (None, None)  # a dry run writes nothing
    assert assign.assign_rows(db, table="buildings", ids=[b1, b2]) == 2
    assert filing(db, Building, b1) == (GRID_A1, world.units[COMMUNITY_A])
    assert filing(db, Building, b2) == (GRID_A2, world.units[COMMUNITY_A])
    assert filing(db, Building, b3) == (None, None)
    assert assign.assign_rows(db, table="buildings", ids=[]) == 0


def test_assign_rows_by_ids_on_the_bulk_path(
    db: Session, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(assign, "POINT_DRIVEN_MAX_IDS", 1)
    ids = [world.incidents["a1"], world.incidents["b1"]]
    _unfile(db, Incident, ids)
    assert assign.assign_rows(db, table="incidents", ids=ids) == 2
    assert filing(db, Incident, ids[0]) == (GRID_A1, world.units[COMMUNITY_A])
    assert filing(db, Incident, ids[1]) == (GRID_B1, world.units[COMMUNITY_B])


def test_assign_rows_within_a_shape(db: Session, world: World) -> None:
    everything = list(world.buildings.values())
    _unfile(db, Building, everything)
    community_b = box(117.010, 36.600, 117.020, 36.610)
    assert assign.assign_rows(db, table="buildings", within=community_b) == 2
    assert filing(db, Building, world.buildings["3"]) == (GRID_B1, world.units[COMMUNITY_B])
    assert filing(db, Building, world.buildings["4"]) == (GRID_B2, world.units[COMMUNITY_B])
    assert filing(db, Building, world.buildings["1"]) == (None, None)
    # within and ids together: only rows in both
    _unfile(db, Building, everything)
    both = assign.assign_rows(
        db, table="buildings", within=community_b, ids=[world.buildings["1"], world.buildings["3"]]
    )
    assert both == 1
    assert filing(db, Building, world.buildings["3"]) == (GRID_B1, world.units[COMMUNITY_B])
    assert filing(db, Building, world.buildings["4"]) == (None, None)
    with pytest.raises(InvalidInput):
        assign.assign_rows(db, table="buildings", within=Polygon())


def test_a_row_no_grid_covers_is_cleared(db: Session, world: World) -> None:
    incident = world.incidents["b1"]
    db.execute(text("SELECT set_config('wangge.bulk_assign', 'on', true)"))
    db.execute(
        update(Incident)
        .where(Incident.id == incident)
        .values(geom=from_shape(Point(117.025, 36.605), 4326))
    )
    db.execute(text("SELECT set_config('wangge.bulk_assign', '', true)"))
    assert filing(db, Incident, incident)[0] == GRID_B1  # stale until assigned
    assert assign.assign_rows(db, table="incidents", ids=[incident]) == 1
    assert filing(db, Incident, incident) == (None, None)


def test_an_unknown_table_is_refused(db: Session) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        assign.assign_rows(db, table="persons")
    assert excinfo.value.field == "table"
    assert "buildings" in excinfo.value.message_en and "表" in excinfo.value.message_zh


# --------------------------------------------------------------------------------------------
# After a grid edit
# --------------------------------------------------------------------------------------------


def test_reassign_after_a_merge_moves_the_rows_of_the_changed_grids_only(
    db: Session, world: World
) -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    old = [world.grids[GRID_A1], world.grids[GRID_A2]]
    db.execute(update(Grid).where(Grid.id.in_(old)).values(valid_to=now))
    merged_code = COMMUNITY_A + "003"
    merged = add_grid(db, merged_code, box(117.000, 36.600, 117.010, 36.610), valid_from=now)
    # A stale row far from the edit: the reassignment must not look at it.
    _unfile(db, Building, [world.buildings["4"]])

    preview = assign.reassign_after_grid_change(db, changed_grid_ids=[*old, merged], dry_run=True)
    assert preview == {"buildings": 2, "places": 1, "incidents": 1}
    assert filing(db, Building, world.buildings["1"])[0] == GRID_A1

    moved = assign.reassign_after_grid_change(db, changed_grid_ids=[*old, merged])
    assert moved == preview
    comm_a = world.units[COMMUNITY_A]
    assert filing(db, Building, world.buildings["1"]) == (merged_code, comm_a)
    assert filing(db, Building, world.buildings["2"]) == (merged_code, comm_a)
    assert filing(db, Place, world.places["school"]) == (merged_code, comm_a)
    assert filing(db, Incident, world.incidents["a1"]) == (merged_code, comm_a)
    assert filing(db, Building, world.buildings["3"])[0] == GRID_B1
    assert filing(db, Building, world.buildings["4"]) == (None, None)  # untouched
    assert assign.reassign_after_grid_change(db, changed_grid_ids=[]) == dict.fromkeys(
        assign.ASSIGNED_TABLES, 0
    )


def test_reassign_moves_rows_still_filed_under_a_closed_version_elsewhere(
    db: Session, world: World
) -> None:
    # A row wrongly filed under A1 although it lies in B2: closing A1 must still move it.
    b4 = world.buildings["4"]
    db.execute(
        update(Building)
        .where(Building.id == b4)
        .values(grid_id=world.grids[GRID_A1], community_id=world.units[COMMUNITY_A])
    )
    db.execute(
        update(Grid)
        .where(Grid.id == world.grids[GRID_A1])
        .values(valid_to=datetime(2026, 11, 1, tzinfo=UTC))
    )
    moved = assign.reassign_after_grid_change(db, changed_grid_ids=[world.grids[GRID_A1]])
    assert moved["buildings"] == 2  # building 1 (now in no grid) and building 4
    assert filing(db, Building, b4) == (GRID_B2, world.units[COMMUNITY_B])
    assert filing(db, Building, world.buildings["1"]) == (None, None)


# --------------------------------------------------------------------------------------------
# Review list
# --------------------------------------------------------------------------------------------


def test_rows_outside_every_grid_are_listed_with_the_nearest_grid_in_metres(
    db: Session, world: World
) -> None:
    # A decoy grid that is nearer in degrees (north, 0.0035°) but farther in metres than B2
    # (east, 0.004° of longitude ≈ 0.8 × 0.004° at this latitude): the exact re-sort decides.
    add_grid(db, COMMUNITY_B + "007", box(117.0225, 36.6060, 117.0260, 36.6070))
    outside = add_incident(db, "OUT-1", 117.0240, 36.6025)
    admin = load_principal(db, world.users["t_admin"])  # the district: 116.99..117.03
    rows = assign.unassigned_rows(db, principal=admin)
    assert [(r.table, r.id) for r in rows] == [("incidents", outside)]
    [row] = rows
    assert (row.lon, row.lat) == (117.0240, 36.6025)
    assert row.nearest_grid_code == GRID_B2
    _, _, expected = Geod(ellps="WGS84").inv(117.0240, 36.6025, 117.0200, 36.6025)
    assert row.distance_m == pytest.approx(expected, abs=0.5)
    assert row.label == "OUT-1 附加事件OUT-1"


def test_the_review_list_keeps_to_the_users_area(db: Session, world: World) -> None:
    inside_b = add_incident(db, "OUT-B", 117.0150, 36.6025)
    db.execute(update(Incident).where(Incident.id == inside_b).values(grid_id=None))
    street = load_principal(db, world.users["t_street"])
    community_a = load_principal(db, world.users["t_ca_a"])
    assert [r.id for r in assign.unassigned_rows(db, table="incidents", principal=street)] == [
        inside_b
    ]
    assert assign.unassigned_rows(db, table="incidents", principal=community_a) == []
    [row] = assign.unassigned_rows(db, table="incidents", principal=street)
    assert row.nearest_grid_code == GRID_B2
    assert row.distance_m == 0.0  # covered, loaded in bulk mode and not yet assigned


# --------------------------------------------------------------------------------------------
# Command line: wangge assign / locate / review
# --------------------------------------------------------------------------------------------


def _cli(db: Session, *args: str) -> Result:
    @contextmanager
    def opener() -> Iterator[Session]:
        with db.begin_nested():  # like the CLI's own transaction, inside the test's
            yield db

    return CliRunner().invoke(cli.app, list(args), obj={"session": opener})


def test_cli_assign_is_a_dry_run_unless_commit(db: Session, world: World) -> None:
    _unfile(db, Building, [world.buildings["1"], world.buildings["2"]])
    _unfile(db, Incident, [world.incidents["b1"]])
    dry = _cli(db, "assign")
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and "would change" in dry.output
    assert "Dry run: 3 rows would change; nothing was written." in dry.output
    assert filing(db, Building, world.buildings["1"]) == (None, None)

    one = _cli(db, "assign", "--table", "incidents", "--commit")
    assert one.exit_code == 0, one.output
    assert "Committed: 1 rows changed." in one.output and "buildings" not in one.output
    assert filing(db, Incident, world.incidents["b1"]) == (GRID_B1, world.units[COMMUNITY_B])

    done = _cli(db, "assign", "--commit")
    assert done.exit_code == 0, done.output
    assert "Committed: 2 rows changed." in done.output
    assert filing(db, Building, world.buildings["2"]) == (GRID_A2, world.units[COMMUNITY_A])


def test_cli_assign_refuses_an_unknown_table(db: Session) -> None:
    result = _cli(db, "assign", "--table", "persons")
    assert result.exit_code == 2
    assert "persons" in result.output


def test_cli_locate_as_operator_masks_staff_and_audits(db: Session, world: World) -> None:
    result = _cli(db, "locate", "117.0025", "36.605")
    assert result.exit_code == 0, result.output
    assert f"grid     {GRID_A1} 测试网格1001 (basic)" in result.output
    assert "staff    leader: 测******* 137****2222" in result.output
    assert "building T-1 " in result.output
    audit = db.execute(
        select(AuditLog).where(AuditLog.username == "cli", AuditLog.at >= func.now())
    ).scalar_one()
    assert (audit.resource, audit.unmasked) == ("grids", False)


def test_cli_locate_as_a_user_follows_their_area(db: Session, world: World) -> None:
    mine = _cli(db, "locate", "117.0025", "36.605", "--user", "t_gw_a")
    assert mine.exit_code == 0, mine.output
    assert "13711112222" in mine.output
    theirs = _cli(db, "locate", "117.015", "36.6025", "--user", "t_gw_a")
    assert theirs.exit_code == 1
    assert "There is no grid of your area" in theirs.output and "辖区" in theirs.output
    nobody = _cli(db, "locate", "117.0025", "36.605", "--user", "nobody")
    assert nobody.exit_code == 1 and "No account 'nobody'" in nobody.output


def test_cli_locate_outside_and_bad_input(db: Session, world: World) -> None:
    outside = _cli(db, "locate", "117.010", "36.595")
    assert outside.exit_code == 0, outside.output
    assert "status   outside" in outside.output
    assert f"nearest  {GRID_A2} 测试网格1002 " in outside.output
    swapped = _cli(db, "locate", "36.605", "117.0025")
    assert swapped.exit_code == 1 and "lon,lat" in swapped.output
    unknown = _cli(db, "locate", "117.0", "36.6", "--crs", "EPSG:99999")
    assert unknown.exit_code == 1 and "EPSG:99999" in unknown.output


def test_cli_review_lists_rows_outside_every_grid(db: Session, world: World) -> None:
    add_incident(db, "CLI-OUT", 117.0240, 36.6025)
    result = _cli(db, "review", "--table", "incidents", "--limit", "100000")
    assert result.exit_code == 0, result.output
    assert "CLI-OUT" in result.output and GRID_B2 in result.output
