"""Recording a batch of incidents in a few statements gives what recording them one by one gives: one person for a
child named twice, a repeated reference adding to the first, a mixed batch routed per child, one audit event of each
kind per incident on an intact chain, and two intakes of the same incident at once adding each child once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from marac import audit, db
from marac.access import acting_offline
from marac.audit.models import AuditEvent
from marac.auth.models import User
from marac.encompass.models import EncompassChild, EncompassNotification, PoliceIncident
from marac.encompass.services.intake import HOME_EDUCATED, NOT_KNOWN
from marac.encompass.services.recording import record_incidents
from marac.people.models import Person
from tests.encompass.factories import make_key_adult, make_setting
from tests.encompass.test_intake import child_input, count, incident_input, make_world, outbox


def test_a_child_named_on_two_incidents_of_one_batch_is_one_person(app: Any) -> None:
    world = make_world()
    make_key_adult(world.school)
    same = child_input(world.school.urn)
    respelt = child_input(world.school.urn, given_name=" POPPY ")  # folded alike
    with acting_offline([world.officer.user]):
        results = record_incidents(
            world.officer.user,
            [incident_input(same), incident_input(respelt, police_reference="WM/2/26")],
        )
        again = record_incidents(world.officer.user, [incident_input(same, police_reference="WM/3/26")])
    db.session.commit()
    assert count(Person) == 1
    assert [r.matched for r in [*results, *again]] == [0, 0, 1]
    people = set(db.session.scalars(select(EncompassChild.person_id)))
    assert len(people) == 1
    assert count(EncompassNotification) == 3


def test_a_reference_repeated_in_a_batch_adds_to_the_first(app: Any) -> None:
    world = make_world()
    make_key_adult(world.school)
    first = incident_input(child_input(world.school.urn))
    second = incident_input(
        child_input(world.school.urn),
        child_input(world.school.urn, given_name="Jasper", date_of_birth=date(2014, 1, 9)),
        place="Somewhere else entirely",
    )
    with acting_offline([world.officer.user]):
        results = record_incidents(world.officer.user, [first, second])
    db.session.commit()
    assert [(r.is_new, r.added, r.already) for r in results] == [(True, 1, 0), (False, 1, 1)]
    assert results[0].incident is results[1].incident
    (incident,) = db.session.scalars(select(PoliceIncident))
    assert incident.place == "Bramble Close, Dudley"  # the first recording's details stay
    assert count(EncompassChild) == 2
    assert len(outbox("encompass_notification")) == 2


def test_a_mixed_batch_routes_each_child_and_audits_each_incident(app: Any) -> None:
    world = make_world()
    told = make_key_adult(world.school)
    other = make_setting(world.authority)  # nobody briefed: unresolved
    start = db.session.scalar(select(func.max(AuditEvent.seq))) or 0
    batch = [
        incident_input(child_input(world.school.urn)),
        incident_input(child_input(other.urn, given_name="Ines"), police_reference="WM/2/26"),
        incident_input(
            child_input(setting_choice=NOT_KNOWN, local_authority_id=world.authority.id, given_name="Ravi"),
            child_input(setting_choice=HOME_EDUCATED, local_authority_id=world.authority.id, given_name="Tomasz"),
            police_reference="WM/3/26",
        ),
    ]
    with acting_offline([world.officer.user]):
        results = record_incidents(world.officer.user, batch)
    db.session.commit()
    routes = [[c.route for c in r.children] for r in results]
    assert routes == [["setting"], ["unresolved"], ["unresolved", "unresolved"]]  # no social care key adult
    sent = outbox("encompass_notification")
    assert [m.recipient_id for m in sent] == [told.user.id]
    notes = list(db.session.scalars(select(EncompassNotification).order_by(EncompassNotification.id)))
    assert [n.sent_at is not None for n in notes] == [True, False, False, False]
    events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.seq > start).order_by(AuditEvent.seq)))
    incident_events = [(e.action, e.object_id) for e in events if e.action.startswith(("person.search", "encompass"))]
    assert incident_events == [
        action
        for r in results
        for action in (("person.search", None), ("encompass.incident_record", r.incident.public_id))
    ]
    assert [e.details for e in events if e.action == "person.search"] == [
        {"fields": ["date_of_birth", "name"], "results": 0}
    ] * 3
    assert sum(e.action == "person.create" for e in events) == 4
    db.session.expire_all()
    assert audit.verify_chain()[1] is None


def test_two_intakes_of_one_incident_at_once_add_each_child_once(committed_app: Flask) -> None:
    with committed_app.app_context():
        world = make_world()
        make_key_adult(world.school)
        officer_id, urn = world.officer.user.id, world.school.urn
        db.session.commit()
    barrier = threading.Barrier(2, timeout=60)

    def intake(_n: int) -> int:
        barrier.wait()  # before any read: on SQLite the first read takes the write lock (BEGIN IMMEDIATE)
        with committed_app.app_context():
            officer = db.session.get(User, officer_id)
            assert officer is not None
            data = incident_input(
                child_input(urn), child_input(urn, given_name="Jasper", date_of_birth=date(2014, 1, 9))
            )
            with acting_offline([officer]):
                (result,) = record_incidents(officer, [data])
                db.session.commit()
            return result.added

    with ThreadPoolExecutor(max_workers=2) as pool:
        added = sorted(pool.map(intake, range(2)))
    with committed_app.app_context():
        assert added == [0, 2]
        assert (count(PoliceIncident), count(EncompassChild), count(EncompassNotification)) == (1, 2, 2)
        assert len(outbox("encompass_notification")) == 2


def test_twins_named_in_another_script_are_two_children(app: Any) -> None:
    world = make_world()
    make_key_adult(world.school)
    twins = [
        child_input(world.school.urn, given_name="Иван", family_name="Петров"),
        child_input(world.school.urn, given_name="Пётр", family_name="Петров"),
    ]
    same_again = child_input(world.school.urn, given_name="ИВАН ", family_name="Петров")  # the first twin again
    with acting_offline([world.officer.user]):
        (result,) = record_incidents(world.officer.user, [incident_input(*twins, same_again)])
    db.session.commit()
    assert [c.status for c in result.children] == ["added", "added", "already recorded"]
    assert count(Person) == 2
    assert len(outbox("encompass_notification")) == 2


def test_spellings_the_index_calls_one_child_are_one_child_in_a_batch_too(app: Any) -> None:
    world = make_world()
    make_key_adult(world.school)
    born = {"date_of_birth": date(2015, 6, 1)}
    batch = [
        incident_input(child_input(world.school.urn, given_name="Zoë", family_name="O'Brien", **born)),
        incident_input(
            child_input(world.school.urn, given_name="Zoe", family_name="OBrien", **born), police_reference="WM/2/26"
        ),
        incident_input(
            child_input(world.school.urn, given_name="Zoë", family_name="O'Brien", **born),
            child_input(world.school.urn, given_name="Zoe Ann", family_name="O'Brien", **born),
            police_reference="WM/3/26",
        ),
    ]
    with acting_offline([world.officer.user]):
        results = record_incidents(world.officer.user, batch)
    db.session.commit()
    assert count(Person) == 1  # as recording them one at a time gives
    assert [c.status for c in results[2].children] == ["added", "already recorded"]
    assert count(EncompassNotification) == 3
