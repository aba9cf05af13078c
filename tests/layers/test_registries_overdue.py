"""The overdue-visit list: known answers on a fixed date, in the local (Asia/Shanghai) calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from layers.errors import Forbidden
from layers.models import CareGroupCategory, PersonCareGroup
from layers.models.registries import Visit
from layers.registries.persons import deactivate_person
from layers.registries.visits import overdue_visits
from tests.fixtures.registries import Registry, principal, registry_fixture  # noqa: F401
from tests.fixtures.world import GRID_B1

AS_OF = date(2026, 3, 1)
CST = timezone(timedelta(hours=8))


def visit(db: Session, reg: Registry, name: str, at: datetime) -> None:
    db.execute(
        insert(Visit).values(
            person_id=reg.persons[name], visitor_id=reg.world.users["t_gw_a"], visited_at=at
        )
    )


def overdue(db: Session, reg: Registry, username: str = "t_street", **kw: object) -> list[tuple]:
    page = overdue_visits(
        db,
        principal=principal(db, reg.world, username),
        as_of=kw.pop("as_of", AS_OF),  # type: ignore[arg-type]
        limit=100,
        **kw,  # type: ignore[arg-type]
    )
    return [(r["name"], r["interval_days"], r["due_on"], r["days_overdue"]) for r in page.items]


def test_never_visited_persons_are_due_one_interval_after_filing(
    db: Session, registry: Registry
) -> None:
    # 李梅: since 01-01 + 30 days = 01-31; 王芳: since 02-01 + 7 days = 02-08
    assert overdue(db, registry) == [
        ("李梅", 30, date(2026, 1, 31), 29),
        ("王芳", 7, date(2026, 2, 8), 21),
    ]


def test_the_last_visit_counts_and_the_list_is_sorted_by_days_overdue(
    db: Session, registry: Registry
) -> None:
    visit(db, registry, "李梅", datetime(2026, 1, 20, 10, 0, tzinfo=CST))
    visit(db, registry, "李梅", datetime(2026, 1, 5, 10, 0, tzinfo=CST))  # older, ignored
    assert overdue(db, registry) == [
        ("王芳", 7, date(2026, 2, 8), 21),
        ("李梅", 30, date(2026, 2, 19), 10),
    ]
    page = overdue_visits(
        db, principal=principal(db, registry.world, "t_street"), as_of=AS_OF, limit=100
    )
    li = page.items[1]
    assert li["last_visited_at"] == datetime(2026, 1, 20, 2, 0, tzinfo=UTC)
    assert li["categories"] == ["elderly_alone"]
    assert li["responsible"] == [{"user_id": registry.world.users["t_gw_a"], "name": "测试t_gw_a"}]
    assert page.total == 2


def test_a_visit_is_dated_in_the_local_calendar(db: Session, registry: Registry) -> None:
    # 16:30 UTC on 02-21 is 00:30 on 02-22 in Jinan: due 02-22 + 7 = 03-01, not yet overdue.
    # Counted in UTC it would be due 02-28 and overdue by a day.
    visit(db, registry, "王芳", datetime(2026, 2, 21, 16, 30, tzinfo=UTC))
    assert [row[0] for row in overdue(db, registry)] == ["李梅"]
    assert overdue(db, registry, as_of=date(2026, 3, 2))[1] == ("王芳", 7, date(2026, 3, 1), 1)


def test_visits_after_the_as_of_date_do_not_count(db: Session, registry: Registry) -> None:
    visit(db, registry, "李梅", datetime(2026, 3, 5, 9, 0, tzinfo=CST))
    assert ("李梅", 30, date(2026, 1, 31), 29) in overdue(db, registry)
    assert [row[0] for row in overdue(db, registry, as_of=date(2026, 3, 6))] == ["王芳"]


def test_the_shortest_interval_of_several_filings_applies(db: Session, registry: Registry) -> None:
    db.add(
        PersonCareGroup(
            person_id=registry.persons["李梅"],
            category_code="disabled",
            since=date(2026, 1, 10),
            visit_interval_days=14,
        )
    )
    db.flush()
    visit(db, registry, "李梅", datetime(2026, 1, 20, 10, 0, tzinfo=CST))
    # 01-20 + 14 = 02-03 → 26 days on 03-01
    assert overdue(db, registry)[0] == ("李梅", 14, date(2026, 2, 3), 26)
    # filtered to one category, only that filing's interval counts
    assert overdue(db, registry, category="elderly_alone") == [("李梅", 30, date(2026, 2, 19), 10)]
    assert [r[0] for r in overdue(db, registry, category="disabled")] == ["李梅", "王芳"]


def test_filters_by_responsible_user_area_and_grid(db: Session, registry: Registry) -> None:
    world = registry.world
    assert [r[0] for r in overdue(db, registry, responsible_user_id=world.users["t_gw_a"])] == [
        "李梅"
    ]
    assert [r[0] for r in overdue(db, registry, grid=GRID_B1)] == ["王芳"]
    assert [r[0] for r in overdue(db, registry, "t_gw_a")] == ["李梅"]  # community A only
    assert [r[0] for r in overdue(db, registry, "t_gw_b")] == ["王芳"]  # community B only


def test_inactive_persons_and_categories_drop_out(db: Session, registry: Registry) -> None:
    db.execute(
        update(CareGroupCategory)
        .where(CareGroupCategory.code == "elderly_alone")
        .values(is_active=False)
    )
    assert [r[0] for r in overdue(db, registry)] == ["王芳"]
    deactivate_person(
        db,
        principal=principal(db, registry.world, "t_gw_b"),
        person_id=registry.persons["王芳"],
        reason="moved_away",
        left_on=date(2026, 2, 15),
    )
    assert overdue(db, registry) == []


@pytest.mark.parametrize("username", ["t_planner", "t_dispatcher", "t_handler"])
def test_roles_without_person_duties_may_not_see_the_list(
    db: Session, registry: Registry, username: str
) -> None:
    with pytest.raises(Forbidden):
        overdue(db, registry, username)
