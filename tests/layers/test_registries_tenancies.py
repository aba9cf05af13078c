"""Tenancies: history, overlap rules (layer and database), and the rental flag that follows."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from layers.errors import Conflict, InvalidInput, NotFound
from layers.models import House, Household
from layers.models.registries import Tenancy
from layers.registries.buildings import move_household
from layers.registries.tenancies import (
    count_stale_rental_flags,
    create_tenancy,
    list_tenancies,
    refresh_rental_flags,
    update_tenancy,
)
from tests.fixtures.registries import Registry, principal, registry_fixture  # noqa: F401

TODAY = date.today()  # the database's local date can differ near midnight; tests keep margins


def is_rental(db: Session, house_id: int) -> bool:
    return bool(db.execute(select(House.is_rental).where(House.id == house_id)).scalar_one())


def rent(db: Session, reg: Registry, **values: object) -> dict:
    base: dict[str, object] = {
        "house_id": reg.houses["4-201"],
        "tenant_household_id": reg.households["T-HH-3"],
        "landlord_name": "赵六",
        "started_on": TODAY - timedelta(days=30),
    }
    return create_tenancy(db, principal=principal(db, reg.world, "t_gw_b"), values=base | values)


def test_a_current_tenancy_sets_the_rental_flag_and_ending_it_clears_it(
    db: Session, registry: Registry
) -> None:
    house = registry.houses["4-201"]
    assert not is_rental(db, house)
    tenancy = rent(db, registry, landlord_phone="135 1234 5678")
    assert tenancy["is_current"] is True
    assert tenancy["landlord_phone"] == "135****5678"  # stored normalised, shown masked
    assert tenancy["tenants"] == [{"person_id": registry.persons["王芳"], "name": "王芳"}]
    assert is_rental(db, house)

    ended = update_tenancy(
        db,
        principal=principal(db, registry.world, "t_gw_b"),
        tenancy_id=tenancy["id"],
        values={"ended_on": TODAY - timedelta(days=2)},
    )
    assert ended["is_current"] is False
    assert not is_rental(db, house)


def test_a_future_tenancy_does_not_make_the_house_rented_yet(
    db: Session, registry: Registry
) -> None:
    rent(db, registry, started_on=TODAY + timedelta(days=10))
    assert not is_rental(db, registry.houses["4-201"])


def test_the_same_household_cannot_rent_a_house_twice_over_overlapping_dates(
    db: Session, registry: Registry
) -> None:
    rent(db, registry, started_on=date(2025, 1, 1), ended_on=date(2025, 6, 30))
    with pytest.raises(Conflict) as exc:
        rent(db, registry, started_on=date(2025, 6, 30))  # shares the last day (ends inclusive)
    assert exc.value.field == "started_on"
    # the next day is fine, and so is another household over the same dates (shared rental)
    rent(db, registry, started_on=date(2025, 7, 1), ended_on=date(2025, 12, 31))
    other = Household(house_id=registry.houses["4-201"], household_no="T-HH-9")
    db.add(other)
    db.flush()
    rent(db, registry, started_on=date(2025, 1, 1), tenant_household_id=other.id)


def test_the_database_itself_refuses_overlaps_and_reversed_dates(
    db: Session, registry: Registry
) -> None:
    row = {
        "house_id": registry.houses["4-201"],
        "tenant_household_id": registry.households["T-HH-3"],
        "landlord_name": "赵六",
    }
    db.execute(insert(Tenancy).values(**row, started_on=date(2025, 1, 1)))  # open-ended
    with pytest.raises(IntegrityError) as exc, db.begin_nested():
        db.execute(insert(Tenancy).values(**row, started_on=date(2030, 1, 1)))
    assert exc.value.orig.diag.constraint_name == "ex_tenancies_no_overlap"  # type: ignore[union-attr]
    with pytest.raises(IntegrityError) as exc, db.begin_nested():
        db.execute(
            insert(Tenancy).values(
                **row | {"tenant_household_id": registry.households["T-HH-1"]},
                started_on=date(2025, 5, 2),
                ended_on=date(2025, 5, 1),
            )
        )
    assert exc.value.orig.diag.constraint_name == "ck_tenancies_dates_ordered"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"landlord_name": None}, "landlord_name"),  # no landlord at all
        ({"landlord_person_id": 1}, "landlord_name"),  # both a person and a name
        ({"ended_on": date(2020, 1, 1)}, "ended_on"),  # ends before it starts
        ({"landlord_phone": "12345"}, "landlord_phone"),
    ],
)
def test_bad_tenancies_are_refused(
    db: Session, registry: Registry, values: dict, field: str
) -> None:
    if values.get("landlord_person_id"):
        values = values | {"landlord_person_id": registry.persons["王芳"]}
    with pytest.raises(InvalidInput) as exc:
        rent(db, registry, **values)
    assert exc.value.field == field


def test_houses_and_households_outside_the_area_are_not_found(
    db: Session, registry: Registry
) -> None:
    with pytest.raises(NotFound) as exc:
        rent(db, registry, house_id=registry.houses["1-302"])  # community A, user of B
    assert exc.value.field == "house_id"
    with pytest.raises(NotFound) as exc:
        rent(db, registry, tenant_household_id=registry.households["T-HH-2"])
    assert exc.value.field == "tenant_household_id"


def test_the_history_of_a_house_lists_newest_first_with_current_filter(
    db: Session, registry: Registry
) -> None:
    old = rent(db, registry, started_on=date(2024, 1, 1), ended_on=date(2024, 12, 31))
    new = rent(db, registry, started_on=date(2025, 1, 1), landlord_name="孙八")
    gw_b = principal(db, registry.world, "t_gw_b")
    history = list_tenancies(db, principal=gw_b, house_id=registry.houses["4-201"], limit=10)
    assert [t["id"] for t in history.items] == [new["id"], old["id"]]
    assert [t["landlord_name"] for t in history.items] == ["孙八", "赵六"]  # landlord changed
    current = list_tenancies(db, principal=gw_b, current=True, limit=10)
    assert [t["id"] for t in current.items] == [new["id"]]
    past = list_tenancies(db, principal=gw_b, current=False, limit=10)
    assert [t["id"] for t in past.items] == [old["id"]]
    # the other community sees none of it
    gw_a = principal(db, registry.world, "t_gw_a")
    assert list_tenancies(db, principal=gw_a, limit=10).total == 0


def test_refresh_flags_is_set_based_and_leaves_houses_without_tenancies_alone(
    db: Session, registry: Registry
) -> None:
    tenancy = rent(db, registry)
    # a vacant house registered as rental, with no tenancy records: its flag is kept
    db.execute(update(House).where(House.id == registry.houses["1-302"]).values(is_rental=True))
    # the tenancy ends by date without anyone touching it (as time passes)
    db.execute(
        update(Tenancy)
        .where(Tenancy.id == tenancy["id"])
        .values(ended_on=TODAY - timedelta(days=3))
    )
    assert count_stale_rental_flags(db) == 1
    assert refresh_rental_flags(db) == 1
    assert count_stale_rental_flags(db) == 0
    assert not is_rental(db, registry.houses["4-201"])
    assert is_rental(db, registry.houses["1-302"])


def test_moving_a_tenant_household_out_ends_its_tenancy(db: Session, registry: Registry) -> None:
    # T-HH-3 lives in 3-101 and rents it; it moves to 4-201 yesterday
    tenancy = rent(db, registry, house_id=registry.houses["3-101"])
    assert is_rental(db, registry.houses["3-101"])
    moved = move_household(
        db,
        principal=principal(db, registry.world, "t_gw_b"),
        household_id=registry.households["T-HH-3"],
        house_id=registry.houses["4-201"],
        moved_on=TODAY - timedelta(days=1),
    )
    assert moved["house_id"] == registry.houses["4-201"]
    ended = db.execute(select(Tenancy.ended_on).where(Tenancy.id == tenancy["id"])).scalar_one()
    assert ended == TODAY - timedelta(days=1)
    assert not is_rental(db, registry.houses["3-101"])
