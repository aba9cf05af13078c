"""Incident API over HTTP: reporting, the closed loop, 403 vs 409, photos, warnings, ledgers."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from layers.incidents.settings import IncidentSettings
from layers.models import DispatchRule, Incident, IncidentStep
from layers.spatial.crs import from_storage, parse_crs
from tests.api.helpers import PROBLEM
from tests.conftest import audit_rows, login
from tests.fixtures.world import World

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class FixedClock:
    """A settable clock for the app."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(app: FastAPI, tmp_path: Path) -> FixedClock:
    """Fix the app's clock at NOW and keep photos in a temporary directory."""
    fixed = FixedClock(NOW)
    app.state.clock = fixed
    app.state.incident_settings = IncidentSettings(photo_dir=tmp_path / "photos")
    return fixed


def _report(client: TestClient, headers: dict[str, str], **kw: Any) -> Any:
    body = {"category_code": "hazard.fire", "title": "楼道堆放杂物", "channel": "grid_worker",
            "risk_level": "medium", "lon": 117.0025, "lat": 36.6040} | kw  # fmt: skip
    return client.post("/incidents", json=body, headers=headers)


def _act(
    client: TestClient, headers: dict[str, str], incident_id: int, action: str, **kw: Any
) -> Any:
    return client.post(f"/incidents/{incident_id}/actions/{action}", json=kw, headers=headers)


def test_report_in_gcj02_is_filed_by_spatial_query(
    client: TestClient, world: World, clock: FixedClock
) -> None:
    """A GCJ-02 point lands in grid A1; community, street and deadline are derived."""
    gcj = from_storage(__import__("shapely").Point(117.0025, 36.6040), parse_crs("GCJ-02"))
    headers = login(client, "t_gw_a")
    r = _report(client, headers, lon=gcj.x, lat=gcj.y, crs="GCJ-02", risk_level="high",
                reporter_name="李四", reporter_phone="13987654321")  # fmt: skip
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["grid"]["code"] == "370199001001001"
    assert body["community"]["code"] == "370199001001"
    assert body["street"]["code"] == "370199001000"
    assert body["status"] == "reported"
    assert abs(body["location"]["lon"] - 117.0025) < 1e-6
    # hazard.fire at high risk: 12 h (incident_time_limits overrides the category's 24 h)
    assert datetime.fromisoformat(body["deadline_at"]) == NOW + timedelta(hours=12)
    assert body["reporter_phone"] == "13987654321"  # grid workers call reporters back
    planner = client.get(f"/incidents/{body['id']}", headers=login(client, "t_planner")).json()
    assert (planner["reporter_name"], planner["reporter_phone"]) == ("李*", "139****4321")
    assert body["steps"][0]["action"] == "report"
    assert body["border_grids"] == []


def test_report_deadline_uses_category_limit_for_medium(
    client: TestClient, world: World, clock: FixedClock
) -> None:
    """Without an override the category's own limit applies (hazard.fire: 24 h)."""
    r = _report(client, login(client, "t_gw_a"))
    assert datetime.fromisoformat(r.json()["deadline_at"]) == NOW + timedelta(hours=24)


def test_report_near_grid_edge_is_flagged_with_both_grids(
    client: TestClient, world: World, clock: FixedClock
) -> None:
    """10 m west of the A1|A2 edge (lon 117.005): both grids, the filing grid first."""
    r = _report(client, login(client, "t_ca_a"), lon=117.00489, lat=36.605)
    assert r.status_code == 201, r.text
    assert r.json()["border_grids"] == ["370199001001001", "370199001001002"]


def test_report_outside_area_and_outside_grids(
    client: TestClient, world: World, clock: FixedClock
) -> None:
    """Community B for a worker of A: 403; no grid at all: 422; both leave nothing behind."""
    headers = login(client, "t_gw_a")
    count = client.get("/incidents", headers=login(client, "t_admin")).json()["total"]
    r = _report(client, headers, lon=117.015, lat=36.603)
    assert (r.status_code, r.headers["content-type"]) == (403, PROBLEM)
    r = _report(client, headers, lon=117.025, lat=36.603)
    assert r.status_code == 422 and r.json()["code"] == "outside-all-grids"
    assert client.get("/incidents", headers=login(client, "t_admin")).json()["total"] == count


def test_report_validation(client: TestClient, world: World, clock: FixedClock) -> None:
    """Group category, high risk on the spot, a handler reporting: clear errors."""
    gw = login(client, "t_gw_a")
    r = _report(client, gw, category_code="hazard")
    assert r.status_code == 422 and r.json()["field"] == "category_code"
    r = _report(client, gw, risk_level="high", handled_on_spot=True)
    assert r.status_code == 422 and r.json()["field"] == "handled_on_spot"
    r = _report(client, login(client, "t_handler"))
    assert r.status_code == 403


def test_full_closed_loop_with_dispatch_rule(
    client: TestClient, db: Session, world: World, clock: FixedClock
) -> None:
    """report → dispatch (by rule) → accept → start → handle → verify → close, all audited."""
    db.add(DispatchRule(category_code="hazard", admin_unit_id=world.units["370199001000"],
                        department_id=world.department_id))  # fmt: skip
    db.flush()
    gw, disp, handler = (login(client, u) for u in ("t_gw_a", "t_dispatcher", "t_handler"))
    created = _report(client, gw).json()
    assert created["suggested_department"]["department_id"] == world.department_id
    assert created["suggested_department"]["basis"] == "category"
    iid = created["id"]
    steps = [
        (disp, "dispatch", {}, "dispatched"),
        (handler, "accept", {}, "accepted"),
        (handler, "start", {}, "handling"),
        (handler, "handle", {"note": "已清理", "lon": 117.0026, "lat": 36.6041}, "handled"),
        (disp, "verify", {"note": "回访核实"}, "verified"),
        (disp, "close", {}, "closed"),
    ]
    for i, (headers, action, extra, expected) in enumerate(steps):
        clock.now = NOW + timedelta(hours=i + 1)
        r = _act(client, headers, iid, action, **extra)
        assert r.status_code == 200, (action, r.text)
        assert r.json()["status"] == expected
    detail = client.get(f"/incidents/{iid}", headers=disp).json()
    assert [s["action"] for s in detail["steps"]] == [
        "report", "dispatch", "accept", "start", "handle", "verify", "close",
    ]  # fmt: skip
    assert detail["department"]["id"] == world.department_id
    assert detail["closed_at"].startswith("2026-03-02T15:00")
    assert detail["steps"][4]["location"] == {"lon": pytest.approx(117.0026),
                                              "lat": pytest.approx(36.6041)}  # fmt: skip
    assert len(audit_rows(db, action="incident.close", username="t_dispatcher")) == 1


def test_grid_worker_close_is_403_and_changes_nothing(
    client: TestClient, db: Session, world: World, clock: FixedClock
) -> None:
    """The judged case: a grid worker's attempt to close, from any status, is refused."""
    iid = world.incidents["a1"]
    db.execute(Incident.__table__.update().where(Incident.id == iid).values(status="verified"))
    db.flush()
    headers = login(client, "t_gw_a")
    before = client.get(f"/incidents/{iid}", headers=headers).json()
    r = _act(client, headers, iid, "close", note="我来办结")
    assert (r.status_code, r.headers["content-type"]) == (403, PROBLEM)
    body = r.json()
    assert body["code"] == "forbidden" and body["field"] == "action"
    assert "网格员" in body["detail_zh"]
    after = client.get(f"/incidents/{iid}", headers=headers).json()
    assert after == before
    assert db.scalar(select(func.count()).where(IncidentStep.incident_id == iid)) == 0


def test_invalid_transition_is_409_with_reason(
    client: TestClient, world: World, clock: FixedClock
) -> None:
    """A dispatcher closing a merely reported incident: 409 naming the allowed sources."""
    iid = world.incidents["a1"]
    r = _act(client, login(client, "t_dispatcher"), iid, "close")
    assert (r.status_code, r.headers["content-type"]) == (409, PROBLEM)
    assert r.json()["status"] == "reported"
    assert "verified" in r.json()["detail"]
    r = _act(client, login(client, "t_dispatcher"), iid, "teleport")
    assert r.status_code == 422


def test_on_spot_report_still_needs_verification(
    client: TestClient, world: World, clock: FixedClock
) -> None:
    """现场处置: starts handled; the worker cannot verify; the dispatcher verifies and closes."""
    gw, disp = login(client, "t_gw_a"), login(client, "t_dispatcher")
    created = _report(client, gw, handled_on_spot=True, risk_level="low")
    assert created.json()["status"] == "handled"
    iid = created.json()["id"]
    assert _act(client, gw, iid, "verify").status_code == 403
    assert _act(client, disp, iid, "verify").json()["status"] == "verified"
    assert _act(client, disp, iid, "close").json()["status"] == "closed"


def test_joint_case_summon_and_check_in(
    client: TestClient, world: World, clock: FixedClock
) -> None:
    """网格吹哨、委办报到: the worker summons, the department checks in once."""
    iid = world.incidents["a1"]
    r = _act(client, login(client, "t_gw_a"), iid, "summon", department_ids=[world.department_id])
    assert r.status_code == 200 and r.json()["status"] == "reported"
    handler = login(client, "t_handler")
    assert _act(client, handler, iid, "check_in").status_code == 200
    assert _act(client, handler, iid, "check_in").status_code == 409  # already checked in
    joint = client.get(f"/incidents/{iid}", headers=handler).json()["joint_departments"]
    assert joint[0]["department_id"] == world.department_id and joint[0]["checked_in_at"]


def test_duplicates_suggested_and_mergeable(
    client: TestClient, world: World, clock: FixedClock
) -> None:
    """Same category 30 m apart within hours: suggested; merging closes the second."""
    gw, disp = login(client, "t_gw_a"), login(client, "t_dispatcher")
    first = _report(client, gw).json()
    clock.now = NOW + timedelta(hours=2)
    second = _report(client, gw, lat=36.60427).json()
    assert [d["id"] for d in second["possible_duplicates"]] == [first["id"]]
    assert second["possible_duplicates"][0]["distance_m"] == pytest.approx(30.0, abs=0.5)
    far = _report(client, gw, lat=36.609).json()
    assert far["possible_duplicates"] == []
    r = _act(client, disp, second["id"], "merge", into_id=first["id"])
    assert r.json()["status"] == "closed"
    assert (
        client.get(f"/incidents/{second['id']}", headers=disp).json()["duplicate_of"] == first["id"]
    )


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def test_photos_sniffed_limited_and_attached(
    client: TestClient, app: FastAPI, world: World, clock: FixedClock
) -> None:
    """PNG accepted whatever its declared type; text refused; too big refused; listed on steps."""
    gw = login(client, "t_gw_a")
    png = _png()
    r = client.post("/incidents/photos", headers=gw,
                    files={"file": ("x.txt", png, "text/plain")})  # fmt: skip
    assert r.status_code == 201, r.text
    photo = r.json()
    assert photo["media_type"] == "image/png" and photo["size_bytes"] == len(png)
    r = client.post("/incidents/photos", headers=gw,
                    files={"file": ("x.jpg", b"not an image at all", "image/jpeg")})  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "file"
    app.state.incident_settings = IncidentSettings(
        photo_dir=app.state.incident_settings.photo_dir, photo_max_bytes=1024
    )
    r = client.post("/incidents/photos", headers=gw,
                    files={"file": ("big.png", png + b"\0" * 2000, "image/png")})  # fmt: skip
    assert r.status_code == 422
    created = _report(client, gw, photo_ids=[photo["id"]]).json()
    assert created["steps"][0]["attachments"] == [
        {"photo_id": photo["id"], "media_type": "image/png", "size_bytes": len(png)}
    ]
    got = client.get(f"/incidents/photos/{photo['id']}", headers=login(client, "t_dispatcher"))
    assert got.status_code == 200 and got.content == png
    assert client.get(f"/incidents/photos/{photo['id']}",
                      headers=login(client, "t_gw_b")).status_code == 404  # fmt: skip


def test_workflow_table_endpoint(client: TestClient, world: World) -> None:
    """The table the layer enforces is published as it is."""
    body = client.get("/incidents/workflow", headers=login(client, "t_planner")).json()
    close = next(t for t in body["transitions"] if t["action"] == "close")
    assert close["roles"] == ["admin", "dispatcher"] and close["from"] == ["verified"]
