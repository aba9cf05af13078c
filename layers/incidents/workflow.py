"""The incident workflow as an explicit state machine: one declarative table, one checker.

Every change of an incident after its report is an *action* of :data:`TRANSITIONS`: from which
statuses it may start, which status it leads to (``None``: the status stays, e.g. a supervision
mark or a joint-case summons), and which roles may take it. :func:`act` applies one action in
the caller's transaction and writes one :class:`~layers.models.IncidentStep` row (who, when,
where, note, attachments) plus one audit row.

Checks run in a fixed order, so every refusal has one well-defined answer:

1. **Role** — the role is not in the action's ``roles``: :class:`Forbidden` (403). A grid worker
   asking to close is refused here, whatever the status.
2. **Visibility** — the incident is not visible to the user (:func:`visible_incidents`):
   :class:`NotFound` (404), which reveals nothing about other areas.
3. **Remit** — visible but not the user's to act on (a grid worker not on the incident's grid's
   staff, a department handler whose department the incident is not routed to, an escalation
   above the user's level): :class:`Forbidden` (403).
4. **Status** — the current status is not a source of the action: :class:`Conflict` (409)
   naming the allowed sources.

A refused action changes nothing: the row is locked and read first, and nothing is written
before every check has passed. The table is rendered in docs/INCIDENTS.md and the tests
iterate over it (every role × every action, allowed and forbidden).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.orm import Session

from geoalchemy2.shape import from_shape
from shapely.geometry import Point

from layers.access import Principal
from layers.audit import record
from layers.base import STORAGE_SRID
from layers.errors import Conflict, Forbidden, InvalidInput, NotFound
from layers.models import (
    AdminUnit,
    Department,
    Grid,
    GridStaff,
    Incident,
    IncidentDepartment,
    IncidentPhoto,
    IncidentStep,
)
from layers.models.incidents import ESCALATION_LEVELS, INCIDENT_STATUSES, SUPERVISION_LEVELS
from layers.models.users import ROLE_LABELS_ZH, Role
from layers.scope import incidents_scope

R = Role
OPEN_STATUSES = frozenset(s for s in INCIDENT_STATUSES if s != "closed")
#: Statuses that count as resolved for the rates (the department has fed back a result).
RESOLVED_STATUSES = frozenset({"handled", "verified", "closed"})

STATUS_LABELS_ZH = {
    "reported": "已上报",
    "dispatched": "已派遣",
    "accepted": "已受理",
    "handling": "处置中",
    "handled": "已处置（待核查）",
    "verified": "已核查",
    "closed": "已办结",
    "returned": "已回退",
    "deferred": "已挂账",
    "escalated": "已上报上级",
}


@dataclass(frozen=True, slots=True)
class Transition:
    """One action of the state machine."""

    action: str
    sources: frozenset[str]
    target: str | None
    roles: frozenset[Role]
    label_zh: str
    note_required: bool = False
    department_scoped: bool = False  # a dept_handler acts only on incidents routed to them
    extra: tuple[str, ...] = field(default=())  # parameters the action needs


def _t(
    action: str,
    sources: set[str] | frozenset[str],
    target: str | None,
    roles: set[Role],
    label_zh: str,
    **kw: Any,
) -> Transition:
    return Transition(action, frozenset(sources), target, frozenset(roles), label_zh, **kw)


_CHIEFS = {R.community_admin, R.street_admin, R.admin}

#: The state machine. Reporting (creation) is not an action: see :mod:`layers.incidents.reporting`.
TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        _t("dispatch", {"reported", "returned", "escalated"}, "dispatched",
           {R.dispatcher, R.admin}, "派遣", extra=("department_id",)),
        _t("accept", {"dispatched"}, "accepted", {R.dept_handler}, "受理",
           department_scoped=True),
        _t("return", {"dispatched", "accepted"}, "returned", {R.dept_handler}, "回退",
           note_required=True, department_scoped=True),
        _t("start", {"accepted"}, "handling", {R.dept_handler}, "开始处置",
           department_scoped=True),
        _t("handle", {"handling"}, "handled", {R.dept_handler}, "处置反馈",
           note_required=True, department_scoped=True),
        _t("verify", {"handled"}, "verified", {R.dispatcher, R.community_admin, R.admin}, "核查"),
        _t("reject", {"handled"}, "handling", {R.dispatcher, R.community_admin, R.admin},
           "核查不通过", note_required=True),
        _t("close", {"verified"}, "closed", {R.dispatcher, R.admin}, "办结销号"),
        _t("escalate",
           {"reported", "dispatched", "accepted", "handling", "returned", "deferred",
            "escalated"},
           "escalated",
           {R.grid_worker, R.community_admin, R.street_admin, R.dispatcher, R.admin},
           "逐级上报", note_required=True),
        _t("defer", {"accepted", "handling"}, "deferred", {R.dept_handler}, "申请挂账",
           note_required=True, department_scoped=True, extra=("until",)),
        _t("approve_deferral", {"deferred"}, None, _CHIEFS, "批准挂账"),
        _t("reject_deferral", {"deferred"}, "handling", _CHIEFS, "驳回挂账",
           note_required=True),
        _t("resume", {"deferred"}, "handling", {R.dept_handler}, "恢复处置",
           department_scoped=True),
        _t("summon", OPEN_STATUSES, None,
           {R.grid_worker, R.community_admin, R.street_admin, R.dispatcher, R.admin},
           "网格吹哨", extra=("department_ids",)),
        _t("check_in", OPEN_STATUSES, None, {R.dept_handler}, "委办报到"),
        _t("supervise", OPEN_STATUSES, None, {R.dispatcher, R.street_admin, R.admin}, "督办",
           extra=("level",)),
        _t("follow_up", OPEN_STATUSES, None,
           {R.grid_worker, R.community_admin, R.street_admin, R.dispatcher, R.dept_handler,
            R.admin},
           "跟踪反馈", note_required=True),
        _t("merge", {"reported", "dispatched", "returned", "escalated"}, "closed",
           {R.dispatcher, R.admin}, "合并重复", extra=("into_id",)),
    )
}  # fmt: skip

#: Who may escalate from which level (小事不出网格、大事不出社区): the level's owner and above.
ESCALATE_FROM = {
    R.grid_worker: {"grid"},
    R.community_admin: {"grid", "community"},
    R.street_admin: {"grid", "community", "street"},
    R.dispatcher: {"grid", "community", "street"},
    R.admin: {"grid", "community", "street"},
}


def _in_area(principal: Principal, community_id: Any) -> ColumnElement[bool]:
    communities = select(AdminUnit.id).where(AdminUnit.code.startswith(principal.area_prefix))
    return community_id.in_(communities)


def visible_incidents(principal: Principal) -> ColumnElement[bool]:
    """Incidents the principal may see: :func:`layers.scope.incidents_scope`, and for a
    department handler also the joint cases their department was summoned to."""
    base = incidents_scope(principal)
    if principal.role != R.dept_handler or principal.department_id is None:
        return base
    summoned = select(IncidentDepartment.incident_id).where(
        IncidentDepartment.department_id == principal.department_id
    )
    return base | (_in_area(principal, Incident.community_id) & Incident.id.in_(summoned))


def load_for_update(session: Session, principal: Principal, incident_id: int) -> Incident:
    """The incident row, locked, if the principal may see it; NotFound otherwise."""
    row = session.scalars(
        select(Incident)
        .where(Incident.id == incident_id, visible_incidents(principal))
        .with_for_update()
    ).one_or_none()
    if row is None:
        raise NotFound(
            f"Incident {incident_id} not found", f"未找到事件 {incident_id}", field="incident_id"
        )
    return row


def _role_check(principal: Principal, t: Transition) -> None:
    if principal.role not in t.roles:
        allowed_zh = "、".join(ROLE_LABELS_ZH[r] for r in sorted(t.roles))
        raise Forbidden(
            f"The role {principal.role.value} may not {t.action} an incident; "
            f"allowed: {', '.join(sorted(r.value for r in t.roles))}",
            f"{ROLE_LABELS_ZH[principal.role]}无权执行「{t.label_zh}」；仅{allowed_zh}可执行",
            field="action",
        )


def _worker_grids(session: Session, principal: Principal) -> set[int]:
    return set(
        session.scalars(
            select(Grid.id)
            .join(GridStaff, GridStaff.grid_code == Grid.code)
            .where(GridStaff.user_id == principal.user_id, Grid.valid_to.is_(None))
        )
    )


def _remit_check(session: Session, principal: Principal, t: Transition, incident: Incident) -> None:
    """403 when the incident is visible but not the principal's to act on."""
    if principal.role == R.grid_worker and incident.grid_id not in _worker_grids(
        session, principal
    ):
        raise Forbidden(
            "Grid workers act only on incidents of the grids they staff",
            "网格员只能处理本人所在网格的事件",
            field="incident_id",
        )
    if principal.role == R.dept_handler:
        if t.action == "check_in":
            summoned = session.scalar(
                select(IncidentDepartment.checked_in_at.is_(None)).where(
                    IncidentDepartment.incident_id == incident.id,
                    IncidentDepartment.department_id == principal.department_id,
                )
            )
            if summoned is None:
                raise Forbidden(
                    "Your department was not summoned to this incident",
                    "本部门未被召集参与该事件",
                    field="incident_id",
                )
            if summoned is False:
                raise Conflict(
                    "Your department has already checked in", "本部门已报到", field="action"
                )
        elif t.department_scoped and incident.department_id != principal.department_id:
            raise Forbidden(
                "The incident is not routed to your department",
                "该事件未派遣至本部门",
                field="incident_id",
            )
    if t.action == "escalate":
        if incident.escalation_level == ESCALATION_LEVELS[-1]:
            raise Conflict(
                "The incident is already at district level and cannot be escalated further",
                "事件已上报至区级，无法继续上报",
                field="action",
            )
        if incident.escalation_level not in ESCALATE_FROM.get(principal.role, set()):
            raise Forbidden(
                f"Your role may not escalate an incident at {incident.escalation_level} level",
                f"{ROLE_LABELS_ZH[principal.role]}无权上报处于该层级的事件",
                field="action",
            )


def _status_check(t: Transition, incident: Incident) -> None:
    if incident.status not in t.sources:
        sources_zh = "、".join(STATUS_LABELS_ZH[s] for s in INCIDENT_STATUSES if s in t.sources)
        raise Conflict(
            f"Cannot {t.action} an incident that is {incident.status}; "
            f"allowed from: {', '.join(s for s in INCIDENT_STATUSES if s in t.sources)}",
            f"事件当前状态为「{STATUS_LABELS_ZH[incident.status]}」，不能执行「{t.label_zh}」；"
            f"仅可从以下状态执行：{sources_zh}",
            field="action",
            extra={"status": incident.status, "action": t.action},
        )


def check(
    session: Session, principal: Principal, action: str, incident_id: int
) -> tuple[Transition, Incident]:
    """Run checks 1–4 of the module docstring; return the transition and the locked row."""
    t = TRANSITIONS.get(action)
    if t is None:
        raise InvalidInput(
            f"Unknown action {action[:40]!r}; known: {', '.join(TRANSITIONS)}",
            f"未知操作 {action[:40]!r}",
            field="action",
        )
    _role_check(principal, t)
    incident = load_for_update(session, principal, incident_id)
    _remit_check(session, principal, t, incident)
    _status_check(t, incident)
    return t, incident


def allowed_actions(session: Session, principal: Principal, incident: Incident) -> list[str]:
    """The actions the principal could take on the incident now (for the UI)."""
    out = []
    for t in TRANSITIONS.values():
        if principal.role not in t.roles or incident.status not in t.sources:
            continue
        try:
            _remit_check(session, principal, t, incident)
        except (Forbidden, Conflict):
            continue
        out.append(t.action)
    return out


def _department(session: Session, principal: Principal, department_id: Any) -> int:
    if not isinstance(department_id, int) or isinstance(department_id, bool):
        raise InvalidInput(
            "department_id (an integer) is required", "缺少部门编号", field="department_id"
        )
    if session.get(Department, department_id) is None:
        raise InvalidInput(
            f"Department {department_id} does not exist",
            f"部门 {department_id} 不存在",
            field="department_id",
        )
    return department_id


def _photos(
    session: Session, principal: Principal, incident_id: int, photo_ids: list[int]
) -> list[IncidentPhoto]:
    """Photos the principal uploaded and not yet bound, or already bound to this incident."""
    if not photo_ids:
        return []
    rows = list(session.scalars(select(IncidentPhoto).where(IncidentPhoto.id.in_(set(photo_ids)))))
    ok = [
        p
        for p in rows
        if (p.incident_id is None and p.uploaded_by == principal.user_id)
        or p.incident_id == incident_id
    ]
    if len(ok) != len(set(photo_ids)):
        raise InvalidInput(
            "Unknown photo id, or a photo of another user or incident",
            "照片编号无效，或照片属于其他用户或事件",
            field="photo_ids",
        )
    return ok


def record_step(
    session: Session,
    principal: Principal | None,
    incident: Incident,
    *,
    action: str,
    from_status: str | None,
    to_status: str,
    at: datetime,
    note: str | None = None,
    location: tuple[float, float] | None = None,
    photos: list[IncidentPhoto] | None = None,
    department_id: int | None = None,
    client_ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Insert one step row (and its audit row); bind the photos to it. Returns the step id."""
    attachments = [
        {"photo_id": p.id, "media_type": p.media_type, "size_bytes": p.size_bytes}
        for p in photos or []
    ]
    step_id = session.scalar(
        insert(IncidentStep)
        .values(
            incident_id=incident.id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            actor_id=principal.user_id if principal else None,
            department_id=department_id,
            at=at,
            note=note,
            geom=from_shape(Point(location), STORAGE_SRID) if location else None,
            attachments=attachments,
        )
        .returning(IncidentStep.id)
    )
    assert step_id is not None
    if photos:
        session.execute(
            update(IncidentPhoto)
            .where(IncidentPhoto.id.in_([p.id for p in photos]))
            .values(incident_id=incident.id, step_id=step_id)
        )
    record(
        session,
        action=f"incident.{action}"[:32],
        resource="incidents",
        resource_ids=[incident.id],
        principal=principal,
        username=None if principal else "system",
        client_ip=client_ip,
        detail={"from": from_status, "to": to_status, "step_id": step_id, **(detail or {})},
    )
    return step_id


def act(
    session: Session,
    principal: Principal,
    *,
    incident_id: int,
    action: str,
    now: datetime,
    note: str | None = None,
    location: tuple[float, float] | None = None,
    photo_ids: list[int] | None = None,
    params: dict[str, Any] | None = None,
    client_ip: str | None = None,
) -> dict[str, Any]:
    """Apply one action to an incident (one transaction with the caller; flushes only).

    Parameters
    ----------
    location
        Where the actor stands, storage lon/lat (EPSG:4326 degrees), or None.
    params
        Action parameters: ``department_id`` (dispatch), ``until`` (defer, a datetime),
        ``department_ids`` (summon), ``level`` (supervise), ``into_id`` (merge).

    Returns
    -------
    dict
        ``incident_id``, ``action``, ``from_status``, ``status``, ``step_id``.
    """
    params = params or {}
    t, incident = check(session, principal, action, incident_id)
    note = (note or "").strip() or None
    if t.note_required and not note:
        raise InvalidInput(
            f"A note is required to {action}", f"「{t.label_zh}」需要填写说明", field="note"
        )
    photos = _photos(session, principal, incident.id, photo_ids or [])
    before = incident.status
    target = t.target or before
    detail: dict[str, Any] = {}
    values: dict[str, Any] = {"status": target, "updated_at": now}
    step_department: int | None = incident.department_id

    if action == "dispatch":
        wanted = params.get("department_id")
        if wanted is None:
            # 归口管理: without a named department the dispatch rules decide (属地兜底).
            from layers.incidents.dispatch import suggest_department

            suggestion = suggest_department(session, incident.id)
            wanted = suggestion["department_id"] if suggestion else None
            detail["by_rule"] = suggestion["rule_id"] if suggestion else None
        dept = _department(session, principal, wanted)
        values["department_id"] = step_department = dept
    elif action == "return":
        # 回退: the wrong department lets go; the dispatcher routes it again.
        values["department_id"] = None
    elif action == "escalate":
        level = ESCALATION_LEVELS[ESCALATION_LEVELS.index(incident.escalation_level) + 1]
        values["escalation_level"] = level
        values["department_id"] = None
        detail["level"] = level
    elif action == "defer":
        until = params.get("until")
        if not isinstance(until, datetime) or until.tzinfo is None or until <= now:
            raise InvalidInput(
                "until must be a future time with a UTC offset",
                "挂账截止时间必须晚于当前时间并带时区",
                field="until",
            )
        values.update(deferred_until=until, deferral_approved=False)
        detail["until"] = until.isoformat()
    elif action == "approve_deferral":
        if incident.deferral_approved or incident.deferred_until is None:
            # Deferrals recorded before the workflow (demo/legacy rows) carry no date to approve.
            raise Conflict(
                "The deferral is already approved or has no date",
                "挂账已批准或缺少截止时间",
                field="action",
            )
        values.update(deferral_approved=True, deadline_at=incident.deferred_until)
    elif action in ("reject_deferral", "resume"):
        values.update(deferred_until=None, deferral_approved=None)
    elif action == "summon":
        detail["department_ids"] = _summon(session, principal, incident, params, now)
    elif action == "check_in":
        session.execute(
            update(IncidentDepartment)
            .where(
                IncidentDepartment.incident_id == incident.id,
                IncidentDepartment.department_id == principal.department_id,
            )
            .values(checked_in_at=now, checked_in_by=principal.user_id)
        )
        step_department = principal.department_id
    elif action == "supervise":
        mark = params.get("level")
        if mark not in SUPERVISION_LEVELS[1:]:
            raise InvalidInput(
                "level must be normal, yellow or red",
                "督办等级应为 normal（一般）、yellow（黄牌）或 red（红牌）",
                field="level",
            )
        values["supervision"] = mark
        detail["level"] = mark
    elif action == "merge":
        into = _merge_target(session, principal, incident, params.get("into_id"))
        values["duplicate_of"] = into
        detail["into_id"] = into
    if target == "closed":
        values["closed_at"] = now

    session.execute(update(Incident).where(Incident.id == incident.id).values(**values))
    step_id = record_step(
        session,
        principal,
        incident,
        action=action,
        from_status=before,
        to_status=target,
        at=now,
        note=note,
        location=location,
        photos=photos,
        department_id=step_department,
        client_ip=client_ip,
        detail=detail,
    )
    session.expire(incident)
    return {"incident_id": incident.id, "action": action, "from_status": before,
            "status": target, "step_id": step_id}  # fmt: skip


def _summon(
    session: Session,
    principal: Principal,
    incident: Incident,
    params: dict[str, Any],
    now: datetime,
) -> list[int]:
    ids = params.get("department_ids")
    if not isinstance(ids, list) or not ids:
        raise InvalidInput(
            "department_ids (a non-empty list) is required",
            "请至少选择一个被召集的部门",
            field="department_ids",
        )
    depts = sorted({_department(session, principal, d) for d in ids})
    existing = set(
        session.scalars(
            select(IncidentDepartment.department_id).where(
                IncidentDepartment.incident_id == incident.id
            )
        )
    )
    new = [d for d in depts if d not in existing]
    if not new:
        raise Conflict(
            "Every listed department is already summoned",
            "所选部门均已被召集",
            field="department_ids",
        )
    session.execute(
        insert(IncidentDepartment),
        [
            {
                "incident_id": incident.id,
                "department_id": d,
                "summoned_at": now,
                "summoned_by": principal.user_id,
            }
            for d in new
        ],
    )
    return new


def _merge_target(session: Session, principal: Principal, incident: Incident, into_id: Any) -> int:
    if not isinstance(into_id, int) or isinstance(into_id, bool) or into_id == incident.id:
        raise InvalidInput(
            "into_id must be the id of another incident",
            "请指定要合并到的另一事件",
            field="into_id",
        )
    target = session.scalars(
        select(Incident).where(Incident.id == into_id, visible_incidents(principal))
    ).one_or_none()
    if target is None:
        raise InvalidInput(
            f"Incident {into_id} not found", f"未找到事件 {into_id}", field="into_id"
        )
    if target.status == "closed" or target.duplicate_of is not None:
        raise Conflict(
            "Cannot merge into a closed or merged incident",
            "不能合并到已办结或已合并的事件",
            field="into_id",
        )
    return into_id


def transitions_table() -> list[dict[str, Any]]:
    """The state machine as rows (for the API, the docs and the tests)."""
    return [
        {
            "action": t.action,
            "label_zh": t.label_zh,
            "from": [s for s in INCIDENT_STATUSES if s in t.sources],
            "to": t.target,
            "roles": sorted(r.value for r in t.roles),
            "note_required": t.note_required,
            "department_scoped": t.department_scoped,
        }
        for t in TRANSITIONS.values()
    ]


__all__ = [
    "OPEN_STATUSES",
    "RESOLVED_STATUSES",
    "STATUS_LABELS_ZH",
    "TRANSITIONS",
    "Transition",
    "act",
    "allowed_actions",
    "check",
    "record_step",
    "transitions_table",
    "visible_incidents",
]
