"""Safety plans (who may make them, who may own them, review dates, measures, history) and the orders and events that
make a risk review due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from flask import Flask
from sqlalchemy import select, text

from marac import db
from marac.access import Role
from marac.audit.models import AuditEvent
from marac.auth.models import User
from marac.cases.models import Case, CaseEvent
from marac.cases.plans import (
    TRIGGERS,
    PlanError,
    complete_review,
    create_safety_plan,
    describe_measures,
    end_safety_plan,
    plan_history,
    record_trigger,
    review_safety_plan,
)
from marac.orgs.models import AgencyKind
from tests.conftest import FakeClock
from tests.factories import (
    make_agency,
    make_area,
    make_case,
    make_disclosure,
    make_safety_plan,
    make_user,
    relations_as_signed_in,
)

DETAIL = "Sanctuary fitted at the front door; neighbour to call 999 on seeing him"
NOTE = "Released from HMP Leeds this morning; licence condition not to enter Harehills"


@dataclass
class World:
    """One case in one area: a police referrer, the assigned IDVA, the area's coordinator and an outsider."""

    case: Case
    referrer: User
    idva: User
    coordinator: User
    outsider: User


@pytest.fixture
def world(app: Flask) -> World:
    """A case referred by police with an IDVA assigned, and people with and without a way in."""
    area = make_area()
    police = make_agency(AgencyKind.POLICE, areas=[area])
    idva = make_user(Role.IDVA, agency=make_agency(AgencyKind.IDVA_SERVICE, areas=[area])).user
    coordinator = make_user(Role.COORDINATOR, agency=make_agency(AgencyKind.LOCAL_AUTHORITY, areas=[area])).user
    outsider = make_user(Role.REFERRER, agency=make_agency(AgencyKind.HOUSING)).user
    case = make_case(area=area, agency=police, idva=idva)
    return World(case, make_user(Role.REFERRER, agency=police).user, idva, coordinator, outsider)


def today() -> date:
    return db.london_today()


def create(world: World, actor: User, **overrides: object) -> object:
    values: dict[str, object] = {
        "owner": world.idva,
        "measures": ["sanctuary_scheme", "personal_alarm"],
        "detail": DETAIL,
        "review_on": today() + timedelta(days=14),
    }
    values.update(overrides)
    return create_safety_plan(actor, world.case, relations_as_signed_in(actor, world.case), **values)  # type: ignore[arg-type]


def raw(table: str, column: str, row_id: int) -> bytes:
    """A column's stored bytes, as someone reading the database file would see them."""
    value = db.session.execute(text(f"SELECT {column} FROM {table} WHERE id = :id"), {"id": row_id}).scalar_one()  # noqa: S608
    return bytes(value)


# --- safety plans --------------------------------------------------------------------------------------------------


def test_referrer_makes_plan_owned_by_the_idva_and_the_history_records_it(world: World) -> None:
    plan = create(world, world.referrer)
    db.session.commit()

    assert plan.owner_id == world.idva.id
    assert plan.status == "active"
    assert plan.measures == ["sanctuary_scheme", "personal_alarm"]
    assert describe_measures(plan.measures) == ["Sanctuary scheme", "Personal alarm"]
    assert plan.review_on == today() + timedelta(days=14)
    assert [(e.kind, e.recorded_by_id) for e in plan_history(plan)] == [("plan_created", world.referrer.id)]
    logged = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "safety_plan.create")).one()
    assert logged.object_id == world.case.public_id
    assert logged.details == {"plan": plan.public_id}


def test_coordinator_of_the_area_may_make_a_plan_they_own_themselves(world: World) -> None:
    plan = create(world, world.coordinator, owner=world.coordinator)
    assert plan.owner_id == world.coordinator.id


def test_someone_not_on_the_case_cannot_make_a_plan(world: World) -> None:
    with pytest.raises(PlanError, match="Only those working on the case"):
        create(world, world.outsider)


def test_agency_that_only_received_a_disclosure_cannot_make_a_plan(world: World) -> None:
    make_disclosure(world.case, world.outsider.agency, world.referrer)
    assert relations_as_signed_in(world.outsider, world.case)  # they can read it...
    with pytest.raises(PlanError, match="Only those working on the case"):
        create(world, world.outsider)  # ...but not act on it


def test_owner_who_cannot_see_the_case_is_refused(world: World) -> None:
    with pytest.raises(PlanError, match="active user who can see this case"):
        create(world, world.referrer, owner=world.outsider)


def test_disabled_owner_is_refused(world: World) -> None:
    world.idva.is_active = False
    with pytest.raises(PlanError, match="active user who can see this case"):
        create(world, world.referrer)


@pytest.mark.parametrize(
    ("days_ahead", "problem"),
    [(-1, "cannot be in the past"), (184, "within 6 months"), (None, "Give a review date")],
)
def test_review_date_must_be_from_today_to_six_months_ahead(world: World, days_ahead: int | None, problem: str) -> None:
    review_on = None if days_ahead is None else today() + timedelta(days=days_ahead)
    with pytest.raises(PlanError, match=problem):
        create(world, world.referrer, review_on=review_on)


@pytest.mark.parametrize("days_ahead", [0, 183])
def test_review_today_or_six_months_ahead_is_accepted(world: World, days_ahead: int) -> None:
    plan = create(world, world.referrer, review_on=today() + timedelta(days=days_ahead))
    assert plan.review_on == today() + timedelta(days=days_ahead)


def test_unknown_measure_is_refused(world: World) -> None:
    with pytest.raises(PlanError, match="unknown: armed_guard"):
        create(world, world.referrer, measures=["sanctuary_scheme", "armed_guard"])


def test_no_measures_is_refused(world: World) -> None:
    with pytest.raises(PlanError, match="at least one measure"):
        create(world, world.referrer, measures=[])


def test_other_measure_needs_a_description_which_is_kept(world: World) -> None:
    with pytest.raises(PlanError, match="Describe the other measure"):
        create(world, world.referrer, measures=["other"])
    plan = create(world, world.referrer, measures=["other", "safe_phone"], other="Taxi account for school run")
    assert describe_measures(plan.measures) == ["Safe phone", "Other: Taxi account for school run"]


def test_review_keeps_the_previous_review_date_in_the_history(world: World, clock: FakeClock) -> None:
    plan = make_safety_plan(world.case, world.referrer, owner=world.idva, review_on=today() + timedelta(days=7))
    first_due = plan.review_on
    clock.advance(days=8)

    review_safety_plan(
        world.idva,
        plan,
        relations_as_signed_in(world.idva, world.case),
        measures=["sanctuary_scheme", "refuge"],
        detail="Moved to refuge",
        next_review_on=today() + timedelta(days=28),
    )
    db.session.commit()

    created, reviewed = plan_history(plan)
    assert (created.kind, reviewed.kind) == ("plan_created", "plan_reviewed")
    assert reviewed.review_due_on == first_due
    assert reviewed.reviewed_at == clock()
    assert reviewed.recorded_by_id == world.idva.id
    assert reviewed.note == (
        f"Next review {today() + timedelta(days=28):%d %B %Y}. Added: Refuge place. Removed: Personal alarm."
    )
    assert plan.review_on == today() + timedelta(days=28)
    assert plan.reviewed_at == clock()
    assert plan.detail == "Moved to refuge"


def test_outsider_cannot_review_or_end_a_plan(world: World) -> None:
    plan = make_safety_plan(world.case, world.referrer, owner=world.idva)
    with pytest.raises(PlanError, match="Only those working on the case or the named owner"):
        review_safety_plan(world.outsider, plan, frozenset(), measures=["refuge"], detail=None, next_review_on=today())
    with pytest.raises(PlanError, match="Only those working on the case or the named owner"):
        end_safety_plan(world.outsider, plan, frozenset(), reason="No longer needed")


def test_ended_plan_is_in_the_history_and_cannot_be_reviewed(world: World) -> None:
    plan = make_safety_plan(world.case, world.referrer, owner=world.idva)
    relations = relations_as_signed_in(world.idva, world.case)
    with pytest.raises(PlanError, match="Say why"):
        end_safety_plan(world.idva, plan, relations, reason="  ")
    end_safety_plan(world.idva, plan, relations, reason="Victim moved out of area; plan handed over")

    assert plan.status == "ended"
    assert [e.kind for e in plan_history(plan)] == ["plan_created", "plan_ended"]
    with pytest.raises(PlanError, match="has ended"):
        review_safety_plan(world.idva, plan, relations, measures=["refuge"], detail=None, next_review_on=today())


def test_plan_detail_measures_and_history_are_sealed_at_rest(world: World) -> None:
    plan = make_safety_plan(world.case, world.referrer, owner=world.idva, detail=DETAIL, measures=["sanctuary_scheme"])
    review_safety_plan(
        world.idva,
        plan,
        relations_as_signed_in(world.idva, world.case),
        measures=["refuge"],
        detail=DETAIL,
        next_review_on=today() + timedelta(days=7),
    )
    db.session.commit()
    reviewed = plan_history(plan)[-1]

    for stored in (raw("safety_plans", "detail", plan.id), raw("safety_plans", "measures", plan.id)):
        assert b"Sanctuary" not in stored
        assert b"sanctuary" not in stored
        assert b"refuge" not in stored
    assert b"Refuge" not in raw("case_events", "note", reviewed.id)


# --- reassessment triggers -----------------------------------------------------------------------------------------

#: Days from the event to the review: negative means before it (an order expiring, a court date).
EXPECTED_REVIEW = {
    "released_from_custody": 1,
    "bail_ended": 2,
    "dvpn_issued": 1,
    "dvpo_granted": 2,
    "dvpo_expiring": -7,
    "order_granted": 7,
    "order_breached": 1,
    "order_expiring": -14,
    "court_date": -7,
    "new_incident": 1,
    "counter_allegation": 2,
}


def trigger(world: World, actor: User, kind: str, occurred_on: date, **extra: object) -> CaseEvent:
    relations = relations_as_signed_in(actor, world.case)
    return record_trigger(actor, world.case, relations, kind=kind, occurred_on=occurred_on, note=NOTE, **extra)  # type: ignore[arg-type]


def test_every_trigger_is_in_the_expected_table() -> None:
    assert set(TRIGGERS) == set(EXPECTED_REVIEW)


@pytest.mark.parametrize(("kind", "offset"), EXPECTED_REVIEW.items())
def test_trigger_makes_a_review_due_at_its_interval(world: World, kind: str, offset: int) -> None:
    occurred_on = today() + timedelta(days=30)
    event = trigger(world, world.referrer, kind, occurred_on)
    db.session.commit()

    assert event.kind == kind
    assert event.occurred_on == occurred_on
    assert event.review_due_on == occurred_on + timedelta(days=offset)
    assert event.reviewed_at is None
    assert event.review_owner_id == world.idva.id


@pytest.mark.parametrize("kind", ["released_from_custody", "new_incident", "counter_allegation"])
def test_trigger_recorded_today_is_due_after_today(world: World, kind: str) -> None:
    event = trigger(world, world.referrer, kind, today())
    assert event.review_due_on == today() + timedelta(days=EXPECTED_REVIEW[kind])


@pytest.mark.parametrize("kind", ["dvpo_expiring", "order_expiring", "court_date"])
def test_approaching_event_makes_the_review_due_before_it(world: World, kind: str) -> None:
    occurred_on = today() + timedelta(days=20)
    event = trigger(world, world.referrer, kind, occurred_on)
    assert event.review_due_on is not None
    assert today() <= event.review_due_on < occurred_on


def test_expiry_closer_than_the_interval_makes_the_review_due_today(world: World) -> None:
    event = trigger(world, world.referrer, "order_expiring", today() + timedelta(days=3))
    assert event.review_due_on == today()


def test_configured_interval_replaces_the_default(app: Flask, world: World) -> None:
    app.config["MARAC_TRIGGER_REVIEW_DAYS"] = '{"released_from_custody": 3, "court_date": 10}'
    released = trigger(world, world.referrer, "released_from_custody", today())
    court = trigger(world, world.referrer, "court_date", today() + timedelta(days=30))
    assert released.review_due_on == today() + timedelta(days=3)
    assert court.review_due_on == today() + timedelta(days=20)


def test_unknown_trigger_in_configuration_is_refused(app: Flask, world: World) -> None:
    app.config["MARAC_TRIGGER_REVIEW_DAYS"] = {"moon_phase": 2}
    with pytest.raises(PlanError, match="moon_phase"):
        trigger(world, world.referrer, "new_incident", today())


def test_unknown_trigger_is_refused(world: World) -> None:
    with pytest.raises(PlanError, match="from the list"):
        trigger(world, world.referrer, "perpetrator_moved_house", today())


def test_trigger_more_than_a_year_ahead_is_refused(world: World) -> None:
    with pytest.raises(PlanError, match="more than a year ahead"):
        trigger(world, world.referrer, "court_date", today() + timedelta(days=367))
    assert trigger(world, world.referrer, "court_date", today() + timedelta(days=366)).review_due_on


def test_outsider_cannot_record_a_trigger(world: World) -> None:
    with pytest.raises(PlanError, match="Only those working on the case"):
        record_trigger(world.outsider, world.case, frozenset(), kind="new_incident", occurred_on=today(), note=None)


def test_review_falls_to_the_named_owner_else_the_idva_else_the_recorder(world: World) -> None:
    named = trigger(world, world.referrer, "new_incident", today(), review_owner=world.coordinator)
    default = trigger(world, world.referrer, "new_incident", today())
    world.case.assigned_idva_id = None
    db.session.flush()
    db.session.expire(world.case, ["assigned_idva"])
    no_idva = trigger(world, world.referrer, "new_incident", today())

    assert named.review_owner_id == world.coordinator.id
    assert default.review_owner_id == world.idva.id
    assert no_idva.review_owner_id == world.referrer.id


def test_named_review_owner_who_cannot_see_the_case_is_refused(world: World) -> None:
    with pytest.raises(PlanError, match="active user who can see this case"):
        trigger(world, world.referrer, "new_incident", today(), review_owner=world.outsider)


def test_completing_a_review_records_when_and_what_it_found(world: World, clock: FakeClock) -> None:
    event = trigger(world, world.referrer, "released_from_custody", today())
    clock.advance(hours=5)
    relations = relations_as_signed_in(world.idva, world.case)
    with pytest.raises(PlanError, match="Say what the review found"):
        complete_review(world.idva, event, relations, "")

    complete_review(world.idva, event, relations, "Spoke to her; plan unchanged, police marker confirmed")
    db.session.commit()

    assert event.reviewed_at == clock()
    found = db.session.scalars(select(CaseEvent).where(CaseEvent.kind == "review_completed")).one()
    assert found.case_id == world.case.id
    assert found.note == "Spoke to her; plan unchanged, police marker confirmed"
    with pytest.raises(PlanError, match="already been recorded"):
        complete_review(world.idva, event, relations, "Again")


def test_trigger_note_is_sealed_at_rest(world: World) -> None:
    event = trigger(world, world.referrer, "released_from_custody", today())
    db.session.commit()
    stored = raw("case_events", "note", event.id)
    assert b"HMP Leeds" not in stored
    assert b"Harehills" not in stored
    assert event.note == NOTE
