"""Draft grid plans: open, edit, undo, validate and publish grid changes as new versions.

A plan belongs to one community or street (its *scope*). Edits go into the plan as
``grid_plan_edits`` rows with the grids they produced as ``grid_plan_parts`` (see
:mod:`layers.models.plans` for keys and versions). The edit modules (:mod:`.split`,
:mod:`.edits`, :mod:`.merge`, :mod:`.balance`) compute the new geometry in PostGIS and hand it to
:func:`record_edit`; this module owns everything around them:

* :data:`DRAFT_SET_SQL` — the plan's resulting grid set as one SQL query, so validation, diff
  and publish all read the same set;
* permissions and scope (planners, street admins and admins edit plans of their area; community
  admins may look);
* the version check: every edit records the version of each current grid it consumed, checked
  when it is made (against the version the client says it saw) and again, under row locks, when
  the plan is published;
* :func:`publish_plan` — in the caller's one transaction: lock and re-check versions, close the
  old versions at ``effective_at``, insert the surviving parts as new versions, issue and retire
  codes, write lineage, carry staff over, regenerate 四至, and re-file the buildings, places and
  incidents the change touched (persons follow their buildings).

Nothing here commits; the request (or the CLI command) commits once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Integer, String, func, insert, select, text
from sqlalchemy.orm import Session

from geoalchemy2 import Geometry

from layers.access import GRID_EDIT_ROLES, Principal
from layers.audit import record
from layers.base import STORAGE_SRID
from layers.errors import Conflict, Forbidden, InvalidInput, NotFound
from layers.grids import codes as grid_codes
from layers.grids.coverage import CoverageReport, validate_coverage
from layers.grids.sizhi import regenerate_sizhi
from layers.models import AdminUnit, GridPlan, GridPlanEdit, GridPlanPart
from layers.models.plans import EditOp, PlanStatus
from layers.models.users import Role
from layers.spatial.assign import reassign_after_grid_change

# Roles that may look at plans (community admins follow what the street plans for them).
PLAN_VIEW_ROLES = GRID_EDIT_ROLES | {Role.community_admin}

# A publish may be dated slightly ahead of the database clock (client clocks drift); anything
# further ahead would make the "current" map (valid_to IS NULL) disagree with the map valid now.
EFFECTIVE_AT_SKEW = timedelta(minutes=5)

# Overlap (m²) between a new and an old version below which they are not lineage-related:
# float noise along a shared edge is not "came from".
LINEAGE_MIN_OVERLAP_M2 = 0.5

# The plan's resulting grid set: current grids of the plan's area that no active edit consumed,
# plus the parts of active edits that no later active edit consumed. Columns: grid_id (current
# grid) or part_id (draft part), key, code (NULL for a part that will get a new code), version
# (NULL for parts), attributes, geom. Parameters: :draft_plan_id, :draft_prefix (area prefix
# followed by '%').
DRAFT_SET_SQL = """
SELECT g.id AS grid_id, NULL::integer AS part_id, g.code AS key, g.code AS code,
       g.version AS version, g.name, g.kind, g.sizing_type, g.community_id,
       g.parent_grid_code, g.sizhi, g.geom
FROM grids AS g
WHERE g.valid_to IS NULL
  AND g.code LIKE :draft_prefix
  AND g.code NOT IN (
      SELECT unnest(c.source_keys) FROM grid_plan_edits AS c
      WHERE c.plan_id = :draft_plan_id AND NOT c.undone)
UNION ALL
SELECT NULL::integer, p.id, p.key, CASE WHEN p.key ~ '^[0-9]{15}$' THEN p.key END,
       NULL::integer, p.name, p.kind, p.sizing_type, p.community_id,
       p.parent_grid_code, p.sizhi, p.geom
FROM grid_plan_parts AS p
JOIN grid_plan_edits AS e ON e.id = p.edit_id AND e.plan_id = :draft_plan_id AND NOT e.undone
WHERE NOT EXISTS (
    SELECT 1 FROM grid_plan_edits AS later
    WHERE later.plan_id = e.plan_id AND NOT later.undone AND later.seq > e.seq
      AND p.key = ANY(later.source_keys))
"""

# Keys every plan part may take; a provisional key names the edit (seq) and the part (n).
NEW_KEY_FORMAT = "new-{seq}-{n}"


# --------------------------------------------------------------------------------------------
# Loading a plan with permissions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanContext:
    """A plan with its scope, as the principal may see it."""

    plan: GridPlan
    scope_code: str
    scope_name: str
    scope_level: str
    prefix: str
    principal: Principal

    @property
    def draft_params(self) -> dict[str, Any]:
        """The bound parameters of :data:`DRAFT_SET_SQL` for this plan."""
        return {"draft_plan_id": self.plan.id, "draft_prefix": self.prefix + "%"}


def _may_view(principal: Principal) -> None:
    if principal.role not in PLAN_VIEW_ROLES:
        raise Forbidden(
            "Only planners, street admins, community admins and admins may see grid plans",
            "仅网格规划员、街道管理员、社区管理员和系统管理员可查看网格调整方案",
        )


def _may_edit(principal: Principal) -> None:
    if not principal.may_edit_grids():
        raise Forbidden(
            "Only planners, street admins and admins may edit grid plans",
            "仅网格规划员、街道管理员和系统管理员可编辑网格调整方案",
        )


def _overlaps_area(principal: Principal, prefix: str) -> bool:
    """A plan is visible when its area and the principal's area are nested either way."""
    return prefix.startswith(principal.area_prefix) or principal.area_prefix.startswith(prefix)


def load_plan(
    session: Session, *, principal: Principal, plan_id: int, for_update: bool = False
) -> PlanContext:
    """The plan as the principal may see it; NotFound when missing or outside their area."""
    _may_view(principal)
    query = (
        select(GridPlan, AdminUnit)
        .join(AdminUnit, AdminUnit.id == GridPlan.scope_unit_id)
        .where(GridPlan.id == plan_id)
    )
    if for_update:
        query = query.with_for_update(of=GridPlan)
    row = session.execute(query).first()
    if row is None or not _overlaps_area(principal, row.AdminUnit.prefix):
        raise NotFound(
            f"Grid plan {plan_id} not found", f"未找到网格调整方案 {plan_id}", field="id"
        )
    unit: AdminUnit = row.AdminUnit
    return PlanContext(
        plan=row.GridPlan,
        scope_code=unit.code,
        scope_name=unit.name,
        scope_level=unit.level,
        prefix=unit.prefix,
        principal=principal,
    )


def open_draft(session: Session, *, principal: Principal, plan_id: int) -> PlanContext:
    """Lock a draft plan for a change by a principal who may edit it.

    The row lock serialises edits of one plan, so two requests cannot take the same ``seq``.
    """
    _may_edit(principal)
    ctx = load_plan(session, principal=principal, plan_id=plan_id, for_update=True)
    if not ctx.prefix.startswith(principal.area_prefix):
        raise Forbidden(
            "This plan covers more than your area; only a user of the whole area may edit it",
            "该方案范围超出您的管辖区域，只有整个区域的用户可以编辑",
        )
    if ctx.plan.status != PlanStatus.draft:
        raise Conflict(
            f"Plan {plan_id} is {ctx.plan.status}; only a draft can be changed",
            f"方案 {plan_id} 状态为{_STATUS_ZH[ctx.plan.status]}，只有草稿可以修改",
            field="id",
        )
    return ctx


_STATUS_ZH = {"draft": "草稿", "published": "已发布", "abandoned": "已放弃"}


# --------------------------------------------------------------------------------------------
# Plans: create, list, show, undo, abandon
# --------------------------------------------------------------------------------------------


def create_plan(
    session: Session,
    *,
    principal: Principal,
    scope_code: str,
    name: str,
    description: str | None = None,
) -> PlanContext:
    """Open a new draft plan for a community or street inside the principal's area."""
    _may_edit(principal)
    unit = session.scalars(select(AdminUnit).where(AdminUnit.code == scope_code)).first()
    if unit is None or not unit.code.startswith(principal.area_prefix):
        raise NotFound(
            f"No community or street {scope_code} in your area",
            f"您的管辖区域内没有社区或街道 {scope_code}",
            field="scope_code",
        )
    if unit.level not in ("community", "street"):
        raise InvalidInput(
            "A plan covers one community or one street, not a district",
            "网格调整方案的范围应为一个社区或一个街道，而不是区",
            field="scope_code",
        )
    if not name.strip():
        raise InvalidInput("The plan needs a name", "方案名称不能为空", field="name")
    plan = GridPlan(
        scope_unit_id=unit.id,
        name=name.strip(),
        description=description,
        created_by=principal.user_id,
    )
    session.add(plan)
    session.flush()
    session.refresh(plan)
    return PlanContext(plan, unit.code, unit.name, unit.level, unit.prefix, principal)


class Source(NamedTuple):
    """A grid an edit consumed: its key and the version it was made against (None: a part of
    an earlier edit of the same draft)."""

    key: str
    version: int | None


@dataclass(frozen=True, slots=True)
class PartSummary:
    """A grid produced by an edit: key, name and area in m² (WGS-84 spheroid)."""

    key: str
    name: str
    kind: str
    sizing_type: str
    area_m2: float


@dataclass(frozen=True, slots=True)
class EditSummary:
    """One edit of a plan with what it consumed and produced."""

    id: int
    seq: int
    op: str
    sources: list[Source]
    parts: list[PartSummary]
    undone: bool
    created_at: datetime
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PlanSummary:
    """A plan and its edits (oldest first), for display."""

    id: int
    name: str
    description: str | None
    status: str
    scope_code: str
    scope_name: str
    scope_level: str
    created_by: int | None
    created_at: datetime
    effective_at: datetime | None
    published_at: datetime | None
    published_by: int | None
    closed_at: datetime | None
    edits: list[EditSummary] = field(default_factory=list)


def _edits(session: Session, plan_id: int) -> list[EditSummary]:
    rows = session.execute(
        text(
            """
SELECT e.id, e.seq, e.op, e.source_keys, e.source_versions, e.undone, e.created_at, e.params,
       coalesce(json_agg(json_build_object(
           'key', p.key, 'name', p.name, 'kind', p.kind, 'sizing_type', p.sizing_type,
           'area_m2', ST_Area(p.geom::geography)) ORDER BY p.id)
         FILTER (WHERE p.id IS NOT NULL), '[]') AS parts
FROM grid_plan_edits AS e LEFT JOIN grid_plan_parts AS p ON p.edit_id = e.id
WHERE e.plan_id = :plan_id
GROUP BY e.id
ORDER BY e.seq
"""
        ),
        {"plan_id": plan_id},
    )
    return [
        EditSummary(
            id=r.id,
            seq=r.seq,
            op=r.op,
            sources=[Source(k, v) for k, v in zip(r.source_keys, r.source_versions, strict=True)],
            parts=[PartSummary(**p) for p in r.parts],
            undone=r.undone,
            created_at=r.created_at,
            params=r.params,
        )
        for r in rows
    ]


def _summary(session: Session, ctx: PlanContext, *, with_edits: bool = True) -> PlanSummary:
    plan = ctx.plan
    return PlanSummary(
        id=plan.id,
        name=plan.name,
        description=plan.description,
        status=plan.status,
        scope_code=ctx.scope_code,
        scope_name=ctx.scope_name,
        scope_level=ctx.scope_level,
        created_by=plan.created_by,
        created_at=plan.created_at,
        effective_at=plan.effective_at,
        published_at=plan.published_at,
        published_by=plan.published_by,
        closed_at=plan.closed_at,
        edits=_edits(session, plan.id) if with_edits else [],
    )


def get_plan(session: Session, *, principal: Principal, plan_id: int) -> PlanSummary:
    """A plan with its edits, if the principal may see it."""
    return _summary(session, load_plan(session, principal=principal, plan_id=plan_id))


def plan_summary(session: Session, ctx: PlanContext) -> PlanSummary:
    """The summary of an already loaded plan (after a change in the same transaction)."""
    session.refresh(ctx.plan)
    return _summary(session, ctx)


def list_plans(
    session: Session, *, principal: Principal, status: str | None = None
) -> list[PlanSummary]:
    """Plans whose area overlaps the principal's, newest first (without their edits)."""
    _may_view(principal)
    if status is not None and status not in PlanStatus.__members__:
        raise InvalidInput(
            f"status must be one of {', '.join(PlanStatus)}",
            f"status 应为 {'、'.join(PlanStatus)} 之一",
            field="status",
        )
    query = (
        select(GridPlan, AdminUnit)
        .join(AdminUnit, AdminUnit.id == GridPlan.scope_unit_id)
        .order_by(GridPlan.id.desc())
    )
    if status is not None:
        query = query.where(GridPlan.status == status)
    out = []
    for row in session.execute(query):
        unit: AdminUnit = row.AdminUnit
        if not _overlaps_area(principal, unit.prefix):
            continue
        ctx = PlanContext(row.GridPlan, unit.code, unit.name, unit.level, unit.prefix, principal)
        out.append(_summary(session, ctx, with_edits=False))
    return out


def undo_last_edit(session: Session, *, principal: Principal, plan_id: int) -> PlanSummary:
    """Undo the newest active edit of a draft (edits are undone last-first)."""
    ctx = open_draft(session, principal=principal, plan_id=plan_id)
    last = session.scalars(
        select(GridPlanEdit)
        .where(GridPlanEdit.plan_id == plan_id, GridPlanEdit.undone.is_(False))
        .order_by(GridPlanEdit.seq.desc())
        .limit(1)
    ).first()
    if last is None:
        raise InvalidInput("The plan has no edit to undo", "方案中没有可撤销的修改", field="id")
    last.undone = True
    session.flush()
    return plan_summary(session, ctx)


def abandon_plan(session: Session, *, principal: Principal, plan_id: int) -> PlanSummary:
    """Abandon a draft: it stays for the record, and can no longer be changed or published."""
    ctx = open_draft(session, principal=principal, plan_id=plan_id)
    ctx.plan.status = PlanStatus.abandoned
    ctx.plan.closed_at = session.execute(text("SELECT now()")).scalar_one()
    session.flush()
    return plan_summary(session, ctx)


# --------------------------------------------------------------------------------------------
# The draft's grid set, and recording edits into it
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveGrid:
    """A grid of the draft's resulting set; ``geom`` is EWKB in EPSG:4326."""

    key: str
    code: str | None
    version: int | None
    grid_id: int | None
    part_id: int | None
    name: str
    kind: str
    sizing_type: str
    community_id: int
    community_code: str
    parent_grid_code: str | None
    sizhi: str | None
    geom: bytes
    area_m2: float

    @property
    def is_current_grid(self) -> bool:
        """True for a published grid version, False for a part of this draft."""
        return self.grid_id is not None


def draft_grid_set(ctx: PlanContext) -> Any:
    """The plan's resulting grid set as a selectable (``id``, ``code``, ``geom``, ...).

    ``id`` is the grid id of a current grid and the negated part id of a draft part; ``code``
    is the key (15-digit code, or ``new-…`` for a part that will get a new code). Suitable for
    ``validate_coverage(grids=...)``.
    """
    draft = (
        text(DRAFT_SET_SQL)
        .bindparams(**ctx.draft_params)
        .columns(
            grid_id=Integer,
            part_id=Integer,
            key=String,
            code=String,
            version=Integer,
            name=String,
            kind=String,
            sizing_type=String,
            community_id=Integer,
            parent_grid_code=String,
            sizhi=String,
            geom=Geometry(srid=STORAGE_SRID),
        )
        .subquery("draft")
    )
    return select(
        func.coalesce(draft.c.grid_id, -draft.c.part_id).label("id"),
        draft.c.key.label("code"),
        draft.c.geom,
        draft.c.name,
        draft.c.kind,
        draft.c.community_id,
    )


_FEATURES_SQL = f"""
SELECT json_build_object(
    'type', 'FeatureCollection',
    'features', coalesce(json_agg(json_build_object(
        'type', 'Feature',
        'id', d.key,
        'geometry', ST_AsGeoJSON(ST_ForcePolygonCCW(d.geom), 7, 0)::json,
        'properties', json_build_object(
            'key', d.key, 'code', d.code, 'version', d.version, 'name', d.name,
            'kind', d.kind, 'sizing_type', d.sizing_type, 'community_code', a.code,
            'parent_grid_code', d.parent_grid_code, 'sizhi', d.sizhi,
            'draft', d.part_id IS NOT NULL,
            'area_m2', round(ST_Area(d.geom::geography)::numeric, 1))
    ) ORDER BY d.key), '[]'::json)
)::text
FROM ({DRAFT_SET_SQL}) AS d JOIN admin_units AS a ON a.id = d.community_id
"""  # noqa: S608 (constant SQL; values are bound)


def draft_features(session: Session, *, principal: Principal, plan_id: int) -> str:
    """The draft's resulting grid set as GeoJSON FeatureCollection text (RFC 7946, in SQL).

    Feature ids are the keys; ``draft`` is true for grids the plan changed or made.
    """
    ctx = load_plan(session, principal=principal, plan_id=plan_id)
    text_: str = session.execute(text(_FEATURES_SQL), ctx.draft_params).scalar_one()
    return text_


def live_grids(
    session: Session, ctx: PlanContext, keys: Sequence[str], *, field_name: str = "grids"
) -> dict[str, LiveGrid]:
    """The named grids of the draft's set; InvalidInput naming any key that is not in it."""
    rows = session.execute(
        text(
            f"""
SELECT d.grid_id, d.part_id, d.key, d.code, d.version, d.name, d.kind, d.sizing_type,
       d.community_id, a.code AS community_code, d.parent_grid_code, d.sizhi,
       ST_AsEWKB(d.geom) AS geom, ST_Area(d.geom::geography) AS area_m2
FROM ({DRAFT_SET_SQL}) AS d JOIN admin_units AS a ON a.id = d.community_id
WHERE d.key = ANY(CAST(:keys AS varchar[]))
"""  # noqa: S608 (constant SQL; values are bound)
        ),
        {**ctx.draft_params, "keys": list(keys)},
    )
    found = {r.key: LiveGrid(**{**r._mapping, "geom": bytes(r.geom)}) for r in rows}
    missing = [k for k in keys if k not in found]
    if missing:
        listed = ", ".join(missing)
        raise InvalidInput(
            f"Not in this plan's grid set: {listed} (unknown, outside the plan's area, "
            "or already replaced by an earlier edit)",
            f"不在本方案的网格集合中：{listed}（不存在、超出方案范围，或已被之前的修改替换）",
            field=field_name,
            extra={"keys": missing},
        )
    return found


def check_expected_versions(
    grids: Mapping[str, LiveGrid], expected: Mapping[str, int] | None, *, field_name: str
) -> None:
    """Conflict when the client's view of a current grid is older than the current version.

    ``expected`` maps grid codes to the version the client edited. Draft parts have no version
    yet and are not checked; grids the client did not name are checked at publish.
    """
    if not expected:
        return
    stale = [
        {"code": key, "expected_version": version, "current_version": grids[key].version}
        for key, version in expected.items()
        if key in grids and grids[key].is_current_grid and grids[key].version != version
    ]
    if stale:
        raise _version_conflict(stale, field_name)


def _version_conflict(stale: list[dict[str, Any]], field_name: str) -> Conflict:
    listed_en = "; ".join(
        f"{s['code']} (you edited version {s['expected_version']}, "
        f"current is {s['current_version'] or 'none: retired'})"
        for s in stale
    )
    listed_zh = "；".join(
        f"{s['code']}（编辑时为第 {s['expected_version']} 版，"
        f"当前为{'第 ' + str(s['current_version']) + ' 版' if s['current_version'] else '已撤销'}）"
        for s in stale
    )
    return Conflict(
        f"Grids changed since they were edited: {listed_en}",
        f"以下网格在编辑后已被修改：{listed_zh}",
        field=field_name,
        extra={"conflicts": stale},
    )


@dataclass(frozen=True, slots=True)
class NewPart:
    """A grid an edit produces. ``key`` keeps an existing code; ``None`` gets a new key."""

    key: str | None
    name: str
    kind: str
    sizing_type: str
    community_id: int
    geom: bytes  # EWKB, EPSG:4326, polygonal
    parent_grid_code: str | None = None
    sizhi: str | None = None


def next_seq(session: Session, ctx: PlanContext) -> int:
    """The sequence number the next edit of the (locked) plan gets."""
    last = session.scalar(
        select(func.max(GridPlanEdit.seq)).where(GridPlanEdit.plan_id == ctx.plan.id)
    )
    return int(last or 0) + 1


def record_edit(
    session: Session,
    ctx: PlanContext,
    *,
    op: EditOp,
    sources: Sequence[LiveGrid],
    parts: Sequence[NewPart],
    params: dict[str, Any],
) -> EditSummary:
    """Store one edit: the keys and versions it consumed and the parts it produced."""
    seq = next_seq(session, ctx)
    edit = GridPlanEdit(
        plan_id=ctx.plan.id,
        seq=seq,
        op=op.value,
        source_keys=[s.key for s in sources],
        source_versions=[s.version for s in sources],
        params=params,
        created_by=ctx.principal.user_id,
    )
    session.add(edit)
    session.flush()
    n = 0
    rows = []
    for part in parts:
        if part.key is None:
            n += 1
            key = NEW_KEY_FORMAT.format(seq=seq, n=n)
        else:
            key = part.key
        rows.append(
            {
                "edit_id": edit.id,
                "key": key,
                "name": part.name[:100],
                "kind": part.kind,
                "sizing_type": part.sizing_type,
                "community_id": part.community_id,
                "parent_grid_code": part.parent_grid_code,
                "sizhi": part.sizhi,
                # Normalised in PostGIS: polygons only, as a MultiPolygon (the column type).
                "geom": func.ST_Multi(
                    func.ST_CollectionExtract(func.ST_GeomFromEWKB(part.geom), 3)
                ),
            }
        )
    if rows:
        session.execute(insert(GridPlanPart).values(rows))
    return next(e for e in _edits(session, ctx.plan.id) if e.id == edit.id)


# --------------------------------------------------------------------------------------------
# The draft's outcome: final parts and the codes they will get
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FinalPart:
    """A part that survives to publish, with the code it gets (kept, or next to issue)."""

    part_id: int
    key: str
    code: str
    is_new_code: bool
    community_id: int
    name: str


def final_parts(session: Session, ctx: PlanContext) -> list[FinalPart]:
    """The draft's surviving parts with their codes; new codes are what a publish now issues."""
    rows = session.execute(
        text(
            f"""
SELECT d.part_id, d.key, d.code, d.community_id, d.name, a.code AS community_code,
       ST_X(pos.pt) AS x, ST_Y(pos.pt) AS y, ST_YMax(d.geom) - ST_YMin(d.geom) AS height
FROM ({DRAFT_SET_SQL}) AS d
JOIN admin_units AS a ON a.id = d.community_id
CROSS JOIN LATERAL (SELECT ST_PointOnSurface(d.geom) AS pt) AS pos
WHERE d.part_id IS NOT NULL
ORDER BY d.part_id
"""  # noqa: S608 (constant SQL; values are bound)
        ),
        ctx.draft_params,
    ).all()
    new = [r for r in rows if r.code is None]
    issued = grid_codes.codes_for_new_grids(
        session,
        grids=[grid_codes.Placed(r.key, r.x, r.y, r.height) for r in new],
        community_codes={r.key: r.community_code for r in new},
    )
    return [
        FinalPart(
            part_id=r.part_id,
            key=r.key,
            code=r.code or issued[r.key],
            is_new_code=r.code is None,
            community_id=r.community_id,
            name=r.name,
        )
        for r in rows
    ]


def consumed_sources(session: Session, plan_id: int) -> list[tuple[str, int]]:
    """The current grid versions (code, version) the plan's active edits consumed."""
    rows = session.execute(
        text(
            """
SELECT s.key, s.version
FROM grid_plan_edits AS e, unnest(e.source_keys, e.source_versions) AS s(key, version)
WHERE e.plan_id = :plan_id AND NOT e.undone AND s.version IS NOT NULL
ORDER BY s.key
"""
        ),
        {"plan_id": plan_id},
    )
    return [(r.key, r.version) for r in rows]


@dataclass(frozen=True, slots=True)
class CurrentVersion:
    """The current version of a grid code, as locked by a publish."""

    id: int
    code: str
    version: int
    valid_from: datetime


_CURRENT_SQL = (
    "SELECT id, code, version, valid_from FROM grids "
    "WHERE code = ANY(CAST(:codes AS varchar[])) AND valid_to IS NULL ORDER BY code"
)
_LOCK_CURRENT_SQL = _CURRENT_SQL + " FOR UPDATE"


def stale_sources(
    session: Session, sources: Sequence[tuple[str, int]], *, lock: bool = False
) -> tuple[list[dict[str, Any]], dict[str, CurrentVersion]]:
    """Sources whose code has moved on (or been retired) since the edit, and the current rows.

    With ``lock``, the current rows are locked (``FOR UPDATE``, in code order so concurrent
    publishes cannot deadlock); a concurrent publish that already closed one of them makes it
    disappear from the answer, which reports it as changed.
    """
    codes = sorted({code for code, _ in sources})
    statement = _LOCK_CURRENT_SQL if lock else _CURRENT_SQL
    current = {
        r.code: CurrentVersion(r.id, r.code, r.version, r.valid_from)
        for r in session.execute(text(statement), {"codes": codes})
    }
    stale = [
        {
            "code": code,
            "expected_version": version,
            "current_version": current[code].version if code in current else None,
        }
        for code, version in sources
        if code not in current or current[code].version != version
    ]
    return stale, current


# --------------------------------------------------------------------------------------------
# Validate
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanValidation:
    """Whether a draft can be published: coverage of its grid set and stale versions."""

    ok: bool
    coverage: CoverageReport
    stale: list[dict[str, Any]]
    active_edits: int


def _validate(session: Session, ctx: PlanContext) -> PlanValidation:
    """Coverage of the draft's basic and special grids against the plan's community or street
    (the same validator as for published grids), plus the version check of every source."""
    stale, _ = stale_sources(session, consumed_sources(session, ctx.plan.id))
    grids = draft_grid_set(ctx).subquery("plan_grids")
    report = validate_coverage(
        session,
        parent_code=ctx.scope_code,
        grids=select(grids.c.id, grids.c.code, grids.c.geom).where(grids.c.kind != "micro"),
    )
    active = session.scalar(
        select(func.count())
        .select_from(GridPlanEdit)
        .where(GridPlanEdit.plan_id == ctx.plan.id, GridPlanEdit.undone.is_(False))
    )
    return PlanValidation(
        ok=not stale and report.valid, coverage=report, stale=stale, active_edits=int(active or 0)
    )


def validate_plan(session: Session, *, principal: Principal, plan_id: int) -> PlanValidation:
    """Check a plan's resulting grid set (coverage per community) and its source versions."""
    ctx = load_plan(session, principal=principal, plan_id=plan_id)
    return _validate(session, ctx)


# --------------------------------------------------------------------------------------------
# Publish
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublishedGrid:
    """A grid version written by a publish."""

    id: int
    code: str
    version: int
    name: str
    key: str


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What a publish changed."""

    plan_id: int
    effective_at: datetime
    created: list[PublishedGrid]
    closed: list[Source]
    codes_issued: list[str]
    codes_retired: list[str]
    reassigned: dict[str, int]
    sizhi_regenerated: int


def _check_effective_at(
    session: Session, effective_at: datetime | None, current: Mapping[str, CurrentVersion]
) -> datetime:
    now: datetime = session.execute(text("SELECT now()")).scalar_one()
    if effective_at is None:
        effective_at = now
    if effective_at.tzinfo is None:
        raise InvalidInput(
            "effective_at needs a UTC offset, e.g. 2026-12-01T00:00:00+08:00",
            "effective_at 需要带时区，例如 2026-12-01T00:00:00+08:00",
            field="effective_at",
        )
    if effective_at > now + EFFECTIVE_AT_SKEW:
        raise InvalidInput(
            "effective_at lies in the future: publish the plan on the day it takes effect "
            "(the current map changes when the plan is published)",
            "生效时间晚于当前时间：请在方案生效当天发布（发布即改变现行网格）",
            field="effective_at",
        )
    latest = max((c.valid_from for c in current.values()), default=None)
    if latest is not None and effective_at <= latest:
        raise InvalidInput(
            f"effective_at must be after {latest.astimezone(UTC).isoformat()}, when the newest "
            "of the grids the plan replaces took effect",
            f"生效时间必须晚于 {latest.astimezone(UTC).isoformat()}"
            "（被替换网格中最新版本的生效时间）",
            field="effective_at",
        )
    return effective_at.astimezone(UTC)


def publish_plan(
    session: Session,
    *,
    principal: Principal,
    plan_id: int,
    effective_at: datetime | None = None,
    require_valid: bool = True,
) -> PublishResult:
    """Publish a draft: its edits become new grid versions valid from ``effective_at``.

    Runs in the caller's transaction; on any error nothing is left behind when the caller
    rolls back. ``effective_at`` defaults to now and may lie in the past (a plan agreed earlier
    and entered late), but not in the future.

    Raises
    ------
    Conflict
        A grid the plan replaces changed since the edit was made (``extra["conflicts"]`` lists
        code, version edited and current version), the plan is not a draft, or (with
        ``require_valid``) the resulting grid set fails validation.
    InvalidInput
        No active edits, or a bad ``effective_at``.
    """
    ctx = open_draft(session, principal=principal, plan_id=plan_id)
    # Publishes in the same communities take turns: new codes are the next free sequences of
    # a community, so two publishes must not compute them at the same time.
    session.execute(
        select(AdminUnit.id)
        .where(AdminUnit.level == "community", AdminUnit.code.startswith(ctx.prefix))
        .order_by(AdminUnit.code)
        .with_for_update()
    ).all()
    sources = consumed_sources(session, plan_id)
    parts = final_parts(session, ctx)
    if not sources and not parts:
        raise InvalidInput("The plan has no edits to publish", "方案中没有可发布的修改", field="id")

    stale, current = stale_sources(session, sources, lock=True)
    if stale:
        raise _version_conflict(stale, "id")
    effective = _check_effective_at(session, effective_at, current)
    if require_valid:
        validation = _validate(session, ctx)
        if not validation.ok:
            raise Conflict(
                "The plan's grids do not pass validation; see GET /plans/{id}/validate",
                "方案的网格未通过校验，请查看校验结果",
                field="id",
            )

    old_ids = [current[code].id for code, _ in sources]
    kept = {p.code for p in parts if not p.is_new_code}
    retired = sorted({code for code, _ in sources} - kept)
    issued = {p.code: p.community_id for p in parts if p.is_new_code}

    grid_codes.register_codes(session, codes=issued)
    session.execute(
        text("UPDATE grids SET valid_to = :eff WHERE id = ANY(CAST(:ids AS integer[]))"),
        {"eff": effective, "ids": old_ids},
    )
    key_of = {p.code: p.key for p in parts}
    created = [
        PublishedGrid(r.id, r.code, r.version, r.name, key_of[r.code])
        for r in session.execute(
            text(
                """
INSERT INTO grids (code, version, name, kind, sizing_type, community_id, parent_grid_code,
                   sizhi, geom, valid_from, created_by)
SELECT m.code,
       coalesce((SELECT max(o.version) FROM grids AS o WHERE o.code = m.code), 0) + 1,
       p.name, p.kind, p.sizing_type, p.community_id, p.parent_grid_code, p.sizhi, p.geom,
       :eff, :user_id
FROM unnest(CAST(:part_ids AS integer[]), CAST(:codes AS varchar[])) AS m(part_id, code)
JOIN grid_plan_parts AS p ON p.id = m.part_id
ORDER BY m.code
RETURNING id, code, version, name
"""
            ),
            {
                "eff": effective,
                "user_id": principal.user_id,
                "part_ids": [p.part_id for p in parts],
                "codes": [p.code for p in parts],
            },
        )
    ]
    new_ids = [g.id for g in created]
    # Planner-typed 四至 of a part stays with the new version as an override.
    session.execute(
        text(
            """
INSERT INTO grid_sizhi_overrides (grid_id, text, edited_by)
SELECT g.id, g.sizhi, :user_id FROM grids AS g
WHERE g.id = ANY(CAST(:ids AS integer[])) AND g.sizhi IS NOT NULL
"""
        ),
        {"ids": new_ids, "user_id": principal.user_id},
    )
    # A typed 四至 of a version whose boundary the plan leaves as it was stays typed.
    session.execute(
        text(
            """
WITH carried AS (
    INSERT INTO grid_sizhi_overrides (grid_id, text, edited_by)
    SELECT n.id, o.text, o.edited_by
    FROM grids AS n
    JOIN grids AS old ON old.code = n.code AND old.id = ANY(CAST(:old_ids AS integer[]))
    JOIN grid_sizhi_overrides AS o ON o.grid_id = old.id
    WHERE n.id = ANY(CAST(:ids AS integer[])) AND ST_Equals(n.geom, old.geom)
    ON CONFLICT (grid_id) DO NOTHING
    RETURNING grid_id, text
)
UPDATE grids AS g SET sizhi = c.text FROM carried AS c WHERE g.id = c.grid_id
"""
        ),
        {"ids": new_ids, "old_ids": old_ids},
    )
    _write_lineage(session, new_ids=new_ids, old_ids=old_ids, kept=sorted(kept))
    session.execute(
        text("UPDATE grid_codes SET retired_at = :eff WHERE code = ANY(CAST(:codes AS varchar[]))"),
        {"eff": effective, "codes": retired},
    )
    _carry_staff(session, new_ids=new_ids, retired=retired, kept=sorted(kept))
    regenerated = regenerate_sizhi(session, grid_ids=new_ids, include_neighbours=True)
    reassigned = reassign_after_grid_change(session, changed_grid_ids=[*old_ids, *new_ids])

    now: datetime = session.execute(text("SELECT now()")).scalar_one()
    plan = ctx.plan
    plan.status = PlanStatus.published
    plan.effective_at = effective
    plan.published_at = now
    plan.closed_at = now
    plan.published_by = principal.user_id
    session.flush()
    record(
        session,
        action="publish",
        resource="grid_plans",
        resource_ids=[plan.id],
        principal=principal,
        detail={
            "effective_at": effective.isoformat(),
            "created": [f"{g.code}v{g.version}" for g in created],
            "closed": [f"{c}v{v}" for c, v in sources],
            "reassigned": reassigned,
        },
    )
    return PublishResult(
        plan_id=plan.id,
        effective_at=effective,
        created=sorted(created, key=lambda g: g.code),
        closed=[Source(c, v) for c, v in sorted(sources)],
        codes_issued=sorted(issued),
        codes_retired=retired,
        reassigned=reassigned,
        sizhi_regenerated=len(regenerated),
    )


def _write_lineage(
    session: Session, *, new_ids: Sequence[int], old_ids: Sequence[int], kept: Sequence[str]
) -> None:
    """Link each new version to the old versions it overlaps (or shares its code with).

    Relation: ``reshape`` when the new version keeps a code (its own old version and any
    neighbour it took area from); otherwise ``merge`` when it overlaps several old versions,
    ``split`` when it overlaps one.
    """
    session.execute(
        text(
            """
INSERT INTO grid_lineage (grid_id, source_grid_id, relation)
SELECT n.id, o.id,
       CASE WHEN n.code = ANY(CAST(:kept AS varchar[])) THEN 'reshape'
            WHEN count(*) OVER (PARTITION BY n.id) > 1 THEN 'merge'
            ELSE 'split' END
FROM grids AS n
JOIN grids AS o ON o.id = ANY(CAST(:old_ids AS integer[]))
WHERE n.id = ANY(CAST(:new_ids AS integer[]))
  AND (n.code = o.code
       OR (ST_Intersects(n.geom, o.geom)
           AND ST_Area(ST_Intersection(n.geom, o.geom)::geography) > :min_overlap))
"""
        ),
        {
            "new_ids": list(new_ids),
            "old_ids": list(old_ids),
            "kept": list(kept),
            "min_overlap": LINEAGE_MIN_OVERLAP_M2,
        },
    )


def _carry_staff(
    session: Session, *, new_ids: Sequence[int], retired: Sequence[str], kept: Sequence[str]
) -> None:
    """Move the staff of retired codes to the grids that took their territory.

    Each new grid receives the staff of the retired versions it came from (lineage). The leader
    of the source it overlaps most stays leader; other leaders join as workers, and so do all
    leaders joining a grid that keeps its code (it has its own). Overlaps are compared in whole
    square metres, so equal halves tie and the smaller code wins. Retired codes then have no
    staff.
    """
    if not retired:
        return
    session.execute(
        text(
            """
WITH moves AS (
    SELECT n.code AS new_code, o.code AS old_code,
           row_number() OVER (PARTITION BY n.id
                              ORDER BY round(ST_Area(ST_Intersection(n.geom, o.geom)::geography))
                                       DESC, o.code)
               AS rank
    FROM grid_lineage AS l
    JOIN grids AS n ON n.id = l.grid_id
    JOIN grids AS o ON o.id = l.source_grid_id
    WHERE l.grid_id = ANY(CAST(:new_ids AS integer[]))
      AND o.code = ANY(CAST(:retired AS varchar[]))
)
INSERT INTO grid_staff (grid_code, user_id, duty)
SELECT DISTINCT ON (m.new_code, s.user_id) m.new_code, s.user_id,
       CASE WHEN s.duty = 'leader'
                 AND (m.rank > 1 OR m.new_code = ANY(CAST(:kept AS varchar[])))
            THEN 'worker' ELSE s.duty END
FROM moves AS m JOIN grid_staff AS s ON s.grid_code = m.old_code
ORDER BY m.new_code, s.user_id, m.rank
ON CONFLICT DO NOTHING
"""
        ),
        {"new_ids": list(new_ids), "retired": list(retired), "kept": list(kept)},
    )
    session.execute(
        text("DELETE FROM grid_staff WHERE grid_code = ANY(CAST(:retired AS varchar[]))"),
        {"retired": list(retired)},
    )


__all__ = [
    "DRAFT_SET_SQL",
    "EditSummary",
    "FinalPart",
    "LiveGrid",
    "NewPart",
    "PlanContext",
    "PlanSummary",
    "PlanValidation",
    "PublishResult",
    "abandon_plan",
    "create_plan",
    "draft_features",
    "draft_grid_set",
    "final_parts",
    "get_plan",
    "list_plans",
    "live_grids",
    "load_plan",
    "open_draft",
    "publish_plan",
    "record_edit",
    "undo_last_edit",
    "validate_plan",
]
