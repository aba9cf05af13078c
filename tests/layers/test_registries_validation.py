"""Identity validation: resident ID numbers, phones, person records (no database needed)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from layers.errors import InvalidInput
from layers.registries.validation import (
    id_number_birth_date,
    id_number_gender,
    validate_id_number,
    validate_person,
    validate_phone,
)
from tests.fixtures.registries import LI_MEI_ID, make_id_number

_CJK = re.compile(r"[\u4e00-\u9fff]")

# Published example of python-stdnum's documentation (a valid number).
STDNUM_EXAMPLE = "360426199101010071"
# An ID whose check character is X: 11010519491231002 → X
X_ID = "11010519491231002X"


def assert_invalid(exc: pytest.ExceptionInfo[InvalidInput], field: str) -> None:
    """Field named, English message without Chinese, Chinese message with Chinese."""
    assert exc.value.field == field
    assert exc.value.message_en and not _CJK.search(exc.value.message_en)
    assert _CJK.search(exc.value.message_zh)


# --------------------------------------------------------------------------------------------
# ID numbers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        (STDNUM_EXAMPLE, STDNUM_EXAMPLE),
        ("11010519491231002x", X_ID),  # lower-case x is upper-cased
        ("360426 19910101 0071", STDNUM_EXAMPLE),  # spaces ignored
        ("360426-19910101-0071", STDNUM_EXAMPLE),  # dashes ignored
        (f"  {LI_MEI_ID}\t", LI_MEI_ID),
    ],
)
def test_valid_id_numbers_are_normalised(typed: str, stored: str) -> None:
    assert validate_id_number(typed, field="id_number") == stored


def test_the_check_character_x_is_computed_as_gb_11643_says() -> None:
    assert make_id_number("11010519491231002") == X_ID


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("360426199101010072", "check character"),  # last digit changed
        ("360426199101010170", "check character"),  # two digits transposed
        ("36042619910101007", "17 digits"),  # one digit short
        ("3604261991010100711", "17 digits"),  # one digit long
        ("36042619910101007A", "17 digits"),  # letter other than X
        ("3604261991010X0071", "17 digits"),  # X in the middle
        (make_id_number("99042619910101007"), "province"),  # no province 99
        (make_id_number("00042619910101007"), "province"),
        (make_id_number("36042619990230007"), "does not exist"),  # 30 February
        (make_id_number("36042619911301007"), "does not exist"),  # month 13
        (make_id_number("36042618991231007"), "before 1900"),
    ],
)
def test_bad_id_numbers_are_refused_with_the_reason(value: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_id_number(value, field="id_number")
    assert_invalid(exc, "id_number")
    assert reason in exc.value.message_en


def test_an_id_number_born_in_the_future_is_refused() -> None:
    tomorrow = date.today() + timedelta(days=1)
    number = make_id_number(f"360426{tomorrow:%Y%m%d}007")
    with pytest.raises(InvalidInput) as exc:
        validate_id_number(number, field="身份证号")
    assert_invalid(exc, "身份证号")  # the caller's field name is reported as given
    assert "future" in exc.value.message_en


def test_an_id_number_given_as_a_number_is_refused() -> None:
    # an Excel cell read as a number has lost its leading/trailing digits: never accept it
    with pytest.raises(InvalidInput) as exc:
        validate_id_number(360426199101010071, field="id_number")  # type: ignore[arg-type]
    assert_invalid(exc, "id_number")


def test_birth_date_and_gender_are_read_from_the_number() -> None:
    assert id_number_birth_date(STDNUM_EXAMPLE) == date(1991, 1, 1)
    assert id_number_gender(STDNUM_EXAMPLE) == "male"  # 17th digit 7 is odd
    assert id_number_birth_date(LI_MEI_ID) == date(1940, 3, 15)
    assert id_number_gender(LI_MEI_ID) == "female"  # 17th digit 2 is even


# --------------------------------------------------------------------------------------------
# Phones
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("0086 13812345678", "13812345678"),
        ("86 13812345678", "13812345678"),
        ("19912345678", "19912345678"),
        ("0531-88881234", "0531-88881234"),
        ("053188881234", "0531-88881234"),
        ("(0531) 8888 1234", "0531-88881234"),
        ("（0531）88881234", "0531-88881234"),  # full-width brackets
        ("010-65123456", "010-65123456"),
        ("021 6512345", "021-6512345"),  # 7-digit local number
        ("+86 10 6512 3456", "010-65123456"),  # international form drops the 0
        ("+86 531 8888 1234", "0531-88881234"),
    ],
)
def test_phones_are_normalised(typed: str, stored: str) -> None:
    assert validate_phone(typed, field="phone") == stored


@pytest.mark.parametrize(
    "value",
    [
        "12345678901",  # no mobile prefix 12
        "1381234567",  # 10 digits
        "138123456789",  # 12 digits
        "88881234",  # landline without area code
        "0531-888812",  # local part too short
        "0531-888812345",  # local part too long
        "phone",
        "",
        "+1 415 555 0100",  # not mainland China
    ],
)
def test_bad_phones_are_refused(value: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_phone(value, field="contact_phone")
    assert_invalid(exc, "contact_phone")


# --------------------------------------------------------------------------------------------
# Person records
# --------------------------------------------------------------------------------------------


def test_a_person_with_an_id_number_gets_birth_date_and_gender_from_it() -> None:
    person = validate_person(
        {"name": " 李梅 ", "id_number": LI_MEI_ID, "phone": "139 0000 1111", "residence": "户籍"}
    )
    assert person == {
        "name": "李梅",
        "id_number": LI_MEI_ID,
        "birth_date": date(1940, 3, 15),
        "gender": "female",
        "phone": "13900001111",
        "residence": "registered",
    }


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "李梅", "id_number": LI_MEI_ID, "birth_date": "1940-03-16"}, "birth_date"),
        ({"name": "李梅", "id_number": LI_MEI_ID, "gender": "男"}, "gender"),
        ({"name": "", "gender": "female"}, "name"),
        ({"name": "   ", "gender": "female"}, "name"),
        ({"gender": "female"}, "name"),
        ({"name": "李" * 65, "gender": "female"}, "name"),
        ({"name": "李梅"}, "gender"),  # neither gender nor ID number
        ({"name": "李梅", "gender": "unknown"}, "gender"),
        ({"name": "李梅", "gender": "female", "residence": "tourist"}, "residence"),
        ({"name": "李梅", "gender": "female", "birth_date": "15.03.1940"}, "birth_date"),
        ({"name": "李梅", "gender": "female", "birth_date": "1899-12-31"}, "birth_date"),
        ({"name": "李梅", "gender": "female", "phone": "12345"}, "phone"),
        ({"name": "李梅", "gender": "female", "id_number": "123"}, "id_number"),
        ({"name": "李梅", "gender": "female", "relation_to_head": "x" * 17}, "relation_to_head"),
    ],
)
def test_person_errors_name_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_person(data)
    assert_invalid(exc, field)


def test_chinese_words_for_gender_and_residence_are_accepted() -> None:
    person = validate_person({"name": "王芳", "gender": "女", "residence": "流动人口"})
    assert person == {"name": "王芳", "gender": "female", "residence": "floating"}


def test_empty_strings_count_as_not_given() -> None:
    person = validate_person(
        {"name": "王芳", "gender": "female", "phone": "", "id_number": " ", "birth_date": ""}
    )
    assert person == {
        "name": "王芳",
        "gender": "female",
        "residence": "registered",
        "phone": None,
        "id_number": None,
        "birth_date": None,
    }


def test_a_partial_update_checks_only_what_is_given() -> None:
    assert validate_person({"phone": "13900001111"}, partial=True) == {"phone": "13900001111"}
    # a new ID number brings its birth date and gender along
    assert validate_person({"id_number": STDNUM_EXAMPLE}, partial=True) == {
        "id_number": STDNUM_EXAMPLE,
        "birth_date": date(1991, 1, 1),
        "gender": "male",
    }
    with pytest.raises(InvalidInput) as exc:
        validate_person({"name": None}, partial=True)
    assert_invalid(exc, "name")
