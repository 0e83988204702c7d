"""Meeting patterns, generated meetings, moving and cancelling, research due times and calendar invites."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from icalendar import Calendar
from sqlalchemy import select

from marac import db
from marac.access import Role, acting_offline
from marac.audit.models import AuditEvent
from marac.meetings import services
from marac.meetings.models import Frequency, ItemStatus, Meeting, MeetingPattern
from marac.notify.models import OutboxMessage
from marac.orgs.models import AgencyKind
from tests.conftest import FakeClock
from tests.factories import (
    login_as,
    make_accepted_case,
    make_agency,
    make_area,
    make_meeting,
    make_user,
    post_form,
)


def _pattern(frequency: Frequency, weekday: int = 2, week: int | None = 1, starts_on: date = date(2026, 11, 1)) -> Any:
    return MeetingPattern(
        area_id=0,
        frequency=frequency.value,
        weekday=weekday,
        week_of_month=week,
        starts_on=starts_on,
        start_time=time(10, 0),
    )


def test_monthly_pattern_gives_the_nth_weekday_and_the_last() -> None:
    first_wednesday = _pattern(Frequency.MONTHLY, weekday=2, week=1)
    assert services.pattern_dates(first_wednesday, date(2026, 11, 1), date(2027, 1, 31)) == [
        date(2026, 11, 4),
        date(2026, 12, 2),
        date(2027, 1, 6),
    ]
    last_friday = _pattern(Frequency.MONTHLY, weekday=4, week=5)
    assert services.pattern_dates(last_friday, date(2026, 11, 1), date(2026, 12, 31)) == [
        date(2026, 11, 27),
        date(2026, 12, 25),
    ]


def test_fortnightly_counts_weeks_from_the_start_and_daily_skips_weekends_and_bank_holidays() -> None:
    fortnightly = _pattern(Frequency.FORTNIGHTLY, weekday=1, starts_on=date(2026, 11, 3))
    assert services.pattern_dates(fortnightly, date(2026, 11, 1), date(2026, 12, 10)) == [
        date(2026, 11, 3),
        date(2026, 11, 17),
        date(2026, 12, 1),
    ]
    daily = _pattern(Frequency.DAILY)
    days = services.pattern_dates(daily, date(2026, 12, 24), date(2026, 12, 31))
    # 25 Dec (Fri) and 28 Dec (Mon, Boxing Day substitute) are bank holidays; 26-27 are the weekend.
    assert days == [date(2026, 12, 24), date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31)]


def test_local_times_follow_the_clock_change_and_research_is_due_working_days_before() -> None:
    assert services.local_to_utc(date(2026, 7, 1), time(10, 0)) == datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert services.local_to_utc(date(2026, 12, 1), time(10, 0)) == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    monday = services.local_to_utc(date(2026, 11, 30), time(10, 0))
    assert services.research_due(monday, 2) == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # the Thursday before
    after_bank_holiday = services.local_to_utc(date(2026, 12, 29), time(10, 0))  # Tue after Christmas
    assert services.research_due(after_bank_holiday, 1) == datetime(2026, 12, 24, 10, 0, tzinfo=UTC)


def _coordinator(area: Any) -> Any:
    agency = make_agency(AgencyKind.LOCAL_AUTHORITY, areas=[area])
    return make_user(Role.COORDINATOR, agency=agency, areas=[area])


def _pattern_form(**overrides: Any) -> dict[str, Any]:
    return {
        "frequency": "monthly",
        "weekday": "2",
        "week_of_month": "1",
        "starts_on": ["1", "12", "2026"],
        "start_time": "10:00",
        "length_minutes": "180",
        "case_limit": "15",
        "minutes_per_case": "10",
        "research_due_days": "2",
        "venue": "Civic Centre, room 4",
        "call_details": "",
        "chair": "",
        **overrides,
    }


def test_saving_a_pattern_generates_three_months_of_meetings_once(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    area = make_area()
    coordinator = _coordinator(area)
    login_as(client, coordinator, clock)
    path = f"/areas/{area.public_id}/meeting-pattern"
    response = post_form(client, path, _pattern_form())
    assert response.status_code == 302, response.get_data(as_text=True)
    starts = [to.date() for to in _local_starts(area)]
    assert starts == [date(2026, 12, 2), date(2027, 1, 6), date(2027, 2, 3)]
    assert post_form(client, path, _pattern_form()).status_code == 302
    assert len(_local_starts(area)) == 3  # saving again adds no duplicates
    page = client.get("/meetings").get_data(as_text=True)
    assert "Wed 2 Dec 2026, 10:00" in page
    assert "Agenda being built" in page


def _local_starts(area: Any) -> list[datetime]:
    meetings = db.session.scalars(select(Meeting).where(Meeting.area_id == area.id).order_by(Meeting.starts_at))
    return [services.to_local(m.starts_at) for m in meetings]


def test_pattern_refuses_bad_times_and_another_areas_chair(app: Flask, client: FlaskClient, clock: FakeClock) -> None:
    area, other = make_area(), make_area()
    coordinator = _coordinator(area)
    chair = make_user(Role.CHAIR, agency=make_agency(areas=[other]), areas=[other])
    login_as(client, coordinator, clock)
    path = f"/areas/{area.public_id}/meeting-pattern"
    response = post_form(client, path, _pattern_form(start_time="25:00", length_minutes="nine"))
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Enter a time in 24-hour format" in page
    assert "Length in minutes must be a whole number from 30 to 600" in page
    with acting_offline([coordinator.user]), pytest.raises(services.MeetingError, match="active chair in this area"):
        services.save_pattern(
            coordinator.user,
            area,
            {
                "frequency": "weekly",
                "weekday": 1,
                "week_of_month": None,
                "starts_on": date(2026, 12, 1),
                "start_time": time(9, 30),
                "length_minutes": 120,
                "case_limit": 15,
                "minutes_per_case": 10,
                "research_due_days": 2,
                "venue": "",
                "call_details": "",
                "chair": chair.user,
            },
        )
    assert db.session.scalar(select(Meeting).where(Meeting.area_id == area.id)) is None


def test_another_areas_coordinator_gets_404_and_a_denial(app: Flask, client: FlaskClient, clock: FakeClock) -> None:
    area, other = make_area(), make_area()
    meeting = make_meeting(area, datetime(2026, 12, 2, 10, 0, tzinfo=UTC))
    login_as(client, _coordinator(other), clock)
    for path in (
        f"/meetings/{meeting.public_id}",
        f"/meetings/{meeting.public_id}/agenda",
        f"/meetings/{meeting.public_id}/move",
        f"/meetings/{meeting.public_id}/invite.ics",
        f"/areas/{area.public_id}/meeting-pattern",
    ):
        assert client.get(path).status_code == 404, path
    denials = db.session.scalars(select(AuditEvent).where(AuditEvent.outcome == "denied")).all()
    assert {e.object_id for e in denials} >= {meeting.public_id, area.public_id}


def _published_meeting(area: Any, coordinator: Any) -> tuple[Meeting, Any]:
    police = make_agency(AgencyKind.POLICE, areas=[area])
    rep = make_user(Role.AGENCY_REP, agency=police, areas=[area])
    meeting = make_meeting(area, datetime(2026, 12, 2, 10, 0, tzinfo=UTC))
    case = make_accepted_case(area)
    with acting_offline([coordinator.user]):
        services.allocate(coordinator.user, meeting, case)
        services.publish_agenda(coordinator.user, meeting)
    db.session.commit()
    return meeting, rep


def test_moving_a_published_meeting_sends_an_updated_invite(app: Flask, client: FlaskClient, clock: FakeClock) -> None:
    area = make_area()
    coordinator = _coordinator(area)
    meeting, rep = _published_meeting(area, coordinator)
    login_as(client, coordinator, clock)
    path = f"/meetings/{meeting.public_id}/move"
    form = {
        "day": ["3", "12", "2026"],
        "start_time": "14:00",
        "length_minutes": "120",
        "venue": "Town Hall",
        "call_details": "",
        "reason": "",
    }
    response = post_form(client, path, form)
    assert response.status_code == 400
    assert "Enter why the meeting is moving" in response.get_data(as_text=True)
    assert post_form(client, path, {**form, "reason": "Room unavailable"}).status_code == 302
    db.session.expire_all()
    assert services.to_local(meeting.starts_at) == datetime(
        2026, 12, 3, 14, 0, tzinfo=services.to_local(meeting.starts_at).tzinfo
    )
    assert meeting.moved_from == datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    assert meeting.sequence == 1
    moved = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "meeting_moved", OutboxMessage.recipient_id == rep.user.id)
    ).one()
    invite = Calendar.from_ical(moved.attachment)
    event = invite.walk("VEVENT")[0]
    assert int(event["SEQUENCE"]) == 1
    assert event["UID"] == f"{meeting.public_id}@marac"
    assert event.decoded("DTSTART") == datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    assert meeting.items[0].case.reference.encode() not in moved.attachment
    # A pattern save afterwards does not recreate a meeting on the date it moved from.
    with acting_offline([coordinator.user]):
        pattern_values = {
            "frequency": "monthly",
            "weekday": 2,
            "week_of_month": 1,
            "starts_on": date(2026, 12, 1),
            "start_time": time(10, 0),
            "length_minutes": 180,
            "case_limit": 15,
            "minutes_per_case": 10,
            "research_due_days": 2,
            "venue": "",
            "call_details": "",
            "chair": None,
        }
        services.save_pattern(coordinator.user, area, pattern_values)
    starts = [s.date() for s in _local_starts(area)]
    assert date(2026, 12, 2) not in starts


def test_cancelling_a_meeting_returns_its_cases_to_the_waiting_list(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    area = make_area()
    coordinator = _coordinator(area)
    meeting, rep = _published_meeting(area, coordinator)
    case = meeting.items[0].case
    login_as(client, coordinator, clock)
    path = f"/meetings/{meeting.public_id}/cancel"
    assert post_form(client, path, {"reason": ""}).status_code == 400
    assert post_form(client, path, {"reason": "Chair unavailable"}).status_code == 302
    db.session.expire_all()
    assert meeting.is_cancelled
    assert meeting.items[0].status == ItemStatus.DEFERRED.value
    with acting_offline([coordinator.user]):
        assert case in services.awaiting_allocation(coordinator.user, area.id)
    sent = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "meeting_cancelled")).all()
    assert rep.user.id in {m.recipient_id for m in sent}
    assert all(m.subject.startswith("OFFICIAL-SENSITIVE") for m in sent)
    assert b"METHOD:CANCEL" in sent[0].attachment
    # A cancelled meeting can't be changed again, nor take cases.
    assert post_form(client, path, {"reason": "Again"}, form_path="/meetings").status_code == 400


def test_the_calendar_invite_downloads_with_no_case_content(app: Flask, client: FlaskClient, clock: FakeClock) -> None:
    area = make_area()
    coordinator = _coordinator(area)
    meeting, rep = _published_meeting(area, coordinator)
    login_as(client, rep, clock)
    response = client.get(f"/meetings/{meeting.public_id}/invite.ics")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    body = response.get_data()
    assert b"BEGIN:VEVENT" in body
    assert meeting.items[0].case.reference.encode() not in body
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "meeting.invite")) is not None
