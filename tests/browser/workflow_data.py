"""Incidents, a dispatch rule and their clean-up for the dispatcher and field page tests.

The browser tests commit the synthetic world for a live server; the pages' actions (dispatch,
reports with photos) then write steps, photos and new incidents under it, which must go before
the world itself can be removed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from geoalchemy2.shape import from_shape
from shapely.geometry import Point

from layers.models import AdminUnit, Department, Grid, Incident
from layers.models.incidents import DispatchRule
from tests.fixtures.world import COMMUNITY_A, COMMUNITY_B, GRID_A1, GRID_A2, GRID_B2, STREET_CODE

#: Static statements (no string building): what hangs on every incident of the world's
#: communities, then the incidents other than the world's own two (T-INC-a1/b1), then rules.
_CLEANUP = [
    """
    CREATE TEMP TABLE _world_incidents ON COMMIT DROP AS
    SELECT i.id, i.code IN ('T-INC-a1', 'T-INC-b1') AS own
    FROM incidents i JOIN admin_units c ON c.id = i.community_id
    WHERE c.code LIKE '370199%'
    """,
    "DELETE FROM incident_steps WHERE incident_id IN (SELECT id FROM _world_incidents)",
    "DELETE FROM incident_photos WHERE incident_id IN (SELECT id FROM _world_incidents)",
    "DELETE FROM incident_departments WHERE incident_id IN (SELECT id FROM _world_incidents)",
    "UPDATE patrols SET incident_id = NULL WHERE incident_id IN "
    "(SELECT id FROM _world_incidents WHERE NOT own)",
    "UPDATE incidents SET duplicate_of = NULL WHERE id IN (SELECT id FROM _world_incidents)",
    "DELETE FROM incidents WHERE id IN (SELECT id FROM _world_incidents WHERE NOT own)",
    "DELETE FROM dispatch_rules WHERE admin_unit_id IN "
    "(SELECT id FROM admin_units WHERE code LIKE '370199%')",
]


def remove_workflow_data(engine: Engine) -> None:
    """The incidents added to the world's communities (by :func:`add_workflow_data` or through
    the pages), what hangs on any incident there (steps, photos, joint departments), and the
    world's dispatch rules. The world's own two incidents stay for ``remove_world``."""
    with Session(engine) as session, session.begin():
        for statement in _CLEANUP:
            session.execute(text(statement))


#: (key, grid, lon, lat, category, days before now, overdue, supervision)
EXTRA_INCIDENTS = [
    ("d1", GRID_A1, 117.0012, 36.6012, "dispute.neighbour", 2, True, "none"),
    ("d2", GRID_A2, 117.0070, 36.6080, "dispute.family", 2, False, "yellow"),
    ("d3", GRID_B2, 117.0160, 36.6020, "dispute.labour", 2, False, "none"),
    ("c1", GRID_A1, 117.0040, 36.6090, "hazard.co", 20, False, "none"),
    ("c2", GRID_B2, 117.0180, 36.6010, "hazard.co", 20, False, "none"),
]
#: With the world's two fire incidents (2026-03-01): every incident, disputes, the last 7 days.
TOTAL_ALL = 7
TOTAL_DISPUTES = 3
TOTAL_LAST_7_DAYS = 3


def add_workflow_data(engine: Engine, now: datetime) -> dict[str, int]:
    """Commit the extra incidents (reported relative to ``now``) and a fallback dispatch rule."""
    ids: dict[str, int] = {}
    with Session(engine) as session, session.begin():
        grids = dict(
            session.execute(select(Grid.code, Grid.id).where(Grid.code.like("370199%"))).all()
        )
        units = dict(
            session.execute(
                select(AdminUnit.code, AdminUnit.id).where(AdminUnit.code.like("370199%"))
            ).all()
        )
        for key, grid, lon, lat, category, days, overdue, supervision in EXTRA_INCIDENTS:
            reported = now - timedelta(days=days)
            row = Incident(
                code=f"T-INC-{key}",
                category_code=category,
                title=f"调度测试{key}",
                channel="hotline_12345",
                risk_level="medium",
                status="reported",
                supervision=supervision,
                geom=from_shape(Point(lon, lat), 4326),
                grid_id=grids[grid],
                community_id=units[COMMUNITY_A if grid.startswith(COMMUNITY_A) else COMMUNITY_B],
                reported_at=reported,
                deadline_at=now - timedelta(hours=5) if overdue else now + timedelta(days=10),
            )
            session.add(row)
            session.flush()
            ids[key] = row.id
        department = session.scalar(select(Department.id).where(Department.code == "test-fire"))
        assert department is not None
        session.add(DispatchRule(category_code=None, admin_unit_id=units[STREET_CODE],
                                 department_id=department))  # fmt: skip
    return ids
