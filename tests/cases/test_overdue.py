"""Overdue work: a practitioner's own missed reviews, an area coordinator's view of every case in their areas, and
referrals waiting longer than the area's target in working days."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from marac import db
from marac.access import Role, acting_offline
from marac.auth.models import User
from marac.cases.models import Case, CaseStatus
from marac.cases.overdue import (
    OverdueItem,
    add_working_days,
    area_overdue,
    my_overdue,
    working_days_between,
)
from marac.cases.plans import complete_review, record_trigger, review_safety_plan
from marac.orgs.models import AgencyKind, Area
from tests.conftest import FakeClock
from tests.factories import (
    make_agency,
    make_area,
    make_case,
    make_safety_plan,
    make_user,
    make_waiting_referral,
    relations_as_signed_in,
)

# --- working days --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        (date(2026, 11, 27), date(2026, 11, 28), 0),  # Friday -> Saturday
        (date(2026, 11, 27), date(2026, 11, 29), 0),  # Friday -> Sunday
        (date(2026, 11, 27), date(2026, 11, 30), 1),  # Friday -> Monday: day 1
        (date(2026, 11, 27), date(2026, 12, 2), 3),  # Friday -> Wednesday
        (date(2026, 5, 22), date(2026, 5, 26), 1),  # Friday -> Tuesday over the Spring bank holiday
        (date(2026, 12, 24), date(2026, 12, 29), 1),  # Christmas, a weekend and Boxing Day (observed Monday)
        (date(2026, 12, 24), date(2027, 1, 4), 4),  # ... and New Year's Day, into the next year
        (date(2026, 11, 25), date(2026, 11, 25), 0),  # same day
        (date(2026, 11, 25), date(2026, 11, 20), 0),  # end before start
    ],
)
def test_working_days_skip_weekends_and_bank_holidays(start: date, end: date, days: int) -> None:
    assert working_days_between(start, end) == days


def test_adding_working_days_lands_after_weekends_and_bank_holidays() -> None:
    assert add_working_days(date(2026, 11, 27), 2) == date(2026, 12, 1)  # Friday + 2 = Tuesday
    assert add_working_days(date(2026, 5, 22), 1) == date(2026, 5, 26)  # Spring bank holiday skipped
    assert add_working_days(date(2026, 12, 24), 2) == date(2026, 12, 30)
    assert add_working_days(date(2026, 11, 25), 0) == date(2026, 11, 25)


# --- setting ------------------------------------------------------------------------------------------------------


@dataclass
class World:
    """A case in one area with its IDVA and coordinator, and the coordinator of another area."""

    area: Area
    case: Case
    referrer: User
    idva: User
    coordinator: User
    other_coordinator: User


@pytest.fixture
def world(app: Flask) -> World:
    """A police-referred case with an IDVA, its area's coordinator, and another area's coordinator."""
    area, elsewhere = make_area(), make_area()
    police = make_agency(AgencyKind.POLICE, areas=[area])
    council = make_agency(AgencyKind.LOCAL_AUTHORITY, areas=[area, elsewhere])
    idva = make_user(Role.IDVA, agency=make_agency(AgencyKind.IDVA_SERVICE, areas=[area])).user
    coordinator = make_user(Role.COORDINATOR, agency=council, areas=[area]).user
    other = make_user(Role.COORDINATOR, agency=council, areas=[elsewhere]).user
    case = make_case(area=area, agency=police, idva=idva)
    return World(area, case, make_user(Role.REFERRER, agency=police).user, idva, coordinator, other)


def listed(lister: Callable[[Any], list[OverdueItem]], user: User) -> list[tuple[str, str, int]]:
    """(kind, case reference, days overdue) of each item, for `user` signed in."""
    with acting_offline([user]):
        return [(i.kind, i.case.reference, i.days_overdue) for i in lister(user)]


def today() -> date:
    return db.london_today()


def set_clock(clock: FakeClock, when: datetime) -> None:
    clock.current = when


# --- safety plans --------------------------------------------------------------------------------------------------


def test_plan_is_overdue_the_day_after_its_review_date_not_on_it(world: World, clock: FakeClock) -> None:
    make_safety_plan(world.case, world.referrer, owner=world.idva, review_on=today() + timedelta(days=3))
    clock.advance(days=3)
    assert listed(my_overdue, world.idva) == []  # due today is not overdue

    clock.advance(days=1)
    assert listed(my_overdue, world.idva) == [("plan_review", world.case.reference, 1)]
    assert listed(my_overdue, world.referrer) == []  # not theirs


def test_plan_leaves_the_list_once_reviewed(world: World, clock: FakeClock) -> None:
    plan = make_safety_plan(world.case, world.referrer, owner=world.idva, review_on=today() + timedelta(days=1))
    clock.advance(days=4)
    assert listed(my_overdue, world.idva) == [("plan_review", world.case.reference, 3)]

    review_safety_plan(
        world.idva,
        plan,
        relations_as_signed_in(world.idva, world.case),
        measures=["refuge"],
        detail=None,
        next_review_on=today() + timedelta(days=14),
    )
    assert listed(my_overdue, world.idva) == []


def test_items_say_what_is_due_and_when(world: World, clock: FakeClock) -> None:
    plan = make_safety_plan(world.case, world.referrer, owner=world.idva, review_on=today())
    due = plan.review_on
    clock.advance(days=2)
    with acting_offline([world.idva]):
        (item,) = my_overdue(world.idva)
    assert (item.label, item.due_on, item.object_id, item.case.id) == (
        "Safety plan review",
        due,
        plan.public_id,
        world.case.id,
    )


# --- trigger reviews -----------------------------------------------------------------------------------------------


def record(world: World, kind: str, occurred_on: date) -> Any:
    relations = relations_as_signed_in(world.referrer, world.case)
    event = record_trigger(world.referrer, world.case, relations, kind=kind, occurred_on=occurred_on, note=None)
    db.session.commit()
    return event


def test_missed_trigger_review_shows_for_its_owner_and_their_area_coordinator_only(
    world: World, clock: FakeClock
) -> None:
    record(world, "released_from_custody", today())  # review due tomorrow, owned by the IDVA
    clock.advance(days=1)
    assert listed(my_overdue, world.idva) == []
    assert listed(area_overdue, world.coordinator) == []

    clock.advance(days=2)
    expected = [("trigger_review", world.case.reference, 2)]
    assert listed(my_overdue, world.idva) == expected
    assert listed(area_overdue, world.coordinator) == expected
    assert listed(area_overdue, world.other_coordinator) == []
    assert listed(my_overdue, world.coordinator) == []  # the coordinator oversees it but does not own it


def test_trigger_review_label_names_the_trigger(world: World, clock: FakeClock) -> None:
    record(world, "dvpn_issued", today())
    clock.advance(days=5)
    with acting_offline([world.idva]):
        (item,) = my_overdue(world.idva)
    assert item.label == "Risk review: Domestic Violence Protection Notice (DVPN) issued"


def test_completed_trigger_review_leaves_both_lists(world: World, clock: FakeClock) -> None:
    event = record(world, "order_breached", today())
    clock.advance(days=3)
    complete_review(world.idva, event, relations_as_signed_in(world.idva, world.case), "Risk re-graded; plan updated")
    assert listed(my_overdue, world.idva) == []
    assert listed(area_overdue, world.coordinator) == []


def test_most_overdue_comes_first(world: World, clock: FakeClock) -> None:
    record(world, "new_incident", today() + timedelta(days=3))  # due in 4 days
    make_safety_plan(world.case, world.referrer, owner=world.idva, review_on=today() + timedelta(days=1))
    clock.advance(days=7)
    assert listed(my_overdue, world.idva) == [
        ("plan_review", world.case.reference, 6),
        ("trigger_review", world.case.reference, 3),
    ]


def test_area_list_shows_plans_whoever_owns_them(world: World, clock: FakeClock) -> None:
    make_safety_plan(world.case, world.referrer, owner=world.referrer, review_on=today())
    clock.advance(days=1)
    assert listed(area_overdue, world.coordinator) == [("plan_review", world.case.reference, 1)]
    assert listed(area_overdue, world.other_coordinator) == []
    assert listed(area_overdue, world.referrer) == []  # not a coordinator


# --- referrals waiting ---------------------------------------------------------------------------------------------


def waiting_case(world: World, status: str, at: datetime) -> Case:
    """A case of the world's area whose referral was submitted (or signed off) at `at`."""
    case = make_case(area=world.area, agency=world.case.referring_agency)
    if status == CaseStatus.AWAITING_SIGN_OFF.value:
        make_waiting_referral(case, status=status, submitted_at=at)
    else:
        make_waiting_referral(case, status=status, submitted_at=at - timedelta(hours=1), signed_off_at=at)
    return case


def test_referral_submitted_on_friday_is_overdue_on_the_third_working_day(world: World, clock: FakeClock) -> None:
    friday = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)
    set_clock(clock, friday)
    case = waiting_case(world, CaseStatus.AWAITING_SIGN_OFF.value, friday)

    set_clock(clock, datetime(2026, 12, 1, 17, 0, tzinfo=UTC))  # Tuesday: day 2 of 2
    assert listed(area_overdue, world.coordinator) == []

    set_clock(clock, datetime(2026, 12, 2, 8, 0, tzinfo=UTC))  # Wednesday: day 3
    with acting_offline([world.coordinator]):
        (item,) = area_overdue(world.coordinator)
    assert (item.kind, item.case.id, item.due_on, item.days_overdue) == (
        "referral_sign_off",
        case.id,
        date(2026, 12, 1),
        1,
    )
    assert item.label == "Referral waiting for sign-off: 3 working days (target 2)"
    assert listed(area_overdue, world.other_coordinator) == []


def test_referral_waiting_for_a_decision_skips_christmas_bank_holidays(world: World, clock: FakeClock) -> None:
    signed_off = datetime(2026, 12, 24, 11, 0, tzinfo=UTC)  # Thursday before Christmas
    set_clock(clock, signed_off)
    case = waiting_case(world, CaseStatus.AWAITING_DECISION.value, signed_off)

    set_clock(clock, datetime(2026, 12, 30, 12, 0, tzinfo=UTC))  # Tue 29th is day 1, Wed 30th day 2
    assert listed(area_overdue, world.coordinator) == []

    set_clock(clock, datetime(2026, 12, 31, 12, 0, tzinfo=UTC))
    assert listed(area_overdue, world.coordinator) == [("referral_decision", case.reference, 1)]


def test_referral_target_is_the_areas(world: World, clock: FakeClock) -> None:
    friday = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    set_clock(clock, friday)
    world.area.referral_target_days = 3
    case = waiting_case(world, CaseStatus.AWAITING_SIGN_OFF.value, friday)

    set_clock(clock, datetime(2026, 12, 2, 10, 0, tzinfo=UTC))  # day 3 of 3
    assert listed(area_overdue, world.coordinator) == []
    set_clock(clock, datetime(2026, 12, 3, 10, 0, tzinfo=UTC))
    assert listed(area_overdue, world.coordinator) == [("referral_sign_off", case.reference, 1)]


def test_submission_late_on_a_summer_evening_counts_from_the_london_date(world: World, clock: FakeClock) -> None:
    # 23:30 UTC on Thursday is 00:30 on Friday in London: Monday is day 1, so Wednesday (day 3) is the first overdue
    late = datetime(2026, 5, 28, 23, 30, tzinfo=UTC)
    set_clock(clock, late)
    case = waiting_case(world, CaseStatus.AWAITING_SIGN_OFF.value, late)

    set_clock(clock, datetime(2026, 6, 2, 12, 0, tzinfo=UTC))  # Tuesday: day 2
    assert listed(area_overdue, world.coordinator) == []
    set_clock(clock, datetime(2026, 6, 3, 12, 0, tzinfo=UTC))
    assert listed(area_overdue, world.coordinator) == [("referral_sign_off", case.reference, 1)]


def test_decided_referral_is_not_waiting(world: World, clock: FakeClock) -> None:
    friday = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    set_clock(clock, friday)
    case = waiting_case(world, CaseStatus.AWAITING_DECISION.value, friday)
    case.status = CaseStatus.OPEN.value
    db.session.commit()
    set_clock(clock, datetime(2026, 12, 9, 10, 0, tzinfo=UTC))
    assert listed(area_overdue, world.coordinator) == []
