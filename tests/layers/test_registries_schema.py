"""Constraints migration 0004 adds: the database refuses what the API would never write."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from layers.models import Person, Place
from tests.fixtures.registries import Registry, registry_fixture  # noqa: F401


@pytest.mark.parametrize(
    ("values", "constraint"),
    [
        ({"is_active": False}, "ck_persons_left_when_inactive"),  # no date, no reason
        ({"left_on": date(2026, 1, 1)}, "ck_persons_left_when_inactive"),  # still active
        (
            {"is_active": False, "left_on": date(2026, 1, 1), "left_reason": "abroad"},
            "ck_persons_left_reason_known",
        ),
    ],
)
def test_person_deactivation_is_all_or_nothing(
    db: Session, registry: Registry, values: dict, constraint: str
) -> None:
    with pytest.raises(IntegrityError) as exc, db.begin_nested():
        db.execute(update(Person).where(Person.id == registry.persons["李梅"]).values(**values))
    assert exc.value.orig.diag.constraint_name == constraint  # type: ignore[union-attr]


def test_a_place_checklist_kind_must_be_known(db: Session, registry: Registry) -> None:
    school = registry.world.places["school"]
    with pytest.raises(IntegrityError) as exc, db.begin_nested():
        db.execute(update(Place).where(Place.id == school).values(checklist_kind="ghosts"))
    assert exc.value.orig.diag.constraint_name == "ck_places_checklist_kind_known"  # type: ignore[union-attr]
    db.execute(update(Place).where(Place.id == school).values(checklist_kind="fire_safety"))
