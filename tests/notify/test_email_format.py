"""The email a backend sends: standard MIME that mail clients read back exactly, ASCII or not, with the invite."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from types import SimpleNamespace

from marac.notify.backends import build_email, key_digest


def _message(**changes: object) -> SimpleNamespace:
    values: dict[str, object] = {
        "address": "member@agency.example",
        "subject": "OFFICIAL-SENSITIVE: MARAC agenda published",
        "created_at": datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
        "idempotency_key": "agenda_published:m1:u1",
        "body": "You have a new MARAC notification: sign in to view.\n",
        "attachment": None,
        "attachment_type": None,
        "attachment_name": None,
    }
    return SimpleNamespace(**(values | changes))


def _read(message: SimpleNamespace) -> email.message.EmailMessage:
    raw = build_email(message, "marac@northvale.example").as_bytes()  # type: ignore[arg-type]
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def test_plain_message_reads_back_with_its_headers() -> None:
    message = _message()
    parsed = _read(message)
    assert parsed["From"] == "marac@northvale.example"
    assert parsed["To"] == "member@agency.example"
    assert parsed["Subject"] == "OFFICIAL-SENSITIVE: MARAC agenda published"
    assert parsed["Date"].datetime == datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    assert parsed["Message-ID"] == f"<{key_digest(message)[:40]}@northvale.example>"  # type: ignore[arg-type]
    assert parsed.get_content() == "You have a new MARAC notification: sign in to view.\n"
    assert not parsed.is_multipart()


def test_invite_is_attached_and_body_kept() -> None:
    invite = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"
    parsed = _read(_message(attachment=invite, attachment_type="text/calendar", attachment_name="M1.ics"))
    body = parsed.get_body(("plain",))
    assert body is not None
    assert body.get_content() == "You have a new MARAC notification: sign in to view.\n"
    [attachment] = list(parsed.iter_attachments())
    assert attachment.get_filename() == "M1.ics"
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_payload(decode=True) == invite


def test_non_ascii_subject_address_and_body_survive() -> None:
    parsed = _read(
        _message(subject="OFFICIAL-SENSITIVE: réunion \u2013 MARAC", address="zoë@agency.example", body="Café\n")
    )
    assert parsed["Subject"] == "OFFICIAL-SENSITIVE: réunion \u2013 MARAC"
    assert "zoë@agency.example" in str(parsed["To"])
    assert parsed.get_content() == "Café\n"
