"""Safeguards from the security review: a match never reveals a stored identity, a late notification is still
escalated, a bad term calendar cannot stop notifications, an acknowledgement is taken once, the acknowledge-by time
follows a late school start, and odd numbers in forms are refused rather than failing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm.attributes import set_committed_value

from marac import db
from marac.audit.models import AuditEvent
from marac.encompass.models import EncompassNotification, SettingClosure
from marac.encompass.services.calendar_import import check_closure
from marac.encompass.services.escalation import escalate_unacknowledged
from marac.encompass.services.receiving import ReceivingError, acknowledge_by_at, acknowledge_notification
from marac.encompass.services.settings import SettingError
from marac.notify.models import Notification
from tests.conftest import FakeClock
from tests.encompass.factories import make_child, make_incident_with_children, make_key_adult, make_lead
from tests.encompass.test_intake import child_input, incident_input, make_world, record
from tests.factories import login_as, post_form


def test_a_match_never_shows_the_stored_persons_newer_name(app: Flask, client: FlaskClient, clock: FakeClock) -> None:
    world = make_world()
    adult = make_key_adult(world.school)
    stored = make_child(given_name="Poppy", family_name="Hargreaves-Lindqvist", date_of_birth=date(2016, 5, 2))
    stored.given_name, stored.family_name = "Poppy", "Hargreaves-Lindqvist"
    db.session.commit()
    # the police know the child by the same name and date of birth; the record was since renamed
    result = record(world.officer.user, incident_input(child_input(world.school.urn)))
    db.session.commit()
    stored.family_name = "Okonkwo-Renamed"
    db.session.commit()
    [child] = result.incident.children
    assert child.person_id == stored.id  # linked for the MARAC case view
    assert child.display_name == "Poppy Hargreaves-Lindqvist"

    login_as(client, world.officer, clock)
    incident_page = client.get(f"/encompass/incidents/{result.incident.public_id}").get_data(as_text=True)
    assert "Hargreaves-Lindqvist" in incident_page
    assert "Okonkwo-Renamed" not in incident_page
    school_client = app.test_client()
    login_as(school_client, adult, clock)
    notification = db.session.scalars(select(EncompassNotification)).one()
    page = school_client.get(f"/encompass/notifications/{notification.public_id}").get_data(as_text=True)
    assert "Hargreaves-Lindqvist" in page
    assert "Okonkwo-Renamed" not in page
    searches = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "person.search")).all()
    assert searches  # the match is audited: the fields used and a count, never the values
    assert all("Poppy" not in str(s.details) for s in searches)


def test_a_notification_sent_weeks_late_is_still_escalated(app: Flask, clock: FakeClock) -> None:
    world = make_world()
    make_key_adult(world.school)
    lead = make_lead(world.authority)
    sent_at = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    make_incident_with_children(
        world.police,
        [(make_child(), world.school)],
        occurred_at=datetime(2026, 10, 1, 19, 0, tzinfo=UTC),
        due_at=datetime(2026, 10, 2, 7, 30, tzinfo=UTC),  # due seven weeks before it was sent
        sent_at=sent_at,
    )
    db.session.commit()
    clock.current = sent_at + timedelta(hours=2, minutes=1)
    assert escalate_unacknowledged() == 1
    told = db.session.scalars(select(Notification.user_id).where(Notification.kind == "encompass_escalation")).all()
    assert told == [lead.user.id]  # no second key adult: the authority's lead


def test_acknowledge_by_is_at_least_an_hour_after_a_late_school_start(app: Flask) -> None:
    starts_at_half_ten = datetime(2026, 11, 26, 10, 30, tzinfo=UTC)  # 10:30 in London in winter
    assert acknowledge_by_at(starts_at_half_ten) == datetime(2026, 11, 26, 11, 30, tzinfo=UTC)
    usual = datetime(2026, 11, 26, 8, 30, tzinfo=UTC)
    assert acknowledge_by_at(usual) == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def test_a_second_acknowledgement_is_refused_even_when_both_saw_it_open(app: Flask) -> None:
    world = make_world()
    first, second = make_key_adult(world.school), make_key_adult(world.school)
    sent = make_incident_with_children(
        world.police,
        [(make_child(), world.school)],
        occurred_at=datetime(2026, 11, 24, 19, 0, tzinfo=UTC),
        due_at=datetime(2026, 11, 25, 8, 30, tzinfo=UTC),
        sent_at=datetime(2026, 11, 24, 21, 0, tzinfo=UTC),
    )
    db.session.commit()
    notification = sent.notifications[0]
    acknowledge_notification(first.user, notification, "Spoke with her at drop-off")
    db.session.commit()
    # as the second key adult's request loaded it, before the first one's acknowledgement was committed
    set_committed_value(notification, "acknowledged_at", None)
    with pytest.raises(ReceivingError):
        acknowledge_notification(second.user, notification, "Also saw her")
    db.session.rollback()
    db.session.expire_all()
    kept = db.session.get(EncompassNotification, notification.id)
    assert kept is not None
    assert kept.acknowledged_by_id == first.user.id
    assert kept.support_note == "Spoke with her at drop-off"


def test_a_holiday_longer_than_ten_weeks_is_refused() -> None:
    today = date(2026, 11, 26)
    assert check_closure("holiday", date(2027, 7, 22), date(2027, 9, 2), "Summer", today).label == "Summer"
    with pytest.raises(SettingError, match="at most 10 weeks"):
        check_closure("holiday", date(2026, 10, 26), date(2027, 10, 30), "Typo", today)


def test_a_calendar_that_closes_everything_does_not_stop_the_notification(app: Flask) -> None:
    world = make_world()
    make_key_adult(world.school)
    db.session.add(  # stored before the length rule (or by hand): closed for two years
        SettingClosure(
            setting_id=world.school.id, kind="holiday", starts_on=date(2026, 1, 1), ends_on=date(2027, 12, 31)
        )
    )
    db.session.commit()
    record(world.officer.user, incident_input(child_input(world.school.urn)))
    notification = db.session.scalars(select(EncompassNotification)).one()
    assert notification.route == "setting"
    assert notification.sent_at is not None
    local = notification.due_at.astimezone(world.school.day_start.tzinfo or UTC)
    assert local.date() == date(2026, 11, 25)  # weekends and bank holidays only: the next morning


@pytest.mark.parametrize("odd", ["²", "1" * 30, "-1", "1.5"])
def test_odd_numbers_in_settings_forms_are_refused_not_failing(
    app: Flask, client: FlaskClient, clock: FakeClock, odd: str
) -> None:
    world = make_world()
    lead = make_lead(world.authority)
    login_as(client, lead, clock)
    setting_page = f"/encompass/settings/{world.school.public_id}"
    added = post_form(client, f"{setting_page}/key-adults", {"key_adult": "", "rank": odd}, form_path=setting_page)
    assert added.status_code in {302, 400}
    calendar = f"{setting_page}/calendar"
    removed = post_form(client, f"{calendar}/remove", {"closure": odd}, form_path=calendar)
    assert removed.status_code == 404
