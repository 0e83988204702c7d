"""Review jobs with an injected clock: safety-plan reviews and the risk reviews a trigger makes due are reminded to
their owner (the area's coordinators when the owner can no longer do it) and escalated once overdue to the owner,
the owner's supervisors in the case's area and the area's coordinators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from marac import db
from marac.access import Role
from marac.audit.models import AuditEvent
from marac.auth.models import User
from marac.cases.models import Case, CaseEvent, CaseStatus, SafetyPlan
from marac.cases.plans import complete_review, end_safety_plan, record_trigger, review_safety_plan
from marac.cases.review_tasks import escalate_overdue_reviews, send_review_reminders
from marac.notify.models import Notification, OutboxMessage
from marac.notify.services import BODY, MARKING
from marac.orgs.models import Agency, AgencyKind, Area
from marac.people.models import Person
from marac.scheduler import JOBS, build_scheduler, resolve, run_job
from marac.sharing.models import MustNotReceive
from tests.conftest import FakeClock
from tests.factories import make_agency, make_area, make_case, make_person, make_safety_plan, make_user
from tests.factories import relations_as_signed_in as relations

NOTE = "Released from HMP Leeds this morning; licence condition not to enter Harehills"
REVIEW_NOTE = "Spoke to her; plan unchanged, police marker confirmed"
REMINDER, ESCALATION = "review_reminder", "review_overdue_escalation"


def at(day: date) -> datetime:
    """9am on `day` (UTC and London agree in November and December)."""
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)


@dataclass
class World:
    """One open case in one area: the police referred it, an IDVA owns its reviews, the IDVA service has a
    supervisor here, the area has two active coordinators; people elsewhere or disabled who must never be told."""

    area: Area
    case: Case
    victim: Person
    police: Agency
    referrer: User
    idva: User
    supervisor: User
    coordinators: list[User]


@pytest.fixture
def world(app: Flask, clock: FakeClock) -> World:
    clock.current = at(date(2026, 11, 23))  # a Monday
    area, elsewhere = make_area(), make_area()
    police = make_agency(AgencyKind.POLICE, areas=[area])
    idvas = make_agency(AgencyKind.IDVA_SERVICE, areas=[area, elsewhere])
    council = make_agency(AgencyKind.LOCAL_AUTHORITY, areas=[area, elsewhere])
    idva = make_user(Role.IDVA, agency=idvas, areas=[area]).user
    supervisor = make_user(Role.SUPERVISOR, agency=idvas, areas=[area]).user
    make_user(Role.SUPERVISOR, agency=idvas, areas=[elsewhere])  # the owner's agency, another area: never told
    make_user(Role.SUPERVISOR, agency=police, areas=[area])  # this area, another agency: never told
    coordinators = [make_user(Role.COORDINATOR, agency=council, areas=[area]).user for _ in range(2)]
    make_user(Role.COORDINATOR, agency=council, areas=[elsewhere])  # another area's coordinator: never told
    make_user(Role.COORDINATOR, agency=council, areas=[area]).user.is_active = False  # disabled: never told
    referrer = make_user(Role.REFERRER, agency=police, areas=[area]).user
    victim = make_person(given_name="Marigold", family_name="Testerton", address="17 Synthetic Row")
    case = make_case(area=area, agency=police, victim=victim, idva=idva)
    return World(area, case, victim, police, referrer, idva, supervisor, coordinators)


def plan_due(world: World, review_on: date, *, case: Case | None = None, owner: User | None = None) -> SafetyPlan:
    """An active plan made by the referrer, owned by the IDVA unless told, due for review on `review_on`."""
    plan: SafetyPlan = make_safety_plan(
        case or world.case, world.referrer, owner=owner or world.idva, review_on=review_on
    )
    return plan


def trigger(
    world: World, kind: str, occurred_on: date, *, case: Case | None = None, owner: User | None = None
) -> CaseEvent:
    """A trigger recorded by the referrer (its review falls to `owner`, else the case's IDVA)."""
    case = case or world.case
    event = record_trigger(
        world.referrer,
        case,
        relations(world.referrer, case),
        kind=kind,
        occurred_on=occurred_on,
        note=NOTE,
        review_owner=owner,
    )
    db.session.commit()
    return event


def recipients(kind: str) -> list[int]:
    """Who was sent a message of `kind`, one entry per message, sorted by user id."""
    query = select(OutboxMessage.recipient_id).where(OutboxMessage.kind == kind).order_by(OutboxMessage.recipient_id)
    return [r for r in db.session.scalars(query) if r is not None]


def notifications(kind: str) -> list[Notification]:
    query = select(Notification).where(Notification.kind == kind).order_by(Notification.user_id, Notification.id)
    return list(db.session.scalars(query))


def audits(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def ids(*users: User) -> list[int]:
    return sorted(u.id for u in users)


def everyone_escalated_to(world: World) -> list[int]:
    return ids(world.idva, world.supervisor, *world.coordinators)


# --- reminders -----------------------------------------------------------------------------------------------------


def test_plan_review_within_three_working_days_is_reminded_once_to_its_owner(world: World, clock: FakeClock) -> None:
    monday = plan_due(world, date(2026, 11, 30))
    tuesday = plan_due(world, date(2026, 12, 1))
    clock.current = at(date(2026, 11, 25))  # Wednesday: Thu, Fri, Mon are the three working days

    assert send_review_reminders() == 1

    assert monday.reminded_on == date(2026, 11, 25)
    assert tuesday.reminded_on is None
    assert recipients(REMINDER) == [world.idva.id]
    [note] = notifications(REMINDER)
    assert note.user_id == world.idva.id
    assert note.text == f"Case {world.case.reference}: the safety plan review is due on 30 November 2026."
    assert note.link == f"/cases/{world.case.public_id}/plans"
    [message] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == REMINDER)).all()
    assert message.subject.startswith(f"{MARKING}:")
    assert message.body == BODY
    assert message.address == world.idva.email
    for secret in (world.case.reference, "Marigold", "Testerton", "Synthetic Row", "safety plan"):
        assert secret not in message.subject
        assert secret not in message.body
    [logged] = audits("review.reminded")
    assert (logged.object_type, logged.object_id, logged.details) == (
        "safety_plan",
        monday.public_id,
        {"to": 1, "new": 1},
    )

    assert send_review_reminders() == 0  # the same day again: nothing new
    clock.current = at(date(2026, 11, 26))  # Thursday: Tuesday's review is now within three working days
    assert send_review_reminders() == 1
    assert tuesday.reminded_on == date(2026, 11, 26)
    assert recipients(REMINDER) == [world.idva.id, world.idva.id]
    assert [n.text for n in notifications(REMINDER)].count(
        f"Case {world.case.reference}: the safety plan review is due on 30 November 2026."
    ) == 1
    clock.current = at(date(2026, 11, 27))
    assert send_review_reminders() == 0
    assert len(recipients(REMINDER)) == 2
    assert len(audits("review.reminded")) == 2


@pytest.mark.parametrize(
    ("review_on", "today", "reminded"),
    [
        (date(2026, 11, 30), date(2026, 11, 24), False),  # Monday's review on the Tuesday before: Wed, Thu, Fri
        (date(2026, 11, 30), date(2026, 11, 25), True),  # ...on the Wednesday: Thu, Fri, Mon
        (date(2026, 11, 30), date(2026, 11, 26), True),  # ...on the Thursday
        (date(2026, 11, 30), date(2026, 11, 30), True),  # ...on the day itself
        # Christmas Day (Fri 25) and Boxing Day observed (Mon 28) are not working days: Wed 23, Thu 24, Tue 29.
        (date(2026, 12, 29), date(2026, 12, 22), True),
        (date(2026, 12, 29), date(2026, 12, 21), False),  # Tue 22, Wed 23, Thu 24
        # New Year's Day (Fri 1 January 2027) is not a working day: Wed 30, Thu 31, Mon 4.
        (date(2027, 1, 4), date(2026, 12, 29), True),
        (date(2027, 1, 4), date(2026, 12, 28), False),  # from the bank holiday: Tue 29, Wed 30, Thu 31
    ],
)
def test_reminder_counts_working_days_without_weekends_or_bank_holidays(
    world: World, clock: FakeClock, review_on: date, today: date, reminded: bool
) -> None:
    clock.current = at(today)
    plan = plan_due(world, review_on)
    event = trigger(world, "court_date", review_on + timedelta(days=7))  # due 7 days before

    assert event.review_due_on == review_on
    assert send_review_reminders() == (2 if reminded else 0)
    assert plan.reminded_on == (today if reminded else None)
    assert event.reminded_on == (today if reminded else None)
    assert recipients(REMINDER) == ([world.idva.id, world.idva.id] if reminded else [])


def test_reminder_window_is_configurable(world: World, clock: FakeClock, app: Flask) -> None:
    app.config["MARAC_REVIEW_REMINDER_WORKING_DAYS"] = 5
    clock.current = at(date(2026, 11, 25))
    plan_due(world, date(2026, 12, 2))  # the fifth working day
    plan_due(world, date(2026, 12, 3))  # the sixth
    assert send_review_reminders() == 1


def test_reviews_beyond_the_horizon_overdue_ended_or_on_closed_cases_are_not_reminded(
    world: World, clock: FakeClock
) -> None:
    overdue = plan_due(world, date(2026, 11, 24))
    ended = plan_due(world, date(2026, 11, 27))
    end_safety_plan(world.referrer, ended, relations(world.referrer, world.case), reason="She has moved out of area")
    closed_case = make_case(area=world.area, agency=world.police, idva=world.idva)
    duplicate_case = make_case(area=world.area, agency=world.police, idva=world.idva)
    on_closed = plan_due(world, date(2026, 11, 27), case=closed_case)
    on_duplicate = plan_due(world, date(2026, 11, 27), case=duplicate_case)
    closed_trigger = trigger(world, "court_date", date(2026, 12, 4), case=closed_case)
    closed_case.status, duplicate_case.status = CaseStatus.CLOSED.value, CaseStatus.DUPLICATE.value
    db.session.commit()
    clock.current = at(date(2026, 11, 25))
    beyond = plan_due(world, date(2026, 12, 1))  # the fourth working day

    assert send_review_reminders() == 0
    assert recipients(REMINDER) == []
    assert notifications(REMINDER) == []
    assert audits("review.reminded") == []
    assert [p.reminded_on for p in (overdue, ended, on_closed, on_duplicate, beyond)] == [None] * 5
    assert closed_trigger.reminded_on is None

    clock.current = at(date(2026, 12, 10))  # everything is now long overdue: only the open, active ones escalate
    assert escalate_overdue_reviews() == 2
    assert overdue.escalated_at == at(date(2026, 12, 10))
    assert beyond.escalated_at == at(date(2026, 12, 10))
    assert [r.escalated_at for r in (ended, on_closed, on_duplicate, closed_trigger)] == [None] * 4


def test_reviewed_plan_is_reminded_afresh_for_its_next_review(world: World, clock: FakeClock) -> None:
    plan = plan_due(world, date(2026, 11, 26))  # Tue, Wed, Thu
    assert send_review_reminders() == 1
    assert plan.reminded_on == date(2026, 11, 23)

    clock.current = at(date(2026, 11, 24))
    review_safety_plan(
        world.idva,
        plan,
        relations(world.idva, world.case),
        measures=["sanctuary_scheme"],
        detail="Alarm returned",
        next_review_on=date(2026, 12, 7),
    )
    db.session.commit()
    assert plan.reminded_on is None
    assert send_review_reminders() == 0  # the same day: Monday 7 December is nine working days away

    clock.current = at(date(2026, 12, 2))  # Thu 3, Fri 4, Mon 7
    assert send_review_reminders() == 1
    assert plan.reminded_on == date(2026, 12, 2)
    assert recipients(REMINDER) == [world.idva.id, world.idva.id]
    keys = db.session.scalars(
        select(OutboxMessage.idempotency_key).where(OutboxMessage.kind == REMINDER).order_by(OutboxMessage.id)
    ).all()
    assert keys == [
        f"{REMINDER}:{plan.public_id}:2026-11-26:{world.idva.public_id}",
        f"{REMINDER}:{plan.public_id}:2026-12-07:{world.idva.public_id}",
    ]
    assert [n.text for n in notifications(REMINDER)] == [
        f"Case {world.case.reference}: the safety plan review is due on 26 November 2026.",
        f"Case {world.case.reference}: the safety plan review is due on 7 December 2026.",
    ]
    assert send_review_reminders() == 0


def test_reviewed_plan_is_escalated_afresh_when_its_next_review_is_overdue(world: World, clock: FakeClock) -> None:
    plan = plan_due(world, date(2026, 11, 24))
    clock.current = at(date(2026, 11, 26))
    assert escalate_overdue_reviews() == 1
    assert plan.escalated_at == at(date(2026, 11, 26))

    review_safety_plan(
        world.idva,
        plan,
        relations(world.idva, world.case),
        measures=["sanctuary_scheme"],
        detail=None,
        next_review_on=date(2026, 11, 30),
    )
    db.session.commit()
    assert plan.escalated_at is None
    clock.current = at(date(2026, 12, 1))
    assert escalate_overdue_reviews() == 0  # one day overdue
    clock.current = at(date(2026, 12, 2))
    assert escalate_overdue_reviews() == 1
    assert recipients(ESCALATION) == sorted(everyone_escalated_to(world) * 2)


def test_trigger_review_is_reminded_to_its_review_owner(world: World, clock: FakeClock) -> None:
    clock.current = at(date(2026, 11, 25))
    event = trigger(world, "court_date", date(2026, 12, 7), owner=world.referrer)  # review due Monday 30 November

    assert event.review_due_on == date(2026, 11, 30)
    assert send_review_reminders() == 1
    assert event.reminded_on == date(2026, 11, 25)
    assert recipients(REMINDER) == [world.referrer.id]
    [note] = notifications(REMINDER)
    assert note.text == (
        f"Case {world.case.reference}: the risk review after: Court date approaching is due on 30 November 2026."
    )
    [message] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == REMINDER)).all()
    assert message.subject.startswith(MARKING)
    assert message.body == BODY
    assert world.case.reference not in message.subject + message.body
    [logged] = audits("review.reminded")
    assert (logged.object_type, logged.object_id) == ("trigger_review", event.public_id)
    assert send_review_reminders() == 0
    clock.current = at(date(2026, 11, 26))
    assert send_review_reminders() == 0


def test_completed_trigger_review_is_neither_reminded_nor_escalated(world: World, clock: FakeClock) -> None:
    done = trigger(world, "released_from_custody", date(2026, 11, 23))  # review due Tuesday 24 November
    open_ = trigger(world, "bail_ended", date(2026, 11, 22))  # review due Tuesday 24 November
    complete_review(world.idva, done, relations(world.idva, world.case), REVIEW_NOTE)
    db.session.commit()

    assert send_review_reminders() == 1
    assert open_.reminded_on == date(2026, 11, 23)
    assert done.reminded_on is None
    clock.current = at(date(2026, 11, 27))  # three days overdue
    assert escalate_overdue_reviews() == 1
    assert open_.escalated_at == at(date(2026, 11, 27))
    assert done.escalated_at is None
    assert [a.object_id for a in audits("review.escalated")] == [open_.public_id]


def test_plan_and_trigger_events_without_a_review_are_not_chased(world: World, clock: FakeClock) -> None:
    """The history events a plan writes (made, reviewed, ended) and completed-review events make nothing due."""
    plan = plan_due(world, date(2026, 11, 24))
    review_safety_plan(
        world.idva,
        plan,
        relations(world.idva, world.case),
        measures=["personal_alarm"],
        detail=None,
        next_review_on=date(2027, 1, 20),
    )
    db.session.commit()
    clock.current = at(date(2026, 12, 20))
    assert send_review_reminders() == 0
    assert escalate_overdue_reviews() == 0


# --- when the owner cannot do it ---------------------------------------------------------------------------------


def _disable(world: World) -> None:
    world.idva.is_active = False


def _reassign(world: World) -> None:
    other = make_user(Role.IDVA, agency=world.idva.agency, areas=[world.area]).user
    world.case.assigned_idva_id = other.id


def _bar(world: World) -> None:
    db.session.add(MustNotReceive(case_id=world.case.id, user_id=world.idva.id))


@pytest.mark.parametrize("lose_access", [_disable, _reassign, _bar], ids=["disabled", "reassigned", "barred"])
def test_reminder_goes_to_the_coordinators_when_the_owner_can_no_longer_do_it(
    world: World, lose_access: object
) -> None:
    plan = plan_due(world, date(2026, 11, 25))
    event = trigger(world, "released_from_custody", date(2026, 11, 23))
    lose_access(world)  # type: ignore[operator]
    db.session.commit()

    assert send_review_reminders() == 2
    assert recipients(REMINDER) == sorted(ids(*world.coordinators) * 2)
    assert world.idva.id not in {n.user_id for n in notifications(REMINDER)}
    assert plan.reminded_on == event.reminded_on == date(2026, 11, 23)


def test_reminder_with_no_one_to_tell_is_still_marked_and_audited(world: World) -> None:
    plan = plan_due(world, date(2026, 11, 25))
    world.idva.is_active = False
    for coordinator in world.coordinators:
        coordinator.is_active = False
    db.session.commit()

    assert send_review_reminders() == 1
    assert recipients(REMINDER) == []
    assert plan.reminded_on == date(2026, 11, 23)
    [logged] = audits("review.reminded")
    assert logged.details == {"to": 0, "new": 0}


# --- escalation ----------------------------------------------------------------------------------------------------


def test_overdue_plan_review_escalates_once_to_owner_supervisors_and_coordinators(
    world: World, clock: FakeClock
) -> None:
    plan = plan_due(world, date(2026, 11, 25))
    clock.current = at(date(2026, 11, 26))
    assert escalate_overdue_reviews() == 0  # one day overdue
    assert plan.escalated_at is None

    clock.current = at(date(2026, 11, 27))  # two days overdue
    assert escalate_overdue_reviews() == 1
    assert plan.escalated_at == at(date(2026, 11, 27))
    assert recipients(ESCALATION) == everyone_escalated_to(world)
    texts = {n.text for n in notifications(ESCALATION)}
    assert texts == {
        f"Case {world.case.reference}: the safety plan review was due on 25 November 2026 and is 2 days overdue."
    }
    messages = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == ESCALATION)).all()
    assert all(m.subject.startswith(f"{MARKING}:") and m.body == BODY for m in messages)
    assert not any(world.case.reference in m.subject + m.body or "Marigold" in m.subject + m.body for m in messages)
    [logged] = audits("review.escalated")
    assert (logged.object_type, logged.object_id) == ("safety_plan", plan.public_id)
    assert logged.details == {"to": 4, "new": 4}  # counts only: no names, no case text

    assert escalate_overdue_reviews() == 0  # not twice
    clock.current = at(date(2026, 11, 30))
    assert escalate_overdue_reviews() == 0
    assert len(recipients(ESCALATION)) == 4
    assert len(audits("review.escalated")) == 1


def test_overdue_trigger_review_escalates_once(world: World, clock: FakeClock) -> None:
    event = trigger(world, "released_from_custody", date(2026, 11, 23))  # review due Tuesday 24 November
    clock.current = at(date(2026, 11, 25))
    assert escalate_overdue_reviews() == 0
    clock.current = at(date(2026, 11, 26))
    assert escalate_overdue_reviews() == 1
    assert event.escalated_at == at(date(2026, 11, 26))
    assert recipients(ESCALATION) == everyone_escalated_to(world)
    assert {n.text for n in notifications(ESCALATION)} == {
        f"Case {world.case.reference}: the risk review after: Perpetrator released from custody or prison was due on "
        "24 November 2026 and is 2 days overdue."
    }
    [logged] = audits("review.escalated")
    assert (logged.object_type, logged.object_id, logged.details) == (
        "trigger_review",
        event.public_id,
        {"to": 4, "new": 4},
    )
    clock.current = at(date(2026, 11, 27))
    assert escalate_overdue_reviews() == 0
    assert len(recipients(ESCALATION)) == 4


def test_escalation_days_are_configurable(world: World, clock: FakeClock, app: Flask) -> None:
    app.config["MARAC_REVIEW_ESCALATION_DAYS"] = 4
    plan_due(world, date(2026, 11, 24))
    clock.current = at(date(2026, 11, 27))
    assert escalate_overdue_reviews() == 0
    clock.current = at(date(2026, 11, 28))
    assert escalate_overdue_reviews() == 1


def test_owner_who_is_also_a_coordinator_is_escalated_to_once(world: World, clock: FakeClock) -> None:
    owner = world.coordinators[1]
    plan_due(world, date(2026, 11, 24), owner=owner)
    clock.current = at(date(2026, 11, 26))
    assert escalate_overdue_reviews() == 1
    assert recipients(ESCALATION) == ids(*world.coordinators)  # the council has no supervisor here
    [logged] = audits("review.escalated")
    assert logged.details == {"to": 2, "new": 2}


def test_disabled_owner_is_not_escalated_to_but_their_supervisors_are(world: World, clock: FakeClock) -> None:
    plan_due(world, date(2026, 11, 24))
    world.idva.is_active = False
    db.session.commit()
    clock.current = at(date(2026, 11, 26))
    assert escalate_overdue_reviews() == 1
    assert recipients(ESCALATION) == ids(world.supervisor, *world.coordinators)


@pytest.mark.parametrize("lose_access", [_reassign, _bar], ids=["reassigned", "barred"])
def test_owner_who_can_no_longer_see_the_case_is_not_escalated_to(
    world: World, clock: FakeClock, lose_access: object
) -> None:
    """Someone who may no longer see the case (or must never hear of it) is not sent its reference as its owner."""
    plan_due(world, date(2026, 11, 24))
    lose_access(world)  # type: ignore[operator]
    db.session.commit()
    clock.current = at(date(2026, 11, 26))
    assert escalate_overdue_reviews() == 1
    assert recipients(ESCALATION) == ids(world.supervisor, *world.coordinators)


def test_coordinator_barred_from_the_case_is_never_reminded_or_escalated_to(world: World, clock: FakeClock) -> None:
    plan_due(world, date(2026, 11, 25))
    barred, other = world.coordinators
    world.idva.is_active = False  # the reminder falls to the coordinators
    db.session.add(MustNotReceive(case_id=world.case.id, user_id=barred.id))
    db.session.commit()
    assert send_review_reminders() == 1
    clock.current = at(date(2026, 11, 27))
    assert escalate_overdue_reviews() == 1
    assert recipients(REMINDER) == [other.id]
    assert recipients(ESCALATION) == ids(world.supervisor, other)


# --- what the jobs return, and the scheduler -------------------------------------------------------------------


def test_jobs_return_how_many_reviews_they_handled(world: World, clock: FakeClock) -> None:
    plan_due(world, date(2026, 11, 24))
    plan_due(world, date(2026, 11, 25))
    trigger(world, "released_from_custody", date(2026, 11, 23))
    trigger(world, "order_granted", date(2026, 11, 23))  # due Monday 30 November: beyond three working days
    assert send_review_reminders() == 3
    assert len(recipients(REMINDER)) == 3

    clock.current = at(date(2026, 11, 26))  # the plan due 25th is one day overdue
    assert escalate_overdue_reviews() == 2
    assert len(recipients(ESCALATION)) == 2 * len(everyone_escalated_to(world))
    assert (
        db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "review.escalated"))
        == 2
    )


def test_scheduler_runs_both_review_jobs(world: World, app: Flask) -> None:
    specs = {spec.id: spec for spec in JOBS}
    assert resolve(specs["reviews-remind"].target) is send_review_reminders
    assert resolve(specs["reviews-escalate"].target) is escalate_overdue_reviews
    scheduler = build_scheduler(app, blocking=False)
    assert {"reviews-remind", "reviews-escalate"} <= {job.id for job in scheduler.get_jobs()}

    plan = plan_due(world, date(2026, 11, 25))
    assert run_job(app, "reviews-remind", specs["reviews-remind"].target) is True
    db.session.refresh(plan)
    assert plan.reminded_on == date(2026, 11, 23)
    assert recipients(REMINDER) == [world.idva.id]
