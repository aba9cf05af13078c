"""incident workflow: time limits, dispatch rules, joint cases, photos, patrol checklists

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22

Schema for the closed loop of docs/INCIDENTS.md: new columns on ``incidents`` (escalation
level, deferral, duplicates, border candidates), per-risk time limits, dispatch rules
(category + area → department), departments summoned to a joint case, stored photos, and the
department checklists (傻瓜式清单) with the shipped default items. Seed data is frozen here on
purpose (a data migration must mean the same thing forever).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INCIDENT_CHECKS = (
    ("escalation_level_known", "escalation_level IN ('grid', 'community', 'street', 'district')"),
    ("not_own_duplicate", "duplicate_of IS NULL OR duplicate_of <> id"),
)

# High-risk hazards get half the category's limit (category limits come from migration 0002).
DEFAULT_LIMITS = (
    ("hazard.fire", "high", 12),
    ("hazard.co", "high", 12),
    ("hazard.drowning", "high", 24),
    ("hazard.traffic", "high", 36),
    ("hazard.construction", "high", 36),
    ("public_order", "high", 24),
)

# code: (text_zh, text_en, category of the incident a failure raises, its risk level)
CHECKLIST_ITEMS = {
    "extinguisher_ok": (
        "灭火器配置齐全且在有效期内",
        "Extinguishers present and in date",
        "hazard.fire",
        "high",
    ),
    "exits_clear": (
        "安全出口、疏散通道畅通",
        "Exits and escape routes clear",
        "hazard.fire",
        "high",
    ),
    "wiring_ok": ("电气线路无私拉乱接", "No improvised wiring", "hazard.fire", "medium"),
    "no_indoor_ebike_charging": (
        "无电动自行车室内停放充电",
        "No e-bikes charged indoors",
        "hazard.fire",
        "high",
    ),
    "gas_hose_ok": ("燃气软管完好、无老化", "Gas hoses intact", "hazard.fire", "high"),
    "no_sleeping_in_workshop": (
        "生产经营区域无人员住宿",
        "Nobody sleeps in the work area",
        "hazard.fire",
        "high",
    ),
    "stove_vented": ("煤炉烟道通畅、安装风斗", "Stove flues clear and capped", "hazard.co", "high"),
    "co_alarm_installed": (
        "安装一氧化碳报警器",
        "Carbon-monoxide alarm installed",
        "hazard.co",
        "medium",
    ),
    "warning_signs": (
        "危险水域警示标志完好",
        "Water-danger signs in place",
        "hazard.drowning",
        "high",
    ),
    "fence_intact": ("防护围挡完好", "Protective fence intact", "hazard.construction", "medium"),
    "rescue_gear": ("救生器材齐全", "Rescue equipment present", "hazard.drowning", "medium"),
    "helmets_worn": ("作业人员佩戴安全帽", "Workers wear helmets", "hazard.construction", "medium"),
    "dust_covered": (
        "裸土覆盖、扬尘管控到位",
        "Bare soil covered against dust",
        "service.environment",
        "low",
    ),
    "gate_guarded": ("校门安保值守到位", "School gate guarded", "public_order", "medium"),
    "tenants_registered": ("租住人员已登记", "Tenants registered", "public_order", "low"),
    "licence_displayed": (
        "证照齐全并公示",
        "Licences held and displayed",
        "service.environment",
        "low",
    ),
    "waste_cleared": ("垃圾清运及时", "Waste removed on time", "service.environment", "low"),
}

# checklist kind (layers.models.registries.CHECKLIST_KINDS) → its items, in order
DEFAULT_CHECKLISTS = {
    "fire_safety": ("extinguisher_ok", "exits_clear", "wiring_ok", "no_indoor_ebike_charging"),
    "co_poisoning": (
        "stove_vented",
        "co_alarm_installed",
        "no_indoor_ebike_charging",
        "tenants_registered",
    ),
    "drowning": ("warning_signs", "rescue_gear"),
    "food_safety": ("gas_hose_ok", "extinguisher_ok", "exits_clear", "licence_displayed"),
    "construction_safety": ("helmets_worn", "fence_intact", "dust_covered"),
    "three_in_one": ("no_sleeping_in_workshop", "extinguisher_ok", "exits_clear", "wiring_ok"),
    "public_health": ("waste_cleared", "licence_displayed"),
    "general": ("exits_clear", "extinguisher_ok", "wiring_ok"),
}


def upgrade() -> None:
    op.create_table(
        "incident_time_limits",
        sa.Column("category_code", sa.String(length=64), nullable=False),
        sa.Column("risk_level", sa.String(length=8), nullable=False),
        sa.Column("limit_hours", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "risk_level IN ('high', 'medium', 'low')",
            name=op.f("ck_incident_time_limits_risk_known"),
        ),
        sa.CheckConstraint("limit_hours > 0", name=op.f("ck_incident_time_limits_limit_positive")),
        sa.ForeignKeyConstraint(
            ["category_code"],
            ["incident_categories.code"],
            name=op.f("fk_incident_time_limits_category_code_incident_categories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "category_code", "risk_level", name=op.f("pk_incident_time_limits")
        ),
    )
    op.create_table(
        "patrol_checklist_items",
        sa.Column("checklist_kind", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("text_zh", sa.String(length=200), nullable=False),
        sa.Column("text_en", sa.String(length=200), nullable=False),
        sa.Column("category_code", sa.String(length=64), nullable=False),
        sa.Column(
            "risk_level", sa.String(length=8), server_default=sa.text("'medium'"), nullable=False
        ),
        sa.Column("sort_order", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint(
            "code ~ '^[a-z0-9_]{2,64}$'", name=op.f("ck_patrol_checklist_items_code_format")
        ),
        sa.CheckConstraint(
            "risk_level IN ('high', 'medium', 'low')",
            name=op.f("ck_patrol_checklist_items_risk_known"),
        ),
        sa.ForeignKeyConstraint(
            ["category_code"],
            ["incident_categories.code"],
            name=op.f("fk_patrol_checklist_items_category_code_incident_categories"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("checklist_kind", "code", name=op.f("pk_patrol_checklist_items")),
    )
    op.create_index(
        op.f("ix_patrol_checklist_items_category_code"),
        "patrol_checklist_items",
        ["category_code"],
        unique=False,
    )
    op.create_table(
        "dispatch_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category_code", sa.String(length=64), nullable=True),
        sa.Column("admin_unit_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["admin_unit_id"],
            ["admin_units.id"],
            name=op.f("fk_dispatch_rules_admin_unit_id_admin_units"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["category_code"],
            ["incident_categories.code"],
            name=op.f("fk_dispatch_rules_category_code_incident_categories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_dispatch_rules_department_id_departments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_rules")),
        sa.UniqueConstraint(
            "category_code",
            "admin_unit_id",
            name="uq_dispatch_rules_category_area",
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_index(
        op.f("ix_dispatch_rules_admin_unit_id"), "dispatch_rules", ["admin_unit_id"], unique=False
    )
    op.create_index(
        op.f("ix_dispatch_rules_category_code"), "dispatch_rules", ["category_code"], unique=False
    )
    op.create_index(
        op.f("ix_dispatch_rules_department_id"), "dispatch_rules", ["department_id"], unique=False
    )
    op.create_table(
        "incident_departments",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("summoned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summoned_by", sa.Integer(), nullable=True),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_in_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["checked_in_by"],
            ["users.id"],
            name=op.f("fk_incident_departments_checked_in_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_incident_departments_department_id_departments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_departments_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["summoned_by"],
            ["users.id"],
            name=op.f("fk_incident_departments_summoned_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint(
            "incident_id", "department_id", name=op.f("pk_incident_departments")
        ),
    )
    op.create_index(
        op.f("ix_incident_departments_checked_in_by"),
        "incident_departments",
        ["checked_in_by"],
        unique=False,
    )
    op.create_index(
        op.f("ix_incident_departments_department_id"),
        "incident_departments",
        ["department_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_incident_departments_summoned_by"),
        "incident_departments",
        ["summoned_by"],
        unique=False,
    )
    op.create_table(
        "incident_photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("step_id", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=16), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("stored_name", sa.String(length=128), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "media_type IN ('image/jpeg', 'image/png', 'image/webp')",
            name=op.f("ck_incident_photos_media_type_known"),
        ),
        sa.CheckConstraint(
            "sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_incident_photos_sha256_format")
        ),
        sa.CheckConstraint("size_bytes > 0", name=op.f("ck_incident_photos_size_positive")),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_photos_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["step_id"],
            ["incident_steps.id"],
            name=op.f("fk_incident_photos_step_id_incident_steps"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"],
            ["users.id"],
            name=op.f("fk_incident_photos_uploaded_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_photos")),
    )
    op.create_index(
        op.f("ix_incident_photos_incident_id"), "incident_photos", ["incident_id"], unique=False
    )
    op.create_index(
        op.f("ix_incident_photos_step_id"), "incident_photos", ["step_id"], unique=False
    )
    op.create_index(
        op.f("ix_incident_photos_uploaded_by"), "incident_photos", ["uploaded_by"], unique=False
    )
    op.add_column(
        "incidents",
        sa.Column(
            "escalation_level",
            sa.String(length=16),
            server_default=sa.text("'grid'"),
            nullable=False,
        ),
    )
    op.add_column(
        "incidents", sa.Column("deferred_until", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("incidents", sa.Column("deferral_approved", sa.Boolean(), nullable=True))
    op.add_column("incidents", sa.Column("duplicate_of", sa.Integer(), nullable=True))
    op.add_column(
        "incidents",
        sa.Column(
            "border_grid_ids",
            postgresql.ARRAY(sa.Integer()),
            server_default=sa.text("'{}'::integer[]"),
            nullable=False,
        ),
    )
    op.add_column("incidents", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_incidents_duplicate_of"), "incidents", ["duplicate_of"], unique=False)
    op.create_foreign_key(
        op.f("fk_incidents_duplicate_of_incidents"),
        "incidents",
        "incidents",
        ["duplicate_of"],
        ["id"],
        ondelete="SET NULL",
    )
    op.add_column("patrols", sa.Column("checklist_kind", sa.String(length=32), nullable=True))
    for name, condition in INCIDENT_CHECKS:
        op.create_check_constraint(op.f(f"ck_incidents_{name}"), "incidents", condition)
    _seed()


def _seed() -> None:
    limits = sa.table(
        "incident_time_limits",
        sa.column("category_code", sa.String),
        sa.column("risk_level", sa.String),
        sa.column("limit_hours", sa.Integer),
    )
    op.bulk_insert(
        limits,
        [{"category_code": c, "risk_level": r, "limit_hours": h} for c, r, h in DEFAULT_LIMITS],
    )
    items = sa.table(
        "patrol_checklist_items",
        sa.column("checklist_kind", sa.String),
        sa.column("code", sa.String),
        sa.column("text_zh", sa.String),
        sa.column("text_en", sa.String),
        sa.column("category_code", sa.String),
        sa.column("risk_level", sa.String),
        sa.column("sort_order", sa.Integer),
    )
    rows = []
    for kind, codes in DEFAULT_CHECKLISTS.items():
        for order, code in enumerate(codes, start=1):
            zh, en, category, risk = CHECKLIST_ITEMS[code]
            rows.append(
                {
                    "checklist_kind": kind,
                    "code": code,
                    "text_zh": zh,
                    "text_en": en,
                    "category_code": category,
                    "risk_level": risk,
                    "sort_order": order * 10,
                }
            )
    op.bulk_insert(items, rows)


def downgrade() -> None:
    for name, _condition in reversed(INCIDENT_CHECKS):
        op.drop_constraint(op.f(f"ck_incidents_{name}"), "incidents", type_="check")
    op.drop_column("patrols", "checklist_kind")
    op.drop_constraint(op.f("fk_incidents_duplicate_of_incidents"), "incidents", type_="foreignkey")
    op.drop_index(op.f("ix_incidents_duplicate_of"), table_name="incidents")
    op.drop_column("incidents", "updated_at")
    op.drop_column("incidents", "border_grid_ids")
    op.drop_column("incidents", "duplicate_of")
    op.drop_column("incidents", "deferral_approved")
    op.drop_column("incidents", "deferred_until")
    op.drop_column("incidents", "escalation_level")
    op.drop_index(op.f("ix_incident_photos_uploaded_by"), table_name="incident_photos")
    op.drop_index(op.f("ix_incident_photos_step_id"), table_name="incident_photos")
    op.drop_index(op.f("ix_incident_photos_incident_id"), table_name="incident_photos")
    op.drop_table("incident_photos")
    op.drop_index(op.f("ix_incident_departments_summoned_by"), table_name="incident_departments")
    op.drop_index(op.f("ix_incident_departments_department_id"), table_name="incident_departments")
    op.drop_index(op.f("ix_incident_departments_checked_in_by"), table_name="incident_departments")
    op.drop_table("incident_departments")
    op.drop_index(op.f("ix_dispatch_rules_department_id"), table_name="dispatch_rules")
    op.drop_index(op.f("ix_dispatch_rules_category_code"), table_name="dispatch_rules")
    op.drop_index(op.f("ix_dispatch_rules_admin_unit_id"), table_name="dispatch_rules")
    op.drop_table("dispatch_rules")
    op.drop_index(
        op.f("ix_patrol_checklist_items_category_code"), table_name="patrol_checklist_items"
    )
    op.drop_table("patrol_checklist_items")
    op.drop_table("incident_time_limits")
