"""index the foreign-key columns that had none

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22

PostgreSQL does not index the referencing side of a foreign key. Without an index, deleting a
user, a grid code, an incident or a department scans the referencing table, and the joins the
API makes along these columns (steps of an incident, grids created by a planner, micro-grids of a
grid) cannot use an index scan.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_grids_created_by", "grids", "created_by"),
    ("ix_grids_parent_grid_code", "grids", "parent_grid_code"),
    ("ix_incidents_reported_by", "incidents", "reported_by"),
    ("ix_incident_steps_actor_id", "incident_steps", "actor_id"),
    ("ix_incident_steps_department_id", "incident_steps", "department_id"),
    ("ix_patrols_incident_id", "patrols", "incident_id"),
)


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _column in reversed(INDEXES):
        op.drop_index(name, table_name=table)
