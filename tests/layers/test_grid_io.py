"""Import and export of grid layers: formats, CRS, attribute mapping, codes, versions."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pyogrio
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

import geopandas as gpd
import prcoords
import shapely
from geoalchemy2.shape import to_shape
from shapely.geometry import Polygon, box

from layers.access import Principal
from layers.errors import Forbidden, InvalidInput, NotFound, UnknownCRS
from layers.grids.io import export_grids, import_grids, read_layer_file
from layers.models import AuditLog, Building, Grid, GridCode, GridLineage
from layers.users import load_principal
from tests.fixtures.coverage import COMMUNITY_C, CoverageWorld, build_coverage_world
from tests.fixtures.world import (
    COMMUNITY_A,
    COMMUNITY_B,
    GRID_A1,
    GRID_A2,
    GRID_B1,
    GRID_BOXES,
    World,
)

GRID_A3 = COMMUNITY_A + "003"


@pytest.fixture
def planner(db: Session, world: World) -> Principal:
    """The planner of the world's street."""
    return load_principal(db, world.users["t_planner"])


def _frame(rows: list[dict[str, Any]], crs: str | None = "EPSG:4326") -> gpd.GeoDataFrame:
    geoms = [r["geometry"] for r in rows]
    attributes = [{k: v for k, v in r.items() if k != "geometry"} for r in rows]
    return gpd.GeoDataFrame(attributes, geometry=geoms, crs=crs)


def _bytes(frame: gpd.GeoDataFrame, fmt: str, tmp_path: Path, *, prj: bool = True) -> bytes:
    """A frame written as a file of the given format (shp: a zip of its parts)."""
    if fmt == "shp":
        folder = tmp_path / "shp"
        folder.mkdir(exist_ok=True)
        pyogrio.write_dataframe(frame, folder / "grids.shp", encoding="UTF-8")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for part in folder.iterdir():
                if prj or part.suffix != ".prj":
                    archive.write(part, part.name)
        return buffer.getvalue()
    path = tmp_path / f"grids.{fmt}"
    pyogrio.write_dataframe(frame, path)
    return path.read_bytes()


def _world_a_rows() -> list[dict[str, Any]]:
    return [
        {"code": code, "name": f"测试网格{code[-4:]}", "geometry": box(*GRID_BOXES[code])}
        for code in (GRID_A1, GRID_A2)
    ]


def _versions(db: Session, prefix: str = "370199") -> list[tuple[str, int, bool]]:
    rows = db.execute(
        select(Grid.code, Grid.version, Grid.valid_to.is_(None))
        .where(Grid.code.startswith(prefix))
        .order_by(Grid.code, Grid.version)
    )
    return [tuple(r) for r in rows]


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "media_type", "suffix"),
    [
        ("geojson", "application/geo+json", ".geojson"),
        ("gpkg", "application/geopackage+sqlite3", ".gpkg"),
        ("shp", "application/zip", ".zip"),
        ("kml", "application/vnd.google-earth.kml+xml", ".kml"),
    ],
)
def test_export_writes_every_format_with_codes_names_and_geometry(
    db: Session, planner: Principal, fmt: str, media_type: str, suffix: str
):
    exported = export_grids(db, planner, parent_code=COMMUNITY_A, fmt=fmt)
    assert exported.media_type == media_type
    assert exported.filename.startswith(f"grids_{COMMUNITY_A}_") and exported.filename.endswith(
        suffix
    )
    assert exported.count == 2
    layer = read_layer_file(exported.content, exported.filename)
    frame = layer.frame
    assert layer.detected_crs == "EPSG:4326"
    assert list(frame["code"]) == [GRID_A1, GRID_A2]
    names = frame["Name"] if fmt == "kml" else frame["name"]
    assert list(names) == ["测试网格1001", "测试网格1002"]
    for code, geom in zip(frame["code"], frame.geometry, strict=True):
        assert shapely.equals(geom, box(*GRID_BOXES[code]))
    sizhi = "东至测试路，南至测试南街，西至测试西路，北至测试北路"
    assert list(frame["sizhi"]) == [sizhi, sizhi]


def test_export_at_a_date_and_in_a_projected_crs(db: Session, planner: Principal):
    before = export_grids(
        db,
        planner,
        parent_code=COMMUNITY_A,
        fmt="geojson",
        at=datetime.fromisoformat("2025-06-01T00:00:00+08:00"),
    )
    assert before.count == 0  # the world's grids are valid from 2026-01-01
    street = export_grids(db, planner, parent_code="370199001000", fmt="gpkg")
    assert street.count == 4

    projected = export_grids(db, planner, parent_code=COMMUNITY_A, fmt="gpkg", crs="EPSG:4527")
    layer = read_layer_file(projected.content, projected.filename)
    assert layer.detected_crs == "EPSG:4527"
    minx, miny, maxx, _ = layer.frame.total_bounds
    # CGCS2000 3° Gauss-Krüger zone 39 (central meridian 117°E, false easting 39 500 000 m)
    assert 39_499_000 < minx < 39_501_000 and 4_050_000 < miny < 4_055_000
    assert maxx - minx == pytest.approx(893.8, abs=2)  # 0.010° of longitude at 36.6°N


def test_export_refuses_a_bad_format_crs_or_parent(db: Session, planner: Principal, world: World):
    with pytest.raises(InvalidInput) as caught:
        export_grids(db, planner, parent_code=COMMUNITY_A, fmt="dxf")
    assert caught.value.field == "format"
    with pytest.raises(InvalidInput) as caught:
        export_grids(db, planner, parent_code=COMMUNITY_A, fmt="kml", crs="EPSG:4527")
    assert caught.value.field == "crs"
    community_admin = load_principal(db, world.users["t_ca_a"])
    with pytest.raises(NotFound):
        export_grids(db, community_admin, parent_code=COMMUNITY_B, fmt="geojson")


# --------------------------------------------------------------------------------------------
# Import: round trips
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp", "kml"])
def test_exported_layer_imports_back_unchanged(db: Session, planner: Principal, fmt: str):
    exported = export_grids(db, planner, parent_code=COMMUNITY_A, fmt=fmt)
    before = _versions(db)
    report = import_grids(
        db, planner, data=exported.content, filename=exported.filename,
        parent_code=COMMUNITY_A, commit=True,
    )  # fmt: skip
    assert report.counts() == {"create": 0, "new_version": 0, "unchanged": 2, "error": 0}
    assert report.coverage is not None and report.coverage.problems == []
    assert report.committable and report.committed
    assert report.crs_used == "EPSG:4326"
    assert _versions(db) == before  # nothing to write


def test_projected_export_imports_back_unchanged(db: Session, planner: Principal):
    exported = export_grids(db, planner, parent_code=COMMUNITY_A, fmt="gpkg", crs="EPSG:4527")
    report = import_grids(
        db, planner, data=exported.content, filename=exported.filename, parent_code=COMMUNITY_A
    )
    assert (report.crs_detected, report.crs_used) == ("EPSG:4527", "EPSG:4527")
    assert report.counts()["unchanged"] == 2


# --------------------------------------------------------------------------------------------
# Import: writing new versions
# --------------------------------------------------------------------------------------------


def test_import_with_replace_writes_versions_registers_and_retires_codes(
    db: Session, world: World, planner: Principal, tmp_path: Path
):
    rows = [
        {"code": GRID_A1, "name": "测试网格1001", "geometry": box(117.0, 36.6, 117.004, 36.61)},
        {"code": GRID_A3, "name": "新网格", "geometry": box(117.004, 36.6, 117.01, 36.61)},
    ]
    data = _bytes(_frame(rows), "gpkg", tmp_path)

    dry = import_grids(
        db, planner, data=data, filename="new.gpkg", parent_code=COMMUNITY_A, replace=True
    )
    assert [(f.code, f.action, f.new_version) for f in dry.features] == [
        (GRID_A1, "new_version", 2),
        (GRID_A3, "create", 1),
    ]
    assert dry.retire == [GRID_A2]
    assert dry.coverage is not None and dry.coverage.problems == []
    assert not dry.committed
    assert _versions(db, COMMUNITY_A) == [(GRID_A1, 1, True), (GRID_A2, 1, True)]

    old_a1 = world.grids[GRID_A1]
    done = import_grids(
        db, planner, data=data, filename="new.gpkg", parent_code=COMMUNITY_A, replace=True,
        commit=True,
    )  # fmt: skip
    assert done.committed
    assert _versions(db, COMMUNITY_A) == [
        (GRID_A1, 1, False),
        (GRID_A1, 2, True),
        (GRID_A2, 1, False),
        (GRID_A3, 1, True),
    ]
    new_a1 = db.scalars(select(Grid).where(Grid.code == GRID_A1, Grid.version == 2)).one()
    assert shapely.equals(to_shape(new_a1.geom), box(117.000, 36.600, 117.004, 36.610))
    assert new_a1.created_by == planner.user_id
    lineage = db.scalars(select(GridLineage).where(GridLineage.grid_id == new_a1.id)).one()
    assert (lineage.source_grid_id, lineage.relation) == (old_a1, "reshape")
    codes = {
        c.code: c for c in db.scalars(select(GridCode).where(GridCode.code.startswith(COMMUNITY_A)))
    }
    assert codes[GRID_A3].community_id == world.units[COMMUNITY_A]
    assert codes[GRID_A2].retired_at is not None and codes[GRID_A1].retired_at is None
    # building 2 (lon 117.0075) now lies in the new grid A3
    building_2 = db.get(Building, world.buildings["2"])
    assert building_2 is not None
    db.refresh(building_2)
    a3 = db.scalars(select(Grid.id).where(Grid.code == GRID_A3)).one()
    assert building_2.grid_id == a3
    audit = db.scalars(select(AuditLog).where(AuditLog.action == "import")).one()
    assert audit.detail["created"] == [GRID_A3] and audit.detail["retired"] == [GRID_A2]

    # the retired code can never come back
    again = import_grids(
        db, planner, data=_bytes(_frame(_world_a_rows()), "geojson", tmp_path),
        filename="old.geojson", parent_code=COMMUNITY_A,
    )  # fmt: skip
    (a2,) = [f for f in again.features if f.code == GRID_A2]
    assert a2.action == "error"
    assert a2.errors[0]["message_zh"] == f"网格编码 {GRID_A2} 已撤销，不能再次使用"


def test_feature_errors_are_reported_and_block_the_commit(
    db: Session, planner: Principal, tmp_path: Path
):
    bowtie = Polygon([(117.005, 36.600), (117.010, 36.610), (117.010, 36.600), (117.005, 36.610)])
    a1, a2, b1 = (box(*GRID_BOXES[c]) for c in (GRID_A1, GRID_A2, GRID_B1))
    sizhi = "东至测试路，南至测试南街，西至测试西路，北至测试北路"
    rows = [
        {"code": GRID_A1, "name": "测试网格1001", "kind": "基础网格", "geometry": a1},
        {"code": "37019900100100", "name": "短码", "kind": "basic", "geometry": box(0, 0, 1, 1)},
        {"code": GRID_B1, "name": "别的社区", "kind": "basic", "geometry": b1},
        {"code": GRID_A1, "name": "重复", "kind": "basic", "geometry": a1},
        {"code": GRID_A2, "name": "", "kind": "basic", "geometry": a2},
        {"code": GRID_A3, "name": "自相交", "kind": "basic", "geometry": bowtie},
        {"code": COMMUNITY_A + "004", "name": "怪类型", "kind": "大网格", "geometry": a2},
    ]
    for row in rows:
        row["sizhi"] = sizhi
    data = _bytes(_frame(rows), "geojson", tmp_path)
    before = _versions(db)

    report = import_grids(db, planner, data=data, filename="bad.geojson", parent_code=COMMUNITY_A)
    errors = {f.index: [(e["field"], e["message_en"]) for e in f.errors] for f in report.features}
    assert errors[0] == []
    assert errors[1] == [("code", "Grid code '37019900100100' is not 15 digits")]
    assert errors[2] == [
        ("code", f"Grid code {GRID_B1} does not start with the code of community {COMMUNITY_A}")
    ]
    assert errors[3] == [
        ("code", f"Grid code {GRID_A1} appears twice in the file (features 0 and 3)")
    ]
    assert errors[4] == [("name", "The grid name is missing")]
    assert [f for f, _ in errors[5]] == ["geometry"]
    assert report.features[5].errors[0]["reason"] == "Self-intersection"
    assert errors[6] == [("kind", "Unknown grid kind '大网格': use basic, micro or special")]
    assert report.features[0].action == "unchanged"
    assert report.error_count == 6 and not report.committable

    with pytest.raises(InvalidInput) as caught:
        import_grids(
            db, planner, data=data, filename="bad.geojson", parent_code=COMMUNITY_A, commit=True
        )
    assert caught.value.field == "file"
    assert caught.value.extra["report"]["errors"] == 6
    assert _versions(db) == before


def test_coverage_errors_block_the_commit_slivers_do_not(
    db: Session, planner: Principal, tmp_path: Path
):
    gap = [
        {"code": GRID_A1, "name": "a1", "geometry": box(117.000, 36.600, 117.004, 36.610)},
        {"code": GRID_A2, "name": "a2", "geometry": box(117.005, 36.600, 117.010, 36.610)},
    ]
    with pytest.raises(InvalidInput) as caught:
        import_grids(
            db, planner, data=_bytes(_frame(gap), "geojson", tmp_path), filename="gap.geojson",
            parent_code=COMMUNITY_A, commit=True,
        )  # fmt: skip
    assert caught.value.extra["report"]["coverage"]["by_kind"] == {"gap": 1}
    sliver = 0.1 / 89_450  # 0.1 m of longitude
    thin = [
        {"code": GRID_A1, "name": "a1", "geometry": box(117.000, 36.600, 117.005 - sliver, 36.610)},
        {"code": GRID_A2, "name": "a2", "geometry": box(117.005, 36.600, 117.010, 36.610)},
    ]
    report = import_grids(
        db, planner, data=_bytes(_frame(thin), "gpkg", tmp_path), filename="thin.gpkg",
        parent_code=COMMUNITY_A, commit=True,
    )  # fmt: skip
    assert report.committed
    assert report.coverage is not None
    assert [(p.severity, p.kind) for p in report.coverage.problems] == [("sliver", "gap")]


# --------------------------------------------------------------------------------------------
# Import: coordinate systems
# --------------------------------------------------------------------------------------------


def _to_gcj(geom: Any) -> Any:
    def convert(coords: Any) -> Any:
        out = coords.copy()
        for i, (lon, lat) in enumerate(coords):
            moved = prcoords.wgs_gcj(prcoords.Coords(lat, lon))
            out[i] = (moved.lon, moved.lat)
        return out

    return shapely.transform(geom, convert)


def test_gcj02_must_be_declared(db: Session, planner: Principal, tmp_path: Path):
    rows = [
        {"code": code, "name": f"测试网格{code[-4:]}", "geometry": _to_gcj(box(*GRID_BOXES[code]))}
        for code in (GRID_A1, GRID_A2)
    ]
    data = _bytes(_frame(rows), "geojson", tmp_path)  # GCJ-02 numbers labelled WGS-84

    declared = import_grids(
        db, planner, data=data, filename="amap.geojson", parent_code=COMMUNITY_A, crs="GCJ-02"
    )
    assert (declared.crs_detected, declared.crs_used) == ("EPSG:4326", "GCJ02")
    for feature in declared.features:
        stored = shapely.from_wkb(feature.wkb)
        assert stored.hausdorff_distance(box(*GRID_BOXES[feature.code])) < 1e-6  # < 0.1 m
    assert declared.coverage is not None and declared.coverage.valid

    undeclared = import_grids(
        db, planner, data=data, filename="amap.geojson", parent_code=COMMUNITY_A
    )
    assert undeclared.crs_used == "EPSG:4326"
    # read as WGS-84 the grids sit hundreds of metres off: leaks and a gap
    assert undeclared.coverage is not None
    assert undeclared.coverage.count(kind="leak") == 2
    assert undeclared.coverage.count(kind="gap") >= 1


def test_a_shapefile_without_prj_needs_a_declared_crs(
    db: Session, planner: Principal, tmp_path: Path
):
    data = _bytes(_frame(_world_a_rows()), "shp", tmp_path, prj=False)
    with pytest.raises(UnknownCRS) as caught:
        import_grids(db, planner, data=data, filename="grids.zip", parent_code=COMMUNITY_A)
    assert caught.value.field == "crs"
    report = import_grids(
        db, planner, data=data, filename="grids.zip", parent_code=COMMUNITY_A, crs="CGCS2000"
    )
    assert (report.crs_detected, report.crs_used) == (None, "EPSG:4490")
    assert report.counts()["unchanged"] == 2


@pytest.mark.filterwarnings("ignore:'crs' was not provided:UserWarning")
def test_projected_coordinates_read_as_degrees_are_refused(
    db: Session, planner: Principal, tmp_path: Path
):
    frame = _frame(_world_a_rows()).to_crs("EPSG:4527").set_crs(None, allow_override=True)
    data = _bytes(frame, "shp", tmp_path, prj=False)
    with pytest.raises(InvalidInput) as caught:
        import_grids(
            db, planner, data=data, filename="gk.zip", parent_code=COMMUNITY_A, crs="WGS84"
        )
    assert caught.value.field == "crs"
    assert "EPSG:4527" in caught.value.message_en
    report = import_grids(
        db, planner, data=data, filename="gk.zip", parent_code=COMMUNITY_A, crs="EPSG:4527"
    )
    assert report.counts()["unchanged"] == 2


# --------------------------------------------------------------------------------------------
# Import: attributes and files
# --------------------------------------------------------------------------------------------


def test_chinese_columns_are_recognised_and_kinds_translated(
    db: Session, planner: Principal, tmp_path: Path
):
    rows = [
        {"网格编码": GRID_A1, "网格名称": "一号网格", "类型": "专属网格", "规模类型": "小区",
         "四至": "东至测试路", "geometry": box(*GRID_BOXES[GRID_A1])},
        {"网格编码": GRID_A2, "网格名称": "二号网格", "类型": "基础网格", "规模类型": "平房",
         "四至": None, "geometry": box(*GRID_BOXES[GRID_A2])},
    ]  # fmt: skip
    report = import_grids(
        db, planner, data=_bytes(_frame(rows), "gpkg", tmp_path), filename="cn.gpkg",
        parent_code=COMMUNITY_A,
    )  # fmt: skip
    assert report.mapping == {
        "code": "网格编码",
        "name": "网格名称",
        "kind": "类型",
        "sizing_type": "规模类型",
        "sizhi": "四至",
    }
    assert [(f.kind, f.sizing_type, f.sizhi, f.action) for f in report.features] == [
        ("special", "compound", "东至测试路", "new_version"),
        ("basic", "bungalow", None, "new_version"),
    ]


def test_explicit_mapping_and_its_errors(db: Session, planner: Principal, tmp_path: Path):
    rows = [
        {"GRID_NO": GRID_A1, "TITLE": "测试网格1001", "geometry": box(*GRID_BOXES[GRID_A1])},
        {"GRID_NO": GRID_A2, "TITLE": "测试网格1002", "geometry": box(*GRID_BOXES[GRID_A2])},
    ]
    data = _bytes(_frame(rows), "geojson", tmp_path)
    with pytest.raises(InvalidInput) as caught:
        import_grids(db, planner, data=data, filename="x.geojson", parent_code=COMMUNITY_A)
    assert caught.value.field == "mapping"  # no code column under a known name
    report = import_grids(
        db, planner, data=data, filename="x.geojson", parent_code=COMMUNITY_A,
        mapping={"code": "GRID_NO", "name": "TITLE"},
    )  # fmt: skip
    assert report.counts()["unchanged"] == 2
    for bad in ({"code": "NOPE"}, {"colour": "TITLE"}):
        with pytest.raises(InvalidInput) as caught:
            import_grids(
                db, planner, data=data, filename="x.geojson", parent_code=COMMUNITY_A, mapping=bad
            )
        assert caught.value.field == "mapping"


@pytest.mark.parametrize(
    ("filename", "content", "field"),
    [
        ("grids.dxf", b"0\nSECTION", "file"),
        ("grids.gpkg", b"not a geopackage", "file"),
        ("grids.zip", b"PK\x05\x06" + b"\x00" * 18, "file"),
        ("grids.geojson", b"", "file"),
        ("grids.geojson", b'{"type": "FeatureCollection", "features": []}', "file"),
    ],
)
def test_unreadable_files_are_refused(
    db: Session, planner: Principal, filename: str, content: bytes, field: str
):
    with pytest.raises(InvalidInput) as caught:
        import_grids(db, planner, data=content, filename=filename, parent_code=COMMUNITY_A)
    assert caught.value.field == field
    assert caught.value.message_zh


def test_a_geopackage_with_several_layers_needs_the_layer_named(
    db: Session, planner: Principal, tmp_path: Path
):
    path = tmp_path / "two.gpkg"
    pyogrio.write_dataframe(_frame(_world_a_rows()), path, layer="grids")
    pyogrio.write_dataframe(_frame(_world_a_rows()), path, layer="grids_old", append=False)
    data = path.read_bytes()
    with pytest.raises(InvalidInput) as caught:
        import_grids(db, planner, data=data, filename="two.gpkg", parent_code=COMMUNITY_A)
    assert caught.value.field == "layer"
    report = import_grids(
        db, planner, data=data, filename="two.gpkg", parent_code=COMMUNITY_A, layer="grids"
    )
    assert report.layer == "grids" and report.counts()["unchanged"] == 2


def test_roles_and_areas(db: Session, world: World, planner: Principal, tmp_path: Path):
    cw: CoverageWorld = build_coverage_world(db, world)
    data = _bytes(_frame(_world_a_rows()), "geojson", tmp_path)
    community_admin = load_principal(db, world.users["t_ca_a"])
    with pytest.raises(Forbidden):
        import_grids(db, community_admin, data=data, filename="a.geojson", parent_code=COMMUNITY_A)
    with pytest.raises(NotFound):
        import_grids(db, planner, data=data, filename="a.geojson", parent_code=COMMUNITY_C)
    other = load_principal(db, cw.users["t_planner2"])
    with pytest.raises(NotFound):
        export_grids(db, other, parent_code=COMMUNITY_A, fmt="geojson")
    # a parent street: codes of any of its communities are accepted
    street = import_grids(db, planner, data=data, filename="a.geojson", parent_code="370199001000")
    assert street.counts()["unchanged"] == 2
    assert db.scalar(text("SELECT count(*) FROM grid_codes WHERE code LIKE '370199002%'")) == 7


def test_micro_grids_import_outside_the_coverage_with_their_parent_grid(
    db: Session, planner: Principal, tmp_path: Path
):
    rows = [
        {"code": GRID_A1, "name": "测试网格1001", "kind": "basic", "上级网格": None,
         "geometry": box(*GRID_BOXES[GRID_A1])},
        {"code": GRID_A2, "name": "测试网格1002", "kind": "basic", "上级网格": None,
         "geometry": box(*GRID_BOXES[GRID_A2])},
        {"code": COMMUNITY_A + "101", "name": "微网格一", "kind": "微网格", "上级网格": GRID_A1,
         "geometry": box(117.001, 36.601, 117.002, 36.602)},
        {"code": COMMUNITY_A + "102", "name": "微网格二", "kind": "micro",
         "上级网格": COMMUNITY_A + "999", "geometry": box(117.006, 36.601, 117.007, 36.602)},
    ]  # fmt: skip
    data = _bytes(_frame(rows), "gpkg", tmp_path)
    report = import_grids(db, planner, data=data, filename="m.gpkg", parent_code=COMMUNITY_A)
    assert [(f.kind, f.action) for f in report.features] == [
        ("basic", "unchanged"),  # no 四至 column: the current 四至 is kept
        ("basic", "unchanged"),
        ("micro", "create"),
        ("micro", "error"),
    ]
    assert report.features[3].errors[0]["message_en"] == (
        f"Parent grid {COMMUNITY_A}999 does not exist (or is retired)"
    )
    # the micro-grid lies inside A1 but is not part of the coverage: no overlap
    assert report.coverage is not None and report.coverage.problems == []

    del rows[3]
    data = _bytes(_frame(rows), "gpkg", tmp_path)
    done = import_grids(
        db, planner, data=data, filename="m.gpkg", parent_code=COMMUNITY_A, commit=True
    )
    assert done.committed
    micro = db.scalars(select(Grid).where(Grid.code == COMMUNITY_A + "101")).one()
    assert (micro.kind, micro.parent_grid_code, micro.version) == ("micro", GRID_A1, 1)
