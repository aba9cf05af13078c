"""Free-text Chinese addresses cut into parts: admin prefix, road, number, compound, building...

What residents say and field staff type: ``华信路12号3号楼2单元301``, ``鲁能领秀城12-2-301``,
``全福街道华信路小区3栋``, ``济南市历城区全福街道华信路83号荷花小区一号楼``. The parser

1. cleans the text: NFKC (full-width digits and letters become ASCII), no spaces, no
   brackets or remarks in brackets (``(…附近)``), every dash written ``-``;
2. resolves the administrative prefix (province, city, district) with JioNLP's
   ``parse_location`` (its gazetteer maps renamed places to today's names: 襄樊 → 襄阳,
   长清县 → 长清区, 莱芜 → 济南市莱芜区), accepted only when the prefix it consumed is written
   with an admin suffix (市/区/县/...), so ``七里河小区`` is not read as 兰州市七里河区; then
   strips a street/town (``…街道/镇/乡``) and a community (``…社区/居委会/村委会``);
3. writes Chinese numerals that count something (``三号楼``, ``二单元``, ``三零一室``) as
   digits (cn2an), leaving names such as ``七里河`` or ``二环东路`` alone;
4. reads road + door number (``华信路12号``), then the building / unit / floor / room tail in
   any of the common forms (``3号楼``, ``3栋``, ``3幢``, ``A座``, ``3#楼``, ``2单元``, ``2门``,
   ``3层``, ``301室``, ``12-2-301``, ``12-301``), and calls what lies between the compound.

:func:`search_key` renders the parts the way ``wangge_address_key`` renders the register
(migration 0009), so the two compare directly.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Any

import cn2an

_ZH_DIGITS = "零〇一二两三四五六七八九"
_ZH_DIGIT_VALUE = {ch: (0, 0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9)[i] for i, ch in enumerate(_ZH_DIGITS)}
_ZH_NUMERAL = f"[{_ZH_DIGITS}十百千]+"
# Markers after which a number counts a building, unit, floor or room.
_COUNT_MARKERS = "号楼|号栋|号幢|号院|号|栋|幢|座|单元|门|层|楼|室|户"
_ZH_COUNT = re.compile(rf"({_ZH_NUMERAL})(?=(?:{_COUNT_MARKERS}|-|$))")

_REMARK = re.compile(r"[(（][^()（）]*[)）]")
_DROP = re.compile(r"[\s,，、.。·;；:：【】\[\]_\"'“”‘’|/\\]")
_DASHES = re.compile(r"[—–－~～]+")
# A trailing remark on where to stand, written without brackets (…301室门口, …3号楼旁边): only
# after a number or a marker that ends an address, so names (东侧小区, 北门路) are left alone.
_TRAILING_REMARK = re.compile(
    r"(?<=[0-9A-Za-z号室户楼层栋幢座单元院])的?"
    r"(?:门口|旁边|附近|对面|楼下|楼上|后面|前面|[东西南北]侧|[东西南北]边)+$"
)

# Suffixes that end a written admin name; a JioNLP match must end in one of them.
_ADMIN_SUFFIX = ("省", "市", "区", "县", "旗", "州", "盟", "自治区", "特别行政区")
_STREET = re.compile(r"^(?P<street>[\u4e00-\u9fff]{2,10}?(?:街道办事处|街道|镇|乡))")
_COMMUNITY = re.compile(
    r"^(?P<community>[\u4e00-\u9fff0-9]{2,10}?(?:社区居委会|社区居民委员会|居委会|社区|村委会))"
)
_ROAD = re.compile(
    r"(?P<road>[\u4e00-\u9fffA-Za-z0-9]{1,20}?(?:大街|大道|胡同|路|街|巷|弄|里|道))"
    r"(?P<number>[0-9]+(?:-[0-9]+)?)(?:号院|号|弄)(?![楼栋幢])"
)
_ALNUM = r"[A-Za-z]?[0-9]+[A-Za-z]?|[A-Za-z]"
_DASH3 = re.compile(rf"(?P<building>{_ALNUM})-(?P<unit>[0-9]+)-(?P<room>[0-9]+)-?$")
_DASH2 = re.compile(rf"(?P<building>{_ALNUM})-(?P<room>[0-9]+)-?$")
_TOKEN = re.compile(
    rf"(?P<value>{_ALNUM})(?P<marker>号楼|号栋|号幢|栋|幢|座|#楼|#|单元|门|层|楼|室|户|号)"
)
_TRAILING_ROOM = re.compile(r"(?P<room>[A-Za-z]?[0-9]{2,5}[A-Za-z]?)$")


@dataclass(frozen=True, slots=True)
class ParsedAddress:
    """Parts of a free-text address; every part is None when not given."""

    text: str
    province: str | None = None
    city: str | None = None
    district: str | None = None
    street: str | None = None
    community: str | None = None
    road: str | None = None
    house_number: str | None = None  #: with its 号: ``12号``
    compound: str | None = None
    building: str | None = None  #: canonical ``3号楼`` / ``a号楼``
    unit: str | None = None  #: ``2``
    floor: int | None = None
    room: str | None = None  #: ``301``
    rest: str = ""  #: what no part claimed

    def as_dict(self) -> dict[str, Any]:
        """The parts as a plain dict (for JSON)."""
        return {
            name: getattr(self, name)
            for name in (
                "province", "city", "district", "street", "community", "road",
                "house_number", "compound", "building", "unit", "floor", "room", "rest",
            )
        }  # fmt: skip


def clean(text: str) -> str:
    """NFKC, no spaces, brackets, bracketed or trailing remarks; every dash as ``-``."""
    value = unicodedata.normalize("NFKC", text)
    previous = None
    while previous != value:  # nested remarks: (第九医院（沈阳）附近)
        previous, value = value, _REMARK.sub("", value)
    value = _DASHES.sub("-", value)
    value = _DROP.sub("", value)
    value = _TRAILING_REMARK.sub("", value)
    return value.strip("-")


def _zh_to_int(numeral: str) -> str:
    if all(ch in _ZH_DIGITS for ch in numeral):
        # digit by digit: 三零一 → 301 (两 reads 2)
        return "".join(str(_ZH_DIGIT_VALUE[ch]) for ch in numeral)
    return str(int(cn2an.cn2an(numeral, "smart")))


def arabic_counts(text: str) -> str:
    """Chinese numerals that count a building, unit, floor or room written as digits."""

    def convert(match: re.Match[str]) -> str:
        try:
            return _zh_to_int(match.group(1))
        except ValueError:
            return match.group(1)

    return _ZH_COUNT.sub(convert, text)


@functools.cache
def _jionlp() -> Any:
    """JioNLP's location parser, imported once (it prints a banner on import: swallowed)."""
    with contextlib.redirect_stdout(io.StringIO()):
        import jionlp

    return jionlp


@functools.lru_cache(maxsize=4096)
def resolve_admin(text: str) -> tuple[str | None, str | None, str | None, str]:
    """(province, city, district, remainder) of a cleaned address; Nones when none is written.

    JioNLP's answer is taken only when the prefix it consumed ends in an admin suffix, so a
    short name inside a compound or road name (七里河小区, 凤凰苑) is not read as a district.
    """
    if not text:
        return None, None, None, ""
    bare = text.replace("小区", "").replace("社区", "")
    if not any(suffix in bare for suffix in _ADMIN_SUFFIX):
        # the answer below is kept only when the consumed prefix ends in an admin suffix (and
        # no admin unit ends in 小区 or 社区), so without one JioNLP (milliseconds a call)
        # cannot change the result
        return None, None, None, text
    with contextlib.redirect_stdout(io.StringIO()):
        found = _jionlp().parse_location(text, town_village=False, change2new=True)
    detail = found.get("detail") or ""
    if found.get("province") is None or not text.endswith(detail):
        return None, None, None, text
    consumed = text[: len(text) - len(detail)]
    if detail[:1] in ("市", "区", "县") and not consumed.endswith(_ADMIN_SUFFIX):
        # an old name with its suffix (莱芜市): JioNLP consumed the name, not the suffix
        consumed, detail = consumed + detail[0], detail[1:]
    if not consumed or not consumed.endswith(_ADMIN_SUFFIX):
        return None, None, None, text
    return found.get("province"), found.get("city"), found.get("county"), detail


def _canonical_building(value: str) -> str:
    return f"{value.lower()}号楼"


def _parse_tail(tail: str) -> tuple[dict[str, Any], str]:
    """Building / unit / floor / room at the end of ``tail``; returns (parts, head)."""
    parts: dict[str, Any] = {}
    match = _DASH3.search(tail)
    if match:
        parts = {
            "building": _canonical_building(match["building"]),
            "unit": match["unit"],
            "room": match["room"],
        }
        return parts, tail[: match.start()]
    tokens = list(_TOKEN.finditer(tail))
    # the tokens that make up the tail: a contiguous run at the end (names may hold 1号 too)
    start = len(tail)
    run: list[re.Match[str]] = []
    end = len(tail)
    trailing = _TRAILING_ROOM.search(tail)
    if trailing and tokens and tokens[-1].end() == trailing.start():
        end = trailing.start()
    for token in reversed(tokens):
        if token.end() != end:
            break
        run.insert(0, token)
        end = token.start()
        start = token.start()
    if not run:
        match = _DASH2.search(tail)
        if match:
            parts = {"building": _canonical_building(match["building"]), "room": match["room"]}
            return parts, tail[: match.start()]
        return parts, tail
    for token in run:
        value, marker = token["value"], token["marker"]
        if marker in ("号楼", "号栋", "号幢", "栋", "幢", "座", "#楼", "#"):
            parts.setdefault("building", _canonical_building(value))
        elif marker in ("单元", "门"):
            parts.setdefault("unit", value)
        elif marker == "层":
            parts.setdefault("floor", int(value) if value.isdigit() else None)
        elif marker == "楼":
            if "building" not in parts and "unit" not in parts:
                parts["building"] = _canonical_building(value)
            elif value.isdigit():
                parts.setdefault("floor", int(value))
        elif marker in ("室", "户"):
            parts.setdefault("room", value)
        elif marker == "号":
            if "building" in parts or "unit" in parts:
                parts.setdefault("room", value)
            else:
                parts["building"] = _canonical_building(value)
    if trailing and run and trailing.start() == run[-1].end() and "room" not in parts:
        parts["room"] = trailing["room"]
    return parts, tail[:start]


def parse_address(text: str) -> ParsedAddress:
    """Cut a free-text Chinese address into its parts (see the module docstring)."""
    value = clean(text).removeprefix("中国")
    province, city, district, rest = resolve_admin(value)
    # addresses copied from forms often repeat the prefix (辽宁沈阳铁西区辽宁沈阳市铁西区…)
    for _ in range(3):
        again = resolve_admin(rest.removeprefix("中国"))
        if again[0] is None:
            break
        rest = again[3]
    street = community = None
    match = _STREET.match(rest)
    if match and len(rest) > match.end():
        street, rest = match["street"], rest[match.end() :]
    match = _COMMUNITY.match(rest)
    if match and len(rest) > match.end():
        community, rest = match["community"], rest[match.end() :]
    rest = arabic_counts(rest)
    road = number = None
    match = _ROAD.search(rest)
    head = ""
    if match:
        road, number = match["road"], match["number"] + "号"
        head = rest[: match.start()]
        rest = rest[match.end() :]
    tail_parts, compound_text = _parse_tail(rest)
    compound = compound_text.strip("-") or None
    parsed = ParsedAddress(
        text=text,
        province=province,
        city=city,
        district=district,
        street=street,
        community=community,
        road=road,
        house_number=number,
        compound=compound,
        rest=head,
    )
    return replace(parsed, **tail_parts)


def _key(*parts: str | None) -> str:
    return "".join(part for part in parts if part)


def building_key(parsed: ParsedAddress) -> str:
    """The parts down to the building, rendered like the register's ``key`` (no admin prefix)."""
    return _key(parsed.rest, parsed.road, parsed.house_number, parsed.compound, parsed.building)


def search_key(parsed: ParsedAddress) -> str:
    """The parts down to the room, rendered like the register's ``key``."""
    unit = f"{parsed.unit}单元" if parsed.unit else None
    return _key(building_key(parsed), unit, parsed.room).lower()
