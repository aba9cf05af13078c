"""data: service-oriented care-group defaults and the incident category tree

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here on purpose: a data migration must mean the same thing forever. Deployments add,
# rename or deactivate categories through the API; these are only the shipped defaults.
DEFAULT_CARE_GROUPS = (
    ("elderly_alone", "独居/孤寡老人", "Elderly living alone", 10),
    ("disabled", "残疾人", "Persons with disabilities", 20),
    ("low_income", "低保户", "Low-income (minimum living allowance) households", 30),
    ("unattended_child", "事实无人抚养儿童", "Children without de-facto caregivers", 40),
    ("left_behind_child", "留守儿童", "Left-behind children", 50),
)

# (code, parent, name_zh, name_en, time limit in hours or None for a group node)
DEFAULT_INCIDENT_CATEGORIES = (
    ("hazard", None, "安全隐患", "Safety hazard", None),
    ("hazard.fire", "hazard", "消防隐患", "Fire hazard", 24),
    ("hazard.co", "hazard", "一氧化碳中毒隐患", "Carbon-monoxide poisoning hazard", 24),
    ("hazard.drowning", "hazard", "防溺水隐患", "Drowning hazard", 48),
    ("hazard.traffic", "hazard", "交通安全隐患", "Traffic-safety hazard", 72),
    ("hazard.construction", "hazard", "建筑施工隐患", "Construction hazard", 72),
    ("dispute", None, "矛盾纠纷", "Dispute", None),
    ("dispute.neighbour", "dispute", "邻里纠纷", "Neighbour dispute", 120),
    ("dispute.family", "dispute", "家庭纠纷", "Family dispute", 120),
    ("dispute.labour", "dispute", "劳资纠纷", "Labour dispute", 168),
    ("dispute.property", "dispute", "物业纠纷", "Property-management dispute", 168),
    ("dispute.traffic_accident", "dispute", "交通事故纠纷", "Traffic-accident dispute", 120),
    ("public_order", None, "治安问题", "Public order", 48),
    ("service", None, "服务诉求", "Service request", None),
    ("service.wish", "service", "微心愿", "Small wish (微心愿)", 240),
    ("service.environment", "service", "环境卫生", "Environment and sanitation", 72),
)


def upgrade() -> None:
    care = sa.table(
        "care_group_categories",
        sa.column("code", sa.String),
        sa.column("name_zh", sa.String),
        sa.column("name_en", sa.String),
        sa.column("sort_order", sa.Integer),
    )
    op.bulk_insert(
        care,
        [
            {"code": c, "name_zh": zh, "name_en": en, "sort_order": order}
            for c, zh, en, order in DEFAULT_CARE_GROUPS
        ],
    )
    categories = sa.table(
        "incident_categories",
        sa.column("code", sa.String),
        sa.column("parent_code", sa.String),
        sa.column("name_zh", sa.String),
        sa.column("name_en", sa.String),
        sa.column("time_limit_hours", sa.Integer),
    )
    # Parents come before children in the tuple, so one bulk insert satisfies the FK.
    op.bulk_insert(
        categories,
        [
            {"code": c, "parent_code": p, "name_zh": zh, "name_en": en, "time_limit_hours": h}
            for c, p, zh, en, h in DEFAULT_INCIDENT_CATEGORIES
        ],
    )


def downgrade() -> None:
    codes = [c for c, *_ in DEFAULT_INCIDENT_CATEGORIES]
    # Children first, so the self-referencing FK never blocks the delete.
    for code in reversed(codes):
        op.execute(sa.text("DELETE FROM incident_categories WHERE code = :c").bindparams(c=code))
    op.execute(
        sa.text("DELETE FROM care_group_categories WHERE code = ANY(:codes)").bindparams(
            codes=[c for c, *_ in DEFAULT_CARE_GROUPS]
        )
    )
