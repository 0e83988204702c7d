"""The meeting's minutes: recording attendance, observers and discussion, the chair's sign-off and versions,
distribution and its deadline, and a case's meeting history (services)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from marac import db
from marac.access import Role, acting_offline
from marac.actions.models import Action, ActionStatus
from marac.audit.models import AuditEvent
from marac.cases.models import Case
from marac.meetings import services
from marac.meetings.models import AgendaItem, Attendance, ItemStatus, Meeting, MinutesVersion, Observer
from marac.notify.models import OutboxMessage
from marac.orgs.models import Agency, AgencyKind
from tests.conftest import FakeClock
from tests.factories import Account, make_accepted_case, make_agency, make_area, make_meeting, make_user

MEETING_AT = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)  # a Thursday (London is on GMT in December)
EARLIER_AT = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
MINUTES = "The meeting agreed the police will review bail conditions and housing will fit a door alarm."


@dataclass
class World:
    """An area with three member agencies, a coordinator, a chair and a rep, a published meeting hearing two cases,
    and an earlier meeting that heard the first case and left one action outstanding."""

    coordinator: Account
    chair: Account
    police_rep: Account
    police: Agency
    housing: Agency
    council: Agency
    meeting: Meeting
    cases: list[Case]
    earlier: Meeting
    earlier_open: Action
    earlier_done: Action


def _earlier_meeting(area: object, case: Case, police: Agency, housing: Agency) -> tuple[Meeting, Action, Action]:
    """A meeting two months ago that heard the case (built directly: its agenda closed long ago)."""
    meeting = make_meeting(area, EARLIER_AT)  # type: ignore[arg-type]
    item = AgendaItem(meeting_id=meeting.id, case_id=case.id, position=1, status=ItemStatus.HEARD.value)
    db.session.add(item)
    db.session.flush()

    def action(agency: Agency, status: str, text: str) -> Action:
        made = Action(
            case_id=case.id,
            meeting_id=meeting.id,
            agenda_item_id=item.id,
            agency_id=agency.id,
            due_on=date(2026, 10, 20),
            status=status,
        )
        made.description = text
        db.session.add(made)
        return made

    open_action = action(police, ActionStatus.OPEN.value, "Police to apply for a non-molestation order update")
    done = action(housing, ActionStatus.COMPLETED.value, "Housing to move the family to a safe address")
    db.session.commit()
    return meeting, open_action, done


def build_world() -> World:
    """The world the meeting tests share (inside an app context)."""
    area = make_area()
    council = make_agency(AgencyKind.LOCAL_AUTHORITY, areas=[area])
    police = make_agency(AgencyKind.POLICE, areas=[area])
    housing = make_agency(AgencyKind.HOUSING, areas=[area])
    coordinator = make_user(Role.COORDINATOR, agency=council, areas=[area])
    meeting = make_meeting(area, MEETING_AT)
    cases = [make_accepted_case(area, police), make_accepted_case(area, housing)]
    with acting_offline([coordinator.user]):
        for case in cases:
            services.allocate(coordinator.user, meeting, case)
        services.publish_agenda(coordinator.user, meeting)
    db.session.commit()
    earlier, earlier_open, earlier_done = _earlier_meeting(area, cases[0], police, housing)
    return World(
        coordinator=coordinator,
        chair=make_user(Role.CHAIR, agency=council, areas=[area]),
        police_rep=make_user(Role.AGENCY_REP, agency=police, areas=[area]),
        police=police,
        housing=housing,
        council=council,
        meeting=meeting,
        cases=cases,
        earlier=earlier,
        earlier_open=earlier_open,
        earlier_done=earlier_done,
    )


@pytest.fixture
def world(app: Flask) -> World:
    return build_world()


def start_meeting(clock: FakeClock, minutes: int = 30) -> None:
    """Move the clock into the meeting."""
    clock.current = MEETING_AT + timedelta(minutes=minutes)


def items(world: World) -> list[AgendaItem]:
    """The meeting's listed cases, in order."""
    return services.listed_items(world.meeting)


def record_everything(world: World) -> None:
    """Attendance for every member agency and minutes for every case: ready to sign off."""
    user = world.coordinator.user
    with acting_offline([user]):
        services.record_attendance(user, world.meeting, world.council, "present", "Coordinator (chair's office)", None)
        services.record_attendance(user, world.meeting, world.police, "present", "DS Example, MARAC officer", None)
        services.record_attendance(user, world.meeting, world.housing, "apologies", "", True)
        for item in items(world):
            services.record_discussion(user, item, "She wants to stay in the area", "Escalating threats", MINUTES)
    db.session.commit()


def sign(world: World) -> MinutesVersion:
    """The chair signs the minutes as they stand."""
    with acting_offline([world.chair.user]):
        version = services.sign_off_minutes(world.chair.user, world.meeting)
    db.session.commit()
    return version


# --- at the meeting ------------------------------------------------------------------------------------------------


def test_minutes_before_the_meeting_started_are_refused_and_nothing_saved(world: World) -> None:
    item = items(world)[0]
    with acting_offline([world.coordinator.user]), pytest.raises(services.MeetingError) as refused:
        services.record_discussion(world.coordinator.user, item, "", "", MINUTES)
    assert "Minutes can only be recorded once the meeting has started" in str(refused.value)
    assert "Thursday 3 December 2026 at 10:00" in str(refused.value)
    db.session.rollback()
    assert item.minutes is None
    assert item.status == ItemStatus.LISTED.value
    assert world.meeting.minutes_version == 0


def test_minutes_refused_for_a_cancelled_meeting(world: World, clock: FakeClock) -> None:
    world.meeting.status = "cancelled"
    start_meeting(clock)
    with acting_offline([world.coordinator.user]), pytest.raises(services.MeetingError, match="cancelled"):
        services.record_discussion(world.coordinator.user, items(world)[0], "", "", MINUTES)


def test_discussion_marks_the_case_heard_and_seals_the_text(world: World, clock: FakeClock) -> None:
    start_meeting(clock)
    item = items(world)[0]
    with acting_offline([world.coordinator.user]):
        services.record_discussion(world.coordinator.user, item, "Wants him kept away", "Strangulation", MINUTES)
    db.session.commit()
    assert item.status == ItemStatus.HEARD.value
    assert item.minutes == MINUTES
    assert world.meeting.minutes_version == 1
    raw = db.session.execute(select(AgendaItem.minutes_enc).where(AgendaItem.id == item.id)).scalar_one()
    assert b"door alarm" not in raw


def test_attendance_records_presence_and_apologies_with_information_sent(world: World, clock: FakeClock) -> None:
    user = world.coordinator.user
    with acting_offline([user]):
        # apologies may arrive before the meeting; presence is recorded at it
        services.record_attendance(user, world.meeting, world.housing, "apologies", "", True)
        with pytest.raises(services.MeetingError, match="once the meeting has started"):
            services.record_attendance(user, world.meeting, world.police, "present", "DS Example", None)
        start_meeting(clock)
        with pytest.raises(services.MeetingError, match="Enter who attended"):
            services.record_attendance(user, world.meeting, world.police, "present", " ", None)
        with pytest.raises(services.MeetingError, match="sent its information"):
            services.record_attendance(user, world.meeting, world.council, "apologies", "", None)
        services.record_attendance(user, world.meeting, world.police, "present", "DS Example", None)
    db.session.commit()
    rows = {r.agency_id: r for r in db.session.scalars(select(Attendance))}
    assert rows[world.housing.id].status == "apologies"
    assert rows[world.housing.id].information_sent is True
    assert rows[world.police.id].attendees == "DS Example"
    assert rows[world.police.id].information_sent is None
    assert world.council.id not in rows


def test_attendance_only_for_member_agencies(world: World, clock: FakeClock) -> None:
    start_meeting(clock)
    outsider = make_agency(AgencyKind.HEALTH)
    with acting_offline([world.coordinator.user]), pytest.raises(services.MeetingError, match="not a member agency"):
        services.record_attendance(world.coordinator.user, world.meeting, outsider, "present", "Dr Example", None)


def test_observer_must_sign_the_confidentiality_statement(world: World) -> None:
    user = world.coordinator.user
    with acting_offline([user]):
        with pytest.raises(services.MeetingError, match="confidentiality statement"):
            services.add_observer(user, world.meeting, "Sam Student", "University", "Placement", False)
        observer = services.add_observer(user, world.meeting, "Sam Student", "University", "Placement", True)
    db.session.commit()
    assert db.session.scalars(select(Observer)).all() == [observer]
    assert observer.statement_version == services.STATEMENT_VERSION


def test_the_meeting_page_shows_earlier_outstanding_actions_for_each_case(world: World, clock: FakeClock) -> None:
    start_meeting(clock)
    with acting_offline([world.coordinator.user]):
        day = services.meeting_day(world.coordinator.user, world.meeting)
    first, second = day.items
    assert first.item.case_id == world.cases[0].id
    assert first.earlier_actions == [world.earlier_open]  # the completed one is not outstanding
    assert second.earlier_actions == []
    assert {r.agency.name for r in first.research} == {world.council.name, world.police.name, world.housing.name}
    assert [r.label for r in day.attendance] == ["Not recorded"] * 3


# --- sign-off and versions -----------------------------------------------------------------------------------------


def test_chair_signs_off_version_1_with_a_digest_of_the_sealed_snapshot(world: World, clock: FakeClock) -> None:
    start_meeting(clock)
    record_everything(world)
    version = sign(world)
    assert version.version == 1
    assert world.meeting.signed_version == 1
    assert world.meeting.minutes_signed
    assert version.digest == hashlib.sha256(version.snapshot.encode("utf-8")).hexdigest()
    snapshot = json.loads(version.snapshot)
    assert [c["minutes"] for c in snapshot["cases"]] == [MINUTES, MINUTES]
    assert {a["agency"]: a["information_sent"] for a in snapshot["attendance"]}[world.housing.name] is True
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "minutes.sign")).one()
    assert event.details == {"version": 1, "digest": version.digest}
    assert services.minutes_versions(world.meeting) == [version]


@pytest.mark.parametrize("missing", ["started", "minutes", "attendance"])
def test_sign_off_refused_until_the_meeting_happened_and_is_fully_recorded(
    world: World, clock: FakeClock, missing: str
) -> None:
    if missing != "started":
        start_meeting(clock)
        record_everything(world)
    if missing == "minutes":
        items(world)[1].minutes, items(world)[1].recorded_at = None, None
    if missing == "attendance":
        db.session.delete(db.session.scalars(select(Attendance).where(Attendance.agency_id == world.police.id)).one())
    expected = {
        "started": "before the meeting has happened",
        "minutes": f"none yet for {world.cases[1].reference}",
        "attendance": f"not yet for {world.police.name}",
    }[missing]
    with acting_offline([world.chair.user]), pytest.raises(services.MeetingError, match=re.escape(expected)):
        services.sign_off_minutes(world.chair.user, world.meeting)
    assert world.meeting.signed_version is None


def test_only_a_chair_signs_off(world: World, clock: FakeClock) -> None:
    start_meeting(clock)
    record_everything(world)
    with acting_offline([world.coordinator.user]), pytest.raises(services.MeetingError, match="chair"):
        services.sign_off_minutes(world.coordinator.user, world.meeting)


def test_change_after_sign_off_needs_a_reason_and_makes_version_2(world: World, clock: FakeClock) -> None:
    start_meeting(clock)
    record_everything(world)
    first = sign(world)
    first_snapshot, first_digest = first.snapshot, first.digest
    item = items(world)[0]
    user = world.coordinator.user
    with acting_offline([user]):
        with pytest.raises(services.MeetingError, match="say why they are changing"):
            services.record_discussion(user, item, "", "", "Corrected: the alarm is for the back door.")
        db.session.rollback()
        services.record_discussion(
            user, item, "", "", "Corrected: the alarm is for the back door.", change_reason="Housing corrected it"
        )
        # further changes before the chair signs again belong to the same new version, without a new reason
        services.record_discussion(user, item, "", "Stalking", "Corrected: the alarm is for the back door.")
    db.session.commit()
    assert world.meeting.minutes_version == 2
    assert not world.meeting.minutes_signed
    assert [v.version for v in services.minutes_versions(world.meeting)] == [1]  # the pending version is not signed
    second = sign(world)
    assert second.version == 2
    assert world.meeting.signed_version == 2
    assert second.change_reason.endswith("Housing corrected it")
    assert "back door" in second.snapshot
    assert second.digest != first_digest
    db.session.expire_all()
    stored = db.session.scalars(select(MinutesVersion).where(MinutesVersion.version == 1)).one()
    assert stored.snapshot == first_snapshot
    assert stored.digest == first_digest
    assert "back door" not in stored.snapshot
    changes = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "minutes.change")).all()
    assert [c.details["version"] for c in changes] == [2, 2]
    assert all("back door" not in json.dumps(c.details) for c in changes)


def test_same_text_after_sign_off_is_not_a_change(world: World, clock: FakeClock) -> None:
    start_meeting(clock)
    record_everything(world)
    sign(world)
    with acting_offline([world.coordinator.user]):
        services.record_discussion(
            world.coordinator.user, items(world)[0], "She wants to stay in the area", "Escalating threats", MINUTES
        )
    assert world.meeting.minutes_signed
    assert world.meeting.minutes_version == 1


# --- distribution and its deadline ---------------------------------------------------------------------------------


def test_distribution_needs_signed_minutes_and_sends_content_free_messages(world: World, clock: FakeClock) -> None:
    start_meeting(clock)
    record_everything(world)
    user = world.coordinator.user
    with acting_offline([user]), pytest.raises(services.MeetingError, match="Only signed minutes"):
        services.distribute_minutes(user, world.meeting)
    sign(world)
    with acting_offline([user]):
        sent = services.distribute_minutes(user, world.meeting)
        with pytest.raises(services.MeetingError, match="already been distributed"):
            services.distribute_minutes(user, world.meeting)
    messages = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "minutes_distributed")).all()
    assert sent == len(messages)
    assert world.police_rep.user.id in {m.recipient_id for m in messages}
    assert all("door alarm" not in m.body and "door alarm" not in m.subject for m in messages)
    assert world.meeting.distributed_version == 1


def test_minutes_deadline_is_3_working_days_with_an_injected_clock(app: Flask, clock: FakeClock) -> None:
    area = make_area()
    council = make_agency(AgencyKind.LOCAL_AUTHORITY, areas=[area])
    coordinator = make_user(Role.COORDINATOR, agency=council, areas=[area]).user
    chair = make_user(Role.CHAIR, agency=council, areas=[area]).user
    thursday = datetime(2027, 5, 27, 9, 0, tzinfo=UTC)  # 10:00 in London; Monday 31 May is a bank holiday
    meeting = make_meeting(area, thursday)
    assert services.minutes_deadline(meeting) == date(2027, 6, 2)  # Fri 28, Tue 1, Wed 2

    def overdue_on(day: date, hour: int = 12) -> bool:
        clock.current = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
        return services.minutes_overdue(meeting, db.london_today())

    assert not overdue_on(date(2027, 6, 2), 22)  # 23:00 in London on day 3: still in time
    assert overdue_on(date(2027, 6, 2), 23)  # midnight in London: day 4
    assert overdue_on(date(2027, 6, 3))
    with acting_offline([coordinator, chair]):
        services.record_attendance(coordinator, meeting, council, "present", "Coordinator", None)
        services.sign_off_minutes(chair, meeting)
        assert overdue_on(date(2027, 6, 3))  # signed but not sent
        services.distribute_minutes(coordinator, meeting)
        assert not overdue_on(date(2027, 6, 3))
        services.record_attendance(
            coordinator, meeting, council, "present", "Coordinator and deputy", None, change_reason="Deputy attended"
        )
        services.sign_off_minutes(chair, meeting)
        assert overdue_on(date(2027, 6, 4))  # version 2 signed, version 1 was the one sent
        services.distribute_minutes(coordinator, meeting)
        assert not overdue_on(date(2027, 6, 4))


def test_minutes_of_a_future_or_cancelled_meeting_are_never_overdue(world: World) -> None:
    assert not services.minutes_overdue(world.meeting, date(2026, 11, 25))
    world.meeting.status = "cancelled"
    assert not services.minutes_overdue(world.meeting, date(2027, 1, 31))


# --- a case's meeting history --------------------------------------------------------------------------------------


def test_case_history_lists_each_meeting_with_its_actions(world: World, clock: FakeClock) -> None:
    start_meeting(clock)
    user = world.coordinator.user
    with acting_offline([user]):
        action = services.agree_action(
            user,
            items(world)[0],
            agency=world.police,
            owner=None,
            description="Police to review the bail conditions this week",
            due_on=date(2026, 12, 10),
        )
        history = services.case_meeting_history(user, world.cases[0])
    assert [(r.meeting, r.actions) for r in history.meetings] == [
        (world.meeting, [action]),
        (world.earlier, [world.earlier_open, world.earlier_done]),
    ]
    assert all(r.may_open for r in history.meetings)
    assert history.other_actions == []
