"""registries: visits, tenancies, person deactivation, place checklist kind

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from geoalchemy2 import Geometry

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the allowed values (a migration must mean the same thing forever).
LEFT_REASONS = ("moved_away", "deceased", "other")
CHECKLIST_KINDS = (
    "fire_safety",
    "co_poisoning",
    "drowning",
    "food_safety",
    "construction_safety",
    "three_in_one",
    "public_health",
    "general",
)


def _in_list(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    # persons: deactivation instead of deletion
    op.add_column(
        "persons",
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
    )
    op.add_column("persons", sa.Column("left_on", sa.Date(), nullable=True))
    op.add_column("persons", sa.Column("left_reason", sa.String(length=16), nullable=True))
    op.create_check_constraint(
        op.f("ck_persons_left_reason_known"),
        "persons",
        f"left_reason IS NULL OR left_reason IN ({_in_list(LEFT_REASONS)})",
    )
    op.create_check_constraint(
        op.f("ck_persons_left_when_inactive"),
        "persons",
        "(is_active AND left_on IS NULL AND left_reason IS NULL)"
        " OR (NOT is_active AND left_on IS NOT NULL AND left_reason IS NOT NULL)",
    )

    # places: the department checklist used on patrols
    op.add_column("places", sa.Column("checklist_kind", sa.String(length=32), nullable=True))
    op.create_check_constraint(
        op.f("ck_places_checklist_kind_known"),
        "places",
        f"checklist_kind IS NULL OR checklist_kind IN ({_in_list(CHECKLIST_KINDS)})",
    )

    op.create_table(
        "visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("visitor_id", sa.Integer(), nullable=True),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "geom",
            Geometry(geometry_type="POINT", srid=4326, spatial_index=False),
            nullable=True,
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("geom IS NULL OR ST_IsValid(geom)", name=op.f("ck_visits_geom_valid")),
        sa.CheckConstraint(
            "geom IS NULL OR NOT ST_IsEmpty(geom)", name=op.f("ck_visits_geom_not_empty")
        ),
        sa.CheckConstraint(
            "note IS NULL OR char_length(note) <= 2000", name=op.f("ck_visits_note_length")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_visits_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"],
            ["users.id"],
            name=op.f("fk_visits_visitor_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
    )
    op.create_index(
        "ix_visits_geom_gist", "visits", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_index("ix_visits_person_at", "visits", ["person_id", "visited_at"], unique=False)
    op.create_index(op.f("ix_visits_visitor_id"), "visits", ["visitor_id"], unique=False)

    op.create_table(
        "tenancies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("house_id", sa.Integer(), nullable=False),
        sa.Column("landlord_person_id", sa.Integer(), nullable=True),
        sa.Column("landlord_name", sa.String(length=64), nullable=True),
        sa.Column("landlord_phone", sa.String(length=20), nullable=True),
        sa.Column("tenant_household_id", sa.Integer(), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "ended_on IS NULL OR ended_on >= started_on", name=op.f("ck_tenancies_dates_ordered")
        ),
        sa.CheckConstraint(
            "landlord_person_id IS NOT NULL OR landlord_name IS NOT NULL",
            name=op.f("ck_tenancies_landlord_given"),
        ),
        sa.CheckConstraint(
            "landlord_phone IS NULL OR landlord_phone ~ '^[0-9+ -]{5,20}$'",
            name=op.f("ck_tenancies_landlord_phone_format"),
        ),
        postgresql.ExcludeConstraint(
            (sa.column("house_id"), "="),
            (sa.column("tenant_household_id"), "="),
            (sa.text("daterange(started_on, ended_on, '[]')"), "&&"),
            name="ex_tenancies_no_overlap",
            using="gist",
        ),
        sa.ForeignKeyConstraint(
            ["house_id"],
            ["houses.id"],
            name=op.f("fk_tenancies_house_id_houses"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["landlord_person_id"],
            ["persons.id"],
            name=op.f("fk_tenancies_landlord_person_id_persons"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_household_id"],
            ["households.id"],
            name=op.f("fk_tenancies_tenant_household_id_households"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenancies")),
    )
    op.create_index(op.f("ix_tenancies_house_id"), "tenancies", ["house_id"], unique=False)
    op.create_index(
        op.f("ix_tenancies_landlord_person_id"), "tenancies", ["landlord_person_id"], unique=False
    )
    op.create_index(
        op.f("ix_tenancies_tenant_household_id"),
        "tenancies",
        ["tenant_household_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_tenancies_tenant_household_id"), table_name="tenancies")
    op.drop_index(op.f("ix_tenancies_landlord_person_id"), table_name="tenancies")
    op.drop_index(op.f("ix_tenancies_house_id"), table_name="tenancies")
    op.drop_table("tenancies")
    op.drop_index(op.f("ix_visits_visitor_id"), table_name="visits")
    op.drop_index("ix_visits_person_at", table_name="visits")
    op.drop_index("ix_visits_geom_gist", table_name="visits", postgresql_using="gist")
    op.drop_table("visits")
    op.drop_constraint(op.f("ck_places_checklist_kind_known"), "places", type_="check")
    op.drop_column("places", "checklist_kind")
    op.drop_constraint(op.f("ck_persons_left_when_inactive"), "persons", type_="check")
    op.drop_constraint(op.f("ck_persons_left_reason_known"), "persons", type_="check")
    op.drop_column("persons", "left_reason")
    op.drop_column("persons", "left_on")
    op.drop_column("persons", "is_active")
