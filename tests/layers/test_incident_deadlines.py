"""Deadlines, warnings, overdue lists, rates and ledgers on a fixed clock with known answers."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from geoalchemy2.shape import from_shape
from shapely.geometry import Point

from layers.incidents import deadlines
from layers.incidents.settings import IncidentSettings
from layers.models import Incident, IncidentStep
from layers.users import load_principal
from tests.fixtures.world import World

NOW = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai
H = timedelta(hours=1)


def _incident(db: Session, key: str, *, risk: str, reported: datetime, limit_h: int,
              status: str, steps: tuple[tuple[str, datetime], ...] = ()) -> int:  # fmt: skip
    closed = next((at for s, at in steps if s == "closed"), None)
    inc = Incident(
        code=f"T-DL-{key}", category_code="hazard.fire", title=key, channel="walk_in",
        risk_level=risk, status=status, geom=from_shape(Point(117.002, 36.602), 4326),
        reported_at=reported, deadline_at=reported + limit_h * H, closed_at=closed,
    )  # fmt: skip
    db.add(inc)
    db.flush()
    previous = "reported"
    for to_status, at in steps:
        db.add(IncidentStep(incident_id=inc.id, action=to_status, from_status=previous,
                            to_status=to_status, at=at))  # fmt: skip
        previous = to_status
    db.flush()
    return inc.id


@pytest.fixture
def ids(db: Session, world: World) -> dict[str, int]:
    """Five incidents in grid A1 with hand-computed answers at NOW."""
    d1 = datetime(2026, 3, 1, tzinfo=UTC)
    return {
        "i1": _incident(db, "i1", risk="high", reported=d1 + 2 * H, limit_h=12, status="closed",
                        steps=(("handled", d1 + 10 * H), ("closed", d1 + 12 * H))),
        "i2": _incident(db, "i2", risk="high", reported=d1 + 3 * H, limit_h=12,
                        status="handling"),
        "i3": _incident(db, "i3", risk="medium", reported=d1 + 4 * H, limit_h=24,
                        status="handled", steps=(("handled", d1 + 34 * H),)),
        "i4": _incident(db, "i4", risk="low", reported=d1 + 36 * H, limit_h=24,
                        status="dispatched"),
        "i5": _incident(db, "i5", risk="low", reported=d1 - 48 * H, limit_h=240,
                        status="reported"),
    }  # fmt: skip


def test_overdue_and_warnings(db: Session, world: World, ids: dict[str, int]) -> None:
    """i2 is 34 h overdue; i4 is due in 11 h; i5, a1 and b1 have had no response for 2 days."""
    disp = load_principal(db, world.users["t_dispatcher"])
    over = deadlines.overdue(db, disp, now=NOW)
    assert [(r["id"], r["hours_overdue"]) for r in over] == [(ids["i2"], 34.0)]
    w = deadlines.warnings(db, disp, now=NOW, settings=IncidentSettings())
    assert [r["id"] for r in w["due_soon"]] == [ids["i4"]]
    assert [r["id"] for r in w["overdue"]] == [ids["i2"]]
    assert [r["id"] for r in w["no_response"]] == [
        ids["i5"], world.incidents["a1"], world.incidents["b1"],
    ]  # fmt: skip
    narrow = deadlines.warnings(db, disp, now=NOW, settings=IncidentSettings(warning_hours=10))
    assert narrow["due_soon"] == []


def test_rates_per_grid_and_risk(db: Session, world: World, ids: dict[str, int]) -> None:
    """A1 high: a1, i1 (on time), i2 → 1/3, target 100 % missed; medium: i3 resolved late."""
    disp = load_principal(db, world.users["t_dispatcher"])
    rows = deadlines.rates(
        db, disp, now=NOW, start=datetime(2026, 3, 1, tzinfo=UTC),
        end=datetime(2026, 3, 8, tzinfo=UTC), group_by="grid",
    )  # fmt: skip
    a1 = {r["risk_level"]: r for r in rows if r["key"] == "370199001001001"}
    assert a1["high"] | {} == {
        "key": "370199001001001", "label": "测试网格1001", "risk_level": "high", "total": 3,
        "resolved": 1, "on_time": 1, "overdue": 1, "resolution_rate": 0.3333,
        "on_time_rate": 0.3333, "target": 1.0, "target_met": False,
    }  # fmt: skip
    assert (a1["medium"]["resolved"], a1["medium"]["on_time"], a1["medium"]["target_met"]) == (
        1, 0, True,
    )  # fmt: skip
    assert (a1["low"]["total"], a1["low"]["resolved"], a1["low"]["resolution_rate"]) == (1, 0, 0.0)
    b1 = [r for r in rows if r["key"] == "370199001002001"]
    assert [(r["risk_level"], r["total"]) for r in b1] == [("high", 1)]
    # Earlier clock: i1 was not yet closed at 2026-03-01 11:00 → not resolved then.
    early = deadlines.rates(
        db, disp, now=datetime(2026, 3, 1, 11, tzinfo=UTC), start=datetime(2026, 3, 1, tzinfo=UTC),
        end=datetime(2026, 3, 8, tzinfo=UTC), group_by="community",
    )  # fmt: skip
    comm_a_high = next(r for r in early if r["key"] == "370199001001" and r["risk_level"] == "high")
    assert (comm_a_high["total"], comm_a_high["resolved"]) == (3, 1)  # handled at 10:00 counts


def test_periods_are_local_calendar() -> None:
    """Day, ISO week (Monday first) and month boundaries in Asia/Shanghai."""
    p = deadlines.period("weekly", date(2026, 3, 4))
    assert (p.label, p.start.isoformat(), p.end.isoformat()) == (
        "2026-W10", "2026-03-02T00:00:00+08:00", "2026-03-09T00:00:00+08:00",
    )  # fmt: skip
    assert deadlines.period("monthly", date(2026, 12, 31)).end.isoformat().startswith("2027-01-01")
    assert deadlines.period("daily", date(2026, 3, 4)).label == "2026-03-04"


def test_monthly_ledger_exports(db: Session, world: World, ids: dict[str, int]) -> None:
    """月统 of March 2026 as CSV and XLSX carries the same rows as JSON."""
    disp = load_principal(db, world.users["t_dispatcher"])
    data = deadlines.ledger(db, disp, now=NOW, kind="monthly", day=date(2026, 3, 15))
    assert data["period"] == "2026-03"
    table = list(csv.reader(io.StringIO(deadlines.ledger_csv(data).decode("utf-8-sig"))))
    assert table[0][:4] == ["名称", "编码", "风险等级", "上报数"]
    assert ["测试网格1001", "370199001001001", "high", "3", "1", "1", "1", "0.3333", "0.3333",
            "1.0", "否"] in table  # fmt: skip
    wb = load_workbook(io.BytesIO(deadlines.ledger_xlsx(data)))
    ws = wb.active
    assert ws is not None
    assert [c.value for c in ws[1]][:2] == ["名称", "编码"]
    assert ws.max_row == len(data["rows"]) + 1
    assert all(isinstance(ws.cell(row=i, column=2).value, str) for i in range(2, ws.max_row + 1))
