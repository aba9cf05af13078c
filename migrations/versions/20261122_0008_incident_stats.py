"""incident heat rollups: counts per 250 m cell, month, (category,) community

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22

A materialized view, refreshed by ``wangge stats refresh`` (layers.stats.cells.refresh_rollup).
Cells are squares of 250 m on the EPSG:4527 lattice (CGCS2000 Gauss-Krüger zone 39), months in
Asia/Shanghai. Incidents outside every community (community_id NULL) are visible to nobody and
are left out. The unique indexes allow REFRESH ... CONCURRENTLY.

``incident_heat_rollup_all`` sums the first over categories: a heatmap of every category (the
common request) reads several times fewer rows. It is refreshed after the first.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE MATERIALIZED VIEW incident_heat_rollup AS
        SELECT floor(ST_X(p.t) / 250)::integer AS cell_i,
               floor(ST_Y(p.t) / 250)::integer AS cell_j,
               p.month,
               p.category_code,
               p.community_id,
               count(*)::integer AS n
        FROM (
            SELECT ST_Transform(i.geom, 4527) AS t,
                   date_trunc('month', i.reported_at AT TIME ZONE 'Asia/Shanghai')::date AS month,
                   i.category_code,
                   i.community_id
            FROM incidents AS i
            WHERE i.community_id IS NOT NULL
            OFFSET 0
        ) AS p
        GROUP BY 1, 2, 3, 4, 5
        WITH DATA
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX ux_incident_heat_rollup_key ON incident_heat_rollup "
        "(cell_i, cell_j, month, category_code, community_id)"
    )
    op.execute(
        "CREATE INDEX ix_incident_heat_rollup_community_month ON incident_heat_rollup "
        "(community_id, month)"
    )
    op.execute(
        """
        CREATE MATERIALIZED VIEW incident_heat_rollup_all AS
        SELECT cell_i, cell_j, month, community_id, sum(n)::integer AS n
        FROM incident_heat_rollup
        GROUP BY 1, 2, 3, 4
        WITH DATA
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX ux_incident_heat_rollup_all_key ON incident_heat_rollup_all "
        "(cell_i, cell_j, month, community_id)"
    )


def downgrade() -> None:
    op.execute("DROP MATERIALIZED VIEW IF EXISTS incident_heat_rollup_all")
    op.execute("DROP MATERIALIZED VIEW IF EXISTS incident_heat_rollup")
