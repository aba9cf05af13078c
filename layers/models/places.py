"""Places (场所): schools, shops, 三合一 and 三小 premises... with a responsible department."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from layers.base import Base, CreatedAtMixin
from layers.models._columns import geometry, geometry_checks

PLACE_KINDS = {
    "school": "学校",
    "kindergarten": "幼儿园",
    "hospital": "医院/诊所",
    "shop": "商铺",
    "restaurant": "餐饮店",
    "hotel": "宾馆",
    "rental": "出租房屋",
    "three_in_one": "三合一场所",
    "small_workshop": "小作坊",
    "small_stall": "小摊点",
    "small_entertainment": "小娱乐场所",
    "market": "市场",
    "construction_site": "建筑工地",
}


class Place(CreatedAtMixin, Base):
    """A place with a point or polygon geometry, filed under the grid it lies in."""

    __tablename__ = "places"
    __table_args__ = (
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in PLACE_KINDS) + ")", name="kind_known"
        ),
        CheckConstraint(
            "GeometryType(geom) IN ('POINT', 'POLYGON', 'MULTIPOLYGON')", name="geom_point_or_area"
        ),
        *geometry_checks("places"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    address: Mapped[str | None] = mapped_column(String(255))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"), index=True
    )
    contact_name: Mapped[str | None] = mapped_column(String(64))
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    geom = mapped_column(geometry("GEOMETRY"), nullable=False)
    grid_id: Mapped[int | None] = mapped_column(
        ForeignKey("grids.id", ondelete="SET NULL"), index=True
    )
    community_id: Mapped[int | None] = mapped_column(
        ForeignKey("admin_units.id", ondelete="SET NULL"), index=True
    )
