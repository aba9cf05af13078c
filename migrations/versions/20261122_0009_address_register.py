"""address register: searchable building and house addresses kept current by triggers

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22

Tables ``address_aliases`` (俗称 of compounds), ``address_pinyin`` (pinyin initial per Chinese
character, filled here from pypinyin) and ``address_register`` (one row per building and per
house). The register is the view ``address_register_source`` materialised incrementally: the
statement-level triggers below rebuild the rows of exactly the buildings a statement touched,
from its transition tables, in the same transaction (see layers/models/address.py for why).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Normalised comparison key of an address part. Keep in step with layers/address/normalise.py
# (the Python side additionally reads Chinese numerals and the 12-2-301 dash form).
ADDRESS_KEY = r"""
CREATE FUNCTION wangge_address_key(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT regexp_replace(
        regexp_replace(
            regexp_replace(
                regexp_replace(
                    lower(normalize(coalesce(value, ''), NFKC)),
                    '([0-9a-z]+)(号楼|号栋|号幢|栋|幢|座|#楼|#)', '\1号楼', 'g'),
                '([0-9a-z]+)门', '\1单元', 'g'),
            '([0-9a-z]+)(室|户)', '\1', 'g'),
        '[][ \t\r\n,，、.。·;；:：()（）【】_"''“”‘’/\\|]', '', 'g')
$$
"""

PINYIN_INITIALS = """
CREATE FUNCTION wangge_pinyin_initials(value text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT coalesce(string_agg(coalesce(p.initial, c.ch), '' ORDER BY c.n), '')
    FROM unnest(string_to_array(value, NULL)) WITH ORDINALITY AS c(ch, n)
    LEFT JOIN address_pinyin AS p ON p.ch = c.ch
$$
"""

# How alike two short names are (a road, a compound), 0..1: the better of the trigram
# similarity and one minus the character edit distance over the longer length. Trigrams alone
# see almost nothing of a typo in a two-character name (花圆路 / 花园路 share one trigram of
# seven); fuzzystrmatch's levenshtein counts characters, not bytes, so 花圆路 is one edit away.
NAME_LIKENESS = """
CREATE FUNCTION wangge_name_likeness(a text, b text) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN coalesce(a, '') = '' OR coalesce(b, '') = '' THEN 0
           ELSE greatest(similarity(a, b),
                         1.0 - levenshtein(left(a, 255), left(b, 255))::double precision
                               / greatest(char_length(left(a, 255)), char_length(left(b, 255))))
           END
$$
"""

# Every register row as it should be: a building row (house_id NULL) and one row per house.
SOURCE_VIEW = """
CREATE VIEW address_register_source AS
SELECT bp.building_id, x.house_id, bp.community_id, bp.district, bp.street, bp.community,
       bp.road, bp.house_number, bp.compound, bp.aliases, bp.building, bp.name,
       x.unit, x.floor, x.room,
       bp.address || x.text_suffix AS full_text,
       bp.key || x.key_suffix AS key,
       bp.initials || wangge_pinyin_initials(x.key_suffix) AS initials
FROM (
    SELECT b.id AS building_id, b.community_id, d.name AS district, s.name AS street,
           c.name AS community, b.road_name AS road, b.house_number, b.compound,
           coalesce(
               (SELECT array_agg(a.alias ORDER BY a.alias) FROM address_aliases AS a
                WHERE a.name = b.compound),
               '{}'::text[]) AS aliases,
           b.building_no AS building, b.name, b.address, k.key,
           wangge_pinyin_initials(k.key) AS initials
    FROM buildings AS b
    LEFT JOIN admin_units AS c ON c.id = b.community_id
    LEFT JOIN admin_units AS s ON s.id = c.parent_id
    LEFT JOIN admin_units AS d ON d.id = s.parent_id
    CROSS JOIN LATERAL (
        SELECT wangge_address_key(
            concat(b.road_name, b.house_number, b.compound, b.building_no, b.name)) AS key
    ) AS k
) AS bp
CROSS JOIN LATERAL (
    SELECT NULL::integer AS house_id, NULL::varchar AS unit, NULL::integer AS floor,
           NULL::varchar AS room, ''::text AS text_suffix, ''::text AS key_suffix
    UNION ALL
    SELECT h.id, h.unit, h.floor, h.room,
           CASE WHEN h.unit <> '' THEN h.unit || '单元' ELSE '' END || h.room || '室',
           wangge_address_key(CASE WHEN h.unit <> '' THEN h.unit || '单元' ELSE '' END || h.room)
    FROM houses AS h
    WHERE h.building_id = bp.building_id
) AS x
"""

REGISTER_COLUMNS = (
    "building_id, house_id, community_id, district, street, community, road, house_number, "
    "compound, aliases, building, name, unit, floor, room, full_text, key, initials"
)

REFRESH = f"""
CREATE FUNCTION wangge_address_refresh(building_ids integer[]) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF building_ids IS NULL OR cardinality(building_ids) = 0 THEN
        RETURN;
    END IF;
    DELETE FROM address_register AS r
    WHERE r.building_id IN (SELECT unnest(building_ids));
    INSERT INTO address_register ({REGISTER_COLUMNS})
    SELECT {REGISTER_COLUMNS}
    FROM address_register_source AS s
    WHERE s.building_id IN (SELECT unnest(building_ids));
END
$$
"""  # noqa: S608 (a constant column list, no input)

# One trigger function per (table, event); each passes the building ids of the statement.
TRIGGER_FUNCTIONS = {
    "wangge_address_buildings_ins": """
        PERFORM wangge_address_refresh(ARRAY(SELECT n.id FROM new_rows AS n));
    """,
    "wangge_address_buildings_upd": """
        PERFORM wangge_address_refresh(ARRAY(
            SELECT n.id FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
            WHERE (n.road_name, n.house_number, n.compound, n.building_no, n.name, n.address,
                   n.community_id)
                  IS DISTINCT FROM
                  (o.road_name, o.house_number, o.compound, o.building_no, o.name, o.address,
                   o.community_id)));
    """,
    "wangge_address_houses_ins": """
        PERFORM wangge_address_refresh(ARRAY(SELECT DISTINCT n.building_id FROM new_rows AS n));
    """,
    "wangge_address_houses_upd": """
        PERFORM wangge_address_refresh(ARRAY(
            SELECT n.building_id FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
            WHERE (n.building_id, n.unit, n.floor, n.room)
                  IS DISTINCT FROM (o.building_id, o.unit, o.floor, o.room)
            UNION
            SELECT o.building_id FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
            WHERE n.building_id <> o.building_id));
    """,
    "wangge_address_aliases_ins": """
        PERFORM wangge_address_refresh(ARRAY(
            SELECT b.id FROM buildings AS b WHERE b.compound IN (SELECT n.name FROM new_rows AS n)));
    """,
    "wangge_address_aliases_del": """
        PERFORM wangge_address_refresh(ARRAY(
            SELECT b.id FROM buildings AS b WHERE b.compound IN (SELECT o.name FROM old_rows AS o)));
    """,
    "wangge_address_aliases_upd": """
        PERFORM wangge_address_refresh(ARRAY(
            SELECT b.id FROM buildings AS b
            WHERE b.compound IN (SELECT n.name FROM new_rows AS n UNION SELECT o.name FROM old_rows AS o)));
    """,
    # only a renamed or re-parented unit changes the register
    "wangge_address_admin_upd": """
        PERFORM wangge_address_refresh(ARRAY(
            WITH changed AS (
                SELECT n.id FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
                WHERE (n.name, n.parent_id) IS DISTINCT FROM (o.name, o.parent_id)
            )
            SELECT b.id FROM buildings AS b
            JOIN admin_units AS c ON c.id = b.community_id
            LEFT JOIN admin_units AS s ON s.id = c.parent_id
            WHERE c.id IN (SELECT changed.id FROM changed)
               OR s.id IN (SELECT changed.id FROM changed)
               OR s.parent_id IN (SELECT changed.id FROM changed)));
    """,
}

# (trigger, table, event, function, transition tables)
TRIGGERS = (
    ("address_register_ins", "buildings", "INSERT", "wangge_address_buildings_ins", "NEW"),
    ("address_register_upd", "buildings", "UPDATE", "wangge_address_buildings_upd", "OLD NEW"),
    ("address_register_ins", "houses", "INSERT", "wangge_address_houses_ins", "NEW"),
    ("address_register_upd", "houses", "UPDATE", "wangge_address_houses_upd", "OLD NEW"),
    ("address_register_ins", "address_aliases", "INSERT", "wangge_address_aliases_ins", "NEW"),
    ("address_register_del", "address_aliases", "DELETE", "wangge_address_aliases_del", "OLD"),
    ("address_register_upd", "address_aliases", "UPDATE", "wangge_address_aliases_upd", "OLD NEW"),
    ("address_register_upd", "admin_units", "UPDATE", "wangge_address_admin_upd", "OLD NEW"),
)


def _function_sql(name: str, body: str) -> str:
    return f"""
CREATE FUNCTION {name}() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    {body}
    RETURN NULL;
END
$$
"""


def _referencing(tables: str) -> str:
    parts = []
    if "OLD" in tables:
        parts.append("OLD TABLE AS old_rows")
    if "NEW" in tables:
        parts.append("NEW TABLE AS new_rows")
    return "REFERENCING " + " ".join(parts)


def _pinyin_rows() -> list[dict[str, str]]:
    """(character, initial) for the CJK Unified Ideographs and extension A, from pypinyin."""
    from pypinyin import Style, lazy_pinyin

    rows = []
    for code in (*range(0x3400, 0x4DC0), *range(0x4E00, 0xA000)):
        ch = chr(code)
        initial = lazy_pinyin(ch, style=Style.FIRST_LETTER, errors="ignore")
        if initial and initial[0] and initial[0][0].isascii() and initial[0][0].isalpha():
            rows.append({"ch": ch, "initial": initial[0][0].lower()})
    return rows


def upgrade() -> None:
    op.create_table(
        "address_aliases",
        sa.Column("name", sa.String(100), nullable=False, comment="compound (小区)"),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("name", "alias", name=op.f("pk_address_aliases")),
    )
    pinyin = op.create_table(
        "address_pinyin",
        sa.Column("ch", sa.String(1), nullable=False),
        sa.Column("initial", sa.String(1), nullable=False),
        sa.PrimaryKeyConstraint("ch", name=op.f("pk_address_pinyin")),
    )
    op.bulk_insert(pinyin, _pinyin_rows())
    op.create_table(
        "address_register",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("house_id", sa.Integer(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("district", sa.String(100), nullable=True),
        sa.Column("street", sa.String(100), nullable=True),
        sa.Column("community", sa.String(100), nullable=True),
        sa.Column("road", sa.String(100), nullable=True),
        sa.Column("house_number", sa.String(32), nullable=True),
        sa.Column("compound", sa.String(100), nullable=True),
        sa.Column(
            "aliases",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("building", sa.String(32), nullable=True),
        sa.Column("name", sa.String(100), nullable=True),
        sa.Column("unit", sa.String(16), nullable=True),
        sa.Column("floor", sa.Integer(), nullable=True),
        sa.Column("room", sa.String(16), nullable=True),
        sa.Column("full_text", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("initials", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["building_id"],
            ["buildings.id"],
            name=op.f("fk_address_register_building_id_buildings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["house_id"],
            ["houses.id"],
            name=op.f("fk_address_register_house_id_houses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["admin_units.id"],
            name=op.f("fk_address_register_community_id_admin_units"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_address_register")),
    )
    op.create_index(
        "ux_address_register_building_row",
        "address_register",
        ["building_id"],
        unique=True,
        postgresql_where=sa.text("house_id IS NULL"),
    )
    op.create_index("ux_address_register_house", "address_register", ["house_id"], unique=True)
    op.create_index("ix_address_register_building_id", "address_register", ["building_id"])
    op.create_index(
        "ix_address_register_key_trgm",
        "address_register",
        ["key"],
        postgresql_using="gin",
        postgresql_ops={"key": "gin_trgm_ops"},
        postgresql_where=sa.text("house_id IS NULL"),
    )
    op.create_index(
        "ix_address_register_initials_trgm",
        "address_register",
        ["initials"],
        postgresql_using="gin",
        postgresql_ops={"initials": "gin_trgm_ops"},
        postgresql_where=sa.text("house_id IS NULL"),
    )
    op.create_index("ix_address_register_community_id", "address_register", ["community_id"])
    op.create_index(
        "ix_address_register_house_number",
        "address_register",
        ["house_number"],
        postgresql_where=sa.text("house_id IS NULL"),
    )

    op.execute("CREATE EXTENSION IF NOT EXISTS fuzzystrmatch")
    op.execute(ADDRESS_KEY)
    op.execute(NAME_LIKENESS)
    op.execute(PINYIN_INITIALS)
    op.execute(SOURCE_VIEW)
    op.execute(REFRESH)
    for name, body in TRIGGER_FUNCTIONS.items():
        op.execute(_function_sql(name, body))
    for trigger, table, event, function, tables in TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {trigger} AFTER {event} ON {table} {_referencing(tables)} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    # Register what already exists (a database upgraded with buildings in it).
    op.execute("SELECT wangge_address_refresh(ARRAY(SELECT id FROM buildings))")


def downgrade() -> None:
    for trigger, table, _event, _function, _tables in reversed(TRIGGERS):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    for name in reversed(TRIGGER_FUNCTIONS):
        op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.execute("DROP FUNCTION IF EXISTS wangge_address_refresh(integer[])")
    op.execute("DROP VIEW IF EXISTS address_register_source")
    op.execute("DROP FUNCTION IF EXISTS wangge_pinyin_initials(text)")
    op.execute("DROP FUNCTION IF EXISTS wangge_name_likeness(text, text)")
    op.execute("DROP FUNCTION IF EXISTS wangge_address_key(text)")
    op.execute("DROP EXTENSION IF EXISTS fuzzystrmatch")
    op.drop_table("address_register")
    op.drop_table("address_pinyin")
    op.drop_table("address_aliases")
