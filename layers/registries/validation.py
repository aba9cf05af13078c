"""Validation of personal identity fields: resident ID numbers, phones, person records.

These functions are the one place where identity input is checked and normalised; the HTTP
schemas, the registries layer and the ledger import (layers.ledger) all call them. Each raises
:class:`layers.errors.InvalidInput` with the offending ``field`` and a message in English and
Chinese, and returns the normalised value that is stored.

Signatures are a contract with layers.ledger: keep them stable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any, TypedDict

from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

from layers.errors import InvalidInput

# Oldest birth year accepted; older dates are typing errors, not residents.
EARLIEST_BIRTH_YEAR = 1900

# GB/T 2260 province-level prefixes (first two digits of a region code). The full county table
# changes every year (stdnum's numdb lags behind and rejects new districts), so only the
# province is checked; the checksum catches typing errors.
PROVINCE_PREFIXES = frozenset(
    {
        "11", "12", "13", "14", "15",
        "21", "22", "23",
        "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46",
        "50", "51", "52", "53", "54",
        "61", "62", "63", "64", "65",
        "71", "81", "82",
    }
)  # fmt: skip

GENDERS = ("male", "female")
RESIDENCES = ("registered", "floating")

_GENDER_WORDS = {"male": "male", "m": "male", "男": "male", "female": "female", "f": "female",
                 "女": "female"}  # fmt: skip
_RESIDENCE_WORDS = {"registered": "registered", "户籍": "registered", "户籍人口": "registered",
                    "floating": "floating", "流动": "floating", "流动人口": "floating"}  # fmt: skip

_MOBILE = re.compile(r"1[3-9]\d{9}")
# Landline: 3-digit area codes are 010 and 02x, all others have 4 digits; local part 7-8 digits.
_LANDLINE = re.compile(r"(0(?:10|2\d|[3-9]\d{2}))(\d{7,8})")
_PHONE_SEPARATORS = re.compile(r"[\s\-()（）]")

NAME_MAX_LENGTH = 64
RELATION_MAX_LENGTH = 16


class ValidPerson(TypedDict, total=False):
    """A person record after validation; keys present only when given (or derived)."""

    name: str
    gender: str
    birth_date: date | None
    id_number: str | None
    phone: str | None
    residence: str
    relation_to_head: str | None


def validate_id_number(value: str, *, field: str = "id_number") -> str:
    """Check and normalise an 18-digit resident ID number (GB 11643, 公民身份号码).

    Parameters
    ----------
    value : str
        The number as typed: spaces and dashes are ignored, a lower-case ``x`` is accepted.
    field : str
        Name of the input field, reported in the error.

    Returns
    -------
    str
        18 characters, upper-case ``X`` check character.

    Raises
    ------
    InvalidInput
        Wrong length or characters, unknown province, bad checksum (ISO 7064 MOD 11-2), or a
        birth date that does not exist, lies in the future or before 1900.
    """
    if not isinstance(value, str):
        raise InvalidInput(
            "The ID number must be given as text (18 characters)",
            "身份证号码须以文本形式填写（18位）",
            field=field,
        )
    number = re.sub(r"[\s\-]", "", value).upper()
    if (
        len(number) != 18
        or not number[:17].isdigit()
        or not (number[17].isdigit() or number[17] == "X")
    ):
        raise InvalidInput(
            "An ID number has 17 digits followed by a digit or X",
            "身份证号码应为17位数字加1位数字或X",
            field=field,
        )
    if number[:2] not in PROVINCE_PREFIXES:
        raise InvalidInput(
            "The ID number does not start with a known province code",
            "身份证号码的前两位不是有效的省级行政区划代码",
            field=field,
        )
    if number[17] != ric.calc_check_digit(number):
        raise InvalidInput(
            "The ID number's check character is wrong (typing error?)",
            "身份证号码校验位错误，请核对是否输错",
            field=field,
        )
    try:
        born = ric.get_birth_date(number)
    except StdnumError:
        born = None
    if born is None:
        raise InvalidInput(
            "The ID number contains a birth date that does not exist",
            "身份证号码中的出生日期不存在",
            field=field,
        )
    _check_birth_date(born, field=field)
    return number


def validate_phone(value: str, *, field: str = "phone") -> str:
    """Check and normalise a mainland China phone number.

    Parameters
    ----------
    value : str
        A mobile number (``1[3-9]`` + 9 digits) or a landline with area code; spaces, dashes,
        brackets and a ``+86`` / ``0086`` prefix are accepted.
    field : str
        Name of the input field, reported in the error.

    Returns
    -------
    str
        Mobiles as 11 digits (``13812345678``), landlines as area code, dash, local number
        (``0531-88881234``).

    Raises
    ------
    InvalidInput
        Anything that is neither a mobile nor a landline number with area code.
    """
    if not isinstance(value, str):
        raise InvalidInput(
            "The phone number must be given as text", "电话号码须以文本形式填写", field=field
        )
    digits = _PHONE_SEPARATORS.sub("", value.strip())
    international = False
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits, international = digits[len(prefix) :], True
            break
    if not international and len(digits) == 13 and digits.startswith("86"):
        digits, international = digits[2:], True  # 86 13812345678 typed without the plus
    if _MOBILE.fullmatch(digits):
        return digits
    if international and not digits.startswith("0"):
        digits = "0" + digits  # +86 531 ... drops the trunk prefix 0 of the area code
    landline = _LANDLINE.fullmatch(digits)
    if landline:
        return f"{landline.group(1)}-{landline.group(2)}"
    raise InvalidInput(
        "Not a phone number: give an 11-digit mobile number or a landline with area code "
        "(e.g. 0531-88881234)",
        "电话号码无效：请填写11位手机号码，或带区号的固定电话（如 0531-88881234）",
        field=field,
    )


def validate_person(data: Mapping[str, Any], *, partial: bool = False) -> ValidPerson:
    """Check and normalise the identity fields of one person record.

    Parameters
    ----------
    data : Mapping
        Keys ``name``, ``gender``, ``birth_date``, ``id_number``, ``phone``, ``residence``,
        ``relation_to_head`` (others are ignored). Gender accepts ``male``/``female``/``男``/``女``;
        residence ``registered``/``floating``/``户籍``/``流动``; birth date a ``date`` or ISO text.
        Empty strings count as not given.
    partial : bool
        For an update: only the keys present are checked and ``name``/``gender`` are not
        required.

    Returns
    -------
    ValidPerson
        Normalised values. When an ID number is given, a missing birth date or gender is
        derived from it, and a given one must agree with it.

    Raises
    ------
    InvalidInput
        The first problem found, with ``field`` naming the key.
    """
    out: ValidPerson = {}
    if "name" in data or not partial:
        out["name"] = _validate_name(data.get("name"))
    if "relation_to_head" in data:
        relation = _blank_to_none(data.get("relation_to_head"))
        if relation is not None and len(str(relation)) > RELATION_MAX_LENGTH:
            raise InvalidInput(
                f"The relation to the head of household is longer than {RELATION_MAX_LENGTH} "
                "characters",
                f"与户主关系不能超过{RELATION_MAX_LENGTH}个字",
                field="relation_to_head",
            )
        out["relation_to_head"] = None if relation is None else str(relation).strip()
    if "residence" in data or not partial:
        out["residence"] = _validate_choice(
            data.get("residence") or "registered", _RESIDENCE_WORDS, field="residence",
            en="Residence must be registered or floating",
            zh="户籍类型须为“户籍”或“流动”",
        )  # fmt: skip
    if "phone" in data:
        phone = _blank_to_none(data.get("phone"))
        out["phone"] = None if phone is None else validate_phone(phone, field="phone")

    id_number = _blank_to_none(data.get("id_number"))
    if "id_number" in data:
        out["id_number"] = (
            None if id_number is None else validate_id_number(id_number, field="id_number")
        )
    birth = _blank_to_none(data.get("birth_date"))
    if "birth_date" in data:
        out["birth_date"] = None if birth is None else _parse_birth_date(birth)
    gender = _blank_to_none(data.get("gender"))
    if gender is not None:
        out["gender"] = _validate_choice(
            gender, _GENDER_WORDS, field="gender",
            en="Gender must be male or female", zh="性别须为“男”或“女”",
        )  # fmt: skip

    number = out.get("id_number")
    if number:
        _agree_with_id_number(out, number)
    if not partial and "gender" not in out:
        raise InvalidInput(
            "Gender is required (or an ID number to derive it from)",
            "请填写性别（或填写身份证号码以自动识别）",
            field="gender",
        )
    return out


def id_number_birth_date(number: str) -> date:
    """The birth date encoded in a validated ID number."""
    return ric.get_birth_date(number)


def id_number_gender(number: str) -> str:
    """The gender encoded in a validated ID number: odd 17th digit male, even female."""
    return "male" if int(number[16]) % 2 else "female"


def _agree_with_id_number(out: ValidPerson, number: str) -> None:
    born = id_number_birth_date(number)
    if out.get("birth_date") is None:
        out["birth_date"] = born
    elif out["birth_date"] != born:
        raise InvalidInput(
            f"The birth date does not match the ID number (which gives {born.isoformat()})",
            f"出生日期与身份证号码不符（身份证号码显示为 {born.isoformat()}）",
            field="birth_date",
        )
    encoded = id_number_gender(number)
    if "gender" not in out:
        out["gender"] = encoded
    elif out["gender"] != encoded:
        raise InvalidInput(
            "The gender does not match the ID number",
            "性别与身份证号码不符",
            field="gender",
        )


def _validate_name(value: Any) -> str:
    name = "" if value is None else str(value).strip()
    if not name:
        raise InvalidInput("A name is required", "请填写姓名", field="name")
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidInput(
            f"The name is longer than {NAME_MAX_LENGTH} characters",
            f"姓名不能超过{NAME_MAX_LENGTH}个字",
            field="name",
        )
    return name


def _validate_choice(value: Any, words: Mapping[str, str], *, field: str, en: str, zh: str) -> str:
    key = str(value).strip().lower()
    if key not in words:
        raise InvalidInput(en, zh, field=field)
    return words[key]


def _parse_birth_date(value: Any) -> date:
    if isinstance(value, date):
        born = value
    else:
        try:
            born = date.fromisoformat(str(value).strip()[:10])
        except ValueError:
            raise InvalidInput(
                "The birth date must be a date such as 1990-01-31",
                "出生日期格式应为 1990-01-31",
                field="birth_date",
            ) from None
    _check_birth_date(born, field="birth_date")
    return born


def _check_birth_date(born: date, *, field: str) -> None:
    if born > date.today():
        raise InvalidInput("The birth date lies in the future", "出生日期不能晚于今天", field=field)
    if born.year < EARLIEST_BIRTH_YEAR:
        raise InvalidInput(
            f"The birth date lies before {EARLIEST_BIRTH_YEAR}",
            f"出生日期不能早于{EARLIEST_BIRTH_YEAR}年",
            field=field,
        )


def _blank_to_none(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value
