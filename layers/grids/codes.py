"""Grid codes (网格编码): 15 digits = 12-digit community code + 3-digit sequence.

Policy (docs/GRID_PLANNING.md, "Codes"):

* **Numbering order.** Within a community, sequences run in reading order: rows from north to
  south, west to east within a row (自西向东、自北向南). A grid's position is its
  point-on-surface; two grids are in the same row when their points differ in latitude by less
  than half the median height of the grids being numbered.
* **Issued once.** Every code ever issued has a row in ``grid_codes``; a retired code keeps it
  (``retired_at``) and is never issued again.
* **New codes** (the parts of a split, a merged grid, a created grid) take the sequences after
  the highest ever issued in the community, given to the new grids of one publish in reading
  order. Only when 999 is used up are never-issued numbers below it handed out, lowest first.
* **Reshape, attribute changes and neighbours adjusted by a reshape** keep their code and get a
  new version. **Split** retires the parent code; **merge** retires every source code and
  issues one new code (no source "wins" the territory of the others); **retire** retires.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.errors import Conflict

MAX_SEQUENCE = 999


@dataclass(frozen=True, slots=True)
class Placed:
    """Where a grid lies, for ordering: its point-on-surface and height (EPSG:4326 degrees).

    Only comparisons of latitudes with latitudes are made, so degrees are fine here.
    """

    key: str
    x: float
    y: float
    height: float


def reading_order(grids: Sequence[Placed]) -> list[str]:
    """Keys of ``grids`` in reading order: north→south rows, west→east within a row."""
    if not grids:
        return []
    band = median(g.height for g in grids) / 2
    by_north = sorted(grids, key=lambda g: (-g.y, g.x, g.key))
    rows: list[list[Placed]] = []
    top = None
    for grid in by_north:
        if top is None or top - grid.y >= band:
            rows.append([])
            top = grid.y
        rows[-1].append(grid)
    return [g.key for row in rows for g in sorted(row, key=lambda g: (g.x, g.key))]


def issued_sequences(session: Session, *, community_code: str) -> set[int]:
    """Every sequence number ever issued under a community (retired ones included)."""
    rows = session.execute(
        text("SELECT substr(code, 13, 3)::int FROM grid_codes WHERE code LIKE :prefix"),
        {"prefix": community_code + "%"},
    ).scalars()
    return set(rows)


def next_codes(session: Session, *, community_code: str, count: int) -> list[str]:
    """``count`` codes never issued under ``community_code``, following the policy above.

    Raises
    ------
    Conflict
        When the community has fewer than ``count`` sequence numbers left.
    """
    if count <= 0:
        return []
    issued = issued_sequences(session, community_code=community_code)
    top = max(issued, default=0)
    sequences = list(range(top + 1, min(top + count, MAX_SEQUENCE) + 1))
    if len(sequences) < count:
        gaps = (n for n in range(1, MAX_SEQUENCE + 1) if n not in issued and n <= top)
        sequences += [n for n, _ in zip(gaps, range(count - len(sequences)), strict=False)]
    if len(sequences) < count:
        raise Conflict(
            f"Community {community_code} has no grid sequence numbers left "
            f"({count} needed; 001–{MAX_SEQUENCE} are all issued)",
            f"社区 {community_code} 的网格序号已用尽"
            f"（需要 {count} 个，001–{MAX_SEQUENCE} 均已发放）",
            field="code",
        )
    return [f"{community_code}{n:03d}" for n in sequences]


def codes_for_new_grids(
    session: Session, *, grids: Sequence[Placed], community_codes: dict[str, str]
) -> dict[str, str]:
    """Codes for new grids, per community in reading order: provisional key → 15-digit code.

    ``community_codes`` maps each key to the 12-digit code of the grid's community. The answer
    is what a publish made now would issue; a draft shows it as provisional.
    """
    by_community: dict[str, list[Placed]] = {}
    for grid in grids:
        by_community.setdefault(community_codes[grid.key], []).append(grid)
    codes: dict[str, str] = {}
    for community_code, members in sorted(by_community.items()):
        ordered = reading_order(members)
        issued = next_codes(session, community_code=community_code, count=len(ordered))
        codes.update(zip(ordered, issued, strict=True))
    return codes


def register_codes(session: Session, *, codes: dict[str, int]) -> None:
    """Register newly issued codes (code → community id) in ``grid_codes``."""
    if not codes:
        return
    session.execute(
        text(
            "INSERT INTO grid_codes (code, community_id) "
            "SELECT c, i FROM unnest(CAST(:codes AS varchar[]), CAST(:ids AS int[])) AS t(c, i)"
        ),
        {"codes": list(codes), "ids": list(codes.values())},
    )
