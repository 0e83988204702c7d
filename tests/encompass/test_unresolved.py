"""The unresolved queue: children whose setting is not known wait, visible as overdue, for a lead of their local
authority or an officer of the recording force to name the setting; the notification then goes at once."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from marac import db
from marac.access import Role
from marac.audit.models import AuditEvent
from marac.encompass.models import EncompassNotification
from marac.encompass.services.intake import NOT_KNOWN
from marac.orgs.models import AgencyKind
from tests.conftest import FakeClock
from tests.encompass.factories import make_key_adult, make_lead, make_setting
from tests.encompass.test_intake import FAMILY, GIVEN, World, child_input, incident_input, make_world, outbox, record
from tests.factories import login_as, make_agency, make_user, post_form


def unresolved_child(world: World, **overrides: Any) -> EncompassNotification:
    """Record an incident (Wednesday 25 November 2026, 08:00) with one child whose setting is not known."""
    child = child_input(setting_choice=NOT_KNOWN, local_authority_id=world.authority.id)
    record(
        world.officer.user, incident_input(child, occurred_on=date(2026, 11, 25), occurred_time="08:00", **overrides)
    )
    db.session.commit()
    note = db.session.scalar(select(EncompassNotification))
    assert note is not None
    assert note.route == "unresolved"
    return note


def test_queue_shows_initials_and_age_and_marks_overdue(app: Any, client: FlaskClient, clock: FakeClock) -> None:
    world = make_world()
    note = unresolved_child(world)
    lead = make_lead(world.authority)
    login_as(client, lead, clock)

    page = client.get("/encompass/unresolved").get_data(as_text=True)
    assert "PH, age 10" in page
    assert "WM/40417/26" in page
    assert "Setting not known" in page
    assert GIVEN not in page
    assert FAMILY not in page
    assert "Overdue" in page
    assert "less than an hour" in page  # due 08:30 UTC, now 09:00

    clock.current = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    note.due_at = datetime(2026, 11, 26, 8, 30, tzinfo=UTC)
    db.session.commit()
    assert "Overdue" not in client.get("/encompass/unresolved").get_data(as_text=True)


def test_queue_is_scoped_to_the_authority_and_the_recording_force(
    app: Any, client: FlaskClient, clock: FakeClock
) -> None:
    world = make_world()
    note = unresolved_child(world)
    other_force = make_user(Role.REFERRER, agency=make_agency(AgencyKind.POLICE, areas=[world.area]))
    login_as(client, other_force, clock)

    assert "WM/40417/26" not in client.get("/encompass/unresolved").get_data(as_text=True)
    assert client.get(f"/encompass/unresolved/{note.public_id}").status_code == 404
    denied = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "encompass.resolve", AuditEvent.outcome == "denied")
    )
    assert denied is not None
    assert denied.object_id == note.public_id

    officer = app.test_client()
    login_as(officer, world.officer, clock)
    assert "WM/40417/26" in officer.get("/encompass/unresolved").get_data(as_text=True)
    assert officer.get(f"/encompass/unresolved/{note.public_id}").status_code == 200


def test_resolving_sends_to_the_key_adult_with_due_time_for_that_setting(
    app: Any, client: FlaskClient, clock: FakeClock
) -> None:
    world = make_world()
    note = unresolved_child(world)
    key_adult = make_key_adult(world.school)
    lead = make_lead(world.authority)
    login_as(client, lead, clock)
    path = f"/encompass/unresolved/{note.public_id}"

    response = post_form(client, path, {"urn": world.school.urn})

    assert response.status_code == 302
    db.session.expire_all()
    resolved = db.session.get(EncompassNotification, note.id)
    assert resolved is not None
    assert (resolved.route, resolved.setting_id) == ("setting", world.school.id)
    assert resolved.due_at == datetime(2026, 11, 25, 8, 30, tzinfo=UTC)  # still due when it was due
    assert resolved.is_late is True
    assert resolved.sent_at == clock()
    assert [m.recipient_id for m in outbox("encompass_notification")] == [key_adult.user.id]
    assert resolved.child.setting_id == world.school.id
    assert "WM/40417/26" not in client.get("/encompass/unresolved").get_data(as_text=True)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "encompass.resolve"))
    assert event is not None
    assert event.details == {"late": True}


def test_resolving_with_a_bad_urn_answers_400_and_sends_nothing(
    app: Any, client: FlaskClient, clock: FakeClock
) -> None:
    world = make_world()
    note = unresolved_child(world)
    unbriefed = make_setting(world.authority)
    make_key_adult(unbriefed, briefed=False)
    login_as(client, world.officer, clock)
    path = f"/encompass/unresolved/{note.public_id}"

    unknown = post_form(client, path, {"urn": "999999"})
    assert unknown.status_code == 400
    assert "No setting has URN 999999" in unknown.get_data(as_text=True)
    nobody = post_form(client, path, {"urn": unbriefed.urn})
    assert nobody.status_code == 400
    assert "has no briefed key adult" in nobody.get_data(as_text=True)
    empty = post_form(client, path, {"urn": ""})
    assert empty.status_code == 400
    assert "Enter the setting&#39;s URN" in empty.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(EncompassNotification, note.id).route == "unresolved"  # type: ignore[union-attr]
    assert outbox("encompass_notification") == []
