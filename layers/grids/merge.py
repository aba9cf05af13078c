"""Merge adjacent grids of a draft plan into one (``ST_UnaryUnion`` in PostGIS).

Only grids that form one connected territory can merge: every grid must share a border of
positive length with the others (touching at a corner is not enough), and all must belong to
the same community and level. The merged grid gets a new code at publish and every source code
is retired (:mod:`layers.grids.codes`); its name, kind and sizing type default to those of the
largest source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.access import Principal
from layers.errors import InvalidInput
from layers.grids.edits import check_attributes
from layers.grids.plans import (
    EditSummary,
    NewPart,
    check_expected_versions,
    live_grids,
    open_draft,
    record_edit,
)
from layers.models.plans import EditOp

MAX_MERGE = 20

# The union, and for each source the length (m) of border it shares with the others.
_MERGE_SQL = """
WITH src AS (
    SELECT t.key, ST_GeomFromEWKB(t.geom) AS geom
    FROM unnest(CAST(:keys AS varchar[]), CAST(:geoms AS bytea[])) AS t(key, geom)
), merged AS (
    SELECT ST_Multi(ST_CollectionExtract(ST_UnaryUnion(ST_Collect(geom)), 3)) AS geom FROM src
)
SELECT ST_AsEWKB(m.geom) AS geom, ST_NumGeometries(m.geom) AS polygons,
       (SELECT json_object_agg(s.key, (
            SELECT coalesce(sum(ST_Length(ST_CollectionExtract(
                       ST_Intersection(s.geom, o.geom), 2)::geography)), 0)
            FROM src AS o WHERE o.key <> s.key AND ST_Intersects(s.geom, o.geom)))
        FROM src AS s) AS shared_m
FROM merged AS m
"""


def merge_grids(
    session: Session,
    *,
    principal: Principal,
    plan_id: int,
    keys: Sequence[str],
    name: str | None = None,
    kind: str | None = None,
    sizing_type: str | None = None,
    expected_versions: Mapping[str, int] | None = None,
) -> EditSummary:
    """Add to a draft the merge of the grids ``keys`` into one new grid.

    Raises
    ------
    InvalidInput
        Fewer than two or repeated keys, grids of different communities or levels, or grids
        that do not form one connected territory (the message names the ones that are apart).
    """
    unique = list(dict.fromkeys(keys))
    if len(unique) < 2 or len(unique) != len(keys) or len(unique) > MAX_MERGE:
        raise InvalidInput(
            f"A merge needs 2 to {MAX_MERGE} different grids",
            f"合并需要 2 到 {MAX_MERGE} 个不同的网格",
            field="keys",
        )
    ctx = open_draft(session, principal=principal, plan_id=plan_id)
    grids = live_grids(session, ctx, unique, field_name="keys")
    check_expected_versions(grids, expected_versions, field_name="expected_versions")
    sources = [grids[k] for k in unique]
    row = session.execute(
        text(_MERGE_SQL), {"keys": unique, "geoms": [g.geom for g in sources]}
    ).one()
    if row.polygons > 1:
        apart = [k for k in unique if row.shared_m.get(k, 0) <= 0]
        listed = "、".join(apart) if apart else "、".join(unique)
        raise InvalidInput(
            "Only adjacent grids can be merged: "
            + (
                f"{', '.join(apart)} share(s) no border with the others"
                if apart
                else "the grids form separate groups"
            ),
            f"只能合并相邻的网格：{listed} 与其他网格不相邻",
            field="keys",
            extra={"not_adjacent": apart or unique},
        )
    if len({g.community_id for g in sources}) > 1:
        raise InvalidInput(
            "Grids of different communities cannot be merged",
            "不同社区的网格不能合并",
            field="keys",
        )
    levels = {
        (g.kind == "micro", g.parent_grid_code if g.kind == "micro" else None) for g in sources
    }
    if len(levels) > 1:
        raise InvalidInput(
            "Micro-grids merge only with micro-grids of the same parent",
            "微网格只能与同一上级网格的微网格合并",
            field="keys",
        )
    largest = max(sources, key=lambda g: (g.area_m2, g.key))
    merged = NewPart(
        key=None,
        name=(name or largest.name).strip(),
        kind=kind or largest.kind,
        sizing_type=sizing_type or largest.sizing_type,
        community_id=largest.community_id,
        parent_grid_code=largest.parent_grid_code,
        geom=bytes(row.geom),
    )
    if not merged.name:
        raise InvalidInput("The merged grid needs a name", "合并后的网格需要名称", field="name")
    check_attributes(merged.kind, merged.sizing_type, merged.parent_grid_code)
    return record_edit(
        session,
        ctx,
        op=EditOp.merge,
        sources=sources,
        parts=[merged],
        params={"keys": unique, "name": merged.name},
    )
