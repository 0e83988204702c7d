"""Who reads what of a meeting: each case's discussion only for those who may see the case (not someone on its
must-not-receive list, nor an IDVA or representative with no part in it), minutes only once distributed to member
agencies, meetings for 12 months, and the checks that stop races and odd input."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select

from marac import db
from marac.access import Role, acting_offline
from marac.meetings import services
from marac.meetings.models import Meeting, ResearchRequest
from marac.notify.models import OutboxMessage
from marac.orgs.models import AgencyKind
from marac.sharing.models import MustNotReceive
from tests.conftest import FakeClock
from tests.factories import login_as, make_accepted_case, make_agency, make_area, make_user, post_form
from tests.meetings.test_minutes import MEETING_AT, MINUTES, World, build_world, items, record_everything, start_meeting
from tests.meetings.test_pdfs import squashed


@pytest.fixture
def world(app: Flask) -> World:
    return build_world()


def _bar(case: Any, user: Any) -> None:
    db.session.add(MustNotReceive(case_id=case.id, user_id=user.id))
    db.session.commit()


def _distributed(world: World, clock: FakeClock) -> None:
    start_meeting(clock)
    record_everything(world)
    with acting_offline([world.chair.user, world.coordinator.user]):
        services.sign_off_minutes(world.chair.user, world.meeting)
        services.distribute_minutes(world.coordinator.user, world.meeting)
    db.session.commit()


def test_a_barred_representative_reads_the_minutes_without_that_case(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    _distributed(world, clock)
    barred, other = world.cases
    special = "Police to review bail and fit a tracker before Friday"
    with acting_offline([world.coordinator.user]):
        services.record_discussion(
            world.coordinator.user, items(world)[0], None, None, special, change_reason="Corrected after the meeting"
        )
    db.session.commit()
    _bar(barred, world.police_rep.user)
    login_as(client, world.police_rep, clock)
    correcting = client.get(f"/meetings/{world.meeting.public_id}/minutes")
    assert correcting.status_code == 409  # version 2 is not signed and sent yet: the draft stays with the team
    assert "a correction is waiting for the chair" in correcting.get_data(as_text=True)
    with acting_offline([world.chair.user, world.coordinator.user]):
        services.sign_off_minutes(world.chair.user, world.meeting)
        services.distribute_minutes(world.coordinator.user, world.meeting)
    db.session.commit()
    page = client.get(f"/meetings/{world.meeting.public_id}/minutes").get_data(as_text=True)
    assert "Not shared with you" in page
    assert special not in page
    assert MINUTES in page  # the other case
    pdf = client.get(f"/meetings/{world.meeting.public_id}/minutes.pdf")
    assert pdf.status_code == 200
    assert special.replace(" ", "") not in squashed(pdf.data)
    assert other.reference in squashed(pdf.data)


def test_an_idva_reads_only_their_own_cases_discussion(world: World, app: Flask, clock: FakeClock) -> None:
    _distributed(world, clock)
    idva = make_user(Role.IDVA, agency=world.council, areas=[world.meeting.area])  # the council referred neither
    world.cases[1].assigned_idva_id = idva.user.id
    db.session.commit()
    client = app.test_client()
    login_as(client, idva, clock)
    page = client.get(f"/meetings/{world.meeting.public_id}/minutes").get_data(as_text=True)
    assert page.count("Not shared with you") == 1
    assert page.count(MINUTES) == 1


def test_members_lose_sight_of_a_meeting_twelve_months_on(world: World, client: FlaskClient, clock: FakeClock) -> None:
    _distributed(world, clock)
    clock.current = MEETING_AT + timedelta(days=364)
    login_as(client, world.police_rep, clock)
    assert client.get(f"/meetings/{world.meeting.public_id}").status_code == 200
    clock.current = MEETING_AT + timedelta(days=366)
    login_as(client, world.police_rep, clock)  # a new session: the first has long timed out
    assert client.get(f"/meetings/{world.meeting.public_id}").status_code == 404
    assert client.get(f"/meetings/{world.meeting.public_id}/minutes.pdf").status_code == 404


def test_the_research_pack_leaves_out_a_case_the_reader_is_barred_from(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    barred = world.cases[0]
    request = db.session.scalar(
        select(ResearchRequest).where(
            ResearchRequest.agency_id == world.police.id, ResearchRequest.agenda_item_id == items(world)[0].id
        )
    )
    with acting_offline([world.police_rep.user]):
        services.answer_research(
            world.police_rep.user,
            request,
            facts="Bail conditions breached twice in October",
            opinion=None,
            withheld=None,
            withheld_reason=None,
            nothing_held=False,
        )
    db.session.commit()
    _bar(barred, world.police_rep.user)
    login_as(client, world.police_rep, clock)
    pack = client.get(f"/meetings/{world.meeting.public_id}/research-pack.pdf")
    assert pack.status_code == 200
    text = squashed(pack.data)
    assert "BailconditionsbreachedtwiceinOctober" not in text
    assert barred.reference not in text
    assert world.cases[1].reference in text


def test_a_coordinator_or_chair_barred_from_a_case_cannot_minute_or_sign_it(world: World, clock: FakeClock) -> None:
    start_meeting(clock)
    record_everything(world)
    _bar(world.cases[0], world.chair.user)
    with acting_offline([world.chair.user]):
        problem = services.sign_off_problem(world.chair.user, world.meeting)
    assert problem is not None
    assert "another chair of the area must sign" in problem
    _bar(world.cases[0], world.coordinator.user)
    with acting_offline([world.coordinator.user]), pytest.raises(services.MeetingError, match="another coordinator"):
        services.record_discussion(world.coordinator.user, items(world)[0], None, None, "Changed", change_reason=None)


def test_a_late_addition_is_not_announced_to_someone_barred_from_the_case(world: World, clock: FakeClock) -> None:
    late = make_accepted_case(world.meeting.area)
    _bar(late, world.police_rep.user)
    with acting_offline([world.coordinator.user]):
        services.allocate(world.coordinator.user, world.meeting, late)
    db.session.commit()
    told = db.session.scalars(select(OutboxMessage.recipient_id).where(OutboxMessage.kind == "agenda_late_addition"))
    told_ids = set(told)
    assert world.coordinator.user.id in told_ids
    assert world.police_rep.user.id not in told_ids


def test_odd_numbers_for_a_time_budget_are_refused_not_crashed(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    login_as(client, world.coordinator, clock)
    agenda = f"/meetings/{world.meeting.public_id}/agenda"
    item = items(world)[0]
    for value in ("²", "9" * 5000, "-5", "1e3", ""):
        response = post_form(client, f"{agenda}/{item.public_id}/budget", {"minutes": value}, agenda)
        assert response.status_code == 400, value
        assert "whole number" in response.get_data(as_text=True)


def test_changing_the_pattern_replaces_untouched_meetings_and_keeps_those_with_cases(app: Flask) -> None:
    area = make_area()
    coordinator = make_user(
        Role.COORDINATOR, agency=make_agency(AgencyKind.LOCAL_AUTHORITY, areas=[area]), areas=[area]
    )
    values = {
        "frequency": "weekly",
        "weekday": 2,
        "week_of_month": None,
        "starts_on": date(2026, 11, 30),
        "start_time": time(10, 0),
        "length_minutes": 120,
        "case_limit": 15,
        "minutes_per_case": 10,
        "research_due_days": 2,
        "venue": "",
        "call_details": "",
        "chair": None,
    }
    with acting_offline([coordinator.user]):
        services.save_pattern(coordinator.user, area, values)
        wednesdays = _meetings(area)
        services.allocate(coordinator.user, wednesdays[0], make_accepted_case(area))
        services.save_pattern(coordinator.user, area, {**values, "weekday": 3})
    after = _meetings(area)
    days = {services.to_local(m.starts_at).weekday() for m in after}
    assert days == {2, 3}
    assert sum(services.to_local(m.starts_at).weekday() == 2 for m in after) == 1  # the one with a case stays
    assert wednesdays[0] in after


def _meetings(area: Any) -> list[Meeting]:
    query = select(Meeting).where(Meeting.area_id == area.id).order_by(Meeting.starts_at)
    return list(db.session.scalars(query))


def test_meetings_list_flags_minutes_overdue_and_the_pattern_page_lists_members(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    _distributed(world, clock)
    world.meeting.distributed_at, world.meeting.distributed_version = None, None
    db.session.commit()
    clock.current = MEETING_AT + timedelta(days=6)  # Thursday's minutes were due by Tuesday
    login_as(client, world.coordinator, clock)
    assert "Minutes overdue" in client.get("/meetings").get_data(as_text=True)
    page = client.get(f"/areas/{world.meeting.area.public_id}/meeting-pattern").get_data(as_text=True)
    assert escape(world.police_rep.user.display_name) in page
    assert "No representative" in page  # housing has none
