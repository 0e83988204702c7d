"""Correcting a recorded incident: only its recording officer and the recording force's leads may; corrections use
intake's checks and change nothing when refused; the key adult reads the corrected snapshot, marked as corrected; a
notification moved to the right setting is sent there at once, due for that setting, and the setting told in error
loses it and is told so; each correction and move leaves a history row with its reason sealed, shown only to the
recording force; the audit holds field names and setting ids, never the child's details nor the reason."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select, text

from marac import db
from marac.access import Role, acting_offline
from marac.audit.models import AuditEvent
from marac.encompass.models import EducationSetting, EncompassCorrection, EncompassNotification, SettingClosure
from marac.encompass.services.corrections import children_of, correct_incident, current_details
from marac.encompass.services.escalation import escalate_unacknowledged
from marac.encompass.services.intake import NOT_KNOWN, IntakeError
from marac.notify.models import Notification
from marac.people.models import Person
from tests.conftest import FakeClock
from tests.encompass.factories import make_child, make_key_adult, make_lead, make_setting
from tests.encompass.test_intake import FAMILY, GIVEN, World, child_input, incident_input, make_world, outbox, record
from tests.factories import Account, login_as, make_agency, make_user, post_form

#: Recorded on Tuesday 24 November 2026 at 18:30, half an hour after the incident: due Wednesday 08:30, on time.
RECORDED_AT = datetime(2026, 11, 24, 18, 30, tzinfo=UTC)
TYPO = "Hargreaves-Lindquist"
MOVE_REASON = "Mother says the child moved school in September"


def recorded(world: World, clock: FakeClock) -> tuple[EncompassNotification, Account]:
    """The usual incident (Tuesday 24 November 2026, 18:00) with one child at the world's school, with the family
    name misspelt, recorded by the world's officer and sent to the school's key adult (made here)."""
    adult = make_key_adult(world.school)
    clock.current = RECORDED_AT
    record(world.officer.user, incident_input(child_input(world.school.urn, family_name=TYPO)))
    db.session.commit()
    note = db.session.scalars(select(EncompassNotification)).one()
    assert (note.route, note.is_late) == ("setting", False)
    return note, adult


def signed_in(app: Flask, account: Account, clock: FakeClock) -> FlaskClient:
    """A new browser signed in as `account`."""
    client = app.test_client()
    login_as(client, account, clock)
    return client


def correction(note: EncompassNotification, **overrides: Any) -> dict[str, Any]:
    """The correction form as filled in from the recorded incident, with the family name put right."""
    child = note.child
    values: dict[str, Any] = {
        "place": "Bramble Close, Dudley",
        "circumstances": "Neighbours called police after hearing shouting",
        "children-0-child_id": child.public_id,
        "children-0-given_name": GIVEN,
        "children-0-family_name": FAMILY,
        "children-0-date_of_birth": ["2", "5", "2016"],
        "children-0-present": "yes",
        "children-0-location": "Upstairs bedroom",
        "children-0-spoken_to": "yes",
        "children-0-child_said": "I hid under the bed",
        "children-0-other_adult": "",
        "reason": "Family name misspelt on the police system",
    }
    return values | overrides


def events(action: str, outcome: str = "success") -> list[AuditEvent]:
    """Audit events of an action and outcome, in order."""
    query = select(AuditEvent).where(AuditEvent.action == action, AuditEvent.outcome == outcome)
    return list(db.session.scalars(query.order_by(AuditEvent.id)))


def test_recording_officer_and_force_lead_may_correct_and_everyone_else_gets_404(app: Flask, clock: FakeClock) -> None:
    world = make_world()
    note, adult = recorded(world, clock)
    incident = note.child.incident
    path = f"/encompass/incidents/{incident.public_id}/correct"

    officer = signed_in(app, world.officer, clock)
    assert "Correct this incident" in officer.get(f"/encompass/incidents/{incident.public_id}").get_data(as_text=True)
    page = officer.get(path).get_data(as_text=True)
    assert escape(TYPO) in page  # the family name as the police gave it, ready to correct
    assert "cannot be changed here" in page
    force_lead = make_user(Role.ENCOMPASS_LEAD, agency=world.police, areas=[world.area])
    assert signed_in(app, force_lead, clock).get(path).status_code == 200

    colleague = signed_in(app, make_user(Role.REFERRER, agency=world.police, areas=[world.area]), clock)
    assert "Correct this incident" not in colleague.get(f"/encompass/incidents/{incident.public_id}").get_data(
        as_text=True
    )  # an officer of the force sees the incident, but did not record it
    other_force = make_user(Role.REFERRER, agency=make_agency(areas=[world.area]), areas=[world.area])
    refused = [
        colleague,
        signed_in(app, other_force, clock),
        signed_in(app, adult, clock),
        signed_in(app, make_user(Role.COORDINATOR, agency=world.authority, areas=[world.area]), clock),
    ]
    assert [c.get(path).status_code for c in refused] == [404] * 4
    denied = events("encompass.incident_correct", "denied")
    assert [(e.object_id, e.details) for e in denied] == [(incident.public_id, {"reason": "cannot_correct"})] * 4
    key_adult = refused[2]
    own = f"/encompass/notifications/{note.public_id}"  # the key adult's own page gives a CSRF token
    moved = post_form(key_adult, f"{own}/redirect", {"urn": world.school.urn}, own)
    assert moved.status_code == 404
    assert [e.object_id for e in events("encompass.redirect", "denied")] == [note.public_id]


def test_a_correction_is_checked_like_intake_and_nothing_changes_when_refused(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    world = make_world()
    note, _adult = recorded(world, clock)
    path = f"/encompass/incidents/{note.child.incident.public_id}/correct"
    login_as(client, world.officer, clock)

    bad = post_form(client, path, correction(note, **{"children-0-date_of_birth": ["2", "5", "2024"], "reason": " "}))
    assert bad.status_code == 400
    page = bad.get_data(as_text=True)
    assert "There is a problem" in page
    assert (
        "Child 1: date of birth gives age 2 on the incident date: Operation Encompass covers reception to 17" in page
    )  # intake's own message
    assert "Enter the reason for the correction" in page
    unchanged = post_form(client, path, correction(note, **{"children-0-family_name": TYPO}))
    assert unchanged.status_code == 400
    assert "Nothing was changed" in unchanged.get_data(as_text=True)

    db.session.expire_all()
    child = db.session.get(EncompassNotification, note.id).child  # type: ignore[union-attr]
    assert (child.family_name, child.date_of_birth, child.corrected_at) == (TYPO, date(2016, 5, 2), None)
    assert events("encompass.incident_correct") == []
    assert history() == []
    assert outbox("encompass_corrected") == []


def test_the_key_adult_reads_the_corrected_snapshot_marked_corrected_and_is_told(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    world = make_world()
    note, adult = recorded(world, clock)
    stored_name, first_person_id = note.child.person.family_name, note.child.person_id
    clock.current = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    login_as(client, world.officer, clock)
    incident_path = f"/encompass/incidents/{note.child.incident.public_id}"

    saved = post_form(
        client,
        f"{incident_path}/correct",
        correction(note, **{"children-0-family_name": FAMILY, "children-0-date_of_birth": ["3", "5", "2016"]}),
    )

    assert saved.status_code == 302
    assert saved.headers["Location"].endswith(incident_path)
    assert "Incident corrected" in client.get(incident_path).get_data(as_text=True)
    assert [m.recipient_id for m in outbox("encompass_corrected")] == [adult.user.id]
    told = db.session.scalars(select(Notification).where(Notification.kind == "encompass_corrected")).one()
    assert FAMILY not in str(told.text)
    assert GIVEN not in str(told.text)
    [event] = events("encompass.incident_correct")
    details = dict(event.details)
    moved = details.pop("relinked")
    assert details == {
        "fields": ["child.date_of_birth", "child.family_name"],
        "children": 1,
        "told": 1,
        "reason_length": len("Family name misspelt on the police system"),
    }
    assert FAMILY not in str(details)
    assert TYPO not in str(details)
    assert "2016" not in str(details)
    db.session.expire_all()
    first = db.session.get(Person, first_person_id)
    assert first is not None
    assert first.family_name == stored_name  # the snapshot changes, never a person record
    relinked = note.child.person  # matched again from the corrected details: a new child record here
    assert relinked.id != first_person_id
    assert (relinked.family_name, relinked.date_of_birth) == (FAMILY, date(2016, 5, 3))
    assert moved == [[first.public_id, relinked.public_id]]  # a DPO sees the re-attachment

    page = signed_in(app, adult, clock).get(f"/encompass/notifications/{note.public_id}").get_data(as_text=True)
    assert escape(f"{GIVEN} {FAMILY}") in page
    assert escape(TYPO) not in page
    assert "3 May 2016" in page
    assert "Corrected on 25 November 2026" in page


def redirect_to(client: FlaskClient, note: EncompassNotification, urn: str, reason: str = MOVE_REASON) -> Any:
    """Move the notification from its incident's correction page, saying why."""
    form_path = f"/encompass/incidents/{note.child.incident.public_id}/correct"
    data = {"urn": urn, "reason": reason}
    return post_form(client, f"/encompass/notifications/{note.public_id}/redirect", data, form_path)


def history() -> list[EncompassCorrection]:
    """Every correction row, oldest first."""
    return list(db.session.scalars(select(EncompassCorrection).order_by(EncompassCorrection.id)))


def test_redirect_refuses_unknown_same_and_unbriefed_settings_and_changes_nothing(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    world = make_world()
    note, _adult = recorded(world, clock)
    unbriefed = make_setting(world.authority)
    make_key_adult(unbriefed, briefed=False)
    right = make_setting(world.authority)
    make_key_adult(right)
    login_as(client, world.officer, clock)

    answers = [redirect_to(client, note, urn) for urn in ("999999", world.school.urn, unbriefed.urn)]
    answers.append(redirect_to(client, note, right.urn, reason="   "))  # the right setting, but no reason given

    assert [a.status_code for a in answers] == [400, 400, 400, 400]
    pages = [a.get_data(as_text=True) for a in answers]
    assert "No setting has URN 999999" in pages[0]
    assert escape(f"The notification already went to {world.school.name}") in pages[1]
    assert escape(f"{unbriefed.name} has no briefed key adult") in pages[2]
    assert "Enter why the notification is moving to another setting" in pages[3]
    assert f'value="{right.urn}"' in pages[3]  # the URN stays as typed, to try again with a reason
    assert history() == []
    db.session.expire_all()
    kept = db.session.get(EncompassNotification, note.id)
    assert kept is not None
    assert (kept.setting_id, kept.sent_at, kept.child.setting_id) == (world.school.id, RECORDED_AT, world.school.id)
    assert outbox("encompass_withdrawn") == []
    assert events("encompass.redirect") == []


def right_school(world: World) -> EducationSetting:
    """Another school of the authority starting at 09:15, closed for training on Wednesday 25 November."""
    school = make_setting(world.authority)
    school.day_start = time(9, 15)
    db.session.add(SettingClosure(setting_id=school.id, kind="training_day", starts_on=date(2026, 11, 25),
                                  ends_on=date(2026, 11, 25)))  # fmt: skip
    db.session.commit()
    return school


def test_redirect_moves_the_notification_to_the_right_setting_and_withdraws_it_from_the_wrong_one(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    world = make_world()
    school = right_school(world)
    right_adult = make_key_adult(school)
    note, wrong_adult = recorded(world, clock)
    clock.current = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    wrong = signed_in(app, wrong_adult, clock)
    acknowledged = post_form(wrong, f"/encompass/notifications/{note.public_id}", {"note": "Spoke to her teacher"})
    assert acknowledged.status_code == 302
    note.escalation_level, note.escalated_at = 1, clock()
    db.session.commit()
    login_as(client, world.officer, clock)

    moved = redirect_to(client, note, f" {school.urn} ")

    assert moved.status_code == 302
    db.session.expire_all()
    after = db.session.get(EncompassNotification, note.id)
    assert after is not None
    assert (after.route, after.setting_id, after.child.setting_id) == ("setting", school.id, school.id)
    assert after.due_at == datetime(2026, 11, 26, 9, 15, tzinfo=UTC)  # the right school's next school day
    assert (after.sent_at, after.is_late) == (clock(), False)
    assert (after.acknowledged_at, after.opened_at, after.support_note) == (None, None, None)
    assert (after.escalation_level, after.escalated_at) == (0, None)
    assert [m.recipient_id for m in outbox("encompass_notification")] == [wrong_adult.user.id, right_adult.user.id]
    assert [m.recipient_id for m in outbox("encompass_withdrawn")] == [wrong_adult.user.id]
    withdrawn = db.session.scalars(select(Notification).where(Notification.kind == "encompass_withdrawn")).one()
    assert world.school.name in str(withdrawn.text)
    assert FAMILY not in str(withdrawn.text)
    [event] = events("encompass.redirect")
    assert event.details == {"from": world.school.public_id, "to": school.public_id, "late": False,
                             "reason_length": len(MOVE_REASON)}  # fmt: skip

    assert wrong.get(f"/encompass/notifications/{note.public_id}").status_code == 404
    right = signed_in(app, right_adult, clock)
    page = right.get(f"/encompass/notifications/{note.public_id}").get_data(as_text=True)
    assert escape(f"{GIVEN} {TYPO}") in page
    assert "Spoke to her teacher" not in page  # the wrong school's note stays with the wrong school
    assert post_form(right, f"/encompass/notifications/{note.public_id}", {}).status_code == 302
    db.session.expire_all()
    assert after.acknowledged_by_id == right_adult.user.id


def test_a_redirect_past_the_right_settings_due_time_is_sent_late(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    world = make_world()
    school = make_setting(world.authority)
    make_key_adult(school)
    note, _adult = recorded(world, clock)
    clock.current = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    login_as(client, world.officer, clock)

    assert redirect_to(client, note, school.urn).status_code == 302

    db.session.expire_all()
    after = db.session.get(EncompassNotification, note.id)
    assert after is not None
    assert (after.due_at, after.is_late) == (datetime(2026, 11, 25, 8, 30, tzinfo=UTC), True)
    assert events("encompass.redirect")[0].details == {"from": world.school.public_id, "to": school.public_id,
                                                        "late": True, "reason_length": len(MOVE_REASON)}  # fmt: skip


def test_an_incident_past_retention_cannot_be_corrected_or_redirected(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    world = make_world()
    note, _adult = recorded(world, clock)
    school = make_setting(world.authority)
    make_key_adult(school)
    clock.current = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    note.anonymised_at = clock()
    db.session.commit()
    incident_path = f"/encompass/incidents/{note.child.incident.public_id}"
    login_as(client, world.officer, clock)

    assert "Correct this incident" not in client.get(incident_path).get_data(as_text=True)
    assert "can no longer be corrected" in client.get(f"{incident_path}/correct").get_data(as_text=True)
    form_path = f"/encompass/notifications/{note.public_id}"
    refused = post_form(client, f"{incident_path}/correct", correction(note), f"{incident_path}/correct")
    moved = post_form(client, f"{form_path}/redirect", {"urn": school.urn}, f"{incident_path}/correct")

    assert (refused.status_code, moved.status_code) == (400, 400)
    assert "can no longer be corrected" in refused.get_data(as_text=True)
    assert "can no longer be corrected" in moved.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(EncompassNotification, note.id).setting_id == world.school.id  # type: ignore[union-attr]
    assert events("encompass.incident_correct") == []
    assert events("encompass.redirect") == []


def test_correcting_the_place_marks_every_child_and_tells_only_those_already_sent(app: Flask, clock: FakeClock) -> None:
    world = make_world()
    adult = make_key_adult(world.school)
    clock.current = RECORDED_AT
    unknown = child_input(
        given_name="Jasper",
        date_of_birth=date(2014, 3, 1),
        setting_choice=NOT_KNOWN,
        local_authority_id=world.authority.id,
    )
    result = record(world.officer.user, incident_input(child_input(world.school.urn), unknown))
    db.session.commit()
    incident = result.incident
    details = current_details(incident)
    details.place, details.reason = "Larch Avenue, Dudley", "Wrong street given"

    with acting_offline([world.officer.user]):
        changed = correct_incident(world.officer.user, incident, details)
    db.session.commit()

    assert changed == ["place"]
    assert [c.corrected_at for c in children_of(incident)] == [clock(), clock()]
    assert [m.recipient_id for m in outbox("encompass_corrected")] == [adult.user.id]  # the unresolved one: nobody
    assert events("encompass.incident_correct")[0].details == {
        "fields": ["place"],
        "children": 2,
        "told": 1,
        "relinked": [],
        "reason_length": len("Wrong street given"),
    }


def test_a_corrected_name_follows_the_child_to_their_own_record_and_case(app: Flask, clock: FakeClock) -> None:
    world = make_world()
    known = make_child(given_name=GIVEN, family_name=FAMILY, date_of_birth=date(2016, 5, 2))
    note, _adult = recorded(world, clock)  # the misspelt name did not find the child's own record
    assert note.child.person_id != known.id
    details = current_details(note.child.incident)
    details.children[0].family_name, details.reason = FAMILY, "Family name misspelt"

    with acting_offline([world.officer.user]):
        correct_incident(world.officer.user, note.child.incident, details)
    db.session.commit()

    db.session.expire_all()
    assert note.child.person_id == known.id  # a MARAC case of this child's household now lists it
    search = events("person.search")[-1]
    assert search.details == {"fields": ["date_of_birth", "name"], "results": 1}


def test_a_correction_making_two_children_one_is_refused(app: Flask, clock: FakeClock) -> None:
    world = make_world()
    make_key_adult(world.school)
    clock.current = RECORDED_AT
    sister = child_input(world.school.urn, given_name="Jasper", date_of_birth=date(2014, 3, 1))
    result = record(world.officer.user, incident_input(child_input(world.school.urn), sister))
    db.session.commit()
    details = current_details(result.incident)
    details.children[1].given_name, details.children[1].date_of_birth = GIVEN, date(2016, 5, 2)
    details.reason = "Typed twice"

    with acting_offline([world.officer.user]), pytest.raises(IntakeError) as caught:
        correct_incident(world.officer.user, result.incident, details)
    db.session.rollback()
    assert caught.value.problems == [
        ("children-2-given_name", "Child 2: these details are of another child already on this incident")
    ]


def test_moved_away_and_back_again_the_first_setting_is_told_again(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    world = make_world()
    school = right_school(world)
    make_key_adult(school)
    note, first_adult = recorded(world, clock)
    clock.current = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    login_as(client, world.officer, clock)
    assert redirect_to(client, note, school.urn).status_code == 302
    clock.current = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    assert redirect_to(client, note, world.school.urn).status_code == 302

    db.session.expire_all()
    sent = [m.recipient_id for m in outbox("encompass_notification") if m.recipient_id == first_adult.user.id]
    assert len(sent) == 2  # the first sending, and again when it came back
    back = signed_in(app, first_adult, clock)
    assert back.get(f"/encompass/notifications/{note.public_id}").status_code == 200


def test_a_moved_notification_is_escalated_again_from_the_start(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    world = make_world()
    school = make_setting(world.authority)  # due 08:30 on Wednesday too
    make_key_adult(school)
    lead = make_lead(world.authority)
    note, _adult = recorded(world, clock)
    clock.current = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)  # 10:00 and 12:00 passed: up to the lead
    escalate_unacknowledged()
    escalate_unacknowledged()
    db.session.commit()
    assert db.session.get(EncompassNotification, note.id).escalation_level == 2  # type: ignore[union-attr]
    before = len([m for m in outbox("encompass_escalation") if m.recipient_id == lead.user.id])
    login_as(client, world.officer, clock)
    assert redirect_to(client, note, school.urn).status_code == 302  # moved: late, acknowledge by 14:00

    clock.current = datetime(2026, 11, 25, 16, 30, tzinfo=UTC)
    db.session.expire_all()  # the job reads afresh, as the scheduler's own session would
    escalate_unacknowledged()
    escalate_unacknowledged()
    db.session.commit()

    assert db.session.get(EncompassNotification, note.id).escalation_level == 2  # type: ignore[union-attr]
    after = len([m for m in outbox("encompass_escalation") if m.recipient_id == lead.user.id])
    assert before >= 1
    assert after == 2 * before  # the right setting's escalation reached the lead as the first one did


def test_each_correction_and_move_is_kept_with_its_reason_sealed_and_shown_only_to_the_recording_force(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    world = make_world()
    school = make_setting(world.authority)
    right_adult = make_key_adult(school)
    note, _wrong_adult = recorded(world, clock)
    incident = note.child.incident
    incident_path = f"/encompass/incidents/{incident.public_id}"
    officer = world.officer.user
    clock.current = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    login_as(client, world.officer, clock)
    assert redirect_to(client, note, school.urn).status_code == 302
    clock.current = datetime(2026, 11, 25, 7, 30, tzinfo=UTC)  # after the right school received it
    fixed = correction(note, **{"children-0-family_name": FAMILY, "children-0-location": "Landing"})
    assert post_form(client, f"{incident_path}/correct", fixed).status_code == 302

    moved, details = history()
    assert (details.kind, details.incident_id, details.notification_id) == ("details", incident.id, None)
    assert details.fields == ["child.family_name", "child.location"]  # names only: the old values are not kept
    assert (details.made_by_id, details.agency_id, details.made_at) == (officer.id, world.police.id, clock())
    assert (details.from_setting_id, details.to_setting_id) == (None, None)
    assert details.reason == "Family name misspelt on the police system"
    assert (moved.kind, moved.notification_id, moved.fields) == ("redirect", note.id, ["setting"])
    assert (moved.from_setting_id, moved.to_setting_id, moved.reason) == (world.school.id, school.id, MOVE_REASON)
    sealed = db.session.execute(text("SELECT reason FROM encompass_corrections ORDER BY id")).scalars().all()
    assert all(MOVE_REASON.encode() not in bytes(r) and b"misspelt" not in bytes(r) for r in sealed)
    every_detail = str([e.details for e in db.session.scalars(select(AuditEvent))])
    assert "misspelt" not in every_detail
    assert MOVE_REASON not in every_detail

    page = client.get(incident_path).get_data(as_text=True)
    history_html = page[page.index('id="corrections"') :]
    assert escape("Child's family name, Where the child was") in history_html  # labels, never the values
    assert escape(f"Moved from {world.school.name} to {school.name}") in history_html
    assert "Family name misspelt on the police system" in history_html
    assert escape(MOVE_REASON) in history_html
    assert escape(officer.display_name) in history_html
    assert escape(world.police.name) in history_html
    viewed = events("encompass.incident_view")[-1]
    assert (viewed.object_id, viewed.actor_user_id) == (incident.public_id, officer.id)

    key_adult = signed_in(app, right_adult, clock)
    assert key_adult.get(incident_path).status_code == 403  # as before: key adults reach no incident page
    own = key_adult.get(f"/encompass/notifications/{note.public_id}").get_data(as_text=True)
    assert "Corrected on 25 November 2026" in own
    assert "misspelt" not in own
    assert escape(MOVE_REASON) not in own
    assert "Moved from" not in own
    colleague = make_user(Role.REFERRER, agency=make_agency(areas=[world.area]), areas=[world.area])
    assert signed_in(app, colleague, clock).get(incident_path).status_code == 404  # another force's officer
