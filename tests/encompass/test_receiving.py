"""The key adult's view: only their own setting's notifications, everything they need that morning, opening and
acknowledging with a note of the support offered; nothing else in the platform."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from marac import db
from marac.access import Role
from marac.actions.models import Action
from marac.audit.models import AuditEvent
from marac.encompass.models import (
    PARENT_CONTACT_LABELS,
    EducationSetting,
    EncompassAuthority,
    EncompassNotification,
    KeyAdult,
    ParentContact,
)
from marac.orgs.models import Agency, AgencyKind, Area
from marac.people.models import Person
from tests.conftest import FakeClock
from tests.encompass.factories import (
    Sent,
    make_child,
    make_incident_with_children,
    make_key_adult,
    make_local_authority,
    make_setting,
)
from tests.factories import (
    Account,
    csrf_token,
    login_as,
    make_agency,
    make_area,
    make_case,
    make_meeting,
    make_user,
    post_form,
)

TUESDAY_EVENING = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
WEDNESDAY_START = datetime(2026, 11, 25, 8, 30, tzinfo=UTC)  # GMT in November: 08:30 local


@dataclass
class World:
    """Two schools in one local authority, a key adult at each, and one incident with a child at each school."""

    area: Area
    authority: Agency
    police: Agency
    school_a: EducationSetting
    school_b: EducationSetting
    adult_a: Account
    adult_b: Account
    child_a: Person
    child_b: Person
    sent: Sent

    @property
    def notice_a(self) -> EncompassNotification:
        return self.sent.notifications[0]

    @property
    def notice_b(self) -> EncompassNotification:
        return self.sent.notifications[1]


@pytest.fixture
def world(app: object) -> World:
    area = make_area()
    authority = make_local_authority(area)
    police = make_agency(AgencyKind.POLICE, areas=[area])
    school_a = make_setting(authority, "Oakfield Primary School", ParentContact.DO_NOT_CONTACT)
    school_b = make_setting(authority, "Riverside Academy")
    adult_a, adult_b = make_key_adult(school_a), make_key_adult(school_b)
    child_a = make_child(given_name="Maisie", family_name="Thornbury", date_of_birth=date(2017, 3, 14))
    child_b = make_child(given_name="Oliver", family_name="Thornbury", date_of_birth=date(2014, 6, 2))
    sent = make_incident_with_children(
        police,
        [(child_a, school_a), (child_b, school_b)],
        occurred_at=TUESDAY_EVENING,
        due_at=WEDNESDAY_START,
        reference="40012345/26",
    )
    return World(area, authority, police, school_a, school_b, adult_a, adult_b, child_a, child_b, sent)


def _path(notification: EncompassNotification) -> str:
    return f"/encompass/notifications/{notification.public_id}"


def _events(action: str, outcome: str = "success") -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.action == action, AuditEvent.outcome == outcome)
    return list(db.session.scalars(query.order_by(AuditEvent.seq)))


def _fresh(notification: EncompassNotification) -> EncompassNotification:
    db.session.expire_all()
    found = db.session.get(EncompassNotification, notification.id)
    assert found is not None
    return found


def test_key_adult_lists_only_their_own_settings_notification(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    login_as(client, world.adult_a, clock)
    page = client.get("/encompass/notifications").get_data(as_text=True)
    assert "Maisie Thornbury" in page
    assert "Oakfield Primary School" in page
    assert "Oliver Thornbury" not in page
    assert "Riverside Academy" not in page
    assert page.count("govuk-tag--blue") == 1
    assert ">New<" in page
    assert _events("encompass.notification_list")[-1].details == {"n": 1}


def test_key_adult_receives_a_settings_notifications_only_while_working_for_it(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    db.session.add(
        KeyAdult(setting_id=world.school_b.id, user_id=world.adult_a.user.id, rank=1, briefed_on=date(2026, 9, 1))
    )
    db.session.commit()
    login_as(client, world.adult_a, clock)
    page = client.get("/encompass/notifications").get_data(as_text=True)
    assert "Maisie Thornbury" in page
    assert "Oliver Thornbury" not in page  # named at Riverside, but works for Oakfield
    assert client.get(_path(world.notice_b)).status_code == 404

    assert world.school_b.agency_id is not None
    world.adult_a.user.agency_id = world.school_b.agency_id  # moved to Riverside
    db.session.commit()
    page = client.get("/encompass/notifications").get_data(as_text=True)
    assert "Oliver Thornbury" in page
    assert "Maisie Thornbury" not in page  # Oakfield's history stays at Oakfield
    assert client.get(_path(world.notice_a)).status_code == 404
    assert _events("encompass.notification_list")[-1].details == {"n": 1}


def test_notification_page_shows_what_the_key_adult_needs_and_marks_it_opened(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    login_as(client, world.adult_a, clock)
    opened_at = clock()
    page = client.get(_path(world.notice_a)).get_data(as_text=True)
    for expected in (
        "Maisie Thornbury",
        "14 March 2017",
        "40012345/26",
        "24 November 2026, 20:00",
        world.sent.incident.place,
        "In the upstairs bedroom",
        "Said she was scared when the shouting started",
        "Grandmother stayed with the children",
        "Neighbours heard shouting; an adult was arrested",
        PARENT_CONTACT_LABELS[ParentContact.DO_NOT_CONTACT],
        "25 November 2026, 08:30",
        "(on time)",
    ):
        assert expected in page, expected
    assert "Oliver Thornbury" not in page  # the other school's pupil (a staff name may contain "Oliver")
    notice = _fresh(world.notice_a)
    assert (notice.opened_at, notice.opened_by_id) == (opened_at, world.adult_a.user.id)
    clock.advance(minutes=5)
    client.get(_path(world.notice_a))
    assert _fresh(world.notice_a).opened_at == opened_at  # the first view only
    assert [e.object_id for e in _events("encompass.notification_view")] == [world.notice_a.public_id] * 2
    assert ">Opened<" in client.get("/encompass/notifications").get_data(as_text=True)


def test_late_notification_says_it_arrived_late(world: World, client: FlaskClient, clock: FakeClock) -> None:
    world.notice_a.sent_at, world.notice_a.is_late = WEDNESDAY_START + timedelta(minutes=40), True
    db.session.commit()
    login_as(client, world.adult_a, clock)
    page = client.get(_path(world.notice_a)).get_data(as_text=True)
    assert "This notification arrived late" in page
    assert "(late)" in page


def test_another_settings_key_adult_gets_404_and_an_audited_denial(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    login_as(client, world.adult_b, clock)
    response = client.get(_path(world.notice_a))
    assert response.status_code == 404
    assert "Maisie Thornbury" not in response.get_data(as_text=True)
    denials = _events("encompass.notification_view", "denied")
    assert [(d.object_id, d.actor_user_id) for d in denials] == [(world.notice_a.public_id, world.adult_b.user.id)]
    assert _fresh(world.notice_a).opened_at is None


def test_unbriefed_key_adult_and_social_care_of_another_authority_get_404(
    app: Flask, world: World, client: FlaskClient, clock: FakeClock
) -> None:
    unbriefed = make_key_adult(world.school_a, briefed=False)
    login_as(client, unbriefed, clock)
    assert client.get(_path(world.notice_a)).status_code == 404
    assert "Maisie Thornbury" not in client.get("/encompass/notifications").get_data(as_text=True)
    social_care = make_agency(AgencyKind.CHILDRENS_SOCIAL_CARE, areas=[world.area])
    other = make_local_authority(world.area)
    arrangements = db.session.scalar(
        select(EncompassAuthority).where(EncompassAuthority.local_authority_id == other.id)
    )
    assert arrangements is not None
    arrangements.childrens_social_care_id = social_care.id
    db.session.commit()
    other_client = app.test_client()
    login_as(other_client, make_user(Role.KEY_ADULT, agency=social_care), clock)
    assert other_client.get(_path(world.notice_a)).status_code == 404
    assert len(_events("encompass.notification_view", "denied")) == 2


def test_social_care_key_adult_receives_their_authoritys_home_education_notification(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    social_care = make_agency(AgencyKind.CHILDRENS_SOCIAL_CARE, areas=[world.area])
    arrangements = db.session.scalar(
        select(EncompassAuthority).where(EncompassAuthority.local_authority_id == world.authority.id)
    )
    assert arrangements is not None
    arrangements.childrens_social_care_id = social_care.id
    home = make_child(given_name="Ruby", family_name="Ashdown")
    sent = make_incident_with_children(
        world.police,
        [(home, None)],
        occurred_at=TUESDAY_EVENING,
        due_at=WEDNESDAY_START,
        local_authority=world.authority,
        home_educated=True,
    )
    login_as(client, make_user(Role.KEY_ADULT, agency=social_care), clock)
    page = client.get("/encompass/notifications").get_data(as_text=True)
    assert "Ruby Ashdown" in page
    assert "Elective home education" in page
    assert "Maisie Thornbury" not in page
    assert client.get(_path(sent.notifications[0])).status_code == 200
    assert client.get(_path(world.notice_a)).status_code == 404


def test_acknowledging_records_time_and_note_and_audits_without_the_note(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    login_as(client, world.adult_a, clock)
    token = csrf_token(client, _path(world.notice_a))
    note = "Checked in with Maisie at drop-off; class teacher told to watch for tiredness"
    response = client.post(_path(world.notice_a), data={"csrf_token": token, "note": note})
    assert response.status_code == 302
    notice = _fresh(world.notice_a)
    assert notice.acknowledged_at == clock()
    assert notice.acknowledged_by_id == world.adult_a.user.id
    assert notice.support_note == note
    event = _events("encompass.notification_acknowledged")[-1]
    assert event.details == {"note": True}
    assert event.object_id == world.notice_a.public_id
    page = client.get(_path(world.notice_a)).get_data(as_text=True)
    assert "Acknowledged" in page
    assert note in page
    assert 'name="note"' not in page
    assert ">Acknowledged<" in client.get("/encompass/notifications").get_data(as_text=True)

    clock.advance(minutes=3)
    again = client.post(_path(world.notice_a), data={"csrf_token": token, "note": "Second go"})
    assert again.status_code == 400
    assert "This notification has already been acknowledged" in again.get_data(as_text=True)
    notice = _fresh(world.notice_a)
    assert notice.support_note == note
    assert notice.acknowledged_at == clock() - timedelta(minutes=3)
    assert len(_events("encompass.notification_acknowledged")) == 1


def test_a_note_too_long_is_refused_with_a_message_and_nothing_saved(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    login_as(client, world.adult_a, clock)
    response = post_form(client, _path(world.notice_a), {"note": "x" * 2001})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "There is a problem" in page
    assert "must be 2,000 characters or fewer" in page
    notice = _fresh(world.notice_a)
    assert notice.acknowledged_at is None
    assert notice.support_note is None
    assert post_form(client, _path(world.notice_a), {"note": ""}).status_code == 302  # the note is optional
    assert _fresh(world.notice_a).support_note is None


def test_unacknowledged_after_the_acknowledge_by_time_is_tagged_overdue(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    clock.current = datetime(2026, 11, 25, 9, 50, tzinfo=UTC)
    login_as(client, world.adult_a, clock)  # signing in moves the clock 31 seconds
    assert "Not acknowledged in time" not in client.get("/encompass/notifications").get_data(as_text=True)
    clock.current = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert "Not acknowledged in time" in client.get("/encompass/notifications").get_data(as_text=True)


def test_anonymised_notification_says_its_details_were_removed(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    world.notice_a.anonymised_at = datetime(2026, 11, 20, 3, 30, tzinfo=UTC)
    db.session.commit()
    login_as(client, world.adult_a, clock)
    page = client.get(_path(world.notice_a)).get_data(as_text=True)
    assert "This notification's details were removed on 20 November 2026 under the retention policy" in page
    assert "Maisie Thornbury" not in page


def test_key_adult_reaches_nothing_else(world: World, client: FlaskClient, clock: FakeClock) -> None:
    case = make_case(area=world.area, agency=world.police)
    meeting = make_meeting(world.area, clock() + timedelta(days=7))
    action = Action(case_id=case.id, agency_id=world.police.id, due_on=date(2026, 12, 1))
    db.session.add(action)
    db.session.commit()
    login_as(client, world.adult_a, clock)
    paths = [
        "/cases/",
        f"/cases/{case.public_id}",
        f"/cases/{case.public_id}/encompass",
        f"/people/{case.victim.public_id}",
        f"/people/{world.child_a.public_id}",
        "/people/search",
        "/referrals/",
        f"/referrals/{case.public_id}",
        "/meetings",
        f"/meetings/{meeting.public_id}",
        f"/meetings/{meeting.public_id}/agenda",
        "/actions",
        f"/actions/{action.public_id}",
        "/admin/",
        "/admin/users",
        "/audit/",
        "/encompass/monitoring",
        "/encompass/settings",
        "/encompass/incidents/new",
        _path(world.notice_b),
    ]
    answers = {path: client.get(path).status_code for path in paths}
    assert {path: code for path, code in answers.items() if code not in (403, 404)} == {}
    assert answers[_path(world.notice_b)] == 404


def test_home_page_counts_what_the_key_adult_has_to_acknowledge(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    login_as(client, world.adult_a, clock)
    home = client.get("/").get_data(as_text=True)
    assert "1 Operation Encompass notification to read and acknowledge" in home
    assert "Maisie Thornbury" not in home  # a count only: no child on the home page
    notice = _fresh(world.notice_a)
    notice.acknowledged_at = db.utcnow()
    db.session.commit()
    assert "No Operation Encompass notifications waiting for you" in client.get("/").get_data(as_text=True)
    assert 'href="/encompass/notifications"' in client.get("/").get_data(as_text=True)  # the navigation link
