"""Login, tokens, the session cookie and the audit trail of logins."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import audit_rows, login
from tests.fixtures.world import World


def test_login_returns_bearer_token_and_me_reports_role_and_area(
    client: TestClient, world: World
) -> None:
    headers = login(client, "t_gw_a")
    me = client.get("/auth/me", headers=headers)
    assert me.status_code == 200
    body = me.json()
    assert body["username"] == "t_gw_a"
    assert body["role"] == "grid_worker"
    assert body["role_zh"] == "网格员"
    assert body["area_code"] == "370199001001"


def test_wrong_password_is_401_problem_and_audited(
    client: TestClient, world: World, db: Session
) -> None:
    response = client.post("/auth/token", data={"username": "t_gw_a", "password": "nope"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["detail_zh"] == "用户名或密码错误"
    assert body["field"] == "password"
    failed = audit_rows(db, action="login_failed", username="t_gw_a")
    assert len(failed) == 1


def test_unknown_user_and_wrong_password_look_the_same(client: TestClient, world: World) -> None:
    a = client.post("/auth/token", data={"username": "t_nobody", "password": "x"}).json()
    b = client.post("/auth/token", data={"username": "t_gw_a", "password": "x"}).json()
    assert a["detail"] == b["detail"]


def test_successful_login_is_audited(client: TestClient, world: World, db: Session) -> None:
    login(client, "t_planner")
    rows = audit_rows(db, action="login", username="t_planner")
    assert [r.resource_ids for r in rows] == [[world.users["t_planner"]]]


def test_cookie_set_by_login_authenticates_pages(client: TestClient, world: World) -> None:
    login(client, "t_dispatcher")  # TestClient keeps the HttpOnly cookie
    assert client.get("/auth/me").json()["username"] == "t_dispatcher"
    client.post("/auth/logout")
    assert client.get("/auth/me").status_code == 401


def test_tampered_token_is_rejected(client: TestClient, world: World) -> None:
    headers = login(client, "t_admin")
    token = headers["Authorization"].split()[1]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = client.get("/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


def test_health_needs_no_login_and_reports_postgis(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["postgis"].startswith("3.")
