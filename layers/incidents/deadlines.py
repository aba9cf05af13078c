"""Deadlines, warnings, overdue lists, resolution rates and the 日核/周调/月统 ledgers.

Definitions (all relative to an explicit ``now`` from the injectable clock):

* **pending**: not yet resolved — status not in ``handled``, ``verified``, ``closed``; merged
  duplicates are left out everywhere.
* **overdue**: pending and ``deadline_at < now``; hours overdue = ``now - deadline_at``.
* **due soon**: pending and ``now <= deadline_at < now + warning_hours``.
* **T+2** (no response): still waiting for a department (``reported``, ``dispatched``,
  ``returned``, ``escalated``) ``feedback_days`` after it was reported.
* **resolved at**: for an incident whose status is resolved, the time of its latest step into a
  resolved status (or ``closed_at`` when there are no steps).
* **resolution rate** of a group: resolved / reported in the period; the **target** is 100 % for
  high risk and 90 % for medium and low (002); **on-time rate**: resolved by the deadline.

Periods are local calendar days, ISO weeks (Monday first) or months in Asia/Shanghai.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, literal, select
from sqlalchemy.orm import Session

from layers.access import Principal
from layers.errors import InvalidInput
from layers.incidents.settings import IncidentSettings
from layers.incidents.workflow import RESOLVED_STATUSES, visible_incidents
from layers.models import AdminUnit, Department, Grid, Incident, IncidentStep

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
RATE_TARGETS = {"high": 1.0, "medium": 0.9, "low": 0.9}
WAITING_STATUSES = ("reported", "dispatched", "returned", "escalated")
GroupBy = Literal["grid", "community", "department"]
LedgerKind = Literal["daily", "weekly", "monthly"]


def _pending() -> ColumnElement[bool]:
    return and_(Incident.status.not_in(RESOLVED_STATUSES), Incident.duplicate_of.is_(None))


def _row(r: Any, now: datetime) -> dict[str, Any]:
    return {
        "id": r.id,
        "code": r.code,
        "title": r.title,
        "status": r.status,
        "risk_level": r.risk_level,
        "category_code": r.category_code,
        "grid_code": r.grid_code,
        "reported_at": r.reported_at,
        "deadline_at": r.deadline_at,
        "hours_overdue": round((now - r.deadline_at).total_seconds() / 3600, 2)
        if r.deadline_at is not None and r.deadline_at < now
        else 0.0,
    }


def _base(principal: Principal) -> Any:
    return (
        select(
            Incident.id, Incident.code, Incident.title, Incident.status, Incident.risk_level,
            Incident.category_code, Grid.code.label("grid_code"), Incident.reported_at,
            Incident.deadline_at,
        )
        .outerjoin(Grid, Grid.id == Incident.grid_id)
        .where(visible_incidents(principal))
    )  # fmt: skip


def overdue(
    session: Session, principal: Principal, *, now: datetime, limit: int = 500
) -> list[dict[str, Any]]:
    """Pending incidents past their deadline, most overdue first."""
    rows = session.execute(
        _base(principal)
        .where(_pending(), Incident.deadline_at < now, Incident.reported_at <= now)
        .order_by(Incident.deadline_at, Incident.id)
        .limit(limit)
    ).all()
    return [_row(r, now) for r in rows]


def warnings(
    session: Session,
    principal: Principal,
    *,
    now: datetime,
    settings: IncidentSettings,
    limit: int = 500,
) -> dict[str, list[dict[str, Any]]]:
    """``due_soon``, ``overdue`` and ``no_response`` (T+2) lists, as in the module docstring."""
    soon = now + timedelta(hours=settings.warning_hours)
    t2 = now - timedelta(days=settings.feedback_days)
    due_soon = session.execute(
        _base(principal)
        .where(_pending(), Incident.deadline_at >= now, Incident.deadline_at < soon)
        .where(Incident.reported_at <= now)
        .order_by(Incident.deadline_at, Incident.id)
        .limit(limit)
    ).all()
    no_response = session.execute(
        _base(principal)
        .where(Incident.status.in_(WAITING_STATUSES), Incident.duplicate_of.is_(None))
        .where(Incident.reported_at < t2)
        .order_by(Incident.reported_at, Incident.id)
        .limit(limit)
    ).all()
    return {
        "due_soon": [_row(r, now) for r in due_soon],
        "overdue": overdue(session, principal, now=now, limit=limit),
        "no_response": [_row(r, now) for r in no_response],
    }


def _resolved_at(now: datetime) -> ColumnElement[Any]:
    last_step = (
        select(func.max(IncidentStep.at))
        .where(
            IncidentStep.incident_id == Incident.id,
            IncidentStep.to_status.in_(RESOLVED_STATUSES),
            IncidentStep.at <= now,
        )
        .scalar_subquery()
    )
    return case(
        (Incident.status.in_(RESOLVED_STATUSES), func.coalesce(last_step, Incident.closed_at)),
        else_=None,
    )


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open period [start, end) with a label."""

    start: datetime
    end: datetime
    label: str


def period(kind: LedgerKind, day: date) -> Period:
    """The local day, ISO week or month containing ``day`` (Asia/Shanghai)."""
    if kind == "daily":
        first, last = day, day + timedelta(days=1)
        label = day.isoformat()
    elif kind == "weekly":
        first = day - timedelta(days=day.weekday())
        last = first + timedelta(days=7)
        iso = first.isocalendar()
        label = f"{iso.year}-W{iso.week:02d}"
    elif kind == "monthly":
        first = day.replace(day=1)
        last = (first + timedelta(days=32)).replace(day=1)
        label = f"{first:%Y-%m}"
    else:
        raise InvalidInput(
            "kind must be daily, weekly or monthly", "台账类型应为 daily、weekly 或 monthly",
            field="kind",
        )  # fmt: skip

    def at(d: date) -> datetime:
        return datetime(d.year, d.month, d.day, tzinfo=LOCAL_TZ)

    return Period(at(first), at(last), label)


def rates(
    session: Session,
    principal: Principal,
    *,
    now: datetime,
    start: datetime,
    end: datetime,
    group_by: GroupBy = "grid",
) -> list[dict[str, Any]]:
    """Resolution and on-time rates of incidents reported in [start, end), per group and risk.

    Returns one row per (group, risk level) with ``total``, ``resolved``, ``on_time``,
    ``overdue`` (pending past the deadline at ``now``), ``resolution_rate``, ``on_time_rate``,
    ``target`` and ``target_met``; rates are None for an empty group.
    """
    if end <= start:
        raise InvalidInput("end must be after start", "结束时间必须晚于开始时间", field="end")
    key: Any
    label: Any
    join: tuple[Any, ColumnElement[bool]]
    if group_by == "grid":
        key, label, join = Grid.code, Grid.name, (Grid, Grid.id == Incident.grid_id)
    elif group_by == "community":
        key, label = AdminUnit.code, AdminUnit.name
        join = (AdminUnit, AdminUnit.id == Incident.community_id)
    elif group_by == "department":
        key = func.coalesce(Department.code, literal("-"))
        label = func.coalesce(Department.name, literal("未派遣"))
        join = (Department, Department.id == Incident.department_id)
    else:
        raise InvalidInput(
            "group_by must be grid, community or department",
            "分组方式应为 grid、community 或 department",
            field="group_by",
        )
    resolved_at = _resolved_at(now).label("resolved_at")
    base = (
        select(
            key.label("key"), label.label("label"), Incident.risk_level,
            Incident.deadline_at, Incident.status, resolved_at,
        )
        .outerjoin(*join)
        .where(visible_incidents(principal), Incident.duplicate_of.is_(None))
        .where(Incident.reported_at >= start, Incident.reported_at < end)
        .where(Incident.reported_at <= now)
        .subquery()
    )  # fmt: skip
    resolved = base.c.resolved_at.is_not(None)
    stmt = (
        select(
            base.c.key,
            base.c.label,
            base.c.risk_level,
            func.count().label("total"),
            func.count().filter(resolved).label("resolved"),
            func.count().filter(resolved & (base.c.resolved_at <= base.c.deadline_at))
            .label("on_time"),
            func.count().filter(~resolved & (base.c.deadline_at < now)).label("overdue"),
        )
        .group_by(base.c.key, base.c.label, base.c.risk_level)
        .order_by(base.c.key, case({"high": 1, "medium": 2, "low": 3}, value=base.c.risk_level))
    )  # fmt: skip
    out = []
    for r in session.execute(stmt):
        rate = r.resolved / r.total if r.total else None
        target = RATE_TARGETS[r.risk_level]
        out.append(
            {
                "key": r.key,
                "label": r.label,
                "risk_level": r.risk_level,
                "total": r.total,
                "resolved": r.resolved,
                "on_time": r.on_time,
                "overdue": r.overdue,
                "resolution_rate": None if rate is None else round(rate, 4),
                "on_time_rate": round(r.on_time / r.total, 4) if r.total else None,
                "target": target,
                "target_met": rate is not None and rate >= target - 1e-9,
            }
        )
    return out


LEDGER_COLUMNS = (
    ("label", "名称"),
    ("key", "编码"),
    ("risk_level", "风险等级"),
    ("total", "上报数"),
    ("resolved", "已化解"),
    ("on_time", "按期化解"),
    ("overdue", "超期未化解"),
    ("resolution_rate", "化解率"),
    ("on_time_rate", "按期率"),
    ("target", "目标"),
    ("target_met", "达标"),
)


def ledger(
    session: Session,
    principal: Principal,
    *,
    now: datetime,
    kind: LedgerKind,
    day: date,
    group_by: GroupBy = "grid",
) -> dict[str, Any]:
    """The 日核/周调/月统 ledger: :func:`rates` over the day, week or month containing ``day``."""
    p = period(kind, day)
    return {
        "kind": kind,
        "period": p.label,
        "start": p.start,
        "end": p.end,
        "group_by": group_by,
        "rows": rates(session, principal, now=now, start=p.start, end=p.end, group_by=group_by),
    }


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "是" if value else "否"
    return "" if value is None else value


def ledger_csv(data: dict[str, Any]) -> bytes:
    """The ledger as UTF-8 CSV with a BOM (so Excel opens the Chinese headers correctly)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([zh for _, zh in LEDGER_COLUMNS])
    for row in data["rows"]:
        writer.writerow([_cell(row[k]) for k, _ in LEDGER_COLUMNS])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def ledger_xlsx(data: dict[str, Any]) -> bytes:
    """The ledger as an XLSX workbook (codes written as text so no digit is lost)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = f"{data['kind']} {data['period']}"[:31]
    ws.append([zh for _, zh in LEDGER_COLUMNS])
    for row in data["rows"]:
        ws.append([_cell(row[k]) for k, _ in LEDGER_COLUMNS])
    for cell in ws["B"][1:]:
        cell.number_format = "@"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
