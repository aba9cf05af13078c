"""A small address matcher: ledger addresses against the address parts of buildings.

This is deliberately small; the full address parser of the search issue will replace it. Its
whole contract is two functions and one SQL expression:

* :func:`split_address` cuts a ledger address into the building part and the unit / floor /
  room named at its end (``测试小区1号楼2单元301室`` → ``测试小区1号楼``, unit ``2``, room ``301``);
* :func:`normalise` turns the building part into a *key*;
* :func:`sql_normalise` is the same normalisation written in SQL, applied to
  ``buildings.address`` and its parts inside the database (so the buildings never travel to
  Python). A test runs both on the same samples and asserts they agree.

Normalisation: NFKC (full-width digits, letters and brackets become ASCII), lower case, spaces
and punctuation removed, and the building variants ``1栋`` / ``1幢`` / ``1座`` / ``1#楼`` /
``1号栋`` written as ``1号楼``. Chinese numerals (``一号楼``) are not converted.

How a key finds its building is in :mod:`layers.ledger.locate` (exact address first, then the
compound + building number or road + door number, then a suffix of the full address).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, String, func, literal_column

# (pattern, replacement) applied in order, identically by Python's re and PostgreSQL's
# regexp_replace(..., 'g'): only constructs both engines read the same way (character classes,
# groups, \1), never \d or \s, whose meaning differs between the two.
_PUNCTUATION = r"[ \t,，、.。·;；:：()（）\[\]【】_\"'“”‘’-]"
_REWRITES: tuple[tuple[str, str], ...] = (
    (_PUNCTUATION, ""),
    (r"([0-9]+)(号|#)?(栋|幢|座)", r"\1号楼"),
    (r"([0-9]+)#楼", r"\1号楼"),
)

# The end of an address that names the house inside the building. Tried in order on the
# NFKC'd address without spaces (case kept: rooms such as A1 are stored as written);
# ``building`` (when present) is the building number written
# as ``1-2-301`` (building-unit-room).
_HOUSE_SUFFIXES = (
    re.compile(
        r"(?P<unit>[0-9A-Za-z]+)单元(?:(?P<floor>-?[0-9]+)(?:层|楼))?"
        r"(?P<room>[0-9A-Za-z]+)(?:室|号|户)?$"
    ),
    re.compile(r"号楼(?P<room>[0-9A-Za-z]+)(?:室|户)$"),
    re.compile(r"(?<![0-9])(?P<building>[0-9]+)-(?P<unit>[0-9]+)-(?P<room>[0-9]+)$"),
)


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def normalise(text: str | None) -> str:
    """The comparison key of an address or address part ('' for nothing)."""
    if not text:
        return ""
    value = _nfkc(text).lower()
    for pattern, replacement in _REWRITES:
        value = re.sub(pattern, replacement, value)
    return value


def sql_normalise(value: Any) -> ColumnElement[str]:
    """SQL mirror of :func:`normalise` (PostgreSQL ``normalize(..., NFKC)`` + regexp_replace)."""
    # NFKC is a keyword of normalize(), not a string: a literal column, never user input.
    expr: ColumnElement[str] = func.normalize(
        func.lower(func.coalesce(value, "")), literal_column("NFKC"), type_=String
    )
    for pattern, replacement in _REWRITES:
        expr = func.regexp_replace(expr, pattern, replacement, "g", type_=String)
    return expr


@dataclass(frozen=True, slots=True)
class SplitAddress:
    """A ledger address cut into the building part and the house named at its end."""

    building: str
    unit: str | None = None
    floor: int | None = None
    room: str | None = None


def split_address(text: str) -> SplitAddress:
    """Cut the unit / floor / room off the end of a ledger address.

    ``测试小区1号楼2单元301室`` → building ``测试小区1号楼``, unit ``2``, room ``301``;
    ``测试小区3号楼502室`` → building ``测试小区3号楼``, room ``502``;
    ``测试小区1-2-301`` → building ``测试小区1号楼``, unit ``2``, room ``301``.
    An address without such an ending is all building part.
    """
    value = re.sub(r"[ \t]", "", _nfkc(text))
    for pattern in _HOUSE_SUFFIXES:
        match = pattern.search(value)
        if not match:
            continue
        groups = match.groupdict()
        if groups.get("building"):
            head = value[: match.start()] + groups["building"] + "号楼"
        elif match.re is _HOUSE_SUFFIXES[1]:
            head = value[: match.start()] + "号楼"
        else:
            head = value[: match.start()]
        floor = groups.get("floor")
        return SplitAddress(
            building=head,
            unit=groups.get("unit"),
            floor=int(floor) if floor else None,
            room=groups["room"],
        )
    return SplitAddress(building=value)


def clean_unit(text: str) -> str:
    """A unit as stored: ``2单元`` → ``2`` (NFKC, no spaces, no 单元 suffix)."""
    return re.sub(r"单元$", "", re.sub(r"[ \t]", "", _nfkc(text)))


def clean_room(text: str) -> str:
    """A room as stored: ``301室`` → ``301`` (NFKC, no spaces, no 室/号/户 suffix)."""
    value = re.sub(r"[ \t]", "", _nfkc(text))
    return re.sub(r"(?<=[0-9A-Za-z])(室|号|户)$", "", value)


def floor_from_room(room: str) -> int | None:
    """The floor a room number encodes: ``301`` → 3, ``1502`` → 15; None if it does not.

    The Chinese convention numbers rooms floor + two digits; rooms with fewer than three
    digits, or letters, say nothing about their floor.
    """
    if not room.isascii() or not room.isdigit() or len(room) < 3:
        return None
    floor = int(room[:-2])
    return floor or None
