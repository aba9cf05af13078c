"""The address register (地址库): one searchable row per building and per house.

Why a table kept by triggers (and not a view or a materialised view): search needs a trigram
index on the normalised key and on the pinyin initials, which a plain view cannot carry, and a
materialised view can only be refreshed whole (a million rows for one renamed building). So
migration 0009 keeps ``address_register`` current with *statement-level* triggers on
``buildings``, ``houses``, ``address_aliases`` and ``admin_units``: each statement (one UPDATE of
one building, or a COPY of a hundred thousand) rebuilds exactly the register rows of the
buildings it touched, set-based, from the transition tables, inside the same transaction. A
search in that transaction already sees the change; a rollback takes it back.

Rows: a *building row* (``house_id`` NULL) for every building, and a *house row* for every house
(room) in it. Search looks for buildings by trigram on ``key`` (a partial GIN index over building
rows only) and resolves the house by exact unit/room inside the building it found; the house
rows carry the full text and initials of each room for display and for exports.

``key`` is the address without the administrative prefix, normalised by the SQL function
``wangge_address_key`` (NFKC, lower case, no punctuation, ``栋/幢/座/#`` → ``号楼``,
``门`` → ``单元``); ``initials`` are the pinyin initials of ``key`` (digits and letters kept),
from the per-character table ``address_pinyin`` that the migration fills from ``pypinyin``.
"""

from __future__ import annotations

from sqlalchemy import ARRAY, BigInteger, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from layers.base import Base, CreatedAtMixin


class AddressAlias(CreatedAtMixin, Base):
    """A popular name (俗称) of a compound: ``alias`` means the compound called ``name``."""

    __tablename__ = "address_aliases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True, comment="compound (小区)")
    alias: Mapped[str] = mapped_column(String(100), primary_key=True)


class AddressPinyin(Base):
    """The pinyin initial of one Chinese character (filled once by migration 0009)."""

    __tablename__ = "address_pinyin"

    ch: Mapped[str] = mapped_column(String(1), primary_key=True)
    initial: Mapped[str] = mapped_column(String(1))


class AddressEntry(Base):
    """One row of the address register: a building (``house_id`` NULL) or one of its houses."""

    __tablename__ = "address_register"
    __table_args__ = (
        Index(
            "ux_address_register_building_row",
            "building_id",
            unique=True,
            postgresql_where=text("house_id IS NULL"),
        ),
        Index("ux_address_register_house", "house_id", unique=True),
        # the cascade from a deleted building and the refresh both look rows up by building
        Index("ix_address_register_building_id", "building_id"),
        Index(
            "ix_address_register_key_trgm",
            "key",
            postgresql_using="gin",
            postgresql_ops={"key": "gin_trgm_ops"},
            postgresql_where=text("house_id IS NULL"),
        ),
        Index(
            "ix_address_register_initials_trgm",
            "initials",
            postgresql_using="gin",
            postgresql_ops={"initials": "gin_trgm_ops"},
            postgresql_where=text("house_id IS NULL"),
        ),
        Index("ix_address_register_community_id", "community_id"),
        # a typo in a short road name leaves few trigrams: door numbers find the candidates
        Index(
            "ix_address_register_house_number",
            "house_number",
            postgresql_where=text("house_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"))
    house_id: Mapped[int | None] = mapped_column(ForeignKey("houses.id", ondelete="CASCADE"))
    community_id: Mapped[int | None] = mapped_column(
        ForeignKey("admin_units.id", ondelete="SET NULL")
    )
    district: Mapped[str | None] = mapped_column(String(100))
    street: Mapped[str | None] = mapped_column(String(100))
    community: Mapped[str | None] = mapped_column(String(100))
    road: Mapped[str | None] = mapped_column(String(100))
    house_number: Mapped[str | None] = mapped_column(String(32))
    compound: Mapped[str | None] = mapped_column(String(100))
    aliases: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'::text[]"))
    building: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(100))
    unit: Mapped[str | None] = mapped_column(String(16))
    floor: Mapped[int | None] = mapped_column(Integer)
    room: Mapped[str | None] = mapped_column(String(16))
    full_text: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    initials: Mapped[str] = mapped_column(Text)
