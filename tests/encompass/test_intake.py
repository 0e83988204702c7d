"""Recording incidents: checks per field, matching children to persons, due times per setting calendar, exact
recipients, content-free messages, idempotency, and who reaches the intake pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as clock_time
from typing import Any

import pytest
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import func, select

from marac import db
from marac.access import Role, acting_offline
from marac.audit.models import AuditEvent
from marac.encompass.models import (
    EducationSetting,
    EncompassAuthority,
    EncompassChild,
    EncompassNotification,
    PoliceIncident,
    SettingClosure,
)
from marac.encompass.services.intake import (
    BY_URN,
    HOME_EDUCATED,
    NOT_KNOWN,
    ChildInput,
    IncidentInput,
    IntakeError,
    IntakeResult,
)
from marac.encompass.services.recording import record_incident, record_incidents
from marac.notify.models import Notification, OutboxMessage
from marac.orgs.models import Agency, AgencyKind, Area
from marac.people.models import Person
from tests.conftest import FakeClock
from tests.encompass.factories import make_child, make_key_adult, make_lead, make_local_authority, make_setting
from tests.factories import Account, login_as, make_agency, make_area, make_user, post_form

GIVEN, FAMILY = "Poppy", "Hargreaves-Lindqvist"
REFERENCE = "WM/40417/26"
PLACE = "Bramble Close, Dudley"


@dataclass
class World:
    """An area with a local authority, a police force and one of its officers, and a school."""

    area: Area
    authority: Agency
    police: Agency
    officer: Account
    school: EducationSetting


def make_world() -> World:
    """The usual cast of a test."""
    area = make_area()
    authority = make_local_authority(area)
    police = make_agency(AgencyKind.POLICE, areas=[area])
    officer = make_user(Role.REFERRER, agency=police, areas=[area])
    return World(area, authority, police, officer, make_setting(authority))


def child_input(urn: str = "", **overrides: Any) -> ChildInput:
    """A child at the setting with `urn` (present, spoken to)."""
    values: dict[str, Any] = {
        "given_name": GIVEN,
        "family_name": FAMILY,
        "date_of_birth": date(2016, 5, 2),
        "setting_choice": BY_URN,
        "urn": urn,
        "present": True,
        "location": "Upstairs bedroom",
        "spoken_to": True,
        "child_said": "I hid under the bed",
    }
    return ChildInput(**(values | overrides))


def incident_input(*children: ChildInput, **overrides: Any) -> IncidentInput:
    """An incident on Tuesday 24 November 2026 at 18:00 (UK time) with `children`."""
    values: dict[str, Any] = {
        "police_reference": REFERENCE,
        "occurred_on": date(2026, 11, 24),
        "occurred_time": "18:00",
        "place": PLACE,
        "circumstances": "Neighbours called police after hearing shouting",
        "children": list(children),
    }
    return IncidentInput(**(values | overrides))


def record(actor: Any, data: IncidentInput) -> IntakeResult:
    """Record as the signed-in officer would."""
    with acting_offline([actor]):
        return record_incident(actor, data)


def outbox(kind: str) -> list[OutboxMessage]:
    """Queued messages of a kind, in order."""
    query = select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
    return list(db.session.scalars(query))


def count(model: Any) -> int:
    """Rows of a model."""
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def problems_of(actor: Any, data: IncidentInput) -> list[tuple[str, str]]:
    """The problems recording reports (and checks nothing was written)."""
    before = (count(PoliceIncident), count(EncompassChild), count(Person), count(OutboxMessage))
    with pytest.raises(IntakeError) as caught:
        record(actor, data)
    db.session.rollback()
    assert (count(PoliceIncident), count(EncompassChild), count(Person), count(OutboxMessage)) == before
    return caught.value.problems


def test_records_incident_and_tells_only_briefed_rank_one_key_adults(app: Any) -> None:
    world = make_world()
    first = make_key_adult(world.school, rank=1)
    make_key_adult(world.school, rank=1, briefed=False)
    make_key_adult(world.school, rank=2)

    result = record(
        world.officer.user,
        incident_input(child_input(world.school.urn), occurred_on=date(2026, 11, 25), occurred_time="08:45"),
    )
    db.session.commit()

    assert (result.is_new, result.added, result.already) == (True, 1, 0)
    note = db.session.scalar(select(EncompassNotification))
    assert note is not None
    assert note.route == "setting"
    assert note.setting_id == world.school.id
    assert note.due_at == datetime(2026, 11, 26, 8, 30, tzinfo=UTC)
    assert note.sent_at == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert note.is_late is False
    sent = outbox("encompass_notification")
    assert [m.recipient_id for m in sent] == [first.user.id]
    centre = list(db.session.scalars(select(Notification).where(Notification.kind == "encompass_notification")))
    assert [(n.user_id, n.link) for n in centre] == [(first.user.id, f"/encompass/notifications/{note.public_id}")]
    assert world.school.name in centre[0].text
    assert "26 November 2026 at 08:30" in centre[0].text
    for text in [m.subject + m.body for m in sent] + [centre[0].text]:
        for secret in (GIVEN, FAMILY, REFERENCE, PLACE, "Bramble"):
            assert secret not in text


def test_second_key_adults_are_told_when_no_first_key_adult_is_briefed(app: Any) -> None:
    world = make_world()
    make_key_adult(world.school, rank=1, briefed=False)
    seconds = [make_key_adult(world.school, rank=2), make_key_adult(world.school, rank=2)]
    make_key_adult(world.school, rank=2, briefed=False)

    record(world.officer.user, incident_input(child_input(world.school.urn)))

    assert sorted(m.recipient_id for m in outbox("encompass_notification")) == sorted(a.user.id for a in seconds)


def test_recorded_after_its_due_time_is_sent_and_marked_late(app: Any) -> None:
    world = make_world()
    make_key_adult(world.school)

    record(world.officer.user, incident_input(child_input(world.school.urn)))  # Tuesday 18:00

    note = db.session.scalar(select(EncompassNotification))
    assert note is not None
    assert note.due_at == datetime(2026, 11, 25, 8, 30, tzinfo=UTC)
    assert note.is_late is True
    assert note.sent_at == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert len(outbox("encompass_notification")) == 1


def test_friday_evening_before_a_training_day_is_due_tuesday(app: Any) -> None:
    world = make_world()
    make_key_adult(world.school)
    late_start = make_setting(world.authority)
    late_start.day_start = clock_time(8, 50)
    make_key_adult(late_start)
    db.session.add(SettingClosure(setting_id=world.school.id, kind="training_day", starts_on=date(2026, 11, 23),
                                  ends_on=date(2026, 11, 23), label="INSET"))  # fmt: skip
    db.session.commit()

    friday = incident_input(
        child_input(world.school.urn),
        child_input(late_start.urn, given_name="Idris", date_of_birth=date(2012, 1, 9)),
        occurred_on=date(2026, 11, 20),
    )
    record(world.officer.user, friday)

    due = {n.setting_id: n.due_at for n in db.session.scalars(select(EncompassNotification))}
    assert due == {
        world.school.id: datetime(2026, 11, 24, 8, 30, tzinfo=UTC),
        late_start.id: datetime(2026, 11, 23, 8, 50, tzinfo=UTC),
    }


def test_scottish_setting_is_not_due_on_st_andrews_day(app: Any, clock: FakeClock) -> None:
    clock.current = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    world = make_world()
    scottish = make_setting(world.authority)
    scottish.nation = "scotland"
    db.session.commit()
    for setting in (world.school, scottish):
        make_key_adult(setting)
    friday = incident_input(
        child_input(world.school.urn),
        child_input(scottish.urn, given_name="Morag", date_of_birth=date(2011, 7, 7)),
        occurred_on=date(2026, 11, 27),
    )
    record(world.officer.user, friday)

    due = {n.setting_id: n.due_at for n in db.session.scalars(select(EncompassNotification))}
    assert due == {
        world.school.id: datetime(2026, 11, 30, 8, 30, tzinfo=UTC),
        scottish.id: datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
    }


def test_recording_again_adds_only_new_children_and_keeps_the_incident_details(app: Any) -> None:
    world = make_world()
    make_key_adult(world.school)
    record(world.officer.user, incident_input(child_input(world.school.urn)))
    db.session.commit()

    again = record(world.officer.user, incident_input(child_input(world.school.urn), place="Somewhere else"))
    assert (again.is_new, again.added, again.already) == (False, 0, 1)
    assert (count(PoliceIncident), count(EncompassChild), len(outbox("encompass_notification"))) == (1, 1, 1)

    sibling = child_input(world.school.urn, given_name="Jasper", date_of_birth=date(2013, 2, 2))
    third = record(world.officer.user, incident_input(child_input(world.school.urn), sibling))
    assert [c.status for c in third.children] == ["already recorded", "added"]
    assert (count(PoliceIncident), count(EncompassChild), len(outbox("encompass_notification"))) == (1, 2, 2)
    incident = db.session.scalar(select(PoliceIncident))
    assert incident is not None
    assert incident.place == PLACE


def test_same_reference_at_another_force_is_another_incident(app: Any) -> None:
    world = make_world()
    make_key_adult(world.school)
    other_officer = make_user(Role.REFERRER, agency=make_agency(AgencyKind.POLICE, areas=[world.area]))
    record(world.officer.user, incident_input(child_input(world.school.urn)))
    record(other_officer.user, incident_input(child_input(world.school.urn)))
    assert count(PoliceIncident) == 2


def test_child_is_matched_to_an_existing_person_with_the_same_date_of_birth(app: Any) -> None:
    world = make_world()
    make_key_adult(world.school)
    known = make_child(given_name=GIVEN, family_name=FAMILY, date_of_birth=date(2016, 5, 2))
    persons = count(Person)

    other_dob = child_input(world.school.urn, date_of_birth=date(2015, 5, 2))
    record(world.officer.user, incident_input(child_input(world.school.urn), other_dob))

    person_ids = list(db.session.scalars(select(EncompassChild.person_id).order_by(EncompassChild.id)))
    assert person_ids[0] == known.id
    assert person_ids[1] != known.id
    assert count(Person) == persons + 1


def test_home_educated_child_goes_to_childrens_social_care_key_adults(app: Any) -> None:
    world = make_world()
    care = make_agency(AgencyKind.CHILDRENS_SOCIAL_CARE, areas=[world.area])
    arrangement = db.session.scalar(
        select(EncompassAuthority).where(EncompassAuthority.local_authority_id == world.authority.id)
    )
    assert arrangement is not None
    arrangement.childrens_social_care_id = care.id
    db.session.commit()
    care_key_adult = make_user(Role.KEY_ADULT, agency=care)
    make_user(Role.REFERRER, agency=care)

    ehe = child_input(setting_choice=HOME_EDUCATED, local_authority_id=world.authority.id)
    record(world.officer.user, incident_input(ehe))

    note = db.session.scalar(select(EncompassNotification))
    assert note is not None
    assert (note.route, note.local_authority_id) == ("home_education", world.authority.id)
    assert [m.recipient_id for m in outbox("encompass_notification")] == [care_key_adult.user.id]


def test_unknown_setting_is_unresolved_and_leads_are_told_without_child_details(app: Any) -> None:
    world = make_world()
    authority_lead = make_lead(world.authority)
    force_lead = make_user(Role.ENCOMPASS_LEAD, agency=world.police, areas=[world.area])
    make_lead(make_local_authority())  # another authority's lead

    unknown = child_input(setting_choice=NOT_KNOWN, local_authority_id=world.authority.id)
    record(world.officer.user, incident_input(unknown))

    note = db.session.scalar(select(EncompassNotification))
    assert note is not None
    assert (note.route, note.sent_at) == ("unresolved", None)
    assert note.due_at == datetime(2026, 11, 25, 8, 30, tzinfo=UTC)
    assert outbox("encompass_notification") == []
    alerts = outbox("encompass_unresolved")
    assert sorted(m.recipient_id for m in alerts) == sorted([authority_lead.user.id, force_lead.user.id])
    texts = db.session.scalars(select(Notification.text_enc).where(Notification.kind == "encompass_unresolved"))
    assert len(list(texts)) == 2
    for message in alerts:
        assert GIVEN not in message.body
        assert REFERENCE not in message.subject + message.body


def test_setting_without_a_briefed_key_adult_is_unresolved(app: Any) -> None:
    world = make_world()
    make_key_adult(world.school, briefed=False)

    record(world.officer.user, incident_input(child_input(world.school.urn)))

    note = db.session.scalar(select(EncompassNotification))
    assert note is not None
    assert (note.route, note.setting_id) == ("unresolved", None)
    child = db.session.scalar(select(EncompassChild))
    assert child is not None
    assert child.setting_id == world.school.id
    assert outbox("encompass_notification") == []


def test_each_bad_field_gets_its_own_message_and_nothing_is_saved(app: Any) -> None:
    world = make_world()
    make_key_adult(world.school)
    nineteen = child_input(world.school.urn, given_name="Ola", date_of_birth=date(2007, 1, 1))
    bad = incident_input(
        child_input("999999"),
        nineteen,
        child_input(setting_choice=NOT_KNOWN, local_authority_id=make_local_authority().id),
        child_input(world.school.urn, given_name="", present=None, spoken_to=None, date_of_birth=date(2023, 1, 1)),
        police_reference="WM 40417 26!",
        place="x" * 201,
        circumstances="y" * 2001,
    )
    problems = dict(problems_of(world.officer.user, bad))
    assert problems == {
        "police_reference": "The police reference must be 40 characters or fewer: letters, digits, / and -",
        "place": "The place must be 200 characters or fewer",
        "circumstances": "The circumstances must be 2,000 characters or fewer",
        "children-1-urn": "Child 1: no setting has URN 999999",
        "children-2-date_of_birth": "Child 2: date of birth gives age 19 on the incident date: Operation Encompass "
        "covers reception to 17",
        "children-3-local_authority_id": "Child 3: choose the local authority where the child lives",
        "children-4-given_name": "Child 4: enter the child's given name",
        "children-4-date_of_birth": "Child 4: date of birth gives age 3 on the incident date: Operation Encompass "
        "covers reception to 17",
        "children-4-present": "Child 4: say whether the child was present",
        "children-4-spoken_to": "Child 4: say whether the child was spoken to",
    }


def test_incident_time_must_be_past_and_within_a_year(app: Any) -> None:
    world = make_world()
    make_key_adult(world.school)
    child = child_input(world.school.urn)
    future = problems_of(
        world.officer.user, incident_input(child, occurred_on=date(2026, 11, 25), occurred_time="09:01")
    )
    assert future == [("occurred_time", "The incident date and time must not be in the future")]
    old = problems_of(world.officer.user, incident_input(child, occurred_on=date(2025, 11, 24)))
    assert old == [("occurred_on", "The incident must be within the last year")]
    missing = problems_of(world.officer.user, incident_input(child, occurred_on=None, occurred_time="6pm"))
    assert [key for key, _ in missing] == ["occurred_on", "occurred_time"]
    none = problems_of(world.officer.user, incident_input())
    assert none == [("children", "Add at least one child")]
    many = problems_of(world.officer.user, incident_input(*[child] * 13))
    assert many == [("children", "Record at most 12 children on one incident")]


def test_only_police_officers_record(app: Any) -> None:
    world = make_world()
    health_referrer = make_user(Role.REFERRER, agency=make_agency(AgencyKind.HEALTH, areas=[world.area]))
    with pytest.raises(PermissionError):
        record(health_referrer.user, incident_input(child_input(world.school.urn)))


def test_audit_holds_counts_only(app: Any) -> None:
    world = make_world()
    make_key_adult(world.school)
    record(world.officer.user, incident_input(child_input(world.school.urn)))
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "encompass.incident_record"))
    assert event is not None
    assert event.details == {"new": True, "added": 1, "already": 0}
    for details in db.session.scalars(select(AuditEvent.details)):
        flat = str(details)
        assert all(secret not in flat for secret in (GIVEN, FAMILY, REFERENCE, PLACE))


# --- pages ---------------------------------------------------------------------------------------------------------


def form_data(world: World, **overrides: Any) -> dict[str, Any]:
    """The incident form as a browser would post it, with one child at the world's school."""
    data: dict[str, Any] = {
        "police_reference": REFERENCE,
        "occurred_on": ["24", "11", "2026"],
        "occurred_time": "18:00",
        "place": PLACE,
        "circumstances": "Neighbours called police after hearing shouting",
        "children-0-given_name": GIVEN,
        "children-0-family_name": FAMILY,
        "children-0-date_of_birth": ["2", "5", "2016"],
        "children-0-setting_choice": BY_URN,
        "children-0-urn": world.school.urn,
        "children-0-local_authority_id": "",
        "children-0-present": "yes",
        "children-0-location": "Upstairs",
        "children-0-spoken_to": "no",
        "children-0-child_said": "",
        "children-0-other_adult": "",
        "submit": "Record the incident",
    }
    return data | overrides


NEW = "/encompass/incidents/new"


def test_form_records_and_shows_the_incident_to_its_force(app: Any, client: FlaskClient, clock: FakeClock) -> None:
    world = make_world()
    make_key_adult(world.school)
    login_as(client, world.officer, clock)

    response = post_form(client, NEW, form_data(world))

    assert response.status_code == 302
    incident = db.session.scalar(select(PoliceIncident))
    assert incident is not None
    assert response.headers["Location"] == f"/encompass/incidents/{incident.public_id}"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"{GIVEN} {FAMILY}" in page
    assert escape(world.school.name) in page
    assert "Sent late" in page
    listing = client.get("/encompass/incidents").get_data(as_text=True)
    assert REFERENCE in listing
    assert GIVEN not in listing
    assert "Sent late" in listing
    viewed = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "encompass.incident_view"))
    assert viewed is not None
    assert viewed.object_id == incident.public_id
    assert viewed.outcome == "success"


def test_form_with_bad_input_answers_400_with_messages_and_saves_nothing(
    app: Any, client: FlaskClient, clock: FakeClock
) -> None:
    world = make_world()
    login_as(client, world.officer, clock)
    data = form_data(world, **{"children-0-urn": "999999", "occurred_on": ["31", "2", "2026"], "police_reference": ""})

    response = post_form(client, NEW, data)

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "There is a problem" in page
    assert "Child 1: no setting has URN 999999" in page
    assert "Enter the police reference" in page
    assert "Enter the incident date as a real date" in page
    assert count(PoliceIncident) == 0
    assert count(EncompassChild) == 0


def test_add_another_child_and_remove_rerender_without_saving(app: Any, client: FlaskClient, clock: FakeClock) -> None:
    world = make_world()
    login_as(client, world.officer, clock)
    data = form_data(world)
    del data["submit"]

    added = post_form(client, NEW, data | {"add_child": "Add another child"})
    page = added.get_data(as_text=True)
    assert added.status_code == 200
    assert "Child 2" in page
    assert 'name="children-1-given_name"' in page
    assert f'value="{GIVEN}"' in page

    removed = post_form(client, NEW, data | {"children-1-given_name": "Jasper", "remove_child": "children-0"})
    page = removed.get_data(as_text=True)
    assert removed.status_code == 200
    assert 'value="Jasper"' in page
    assert f'value="{GIVEN}"' not in page
    assert "Child 2" not in page
    assert count(PoliceIncident) == 0


def test_another_forces_officer_gets_404_and_a_denial_is_audited(
    app: Any, client: FlaskClient, clock: FakeClock
) -> None:
    world = make_world()
    make_key_adult(world.school)
    record(world.officer.user, incident_input(child_input(world.school.urn)))
    db.session.commit()
    incident = db.session.scalar(select(PoliceIncident))
    assert incident is not None
    stranger = make_user(Role.REFERRER, agency=make_agency(AgencyKind.POLICE, areas=[world.area]))
    login_as(client, stranger, clock)

    response = client.get(f"/encompass/incidents/{incident.public_id}")

    assert response.status_code == 404
    assert GIVEN not in response.get_data(as_text=True)
    denied = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "encompass.incident_view", AuditEvent.outcome == "denied")
    )
    assert denied is not None
    assert denied.object_id == incident.public_id
    assert REFERENCE not in client.get("/encompass/incidents").get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [NEW, "/encompass/incidents/import", "/encompass/incidents/import/template.csv", "/encompass/incidents",
     "/encompass/unresolved"],
)  # fmt: skip
def test_key_adult_gets_403_on_every_intake_page(app: Any, client: FlaskClient, clock: FakeClock, path: str) -> None:
    world = make_world()
    login_as(client, make_key_adult(world.school), clock)
    assert client.get(path).status_code == 403
    if path in (NEW, "/encompass/incidents/import"):
        assert client.post(path, data={}).status_code in (400, 403)  # 400 when the CSRF check answers first


def test_health_referrer_gets_403_on_the_intake_pages(app: Any, client: FlaskClient, clock: FakeClock) -> None:
    world = make_world()
    login_as(client, make_user(Role.REFERRER, agency=make_agency(AgencyKind.HEALTH, areas=[world.area])), clock)
    assert client.get(NEW).status_code == 403
    denied = db.session.scalar(select(AuditEvent).where(AuditEvent.object_id == "encompass.new_incident"))
    assert denied is not None
    assert denied.outcome == "denied"


def test_a_batch_is_recorded_whole_or_not_at_all(app: Any) -> None:
    world = make_world()
    make_key_adult(world.school)
    good = incident_input(child_input(world.school.urn))
    bad = incident_input(child_input("999999"), police_reference="WM/2/26")
    with acting_offline([world.officer.user]):
        with pytest.raises(IntakeError) as caught:
            record_incidents(world.officer.user, [good, bad])
        assert caught.value.problems == [
            ("incidents-2-children-1-urn", "Incident 2: Child 1: no setting has URN 999999")
        ]
        assert count(PoliceIncident) == 0
        results = record_incidents(world.officer.user, [good, good])
    assert [(r.added, r.already) for r in results] == [(1, 0), (0, 1)]
    assert len(outbox("encompass_notification")) == 1
