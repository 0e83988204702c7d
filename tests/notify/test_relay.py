"""The outbox relay with the file backend: sends once, survives a crash between sending and marking, backs off,
dead-letters (with a reason and never the content) and shows admins what could not be delivered."""

from __future__ import annotations

import email
import os
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select, text

from marac import db
from marac.access import Role
from marac.audit.models import AuditEvent
from marac.notify.backends import FileBackend, PermanentFailure, TemporaryFailure, key_digest
from marac.notify.models import OutboxMessage
from marac.notify.relay import backoff, claim_due, relay_once
from marac.notify.services import BODY, Attachment, queue_message
from tests.conftest import FakeClock
from tests.factories import login_as, make_user

INVITE = Attachment("meeting.ics", "text/calendar", b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n")
POSTGRES = bool(os.environ.get("MARAC_TEST_DATABASE_URL"))


class FailingBackend:
    """Fails every send with the given failure; counts the sends."""

    def __init__(self, failure: Exception) -> None:
        self.failure = failure
        self.sends = 0
        self.already_delivered = 0

    def send(self, message: OutboxMessage) -> str:
        self.sends += 1
        raise self.failure

    def close(self) -> None:
        pass


def queue(count: int = 1, attachment: Attachment | None = INVITE) -> list[OutboxMessage]:
    """Queue `count` messages, each to a new user, and commit."""
    messages = []
    for index in range(count):
        user = make_user(Role.AGENCY_REP).user
        message = queue_message(user, "agenda_published", f"meeting-{index}", attachment)
        assert message is not None
        messages.append(message)
    db.session.commit()
    return messages


def reload(message: OutboxMessage) -> OutboxMessage:
    return db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.id == message.id).execution_options(populate_existing=True)
    ).one()


def outbox_files(app: Flask) -> list[Path]:
    folder = Path(app.config["MARAC_OUTBOX_DIR"])
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def test_the_relay_writes_each_message_once_and_marks_it_sent(app: Flask, clock: FakeClock) -> None:
    first, second = queue(2)
    result = relay_once()
    assert (result.claimed, result.sent, result.retrying, result.dead) == (2, 2, 0, 0)
    files = outbox_files(app)
    assert [f.name for f in files] == sorted(f"{key_digest(m)}.eml" for m in (first, second))
    first = reload(first)
    assert first.status == "sent"
    assert first.sent_at == clock.current
    assert first.attempts == 1
    assert first.claimed_until is None
    assert first.provider_reference == f"{key_digest(first)}.eml"
    assert relay_once().claimed == 0


def test_the_file_holds_the_marked_subject_the_content_free_body_and_the_invite(app: Flask) -> None:
    (message,) = queue(1)
    relay_once()
    parsed = email.message_from_bytes(outbox_files(app)[0].read_bytes(), policy=default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == "OFFICIAL-SENSITIVE: MARAC agenda published"
    assert parsed["To"] == message.address
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content() == BODY
    (invite,) = list(parsed.iter_attachments())
    assert invite.get_content_type() == "text/calendar"
    assert invite.get_filename() == "meeting.ics"
    assert b"BEGIN:VCALENDAR" in invite.get_payload(decode=True)


def test_a_crash_between_sending_and_marking_does_not_deliver_twice(app: Flask, clock: FakeClock) -> None:
    (message,) = queue(1)
    backend = FileBackend(app.config["MARAC_OUTBOX_DIR"])
    (claimed,) = claim_due(10, db.utcnow())
    backend.send(claimed)  # ... and the relay dies here, before marking
    assert reload(message).status == "pending"
    assert relay_once().claimed == 0  # the dead relay's lease still holds the message
    clock.advance(seconds=app.config["MARAC_OUTBOX_LEASE_SECONDS"] + 1)
    result = relay_once()
    assert (result.claimed, result.sent, result.already_delivered) == (1, 1, 1)
    assert len(outbox_files(app)) == 1
    assert reload(message).status == "sent"


def test_temporary_failures_back_off_2_4_8_minutes(app: Flask, clock: FakeClock) -> None:
    (message,) = queue(1)
    backend = FailingBackend(TemporaryFailure("SMTP 451 try later"))
    for attempt, minutes in ((1, 2), (2, 4), (3, 8)):
        started = clock.current
        assert relay_once(backend=backend).retrying == 1
        message = reload(message)
        assert (message.status, message.attempts) == ("pending", attempt)
        assert message.next_attempt_at == started + timedelta(minutes=minutes)
        assert message.last_error == "SMTP 451 try later"
        clock.advance(minutes=minutes - 1)
        assert relay_once(backend=backend).claimed == 0  # not due yet
        clock.advance(minutes=1)
    assert backend.sends == 3
    assert backoff(20) == timedelta(hours=6)


def test_a_message_is_dead_lettered_after_the_configured_attempts(app: Flask, clock: FakeClock) -> None:
    app.config["MARAC_OUTBOX_MAX_ATTEMPTS"] = 3
    (message,) = queue(1)
    backend = FailingBackend(TemporaryFailure("SMTP connection failed: ConnectionRefusedError"))
    results = []
    for _ in range(4):
        results.append(relay_once(backend=backend))
        clock.advance(hours=6)
    assert [(r.retrying, r.dead) for r in results] == [(1, 0), (1, 0), (0, 1), (0, 0)]
    message = reload(message)
    assert (message.status, message.attempts) == ("dead", 3)
    assert message.dead_at is not None
    assert message.last_error == "SMTP connection failed: ConnectionRefusedError"
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "outbox.dead_lettered")).one()
    assert event.object_id == message.public_id


def test_a_refused_address_is_dead_lettered_at_once_with_the_reason_and_no_content(
    app: Flask, clock: FakeClock
) -> None:
    (message,) = queue(1)
    backend = FailingBackend(PermanentFailure("SMTP 550 recipient refused: 5.1.1 mailbox unavailable"))
    result = relay_once(backend=backend)
    assert (result.dead, result.retrying) == (1, 0)
    message = reload(message)
    assert (message.status, message.attempts, message.dead_at) == ("dead", 1, clock.current)
    assert message.last_error == "SMTP 550 recipient refused: 5.1.1 mailbox unavailable"
    assert "MARAC" not in message.last_error
    assert "sign in" not in message.last_error
    clock.advance(days=1)
    assert relay_once(backend=backend).claimed == 0
    assert backend.sends == 1


def test_an_unwritable_outbox_folder_is_a_temporary_failure(app: Flask, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    (message,) = queue(1)
    result = relay_once(backend=FileBackend(blocker / "outbox"))
    assert result.retrying == 1
    assert (reload(message).last_error or "").startswith("outbox folder not writable")


def test_admins_see_what_could_not_be_delivered_but_not_its_content(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    admin = make_user(Role.ADMIN)
    (message,) = queue(1)
    relay_once(backend=FailingBackend(PermanentFailure("SMTP 550 recipient refused: no such user")))
    login_as(client, admin, clock)
    home = client.get("/admin/").get_data(as_text=True)
    assert "1 message could not be delivered" in home
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert message.address in page
    assert "agenda_published" in page
    assert "SMTP 550 recipient refused: no such user" in page
    assert "sign in to view" not in page


def test_the_admin_home_page_has_no_alert_when_everything_was_delivered(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    admin = make_user(Role.ADMIN)
    queue(1)
    relay_once()
    login_as(client, admin, clock)
    assert "could not be delivered" not in client.get("/admin/").get_data(as_text=True)


def cli(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


def test_the_command_line_relays_once_and_reports_the_outbox(app: Flask) -> None:
    queue(2)
    relayed = cli(app, "outbox", "relay", "--once", "--batch", "1")
    assert relayed.exit_code == 0, relayed.output
    assert "sent 1, retrying 0, dead 0" in relayed.output
    status = cli(app, "outbox", "status")
    assert status.exit_code == 0, status.output
    assert "dead 0, pending 1, sent 1" in status.output
    assert "oldest pending: 0 s" in status.output


@pytest.mark.postgres_only
@pytest.mark.skipif(not POSTGRES, reason="needs MARAC_TEST_DATABASE_URL")
def test_relays_side_by_side_skip_the_rows_another_relay_is_claiming(committed_app: Flask) -> None:
    with committed_app.app_context():
        queue(3, attachment=None)
        first_id = db.session.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id))
        other = create_engine(committed_app.config["MARAC_DATABASE_URL"])
        try:
            with other.connect() as conn, conn.begin():
                conn.execute(text("SELECT id FROM outbox_messages WHERE id = :id FOR UPDATE"), {"id": first_id})
                result = relay_once()  # does not wait for the locked row
                assert (result.claimed, result.sent) == (2, 2)
        finally:
            other.dispose()
        assert relay_once().sent == 1


def test_a_relay_whose_lease_ran_out_leaves_the_rest_of_its_batch_to_the_next_claim(
    app: Flask, clock: FakeClock
) -> None:
    first, second = queue(2)
    lease = app.config["MARAC_OUTBOX_LEASE_SECONDS"]

    class SlowBackend(FileBackend):
        def send(self, message: OutboxMessage) -> str:
            clock.advance(seconds=lease)  # this send took the whole lease
            return super().send(message)

    result = relay_once(backend=SlowBackend(app.config["MARAC_OUTBOX_DIR"]))
    assert (result.claimed, result.sent) == (2, 1)
    assert (reload(first).status, reload(second).status) == ("sent", "pending")
    clock.advance(seconds=1)
    assert relay_once().sent == 1
    assert len(outbox_files(app)) == 2
