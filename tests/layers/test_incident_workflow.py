"""The state machine, exhaustively: every role × every action × every status.

For each (role, action) pair the test puts the world's incident a1 (grid A1, community A) into
each status in turn and asks the role to take the action. The expected answer comes from the
declarative table alone: role not allowed → Forbidden (403); allowed but the status is not a
source → Conflict (409); otherwise the status becomes the target. Every refusal must leave the
row and its steps exactly as they were.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from layers.errors import Conflict, Forbidden, InvalidInput, NotFound
from layers.incidents.workflow import TRANSITIONS, act, transitions_table
from layers.models import Department, Incident, IncidentDepartment, IncidentStep
from layers.models.incidents import INCIDENT_STATUSES
from layers.models.users import Role
from layers.users import load_principal
from tests.fixtures.world import World

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
USER_BY_ROLE = {
    Role.admin: "t_admin",
    Role.street_admin: "t_street",
    Role.community_admin: "t_ca_a",
    Role.planner: "t_planner",
    Role.dispatcher: "t_dispatcher",
    Role.grid_worker: "t_gw_a",
    Role.dept_handler: "t_handler",
}
PAIRS = [(role, action) for role in Role for action in TRANSITIONS]


def _second_department(db: Session, world: World) -> int:
    dept = Department(
        code="test-police", name="测试派出所", admin_unit_id=world.units["370199001000"]
    )
    db.add(dept)
    db.flush()
    return dept.id


def _put_in_status(db: Session, world: World, incident_id: int, status: str) -> None:
    values: dict[str, Any] = {
        "status": status,
        "department_id": world.department_id,
        "escalation_level": "grid",
        "deferred_until": NOW + timedelta(days=5) if status == "deferred" else None,
        "deferral_approved": False if status == "deferred" else None,
        "closed_at": NOW - timedelta(hours=1) if status == "closed" else None,
    }
    db.execute(update(Incident).where(Incident.id == incident_id).values(**values))
    db.add(
        IncidentDepartment(
            incident_id=incident_id, department_id=world.department_id, summoned_at=NOW
        )
    )
    db.flush()


def _params(action: str, world: World, other_dept: int) -> dict[str, Any]:
    return {
        "dispatch": {"department_id": world.department_id},
        "defer": {"until": NOW + timedelta(days=3)},
        "summon": {"department_ids": [other_dept]},
        "supervise": {"level": "yellow"},
        "merge": {"into_id": world.incidents["b1"]},
    }.get(action, {})


def _snapshot(db: Session, incident_id: int) -> tuple[Any, ...]:
    row = db.execute(
        select(
            Incident.status, Incident.department_id, Incident.supervision,
            Incident.escalation_level, Incident.updated_at, Incident.closed_at,
        ).where(Incident.id == incident_id)
    ).one()  # fmt: skip
    steps = db.scalar(select(func.count()).where(IncidentStep.incident_id == incident_id))
    return (*row, steps)


@pytest.mark.parametrize(("role", "action"), PAIRS, ids=[f"{r.value}-{a}" for r, a in PAIRS])
def test_every_role_action_status(db: Session, world: World, role: Role, action: str) -> None:
    """Allowed pairs move the status as the table says; forbidden ones change nothing."""
    t = TRANSITIONS[action]
    principal = load_principal(db, world.users[USER_BY_ROLE[role]])
    other_dept = _second_department(db, world)
    incident_id = world.incidents["a1"]
    outcomes: dict[str, str] = {}
    for status in INCIDENT_STATUSES:
        savepoint = db.begin_nested()
        _put_in_status(db, world, incident_id, status)
        before = _snapshot(db, incident_id)
        try:
            result = act(
                db, principal, incident_id=incident_id, action=action, now=NOW,
                note="测试说明", params=_params(action, world, other_dept),
            )  # fmt: skip
        except Forbidden:
            outcomes[status] = "403"
            assert _snapshot(db, incident_id) == before
        except Conflict:
            outcomes[status] = "409"
            assert _snapshot(db, incident_id) == before
        else:
            outcomes[status] = result["status"]
            after = _snapshot(db, incident_id)
            assert after[0] == result["status"]
            assert after[-1] == before[-1] + 1  # exactly one step row
            step = db.scalars(
                select(IncidentStep)
                .where(IncidentStep.incident_id == incident_id)
                .order_by(IncidentStep.id.desc())
            ).first()
            assert step is not None
            assert (step.action, step.from_status, step.to_status, step.actor_id, step.note) == (
                action, status, result["status"], principal.user_id, "测试说明",
            )  # fmt: skip
        savepoint.rollback()

    expected = {
        s: ("403" if role not in t.roles else ((t.target or s) if s in t.sources else "409"))
        for s in INCIDENT_STATUSES
    }
    assert outcomes == expected


def test_grid_worker_can_never_close_or_verify() -> None:
    """采办分离: no row of the table lets a grid worker close, verify or merge."""
    for t in TRANSITIONS.values():
        if t.target in ("closed", "verified"):
            assert Role.grid_worker not in t.roles, t.action
    assert all(Role.planner not in t.roles for t in TRANSITIONS.values())


def test_table_rows_are_complete() -> None:
    """The rendered table names every action with sources, target and roles."""
    rows = {r["action"]: r for r in transitions_table()}
    assert set(rows) == set(TRANSITIONS)
    assert rows["close"] == {
        "action": "close", "label_zh": "办结销号", "from": ["verified"], "to": "closed",
        "roles": ["admin", "dispatcher"], "note_required": False, "department_scoped": False,
    }  # fmt: skip


def test_remit_other_grid_worker_and_department(db: Session, world: World) -> None:
    """Visible but not in remit is 403; invisible is 404; both leave the row unchanged."""
    other_dept = _second_department(db, world)
    incident_id = world.incidents["a1"]
    _put_in_status(db, world, incident_id, "dispatched")
    db.execute(update(Incident).where(Incident.id == incident_id).values(department_id=other_dept))
    before = _snapshot(db, incident_id)
    handler = load_principal(db, world.users["t_handler"])
    with pytest.raises(NotFound):  # routed elsewhere and not summoned: invisible
        db.execute(
            IncidentDepartment.__table__.delete().where(
                IncidentDepartment.incident_id == incident_id
            )
        )
        act(db, handler, incident_id=incident_id, action="accept", now=NOW)
    gw_b = load_principal(db, world.users["t_gw_b"])
    with pytest.raises(NotFound):  # community B's worker cannot see community A
        act(db, gw_b, incident_id=incident_id, action="follow_up", now=NOW, note="x")
    assert _snapshot(db, incident_id) == before


def test_grid_worker_of_another_grid_in_area_is_403(db: Session, world: World) -> None:
    """t_gw_a staffs A1 only: an incident in A2 (same community, visible) is not in remit."""
    from geoalchemy2.shape import from_shape
    from shapely.geometry import Point

    inc = Incident(
        code="T-INC-a2", category_code="hazard.fire", title="A2事件", channel="walk_in",
        geom=from_shape(Point(117.0075, 36.603), 4326), reported_at=NOW,
    )  # fmt: skip
    db.add(inc)
    db.flush()
    db.refresh(inc)
    assert inc.grid_id == world.grids["370199001001002"]
    gw = load_principal(db, world.users["t_gw_a"])
    with pytest.raises(Forbidden):
        act(db, gw, incident_id=inc.id, action="escalate", now=NOW, note="上报")


def test_escalation_ladder_and_levels(db: Session, world: World) -> None:
    """grid → community → street → district; each role only from its own levels."""
    incident_id = world.incidents["a1"]
    gw = load_principal(db, world.users["t_gw_a"])
    ca = load_principal(db, world.users["t_ca_a"])
    disp = load_principal(db, world.users["t_dispatcher"])
    admin = load_principal(db, world.users["t_admin"])
    act(db, gw, incident_id=incident_id, action="escalate", now=NOW, note="小事出网格")
    assert db.get(Incident, incident_id).escalation_level == "community"  # type: ignore[union-attr]
    act(db, disp, incident_id=incident_id, action="dispatch", now=NOW,
        params={"department_id": world.department_id})  # fmt: skip
    with pytest.raises(Forbidden):  # the worker's level is behind it now
        act(db, gw, incident_id=incident_id, action="escalate", now=NOW, note="再上报")
    act(db, ca, incident_id=incident_id, action="escalate", now=NOW, note="社区无法解决")
    act(db, disp, incident_id=incident_id, action="escalate", now=NOW, note="街道上报区")
    inc = db.get(Incident, incident_id)
    assert inc is not None and (inc.escalation_level, inc.status) == ("district", "escalated")
    with pytest.raises(Conflict):
        act(db, admin, incident_id=incident_id, action="escalate", now=NOW, note="已到顶")


def test_note_and_parameters_are_checked(db: Session, world: World) -> None:
    """Missing reason for a return, unknown action, past defer date: 422-class errors."""
    incident_id = world.incidents["a1"]
    _put_in_status(db, world, incident_id, "dispatched")
    handler = load_principal(db, world.users["t_handler"])
    with pytest.raises(InvalidInput) as err:
        act(db, handler, incident_id=incident_id, action="return", now=NOW)
    assert err.value.field == "note"
    with pytest.raises(InvalidInput):
        act(db, handler, incident_id=incident_id, action="teleport", now=NOW)
    act(db, handler, incident_id=incident_id, action="accept", now=NOW)
    with pytest.raises(InvalidInput) as err:
        act(db, handler, incident_id=incident_id, action="defer", now=NOW, note="等待",
            params={"until": NOW - timedelta(days=1)})  # fmt: skip
    assert err.value.field == "until"


def test_return_deferral_and_merge_side_effects(db: Session, world: World) -> None:
    """回退 clears the department; approved 挂账 moves the deadline; merge closes as duplicate."""
    incident_id = world.incidents["a1"]
    disp = load_principal(db, world.users["t_dispatcher"])
    handler = load_principal(db, world.users["t_handler"])
    street = load_principal(db, world.users["t_street"])
    act(db, disp, incident_id=incident_id, action="dispatch", now=NOW,
        params={"department_id": world.department_id})  # fmt: skip
    act(db, handler, incident_id=incident_id, action="return", now=NOW, note="非本部门职责")
    inc = db.get(Incident, incident_id)
    assert inc is not None and (inc.status, inc.department_id) == ("returned", None)
    act(db, disp, incident_id=incident_id, action="dispatch", now=NOW,
        params={"department_id": world.department_id})  # fmt: skip
    act(db, handler, incident_id=incident_id, action="accept", now=NOW)
    until = NOW + timedelta(days=30)
    act(db, handler, incident_id=incident_id, action="defer", now=NOW, note="需协调",
        params={"until": until})  # fmt: skip
    act(db, street, incident_id=incident_id, action="approve_deferral", now=NOW)
    db.expire_all()
    inc = db.get(Incident, incident_id)
    assert inc is not None
    assert (inc.status, inc.deferral_approved, inc.deadline_at) == ("deferred", True, until)
    with pytest.raises(Conflict):
        act(db, street, incident_id=incident_id, action="approve_deferral", now=NOW)
    b1 = world.incidents["b1"]
    act(db, disp, incident_id=b1, action="merge", now=NOW, params={"into_id": incident_id})
    db.expire_all()
    merged = db.get(Incident, b1)
    assert merged is not None
    assert (merged.status, merged.duplicate_of, merged.closed_at) == ("closed", incident_id, NOW)
