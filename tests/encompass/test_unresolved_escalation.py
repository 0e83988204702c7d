"""Unresolved notifications (no setting to send to) are chased with the authority's and the recording force's
Encompass leads: once when they pass their due time, then once a day at the same time while still unresolved, with
an injected clock. Content-free, idempotent, and never for notifications whose content was removed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from marac import db
from marac.access import Role, acting_offline
from marac.audit.models import AuditEvent
from marac.encompass.models import EncompassNotification, Route
from marac.encompass.services.escalation import DAILY_KIND as DAILY
from marac.encompass.services.escalation import OVERDUE_KIND as OVERDUE
from marac.encompass.services.escalation import escalate_unacknowledged, latest_reminder
from marac.encompass.services.redirects import resolve_notification
from marac.notify.models import Notification, OutboxMessage
from marac.orgs.models import Agency, AgencyKind
from tests.conftest import FakeClock
from tests.encompass.factories import (
    make_child,
    make_incident_with_children,
    make_key_adult,
    make_lead,
    make_local_authority,
    make_setting,
)
from tests.factories import Account, make_agency, make_area, make_user

DUE = datetime(2026, 11, 25, 8, 30, tzinfo=UTC)  # Wednesday 08:30 (GMT)
PLACE = "Larkspur Close, Dudley"


@dataclass
class World:
    """An authority's lead (text alerts on) and the recording force's lead; another authority's lead who must
    never be told; one unresolved notification about a child of the authority, due at DUE."""

    authority: Agency
    police: Agency
    lead: Account
    force_lead: Account
    notification: EncompassNotification


@pytest.fixture
def world(app: Flask, clock: FakeClock) -> World:
    app.config["MARAC_SMS_BACKEND"] = "outbox"
    clock.current = DUE - timedelta(hours=1)
    area = make_area()
    authority = make_local_authority(area)
    police = make_agency(AgencyKind.POLICE, areas=[area])
    lead, force_lead = make_lead(authority), make_user(Role.ENCOMPASS_LEAD, agency=police, areas=[area])
    lead.user.mobile_number, lead.user.text_alerts = "+447700900123", True
    make_lead(make_local_authority(area))
    sent = make_incident_with_children(
        police,
        [(make_child(given_name="Maisie", family_name="Thornbury"), None)],
        occurred_at=DUE - timedelta(hours=12),
        due_at=DUE,
        local_authority=authority,
        reference="WM/77001/26",
    )
    sent.incident.place = PLACE
    db.session.commit()
    notification = sent.notifications[0]
    assert notification.route == Route.UNRESOLVED.value
    return World(authority, police, lead, force_lead, notification)


def _messages() -> list[tuple[int | None, str, str]]:
    """(recipient, channel, key) of every escalation message queued, in a stable order."""
    query = select(OutboxMessage).where(OutboxMessage.kind.in_((OVERDUE, DAILY)))
    return sorted((m.recipient_id, m.channel, m.idempotency_key) for m in db.session.scalars(query))


def _expected(world: World, key: str) -> list[tuple[int | None, str, str]]:
    """For one notify key: when it became overdue, the lead's email and text and the force lead's email (no text
    alerts); a daily reminder after that, the two emails only."""
    lead, force = world.lead.user, world.force_lead.user
    if key.endswith(":overdue"):
        return sorted(
            [
                (lead.id, "email", f"{OVERDUE}:{key}:{lead.public_id}"),
                (lead.id, "sms", f"sms:{OVERDUE}:{key}:{lead.public_id}"),
                (force.id, "email", f"{OVERDUE}:{key}:{force.public_id}"),
            ]
        )
    return sorted(
        [(lead.id, "email", f"{DAILY}:{key}:{lead.public_id}"), (force.id, "email", f"{DAILY}:{key}:{force.public_id}")]
    )


def test_leads_are_told_once_when_overdue_and_once_more_each_following_day(world: World, clock: FakeClock) -> None:
    pid = world.notification.public_id
    clock.current = DUE - timedelta(minutes=1)
    assert escalate_unacknowledged() == 0
    assert _messages() == []

    clock.current = DUE
    assert escalate_unacknowledged() == 1
    assert _messages() == _expected(world, f"{pid}:overdue")
    clock.current = DUE + timedelta(hours=5)
    assert escalate_unacknowledged() == 0  # run again the same day: nothing twice
    assert len(_messages()) == 3

    clock.current = DUE + timedelta(days=1)
    assert escalate_unacknowledged() == 1
    assert escalate_unacknowledged() == 0
    assert _messages() == sorted(_expected(world, f"{pid}:overdue") + _expected(world, f"{pid}:overdue:2026-11-26"))
    centre = db.session.scalars(select(Notification).where(Notification.kind.in_((OVERDUE, DAILY)))).all()
    assert len(centre) == 4
    assert {n.link for n in centre} == {f"/encompass/unresolved/{pid}"}
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "encompass.escalated", AuditEvent.object_id == pid)
    ).all()
    assert [e.details for e in events] == [
        {"unresolved_day": 0, "recipients": 2},
        {"unresolved_day": 1, "recipients": 2},
    ]


def test_the_messages_carry_no_child_reference_or_place(world: World, clock: FakeClock) -> None:
    clock.current = DUE + timedelta(minutes=5)
    escalate_unacknowledged()
    messages = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == OVERDUE)).all()
    texts = [n.text for n in db.session.scalars(select(Notification).where(Notification.kind == OVERDUE))]
    assert messages
    assert texts
    stored = " ".join([*(f"{m.subject} {m.body}" for m in messages), *(str(t) for t in texts)])
    for detail in ("Maisie", "Thornbury", "WM/77001/26", "Larkspur", "Dudley"):
        assert detail not in stored


def test_resolved_notifications_are_chased_no_more(world: World, clock: FakeClock) -> None:
    clock.current = DUE
    assert escalate_unacknowledged() == 1
    school = make_setting(world.authority, "Oakfield Primary School")
    make_key_adult(school)
    with acting_offline([world.lead.user]):  # the lead names the setting: it is sent at once
        resolve_notification(world.lead.user, world.notification, school.urn)
    db.session.commit()
    assert world.notification.route == Route.SETTING.value
    clock.current = DUE + timedelta(days=1)
    escalate_unacknowledged()
    overdue = [m for m in _messages() if ":overdue" in m[2]]
    assert overdue == _expected(world, f"{world.notification.public_id}:overdue")


def test_anonymised_notifications_are_skipped(world: World, clock: FakeClock) -> None:
    world.notification.anonymised_at = DUE - timedelta(minutes=10)
    db.session.commit()
    clock.current = DUE + timedelta(hours=1)
    assert escalate_unacknowledged() == 0
    assert _messages() == []


def test_without_any_lead_nothing_is_sent_and_nothing_fails(app: Flask, clock: FakeClock) -> None:
    area = make_area()
    authority = make_local_authority(area)
    police = make_agency(AgencyKind.POLICE, areas=[area])
    make_incident_with_children(
        police, [(make_child(), None)], occurred_at=DUE - timedelta(hours=12), due_at=DUE, local_authority=authority
    )
    clock.current = DUE + timedelta(minutes=1)
    assert escalate_unacknowledged() == 1
    assert escalate_unacknowledged() == 0
    assert _messages() == []
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "encompass.escalated"))
    assert event is not None
    assert event.details == {"unresolved_day": 0, "recipients": 0}


def test_daily_reminders_keep_the_london_time_of_day_across_the_clock_change() -> None:
    due = datetime(2026, 10, 23, 7, 30, tzinfo=UTC)  # Friday 08:30 BST; the clocks go back on Sunday 25 October
    assert latest_reminder(due, due - timedelta(seconds=1)) is None
    assert latest_reminder(due, due) == (0, due)
    days, at = latest_reminder(due, datetime(2026, 10, 26, 9, 0, tzinfo=UTC)) or (None, None)
    assert days == 3
    assert at == datetime(2026, 10, 26, 8, 30, tzinfo=UTC)  # 08:30 GMT
    days, _ = latest_reminder(due, datetime(2026, 10, 26, 8, 29, tzinfo=UTC)) or (None, None)
    assert days == 2


def test_still_unresolved_weeks_later_it_is_still_chased_even_when_recorded_late(
    world: World, clock: FakeClock
) -> None:
    pid = world.notification.public_id
    world.notification.created_at = DUE + timedelta(days=20, hours=-2)  # recorded three weeks after it was due
    db.session.commit()
    clock.current = DUE + timedelta(days=20, hours=-1)
    assert escalate_unacknowledged() == 0  # the leads were told at intake: the day's reminder is still to come
    clock.current = DUE + timedelta(days=20, minutes=1)
    assert escalate_unacknowledged() == 1
    assert _messages() == _expected(world, f"{pid}:overdue:2026-12-15")
    clock.current = DUE + timedelta(days=40, minutes=1)
    assert escalate_unacknowledged() == 1  # no look-back limit while the child's setting was never told
