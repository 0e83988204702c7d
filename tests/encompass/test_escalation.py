"""Escalation of notifications nobody acknowledged: the second key adult at the acknowledge-by time, the local
authority's Encompass leads two hours later (or at once when there is no second key adult), with an injected clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from marac import db
from marac.access import Role
from marac.audit.models import AuditEvent
from marac.encompass.models import EducationSetting, EncompassNotification
from marac.encompass.services.escalation import escalate_unacknowledged
from marac.notify.models import Notification, OutboxMessage
from marac.orgs.models import Agency, AgencyKind
from marac.people.models import Person
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
AT = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)


@dataclass
class World:
    """A school with a key adult and a second key adult, its local authority's lead, and people who must never be
    told: an unbriefed second key adult, another authority's lead and a police lead."""

    authority: Agency
    police: Agency
    school: EducationSetting
    first: Account
    second: Account
    lead: Account
    child: Person


@pytest.fixture
def world(app: object) -> World:
    area = make_area()
    authority = make_local_authority(area)
    police = make_agency(AgencyKind.POLICE, areas=[area])
    school = make_setting(authority, "Oakfield Primary School")
    first, second = make_key_adult(school), make_key_adult(school, rank=2)
    make_key_adult(school, rank=2, briefed=False)
    lead = make_lead(authority)
    make_lead(make_local_authority(area))
    make_user(Role.ENCOMPASS_LEAD, agency=police, areas=[area])
    child = make_child(given_name="Maisie", family_name="Thornbury")
    return World(authority, police, school, first, second, lead, child)


def _notify(world: World, school: EducationSetting | None = None, **kwargs: object) -> EncompassNotification:
    sent = make_incident_with_children(
        world.police,
        [(world.child, school or world.school)],
        occurred_at=datetime(2026, 11, 24, 20, 0, tzinfo=UTC),
        due_at=DUE,
        **kwargs,  # type: ignore[arg-type]
    )
    return sent.notifications[0]


def _recipients() -> list[int | None]:
    query = select(OutboxMessage.recipient_id).where(OutboxMessage.kind == "encompass_escalation")
    return sorted(db.session.scalars(query))


def _at(clock: FakeClock, hour: int, minute: int) -> None:
    clock.current = AT.replace(hour=hour, minute=minute)


def test_second_key_adult_at_ten_then_the_authoritys_leads_two_hours_later(world: World, clock: FakeClock) -> None:
    notice = _notify(world)
    _at(clock, 9, 59)
    assert escalate_unacknowledged() == 0
    assert _recipients() == []
    _at(clock, 10, 0)
    assert escalate_unacknowledged() == 1
    assert _recipients() == [world.second.user.id]
    assert (notice.escalation_level, notice.escalated_at) == (1, clock())
    _at(clock, 11, 59)
    assert escalate_unacknowledged() == 0
    _at(clock, 12, 0)
    assert escalate_unacknowledged() == 1
    assert _recipients() == sorted([world.second.user.id, world.lead.user.id])
    assert notice.escalation_level == 2
    _at(clock, 15, 0)
    assert escalate_unacknowledged() == 0  # nothing twice
    assert len(_recipients()) == 2
    audits = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "encompass.escalated")).all()
    assert [e.details for e in audits] == [{"level": 1, "recipients": 1}, {"level": 2, "recipients": 1}]


def test_acknowledged_notifications_are_never_escalated(world: World, clock: FakeClock) -> None:
    notice = _notify(world)
    notice.acknowledged_at, notice.acknowledged_by_id = AT.replace(hour=8, minute=45), world.first.user.id
    db.session.commit()
    for hour in (10, 12, 14):
        _at(clock, hour, 0)
        assert escalate_unacknowledged() == 0
    assert _recipients() == []
    assert notice.escalation_level == 0


def test_acknowledged_after_the_first_escalation_stops_the_second(world: World, clock: FakeClock) -> None:
    notice = _notify(world)
    _at(clock, 10, 0)
    assert escalate_unacknowledged() == 1
    notice.acknowledged_at = AT.replace(hour=10, minute=30)
    db.session.commit()
    _at(clock, 12, 0)
    assert escalate_unacknowledged() == 0
    assert _recipients() == [world.second.user.id]


def test_sent_after_the_acknowledge_by_time_escalates_two_hours_after_sending(world: World, clock: FakeClock) -> None:
    notice = _notify(world, sent_at=AT.replace(hour=10, minute=30))
    assert notice.is_late
    _at(clock, 12, 29)
    assert escalate_unacknowledged() == 0
    _at(clock, 12, 30)
    assert escalate_unacknowledged() == 1
    assert _recipients() == [world.second.user.id]
    _at(clock, 14, 30)
    assert escalate_unacknowledged() == 1
    assert _recipients() == sorted([world.second.user.id, world.lead.user.id])


def test_without_a_second_key_adult_the_leads_are_told_at_once(world: World, clock: FakeClock) -> None:
    other = make_setting(world.authority, "Riverside Academy")
    make_key_adult(other)
    notice = _notify(world, school=other)
    _at(clock, 10, 0)
    assert escalate_unacknowledged() == 1
    assert _recipients() == [world.lead.user.id]
    assert notice.escalation_level == 2


def test_home_education_goes_straight_to_the_leads(world: World, clock: FakeClock) -> None:
    sent = make_incident_with_children(
        world.police,
        [(world.child, None)],
        occurred_at=datetime(2026, 11, 24, 20, 0, tzinfo=UTC),
        due_at=DUE,
        local_authority=world.authority,
        home_educated=True,
    )
    _at(clock, 9, 59)
    assert escalate_unacknowledged() == 0
    _at(clock, 10, 0)
    assert escalate_unacknowledged() == 1
    assert _recipients() == [world.lead.user.id]
    assert sent.notifications[0].escalation_level == 2


def test_no_childs_name_in_the_outbox_or_the_notification_centre(world: World, clock: FakeClock) -> None:
    _notify(world)
    _at(clock, 10, 0)
    escalate_unacknowledged()
    _at(clock, 12, 0)
    escalate_unacknowledged()
    messages = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "encompass_escalation")).all()
    texts = [
        n.text for n in db.session.scalars(select(Notification).where(Notification.kind == "encompass_escalation"))
    ]
    assert len(messages) == 2
    assert len(texts) == 2
    for message in messages:
        assert "Maisie" not in message.subject
        assert "Maisie" not in message.body
        assert "Thornbury" not in message.body
    for text in texts:
        assert "Oakfield Primary School" in str(text)
        assert "Maisie" not in str(text)
        assert "Thornbury" not in str(text)
