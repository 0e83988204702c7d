"""Retention: past the configured period a notification's content is removed (the reasons for correcting its
incident too); its dates and statuses stay for monitoring, the correction history its kinds, dates, fields and
settings; running again changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select, text

from marac import db
from marac.audit.models import AuditEvent
from marac.encompass.models import EncompassChild, EncompassCorrection, EncompassNotification, PoliceIncident
from marac.encompass.services.monitoring import delivery_figures
from marac.encompass.services.retention import anonymise_expired
from marac.orgs.models import Agency, AgencyKind
from tests.conftest import FakeClock
from tests.encompass.factories import Sent, make_child, make_incident_with_children, make_local_authority, make_setting
from tests.factories import make_agency, make_area, make_user

NOW = datetime(2026, 11, 25, 3, 30, tzinfo=UTC)


def _incident(police: Agency, authority: Agency, occurred_at: datetime, children: int = 1) -> Sent:
    setting = make_setting(authority)
    sent = make_incident_with_children(
        police,
        [(make_child(), setting) for _ in range(children)],
        occurred_at=occurred_at,
        due_at=occurred_at + timedelta(hours=12),
    )
    for notification in sent.notifications:
        notification.acknowledged_at = occurred_at + timedelta(hours=13)
        notification.support_note = "Class teacher checked in with the child"
    db.session.commit()
    return sent


@pytest.fixture
def setup(app: Flask, clock: FakeClock) -> tuple[Sent, Sent, Agency]:
    clock.current = NOW
    area = make_area()
    police, authority = make_agency(AgencyKind.POLICE, areas=[area]), make_local_authority(area)
    old = _incident(police, authority, NOW - timedelta(days=366), children=2)
    recent = _incident(police, authority, NOW - timedelta(days=364))
    return old, recent, authority


def _reload(sent: Sent) -> tuple[PoliceIncident, list[EncompassChild], list[EncompassNotification]]:
    db.session.expire_all()
    incident = db.session.get(PoliceIncident, sent.incident.id)
    assert incident is not None
    children = list(db.session.scalars(select(EncompassChild).where(EncompassChild.incident_id == incident.id)))
    notifications = [db.session.get(EncompassNotification, n.id) for n in sent.notifications]
    return incident, children, [n for n in notifications if n is not None]


def test_content_older_than_the_retention_period_is_removed_and_dates_kept(setup: tuple[Sent, Sent, Agency]) -> None:
    old, recent, _ = setup
    assert anonymise_expired() == 2
    incident, children, notifications = _reload(old)
    assert (incident.place, incident.circumstances) == (None, None)
    assert incident.police_reference == old.incident.police_reference
    for child in children:
        assert (child.location, child.child_said, child.other_adult) == (None, None, None)
        assert child.present is True  # kept: whether present is a count, not a story
    for notification in notifications:
        assert notification.support_note is None
        assert notification.anonymised_at == NOW
        assert notification.acknowledged_at is not None
        assert notification.due_at is not None
    incident, children, notifications = _reload(recent)
    assert incident.place is not None
    assert children[0].child_said == "Said she was scared when the shouting started"
    assert notifications[0].support_note == "Class teacher checked in with the child"
    assert notifications[0].anonymised_at is None


def test_running_again_changes_nothing_and_each_run_is_audited_with_counts(
    setup: tuple[Sent, Sent, Agency], clock: FakeClock
) -> None:
    assert anonymise_expired() == 2
    clock.advance(days=1)
    assert anonymise_expired() == 0
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "encompass.anonymised")).all()
    assert [e.details for e in events] == [{"notifications": 2, "incidents": 1, "retention_days": 365}]
    clock.advance(days=1)  # the recent one is now past the period too
    assert anonymise_expired() == 1


def test_retention_period_is_configurable(setup: tuple[Sent, Sent, Agency], app: Flask) -> None:
    app.config["MARAC_ENCOMPASS_RETENTION_DAYS"] = 30
    assert anonymise_expired() == 3


def test_monitoring_still_counts_anonymised_notifications(setup: tuple[Sent, Sent, Agency]) -> None:
    old, _, authority = setup
    day = old.notifications[0].due_at.date()
    before = delivery_figures({authority.id}, day, day).totals
    anonymise_expired()
    after = delivery_figures({authority.id}, day, day).totals
    assert after.total == before.total == 2
    assert after.values["acknowledged"] == 2
    assert date(2025, 11, 24) == day


def _corrected(sent: Sent, officer_id: int, police_id: int) -> EncompassCorrection:
    """A move of the incident's first notification from children's social care to its setting, with its reason."""
    row = EncompassCorrection(incident_id=sent.incident.id, notification_id=sent.notifications[0].id, kind="redirect",
                              made_by_id=officer_id, agency_id=police_id, made_at=NOW - timedelta(days=300),
                              fields=["setting"], from_setting_id=None,
                              to_setting_id=sent.notifications[0].setting_id)  # fmt: skip
    row.reason = "The child changed school in the summer"
    db.session.add(row)
    db.session.commit()
    return row


def test_the_reasons_for_correcting_an_expired_incident_are_removed_and_the_history_kept(
    setup: tuple[Sent, Sent, Agency],
) -> None:
    old, recent, _ = setup
    police = old.incident.police_agency
    officer = make_user(agency=police)
    old_row, recent_row = (_corrected(s, officer.user.id, police.id) for s in (old, recent))

    anonymise_expired()

    db.session.expire_all()
    kept = db.session.get(EncompassCorrection, old_row.id)
    assert kept is not None
    assert (kept.reason, kept.reason_enc) == (None, None)  # nulls, not ciphertext
    assert (kept.kind, kept.fields, kept.made_by_id) == ("redirect", ["setting"], officer.user.id)
    assert kept.made_at == NOW - timedelta(days=300)
    assert (kept.from_setting_id, kept.to_setting_id) == (None, old.notifications[0].setting_id)
    untouched = db.session.get(EncompassCorrection, recent_row.id)
    assert untouched is not None
    assert untouched.reason == "The child changed school in the summer"
    raw = db.session.execute(text("SELECT count(*) FROM encompass_corrections WHERE reason IS NULL")).scalar()
    assert raw == 1
