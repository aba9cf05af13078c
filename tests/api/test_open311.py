"""Open311 GeoReport v2 façade, validated against the v2.1 Swagger definitions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from layers.incidents.settings import IncidentSettings
from tests.conftest import SHARED_TESTDATA, login
from tests.fixtures.world import World

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# Worktrees sit one level deeper than the main checkout; the shared data is the same.
_OPEN311 = next(
    p / "open311"
    for p in (SHARED_TESTDATA, Path(__file__).resolve().parents[4] / "shared" / "testdata")
    if (p / "open311").is_dir()
)
SWAGGER = yaml.safe_load((_OPEN311 / "georeport_v2-1_swagger.yaml").read_text("utf-8"))


def _schema(name: str) -> dict[str, Any]:
    definitions = SWAGGER["definitions"]
    return {"type": "array", "items": {"$ref": f"#/definitions/{name}"},
            "definitions": definitions}  # fmt: skip


@pytest.fixture(autouse=True)
def fixed(app: FastAPI, tmp_path: Path) -> None:
    """Fixed clock and a temporary photo directory."""
    app.state.clock = lambda: NOW
    app.state.incident_settings = IncidentSettings(photo_dir=tmp_path)


def test_services_validate(client: TestClient, world: World) -> None:
    """Leaf categories only, each a valid Service."""
    body = client.get("/open311/v2/services.json", headers=login(client, "t_dispatcher")).json()
    jsonschema.validate(body, _schema("Service"))
    codes = [s["service_code"] for s in body]
    assert "hazard.fire" in codes and "hazard" not in codes
    fire = next(s for s in body if s["service_code"] == "hazard.fire")
    assert (fire["service_name"], fire["group"]) == ("消防隐患", "安全隐患")


def test_post_then_get_request(client: TestClient, world: World) -> None:
    """POST (form) creates an incident; GET returns it as a valid Request, open then closed."""
    headers = login(client, "t_dispatcher")
    r = client.post(
        "/open311/v2/requests.json", headers=headers,
        data={"service_code": "service.environment", "lat": "36.6075", "long": "117.015",
              "description": "小区门口垃圾堆积", "first_name": "五", "last_name": "王",
              "phone": "13800001111", "address_string": "测试路3号"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    jsonschema.validate(r.json(), _schema("RequestResponse"))
    rid = r.json()[0]["service_request_id"]
    one = client.get(f"/open311/v2/requests/{rid}.json", headers=headers).json()
    jsonschema.validate(one, _schema("Request"))
    assert one[0] | {} == one[0] and one[0]["status"] == "open"
    assert (one[0]["service_code"], one[0]["address"], one[0]["status_notes"]) == (
        "service.environment", "测试路3号", "已上报",
    )  # fmt: skip
    assert one[0]["lat"] == pytest.approx(36.6075) and one[0]["long"] == pytest.approx(117.015)
    listed = client.get(
        "/open311/v2/requests.json",
        headers=headers,
        params={"status": "open", "service_code": "service.environment"},
    ).json()
    jsonschema.validate(listed, _schema("Request"))
    assert [x["service_request_id"] for x in listed] == [rid]
    closed = client.get("/open311/v2/requests.json", headers=headers,
                        params={"status": "closed"}).json()  # fmt: skip
    assert rid not in [x["service_request_id"] for x in closed]


def test_unknown_request_and_bad_service(client: TestClient, world: World) -> None:
    """Unknown id: 404; a group category as service_code: 422 naming the field."""
    headers = login(client, "t_dispatcher")
    assert client.get("/open311/v2/requests/NOPE.json", headers=headers).status_code == 404
    r = client.post(
        "/open311/v2/requests.json",
        headers=headers,
        data={"service_code": "hazard", "lat": "36.6075", "long": "117.015"},
    )
    assert r.status_code == 422 and r.json()["field"] == "category_code"
    client.cookies.clear()  # login() also set the session cookie
    assert client.get("/open311/v2/services.json").status_code == 401
