"""Buildings (footprints), houses (房) inside them and households (户) living in houses.

以房管人: a person's grid comes from the house → building → grid chain. ``buildings.grid_id`` and
``community_id`` are derived by spatial query (the grid covering the footprint's
point-on-surface) and refreshed set-based whenever grids change; they are never typed in.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from layers.base import Base, CreatedAtMixin
from layers.models._columns import geometry, geometry_checks

BUILDING_KINDS = ("residential", "commercial", "public", "industrial", "mixed", "bungalow")


class Building(CreatedAtMixin, Base):
    """A building footprint with its address parts."""

    __tablename__ = "buildings"
    __table_args__ = (
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in BUILDING_KINDS) + ")", name="kind_known"
        ),
        CheckConstraint("floors BETWEEN 1 AND 200", name="floors_range"),
        *geometry_checks("buildings"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    floors: Mapped[int] = mapped_column(Integer)
    # Address parts (the address register of the search issue is built from these).
    road_name: Mapped[str | None] = mapped_column(String(100))
    house_number: Mapped[str | None] = mapped_column(String(32))
    compound: Mapped[str | None] = mapped_column(String(100), comment="小区 name")
    building_no: Mapped[str | None] = mapped_column(String(32), comment="楼/栋/号楼/座")
    address: Mapped[str] = mapped_column(String(255))
    geom = mapped_column(geometry("POLYGON"), nullable=False)
    grid_id: Mapped[int | None] = mapped_column(
        ForeignKey("grids.id", ondelete="SET NULL"), index=True
    )
    community_id: Mapped[int | None] = mapped_column(
        ForeignKey("admin_units.id", ondelete="SET NULL"), index=True
    )

    houses: Mapped[list[House]] = relationship(back_populates="building")


class House(CreatedAtMixin, Base):
    """A dwelling or unit of use: unit (单元), floor, room in a building."""

    __tablename__ = "houses"
    __table_args__ = (
        CheckConstraint("floor BETWEEN -5 AND 200", name="floor_range"),
        CheckConstraint(
            "use IN ('residential', 'commercial', 'office', 'other')", name="use_known"
        ),
        CheckConstraint("area_m2 IS NULL OR area_m2 > 0", name="area_positive"),
        # a room number is unique within its unit of a building
        UniqueConstraint("building_id", "unit", "room"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(
        ForeignKey("buildings.id", ondelete="RESTRICT"), index=True
    )
    unit: Mapped[str] = mapped_column(String(16), server_default=text("''"))
    floor: Mapped[int] = mapped_column(Integer)
    room: Mapped[str] = mapped_column(String(16))
    use: Mapped[str] = mapped_column(String(16), server_default=text("'residential'"))
    area_m2: Mapped[float | None] = mapped_column(Numeric(8, 2))
    is_rental: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))

    building: Mapped[Building] = relationship(back_populates="houses")


class Household(CreatedAtMixin, Base):
    """A household (户) registered at a house."""

    __tablename__ = "households"
    __table_args__ = (
        CheckConstraint("residence IN ('registered', 'floating')", name="residence_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    house_id: Mapped[int] = mapped_column(ForeignKey("houses.id", ondelete="RESTRICT"), index=True)
    household_no: Mapped[str] = mapped_column(String(32), unique=True)
    residence: Mapped[str] = mapped_column(String(16), server_default=text("'registered'"))
