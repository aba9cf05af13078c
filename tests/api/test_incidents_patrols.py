"""Patrols: checklist answers, a failed item becomes an incident, due lists and coverage."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from layers.incidents.settings import IncidentSettings
from tests.conftest import login
from tests.fixtures.world import World

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed(app: FastAPI, tmp_path: Path) -> None:
    """Fixed clock and a temporary photo directory."""
    app.state.clock = lambda: NOW
    app.state.incident_settings = IncidentSettings(photo_dir=tmp_path)


def test_patrol_failure_to_incident_due_and_coverage(client: TestClient, world: World) -> None:
    """The school (fire_safety) patrolled once with a failure: incident raised, still due."""
    gw = login(client, "t_gw_a")
    school = world.places["school"]
    items = client.get("/patrols/checklists/fire_safety", headers=gw).json()
    codes = [i["code"] for i in items]
    assert codes == ["extinguisher_ok", "exits_clear", "wiring_ok", "no_indoor_ebike_charging"]
    due = client.get("/patrols/due", headers=gw).json()
    assert [(d["place_id"], d["done"], d["required"]) for d in due] == [(school, 0, 2)]
    r = client.post("/patrols", headers=gw, json={"place_id": school, "answers": {"x": True}})
    assert r.status_code == 422 and r.json()["field"] == "answers"
    answers = dict.fromkeys(codes, True) | {"exits_clear": False}
    r = client.post(
        "/patrols",
        headers=gw,
        json={"place_id": school, "answers": answers, "lon": 117.0030, "lat": 36.6080},
    )
    assert r.status_code == 201, r.text
    patrol = r.json()
    assert (patrol["result"], patrol["failed"]) == ("problem", ["exits_clear"])
    bad = client.post(f"/patrols/{patrol['id']}/incidents", headers=gw,
                      json={"item_code": "wiring_ok"})  # fmt: skip
    assert bad.status_code == 422
    inc = client.post(f"/patrols/{patrol['id']}/incidents", headers=gw,
                      json={"item_code": "exits_clear"})  # fmt: skip
    assert inc.status_code == 201, inc.text
    body = inc.json()
    assert (body["category_code"], body["risk_level"], body["channel"], body["grid"]["code"]) == (
        "hazard.fire", "high", "patrol", "370199001001001",
    )  # fmt: skip
    assert body["title"] == "测试小学：安全出口、疏散通道畅通（不合格）"
    due = client.get("/patrols/due", headers=gw).json()
    assert [(d["place_id"], d["done"]) for d in due] == [(school, 1)]
    cov = client.get("/patrols/coverage", headers=login(client, "t_street"),
                     params={"month": "2026-03-01"}).json()  # fmt: skip
    assert cov == [{"grid_code": "370199001001001", "grid_name": "测试网格1001", "places": 1,
                    "patrolled": 1, "patrolled_enough": 0, "coverage": 0.0,
                    "month": "2026-03"}]  # fmt: skip
    assert (
        client.post(
            "/patrols",
            headers=login(client, "t_handler"),
            json={"place_id": school, "answers": answers},
        ).status_code
        == 403
    )
