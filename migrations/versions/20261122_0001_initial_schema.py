"""initial schema: admin units, grids, buildings, people, places, incidents, audit

Revision ID: 0001
Revises:
Create Date: 2026-11-22 04:24:59.743376+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from geoalchemy2 import Geometry

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


EXTENSIONS = ("postgis", "pg_trgm", "btree_gist")


def upgrade() -> None:
    # Extensions are created by the bootstrap as superuser; IF NOT EXISTS keeps this idempotent
    # for a database where they already exist (btree_gist backs the grids exclusion constraint).
    for ext in EXTENSIONS:
        op.execute(f"CREATE EXTENSION IF NOT EXISTS {ext}")
    op.create_geospatial_table(
        "admin_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
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
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(level = 'district' AND code LIKE '%%000000') OR (level = 'street' AND code LIKE '%%000' AND code NOT LIKE '%%000000') OR (level = 'community' AND code NOT LIKE '%%000')",
            name=op.f("ck_admin_units_code_matches_level"),
        ),
        sa.CheckConstraint(
            "(level = 'district') OR parent_id IS NOT NULL",
            name=op.f("ck_admin_units_parent_required"),
        ),
        sa.CheckConstraint("code ~ '^[0-9]{12}$'", name=op.f("ck_admin_units_code_12_digits")),
        sa.CheckConstraint(
            "level IN ('district', 'street', 'community')", name=op.f("ck_admin_units_level_known")
        ),
        sa.CheckConstraint("NOT ST_IsEmpty(geom)", name=op.f("ck_admin_units_geom_not_empty")),
        sa.CheckConstraint("ST_IsValid(geom)", name=op.f("ck_admin_units_geom_valid")),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["admin_units.id"],
            name=op.f("fk_admin_units_parent_id_admin_units"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_units")),
        sa.UniqueConstraint("code", name=op.f("uq_admin_units_code")),
    )
    op.create_geospatial_index(
        "ix_admin_units_geom_gist",
        "admin_units",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_admin_units_parent_id"), "admin_units", ["parent_id"], unique=False)
    op.create_table(
        "care_group_categories",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=128), nullable=False),
        sa.Column("sort_order", sa.Integer(), server_default=sa.text("100"), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.CheckConstraint(
            "code ~ '^[a-z_]{2,32}$'", name=op.f("ck_care_group_categories_code_format")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_care_group_categories")),
    )
    op.create_table(
        "incident_categories",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("parent_code", sa.String(length=64), nullable=True),
        sa.Column("name_zh", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=128), nullable=False),
        sa.Column("time_limit_hours", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "code ~ '^[a-z_.]{2,64}$'", name=op.f("ck_incident_categories_code_format")
        ),
        sa.CheckConstraint(
            "time_limit_hours IS NULL OR time_limit_hours > 0",
            name=op.f("ck_incident_categories_limit_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_code"],
            ["incident_categories.code"],
            name=op.f("fk_incident_categories_parent_code_incident_categories"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_incident_categories")),
    )
    op.create_index(
        op.f("ix_incident_categories_parent_code"),
        "incident_categories",
        ["parent_code"],
        unique=False,
    )
    op.create_geospatial_table(
        "roads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="LINESTRING",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('trunk', 'primary', 'secondary', 'residential', 'alley')",
            name=op.f("ck_roads_kind_known"),
        ),
        sa.CheckConstraint("NOT ST_IsEmpty(geom)", name=op.f("ck_roads_geom_not_empty")),
        sa.CheckConstraint("ST_IsValid(geom)", name=op.f("ck_roads_geom_valid")),
        sa.CheckConstraint("length(trim(name)) > 0", name=op.f("ck_roads_named")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roads")),
    )
    op.create_geospatial_index(
        "ix_roads_geom_gist",
        "roads",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_roads_name"), "roads", ["name"], unique=False)
    op.create_table(
        "departments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("admin_unit_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["admin_unit_id"],
            ["admin_units.id"],
            name=op.f("fk_departments_admin_unit_id_admin_units"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_departments")),
        sa.UniqueConstraint("code", name=op.f("uq_departments_code")),
    )
    op.create_index(
        op.f("ix_departments_admin_unit_id"), "departments", ["admin_unit_id"], unique=False
    )
    op.create_table(
        "grid_codes",
        sa.Column("code", sa.String(length=15), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("code ~ '^[0-9]{15}$'", name=op.f("ck_grid_codes_code_15_digits")),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["admin_units.id"],
            name=op.f("fk_grid_codes_community_id_admin_units"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_grid_codes")),
    )
    op.create_index(
        op.f("ix_grid_codes_community_id"), "grid_codes", ["community_id"], unique=False
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "role <> 'dept_handler' OR department_id IS NOT NULL",
            name=op.f("ck_users_handler_has_department"),
        ),
        sa.CheckConstraint(
            "role IN ('admin', 'street_admin', 'community_admin', 'planner', 'dispatcher', 'grid_worker', 'dept_handler')",
            name=op.f("ck_users_role_known"),
        ),
        sa.CheckConstraint(
            "username ~ '^[a-z0-9_.-]{3,64}$'", name=op.f("ck_users_username_format")
        ),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["admin_units.id"],
            name=op.f("fk_users_area_id_admin_units"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_users_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_index(op.f("ix_users_area_id"), "users", ["area_id"], unique=False)
    op.create_index(op.f("ix_users_department_id"), "users", ["department_id"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column(
            "resource_ids",
            postgresql.ARRAY(sa.BigInteger()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column(
            "fields",
            postgresql.ARRAY(sa.String(length=64)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("unmasked", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "detail",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_user_at", "audit_log", ["user_id", "at"], unique=False)
    op.create_table(
        "grid_staff",
        sa.Column("grid_code", sa.String(length=15), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("duty", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "duty IN ('leader', 'worker', 'collector', 'volunteer')",
            name=op.f("ck_grid_staff_duty_known"),
        ),
        sa.ForeignKeyConstraint(
            ["grid_code"],
            ["grid_codes.code"],
            name=op.f("fk_grid_staff_grid_code_grid_codes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_grid_staff_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("grid_code", "user_id", name=op.f("pk_grid_staff")),
    )
    op.create_index(
        "ix_grid_staff_one_leader",
        "grid_staff",
        ["grid_code"],
        unique=True,
        postgresql_where=sa.text("duty = 'leader'"),
    )
    op.create_index(op.f("ix_grid_staff_user_id"), "grid_staff", ["user_id"], unique=False)
    op.create_geospatial_table(
        "grids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=15), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), server_default=sa.text("'basic'"), nullable=False),
        sa.Column(
            "sizing_type",
            sa.String(length=16),
            server_default=sa.text("'scattered'"),
            nullable=False,
        ),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("parent_grid_code", sa.String(length=15), nullable=True),
        sa.Column("sizhi", sa.Text(), nullable=True, comment="四至: what lies E/S/W/N"),
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
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        postgresql.ExcludeConstraint(
            (sa.column("code"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="ex_grids_one_version_at_a_time",
        ),
        sa.CheckConstraint(
            "kind <> 'micro' OR parent_grid_code IS NOT NULL",
            name=op.f("ck_grids_micro_has_parent"),
        ),
        sa.CheckConstraint(
            "kind IN ('basic', 'micro', 'special')", name=op.f("ck_grids_kind_known")
        ),
        sa.CheckConstraint(
            "sizing_type IN ('scattered', 'compound', 'bungalow', 'special')",
            name=op.f("ck_grids_sizing_type_known"),
        ),
        sa.CheckConstraint("NOT ST_IsEmpty(geom)", name=op.f("ck_grids_geom_not_empty")),
        sa.CheckConstraint("ST_IsValid(geom)", name=op.f("ck_grids_geom_valid")),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name=op.f("ck_grids_validity_ordered")
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_grids_version_positive")),
        sa.ForeignKeyConstraint(
            ["code"],
            ["grid_codes.code"],
            name=op.f("fk_grids_code_grid_codes"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["admin_units.id"],
            name=op.f("fk_grids_community_id_admin_units"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_grids_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["parent_grid_code"],
            ["grid_codes.code"],
            name=op.f("fk_grids_parent_grid_code_grid_codes"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grids")),
        sa.UniqueConstraint("code", "version", name=op.f("uq_grids_code_version")),
    )
    op.create_index(op.f("ix_grids_community_id"), "grids", ["community_id"], unique=False)
    op.create_index(
        "ix_grids_current_code",
        "grids",
        ["code"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_geospatial_index(
        "ix_grids_geom_gist",
        "grids",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_geospatial_table(
        "buildings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("floors", sa.Integer(), nullable=False),
        sa.Column("road_name", sa.String(length=100), nullable=True),
        sa.Column("house_number", sa.String(length=32), nullable=True),
        sa.Column("compound", sa.String(length=100), nullable=True, comment="小区 name"),
        sa.Column("building_no", sa.String(length=32), nullable=True, comment="楼/栋/号楼/座"),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('residential', 'commercial', 'public', 'industrial', 'mixed', 'bungalow')",
            name=op.f("ck_buildings_kind_known"),
        ),
        sa.CheckConstraint("NOT ST_IsEmpty(geom)", name=op.f("ck_buildings_geom_not_empty")),
        sa.CheckConstraint("ST_IsValid(geom)", name=op.f("ck_buildings_geom_valid")),
        sa.CheckConstraint("floors BETWEEN 1 AND 200", name=op.f("ck_buildings_floors_range")),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["admin_units.id"],
            name=op.f("fk_buildings_community_id_admin_units"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["grids.id"], name=op.f("fk_buildings_grid_id_grids"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buildings")),
        sa.UniqueConstraint("code", name=op.f("uq_buildings_code")),
    )
    op.create_index(op.f("ix_buildings_community_id"), "buildings", ["community_id"], unique=False)
    op.create_geospatial_index(
        "ix_buildings_geom_gist",
        "buildings",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_buildings_grid_id"), "buildings", ["grid_id"], unique=False)
    op.create_table(
        "grid_lineage",
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("source_grid_id", sa.Integer(), nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "relation IN ('reshape', 'split', 'merge', 'repair')",
            name=op.f("ck_grid_lineage_relation_known"),
        ),
        sa.CheckConstraint("grid_id <> source_grid_id", name=op.f("ck_grid_lineage_not_self")),
        sa.ForeignKeyConstraint(
            ["grid_id"],
            ["grids.id"],
            name=op.f("fk_grid_lineage_grid_id_grids"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_grid_id"],
            ["grids.id"],
            name=op.f("fk_grid_lineage_source_grid_id_grids"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("grid_id", "source_grid_id", name=op.f("pk_grid_lineage")),
    )
    op.create_index(
        op.f("ix_grid_lineage_source_grid_id"), "grid_lineage", ["source_grid_id"], unique=False
    )
    op.create_geospatial_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("category_code", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'reported'"), nullable=False
        ),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column(
            "risk_level", sa.String(length=8), server_default=sa.text("'low'"), nullable=False
        ),
        sa.Column(
            "supervision", sa.String(length=8), server_default=sa.text("'none'"), nullable=False
        ),
        sa.Column("handled_on_spot", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("address", sa.String(length=255), nullable=True),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("reported_by", sa.Integer(), nullable=True),
        sa.Column("reporter_name", sa.String(length=64), nullable=True),
        sa.Column("reporter_phone", sa.String(length=20), nullable=True),
        sa.Column(
            "reported_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "channel IN ('grid_worker', 'hotline_12345', 'walk_in', 'patrol')",
            name=op.f("ck_incidents_channel_known"),
        ),
        sa.CheckConstraint(
            "risk_level IN ('high', 'medium', 'low')", name=op.f("ck_incidents_risk_known")
        ),
        sa.CheckConstraint(
            "status <> 'closed' OR closed_at IS NOT NULL", name=op.f("ck_incidents_closed_has_time")
        ),
        sa.CheckConstraint(
            "status IN ('reported', 'dispatched', 'accepted', 'handling', 'handled', 'verified', 'closed', 'returned', 'deferred', 'escalated')",
            name=op.f("ck_incidents_status_known"),
        ),
        sa.CheckConstraint(
            "supervision IN ('none', 'normal', 'yellow', 'red')",
            name=op.f("ck_incidents_supervision"),
        ),
        sa.CheckConstraint("NOT ST_IsEmpty(geom)", name=op.f("ck_incidents_geom_not_empty")),
        sa.CheckConstraint("ST_IsValid(geom)", name=op.f("ck_incidents_geom_valid")),
        sa.ForeignKeyConstraint(
            ["category_code"],
            ["incident_categories.code"],
            name=op.f("fk_incidents_category_code_incident_categories"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["admin_units.id"],
            name=op.f("fk_incidents_community_id_admin_units"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_incidents_department_id_departments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["grids.id"], name=op.f("fk_incidents_grid_id_grids"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["reported_by"],
            ["users.id"],
            name=op.f("fk_incidents_reported_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.UniqueConstraint("code", name=op.f("uq_incidents_code")),
    )
    op.create_index(
        op.f("ix_incidents_category_code"), "incidents", ["category_code"], unique=False
    )
    op.create_index(op.f("ix_incidents_community_id"), "incidents", ["community_id"], unique=False)
    op.create_index(
        op.f("ix_incidents_department_id"), "incidents", ["department_id"], unique=False
    )
    op.create_geospatial_index(
        "ix_incidents_geom_gist",
        "incidents",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_incidents_grid_id"), "incidents", ["grid_id"], unique=False)
    op.create_index("ix_incidents_reported_at", "incidents", ["reported_at"], unique=False)
    op.create_index("ix_incidents_status", "incidents", ["status"], unique=False)
    op.create_geospatial_table(
        "places",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("contact_name", sa.String(length=64), nullable=True),
        sa.Column("contact_phone", sa.String(length=20), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "GeometryType(geom) IN ('POINT', 'POLYGON', 'MULTIPOLYGON')",
            name=op.f("ck_places_geom_point_or_area"),
        ),
        sa.CheckConstraint(
            "kind IN ('school', 'kindergarten', 'hospital', 'shop', 'restaurant', 'hotel', 'rental', 'three_in_one', 'small_workshop', 'small_stall', 'small_entertainment', 'market', 'construction_site')",
            name=op.f("ck_places_kind_known"),
        ),
        sa.CheckConstraint("NOT ST_IsEmpty(geom)", name=op.f("ck_places_geom_not_empty")),
        sa.CheckConstraint("ST_IsValid(geom)", name=op.f("ck_places_geom_valid")),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["admin_units.id"],
            name=op.f("fk_places_community_id_admin_units"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_places_department_id_departments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["grids.id"], name=op.f("fk_places_grid_id_grids"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_places")),
    )
    op.create_index(op.f("ix_places_community_id"), "places", ["community_id"], unique=False)
    op.create_index(op.f("ix_places_department_id"), "places", ["department_id"], unique=False)
    op.create_geospatial_index(
        "ix_places_geom_gist",
        "places",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_places_grid_id"), "places", ["grid_id"], unique=False)
    op.create_index(op.f("ix_places_kind"), "places", ["kind"], unique=False)
    op.create_table(
        "houses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=16), server_default=sa.text("''"), nullable=False),
        sa.Column("floor", sa.Integer(), nullable=False),
        sa.Column("room", sa.String(length=16), nullable=False),
        sa.Column(
            "use", sa.String(length=16), server_default=sa.text("'residential'"), nullable=False
        ),
        sa.Column("area_m2", sa.Numeric(precision=8, scale=2), nullable=True),
        sa.Column("is_rental", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "use IN ('residential', 'commercial', 'office', 'other')",
            name=op.f("ck_houses_use_known"),
        ),
        sa.CheckConstraint("area_m2 IS NULL OR area_m2 > 0", name=op.f("ck_houses_area_positive")),
        sa.CheckConstraint("floor BETWEEN -5 AND 200", name=op.f("ck_houses_floor_range")),
        sa.ForeignKeyConstraint(
            ["building_id"],
            ["buildings.id"],
            name=op.f("fk_houses_building_id_buildings"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_houses")),
        sa.UniqueConstraint(
            "building_id", "unit", "room", name=op.f("uq_houses_building_id_unit_room")
        ),
    )
    op.create_index(op.f("ix_houses_building_id"), "houses", ["building_id"], unique=False)
    op.create_geospatial_table(
        "incident_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column(
            "attachments",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "to_status IN ('reported', 'dispatched', 'accepted', 'handling', 'handled', 'verified', 'closed', 'returned', 'deferred', 'escalated')",
            name=op.f("ck_incident_steps_to_status_known"),
        ),
        sa.CheckConstraint(
            "geom IS NULL OR ST_IsValid(geom)", name=op.f("ck_incident_steps_geom_valid")
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_incident_steps_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_incident_steps_department_id_departments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_steps_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_steps")),
    )
    op.create_geospatial_index(
        "ix_incident_steps_geom_gist",
        "incident_steps",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        "ix_incident_steps_incident_at", "incident_steps", ["incident_id", "at"], unique=False
    )
    op.create_geospatial_table(
        "patrols",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("place_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=True),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column(
            "patrolled_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column(
            "answers",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("result", sa.String(length=16), server_default=sa.text("'ok'"), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("result IN ('ok', 'problem')", name=op.f("ck_patrols_result_known")),
        sa.CheckConstraint("geom IS NULL OR ST_IsValid(geom)", name=op.f("ck_patrols_geom_valid")),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["grids.id"], name=op.f("fk_patrols_grid_id_grids"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_patrols_incident_id_incidents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["place_id"],
            ["places.id"],
            name=op.f("fk_patrols_place_id_places"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"],
            ["users.id"],
            name=op.f("fk_patrols_worker_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patrols")),
    )
    op.create_geospatial_index(
        "ix_patrols_geom_gist",
        "patrols",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_patrols_grid_id"), "patrols", ["grid_id"], unique=False)
    op.create_index(op.f("ix_patrols_place_id"), "patrols", ["place_id"], unique=False)
    op.create_index("ix_patrols_worker_at", "patrols", ["worker_id", "patrolled_at"], unique=False)
    op.create_table(
        "households",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("house_id", sa.Integer(), nullable=False),
        sa.Column("household_no", sa.String(length=32), nullable=False),
        sa.Column(
            "residence",
            sa.String(length=16),
            server_default=sa.text("'registered'"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "residence IN ('registered', 'floating')", name=op.f("ck_households_residence_known")
        ),
        sa.ForeignKeyConstraint(
            ["house_id"],
            ["houses.id"],
            name=op.f("fk_households_house_id_houses"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_households")),
        sa.UniqueConstraint("household_no", name=op.f("uq_households_household_no")),
    )
    op.create_index(op.f("ix_households_house_id"), "households", ["house_id"], unique=False)
    op.create_table(
        "persons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("gender", sa.String(length=8), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("id_number", sa.String(length=18), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column(
            "residence",
            sa.String(length=16),
            server_default=sa.text("'registered'"),
            nullable=False,
        ),
        sa.Column("relation_to_head", sa.String(length=16), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("gender IN ('male', 'female')", name=op.f("ck_persons_gender_known")),
        sa.CheckConstraint(
            "id_number IS NULL OR id_number ~ '^[0-9]{17}[0-9X]$'",
            name=op.f("ck_persons_id_format"),
        ),
        sa.CheckConstraint(
            "phone IS NULL OR phone ~ '^[0-9+ -]{5,20}$'", name=op.f("ck_persons_phone_format")
        ),
        sa.CheckConstraint(
            "residence IN ('registered', 'floating')", name=op.f("ck_persons_residence_known")
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["households.id"],
            name=op.f("fk_persons_household_id_households"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
        sa.UniqueConstraint("id_number", name=op.f("uq_persons_id_number")),
    )
    op.create_index(op.f("ix_persons_household_id"), "persons", ["household_id"], unique=False)
    op.create_table(
        "person_care_groups",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("category_code", sa.String(length=32), nullable=False),
        sa.Column("since", sa.Date(), server_default=sa.text("CURRENT_DATE"), nullable=False),
        sa.Column("responsible_user_id", sa.Integer(), nullable=True),
        sa.Column(
            "visit_interval_days", sa.Integer(), server_default=sa.text("30"), nullable=False
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "visit_interval_days BETWEEN 1 AND 366",
            name=op.f("ck_person_care_groups_visit_interval_range"),
        ),
        sa.ForeignKeyConstraint(
            ["category_code"],
            ["care_group_categories.code"],
            name=op.f("fk_person_care_groups_category_code_care_group_categories"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_person_care_groups_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["responsible_user_id"],
            ["users.id"],
            name=op.f("fk_person_care_groups_responsible_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("person_id", "category_code", name=op.f("pk_person_care_groups")),
    )
    op.create_index(
        op.f("ix_person_care_groups_category_code"),
        "person_care_groups",
        ["category_code"],
        unique=False,
    )
    op.create_index(
        op.f("ix_person_care_groups_responsible_user_id"),
        "person_care_groups",
        ["responsible_user_id"],
        unique=False,
    )
    op.execute(
        """
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only';
        END $$;
        """
    )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_index(
        op.f("ix_person_care_groups_responsible_user_id"), table_name="person_care_groups"
    )
    op.drop_index(op.f("ix_person_care_groups_category_code"), table_name="person_care_groups")
    op.drop_table("person_care_groups")
    op.drop_index(op.f("ix_persons_household_id"), table_name="persons")
    op.drop_table("persons")
    op.drop_index(op.f("ix_households_house_id"), table_name="households")
    op.drop_table("households")
    op.drop_index("ix_patrols_worker_at", table_name="patrols")
    op.drop_index(op.f("ix_patrols_place_id"), table_name="patrols")
    op.drop_index(op.f("ix_patrols_grid_id"), table_name="patrols")
    op.drop_geospatial_index(
        "ix_patrols_geom_gist", table_name="patrols", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("patrols")
    op.drop_index("ix_incident_steps_incident_at", table_name="incident_steps")
    op.drop_geospatial_index(
        "ix_incident_steps_geom_gist",
        table_name="incident_steps",
        postgresql_using="gist",
        column_name="geom",
    )
    op.drop_geospatial_table("incident_steps")
    op.drop_index(op.f("ix_houses_building_id"), table_name="houses")
    op.drop_table("houses")
    op.drop_index(op.f("ix_places_kind"), table_name="places")
    op.drop_index(op.f("ix_places_grid_id"), table_name="places")
    op.drop_geospatial_index(
        "ix_places_geom_gist", table_name="places", postgresql_using="gist", column_name="geom"
    )
    op.drop_index(op.f("ix_places_department_id"), table_name="places")
    op.drop_index(op.f("ix_places_community_id"), table_name="places")
    op.drop_geospatial_table("places")
    op.drop_index("ix_incidents_status", table_name="incidents")
    op.drop_index("ix_incidents_reported_at", table_name="incidents")
    op.drop_index(op.f("ix_incidents_grid_id"), table_name="incidents")
    op.drop_geospatial_index(
        "ix_incidents_geom_gist",
        table_name="incidents",
        postgresql_using="gist",
        column_name="geom",
    )
    op.drop_index(op.f("ix_incidents_department_id"), table_name="incidents")
    op.drop_index(op.f("ix_incidents_community_id"), table_name="incidents")
    op.drop_index(op.f("ix_incidents_category_code"), table_name="incidents")
    op.drop_geospatial_table("incidents")
    op.drop_index(op.f("ix_grid_lineage_source_grid_id"), table_name="grid_lineage")
    op.drop_table("grid_lineage")
    op.drop_index(op.f("ix_buildings_grid_id"), table_name="buildings")
    op.drop_geospatial_index(
        "ix_buildings_geom_gist",
        table_name="buildings",
        postgresql_using="gist",
        column_name="geom",
    )
    op.drop_index(op.f("ix_buildings_community_id"), table_name="buildings")
    op.drop_geospatial_table("buildings")
    op.drop_geospatial_index(
        "ix_grids_geom_gist", table_name="grids", postgresql_using="gist", column_name="geom"
    )
    op.drop_index(
        "ix_grids_current_code", table_name="grids", postgresql_where=sa.text("valid_to IS NULL")
    )
    op.drop_index(op.f("ix_grids_community_id"), table_name="grids")
    op.drop_geospatial_table("grids")
    op.drop_index(op.f("ix_grid_staff_user_id"), table_name="grid_staff")
    op.drop_index(
        "ix_grid_staff_one_leader",
        table_name="grid_staff",
        postgresql_where=sa.text("duty = 'leader'"),
    )
    op.drop_table("grid_staff")
    op.drop_index("ix_audit_log_user_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_users_department_id"), table_name="users")
    op.drop_index(op.f("ix_users_area_id"), table_name="users")
    op.drop_table("users")
    op.drop_index(op.f("ix_grid_codes_community_id"), table_name="grid_codes")
    op.drop_table("grid_codes")
    op.drop_index(op.f("ix_departments_admin_unit_id"), table_name="departments")
    op.drop_table("departments")
    op.drop_index(op.f("ix_roads_name"), table_name="roads")
    op.drop_geospatial_index(
        "ix_roads_geom_gist", table_name="roads", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("roads")
    op.drop_index(op.f("ix_incident_categories_parent_code"), table_name="incident_categories")
    op.drop_table("incident_categories")
    op.drop_table("care_group_categories")
    op.drop_index(op.f("ix_admin_units_parent_id"), table_name="admin_units")
    op.drop_geospatial_index(
        "ix_admin_units_geom_gist",
        table_name="admin_units",
        postgresql_using="gist",
        column_name="geom",
    )
    op.drop_geospatial_table("admin_units")
