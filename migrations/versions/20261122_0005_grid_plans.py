"""grid plans: draft plans of grid edits, their parts, sizing targets, 四至 overrides

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

Tables of layers/models/plans.py (why they exist: docs/GRID_PLANNING.md). The household ranges
of DOMAIN.md (scattered 120–160, compound 200–250, bungalow 80–120) are seeded into
``sizing_targets`` here: the table is useless empty and the rows are configuration a deployment
edits afterwards (``PUT /grids/sizing/targets/{sizing_type}``), so schema and seed travel together.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from geoalchemy2 import Geometry

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_SIZING_TARGETS = (
    {"sizing_type": "scattered", "min_households": 120, "max_households": 160},
    {"sizing_type": "compound", "min_households": 200, "max_households": 250},
    {"sizing_type": "bungalow", "min_households": 80, "max_households": 120},
)


def upgrade() -> None:
    op.create_table(
        "grid_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "scope_unit_id",
            sa.Integer(),
            nullable=False,
            comment="the community or street whose grids the plan edits",
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'draft'"), nullable=False
        ),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_by", sa.Integer(), nullable=True),
        sa.Column(
            "closed_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="when the plan was published or abandoned",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status <> 'published' OR (published_at IS NOT NULL AND effective_at IS NOT NULL)",
            name=op.f("ck_grid_plans_published_has_times"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'published', 'abandoned')", name=op.f("ck_grid_plans_status_known")
        ),
        sa.CheckConstraint("length(trim(name)) > 0", name=op.f("ck_grid_plans_named")),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_grid_plans_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["published_by"],
            ["users.id"],
            name=op.f("fk_grid_plans_published_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["scope_unit_id"],
            ["admin_units.id"],
            name=op.f("fk_grid_plans_scope_unit_id_admin_units"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_plans")),
    )
    op.create_index(
        op.f("ix_grid_plans_scope_unit_id"), "grid_plans", ["scope_unit_id"], unique=False
    )

    sizing_targets = op.create_table(
        "sizing_targets",
        sa.Column("sizing_type", sa.String(length=16), nullable=False),
        sa.Column("min_households", sa.Integer(), nullable=False),
        sa.Column("max_households", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "sizing_type IN ('scattered', 'compound', 'bungalow', 'special')",
            name=op.f("ck_sizing_targets_sizing_type_known"),
        ),
        sa.CheckConstraint(
            "min_households >= 0 AND max_households >= min_households",
            name=op.f("ck_sizing_targets_range_ordered"),
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["users.id"],
            name=op.f("fk_sizing_targets_updated_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("sizing_type", name=op.f("pk_sizing_targets")),
    )
    op.bulk_insert(sizing_targets, list(DEFAULT_SIZING_TARGETS))

    op.create_table(
        "grid_plan_edits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("op", sa.String(length=16), nullable=False),
        sa.Column("source_keys", postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column("source_versions", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column(
            "params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="the request: line, k, attributes",
        ),
        sa.Column("undone", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "op IN ('create', 'reshape', 'split', 'merge', 'retire', 'set_attributes')",
            name=op.f("ck_grid_plan_edits_op_known"),
        ),
        sa.CheckConstraint(
            "cardinality(source_keys) = cardinality(source_versions)",
            name=op.f("ck_grid_plan_edits_sources_paired"),
        ),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_grid_plan_edits_seq_positive")),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_grid_plan_edits_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["grid_plans.id"],
            name=op.f("fk_grid_plan_edits_plan_id_grid_plans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_plan_edits")),
        sa.UniqueConstraint("plan_id", "seq", name=op.f("uq_grid_plan_edits_plan_id_seq")),
    )
    op.create_table(
        "grid_sizhi_overrides",
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("edited_by", sa.Integer(), nullable=True),
        sa.Column(
            "edited_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint(
            "length(trim(text)) > 0", name=op.f("ck_grid_sizhi_overrides_not_blank")
        ),
        sa.ForeignKeyConstraint(
            ["edited_by"],
            ["users.id"],
            name=op.f("fk_grid_sizhi_overrides_edited_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["grid_id"],
            ["grids.id"],
            name=op.f("fk_grid_sizhi_overrides_grid_id_grids"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("grid_id", name=op.f("pk_grid_sizhi_overrides")),
    )
    op.create_geospatial_table(
        "grid_plan_parts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("edit_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sizing_type", sa.String(length=16), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("parent_grid_code", sa.String(length=15), nullable=True),
        sa.Column("sizhi", sa.Text(), nullable=True, comment="四至 typed by the planner, if any"),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "key ~ '^([0-9]{15}|new-[0-9]+-[0-9]+)$'", name=op.f("ck_grid_plan_parts_key_format")
        ),
        sa.CheckConstraint(
            "kind IN ('basic', 'micro', 'special')", name=op.f("ck_grid_plan_parts_kind_known")
        ),
        sa.CheckConstraint(
            "sizing_type IN ('scattered', 'compound', 'bungalow', 'special')",
            name=op.f("ck_grid_plan_parts_sizing_type_known"),
        ),
        sa.CheckConstraint("NOT ST_IsEmpty(geom)", name=op.f("ck_grid_plan_parts_geom_not_empty")),
        sa.CheckConstraint("ST_IsValid(geom)", name=op.f("ck_grid_plan_parts_geom_valid")),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["admin_units.id"],
            name=op.f("fk_grid_plan_parts_community_id_admin_units"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["edit_id"],
            ["grid_plan_edits.id"],
            name=op.f("fk_grid_plan_parts_edit_id_grid_plan_edits"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_grid_code"],
            ["grid_codes.code"],
            name=op.f("fk_grid_plan_parts_parent_grid_code_grid_codes"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_plan_parts")),
        sa.UniqueConstraint("edit_id", "key", name=op.f("uq_grid_plan_parts_edit_id_key")),
    )
    op.create_index(
        op.f("ix_grid_plan_parts_edit_id"), "grid_plan_parts", ["edit_id"], unique=False
    )
    op.create_geospatial_index(
        "ix_grid_plan_parts_geom_gist",
        "grid_plan_parts",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )


def downgrade() -> None:
    op.drop_geospatial_index(
        "ix_grid_plan_parts_geom_gist",
        table_name="grid_plan_parts",
        postgresql_using="gist",
        column_name="geom",
    )
    op.drop_index(op.f("ix_grid_plan_parts_edit_id"), table_name="grid_plan_parts")
    op.drop_geospatial_table("grid_plan_parts")
    op.drop_table("grid_sizhi_overrides")
    op.drop_table("grid_plan_edits")
    op.drop_table("sizing_targets")
    op.drop_index(op.f("ix_grid_plans_scope_unit_id"), table_name="grid_plans")
    op.drop_table("grid_plans")
