"""Text alerts in the outbox: which messages are texted, what a text says, and the file and Notify text backends."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from marac import db
from marac.access import Role
from marac.auth.models import User
from marac.notify.models import OutboxMessage
from marac.notify.relay import relay_once
from marac.notify.services import SMS_BODY, TEXTED_KINDS, queue_message
from marac.notify.sms import FileTextBackend, NotifyTextBackend, text_backend_from_config
from tests.conftest import FakeClock
from tests.factories import make_user
from tests.notify.servers import reload

NUMBER = "+447700900123"
DIGITS = "7700900123"
SERVICE_ID = str(uuid.uuid4())
SECRET = str(uuid.uuid4())
API_KEY = f"marac_test-{SERVICE_ID}-{SECRET}"
SMS_TEMPLATE_ID = str(uuid.uuid4())
NOTIFICATION_ID = str(uuid.uuid4())


def texting_user(number: str | None = NUMBER, alerts: bool = True) -> User:
    """A user with a work mobile number and text alerts on (unless told otherwise)."""
    user = make_user(Role.AGENCY_REP).user
    user.mobile_number, user.text_alerts = number, alerts
    db.session.commit()
    return user


def outbox(channel: str | None = None) -> list[OutboxMessage]:
    """Every outbox message (of one channel), oldest first."""
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if channel is not None:
        query = query.where(OutboxMessage.channel == channel)
    return list(db.session.scalars(query))


def queue_escalation(user: User, key: str = "a1") -> None:
    assert queue_message(user, "action_overdue_escalation", key) is not None
    db.session.commit()


def texts_in(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.txt"))


# --- queueing ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(TEXTED_KINDS))
def test_an_urgent_kind_queues_a_content_free_text_as_well_as_the_email(app: Flask, kind: str) -> None:
    user = texting_user()
    email = queue_message(user, kind, "k1")
    db.session.commit()
    (text,) = outbox("sms")
    assert email is not None
    assert (email.channel, email.address) == ("email", user.email)
    assert (text.kind, text.recipient_id, text.status) == (kind, user.id, "pending")
    assert text.idempotency_key == f"sms:{kind}:k1:{user.public_id}"
    assert text.body == "OFFICIAL-SENSITIVE: You have a new MARAC notification: sign in to view."
    stored = " ".join(str(v) for v in (text.address, text.subject, text.body, text.idempotency_key))
    for personal in (DIGITS, "900123", user.email, user.display_name):
        assert personal not in stored


def test_the_text_body_names_no_person_case_or_agency() -> None:
    assert SMS_BODY == "OFFICIAL-SENSITIVE: You have a new MARAC notification: sign in to view."


def test_kinds_that_are_not_urgent_are_only_emailed(app: Flask) -> None:
    user = texting_user()
    queue_message(user, "minutes_distributed", "m1")
    queue_message(user, "action_reminder", "a1")
    db.session.commit()
    assert [m.channel for m in outbox()] == ["email", "email"]


@pytest.mark.parametrize(("number", "alerts"), [(NUMBER, False), (None, False)])
def test_users_without_text_alerts_on_are_only_emailed(app: Flask, number: str | None, alerts: bool) -> None:
    queue_escalation(texting_user(number, alerts))
    assert [m.channel for m in outbox()] == ["email"]


def test_a_repeat_of_the_same_event_queues_neither_again(app: Flask) -> None:
    user = texting_user()
    queue_escalation(user)
    assert queue_message(user, "action_overdue_escalation", "a1") is None
    db.session.commit()
    assert sorted(m.channel for m in outbox()) == ["email", "sms"]


def test_nothing_is_texted_where_no_text_backend_is_configured(app: Flask) -> None:
    app.config["MARAC_SMS_BACKEND"] = "none"
    queue_escalation(texting_user())
    assert [m.channel for m in outbox()] == ["email"]
    assert text_backend_from_config(app) is None


# --- the file backend and the relay -----------------------------------------------------------------------------------


def test_the_backend_is_chosen_by_setting(app: Flask) -> None:
    assert isinstance(text_backend_from_config(app), FileTextBackend)  # the default in development and test
    app.config.update(
        MARAC_SMS_BACKEND="notify", MARAC_NOTIFY_API_KEY=API_KEY, MARAC_NOTIFY_SMS_TEMPLATE_ID=SMS_TEMPLATE_ID
    )
    assert isinstance(text_backend_from_config(app), NotifyTextBackend)


def test_the_file_backend_writes_one_txt_per_text_and_recognises_a_resend(app: Flask) -> None:
    folder = Path(app.config["MARAC_OUTBOX_DIR"])
    queue_escalation(texting_user())
    result = relay_once()
    assert (result.sent, result.dead, result.skipped) == (2, 0, 0)
    (written,) = texts_in(folder)
    assert written.read_text() == (
        f"To: {NUMBER}\nReference: {written.stem[:40]}\n\n"
        "OFFICIAL-SENSITIVE: You have a new MARAC notification: sign in to view.\n"
    )
    (text,) = outbox("sms")
    sent = reload(text)
    assert (sent.status, sent.provider_reference) == ("sent", written.name)
    again = FileTextBackend(folder)  # a relay that crashed before marking it sends it again
    assert again.send_text(sent, NUMBER) == written.name
    assert again.already_delivered == 1
    assert texts_in(folder) == [written]


def test_a_text_goes_to_the_number_the_user_has_when_it_is_sent(app: Flask) -> None:
    user = texting_user()
    queue_escalation(user)
    user.mobile_number = "+447400123456"
    db.session.commit()
    relay_once()
    (written,) = texts_in(Path(app.config["MARAC_OUTBOX_DIR"]))
    assert written.read_text().startswith("To: +447400123456\n")


@pytest.mark.parametrize(
    ("change", "reason"),
    [({"mobile_number": None}, "no mobile number"), ({"text_alerts": False}, "text alerts turned off")],
)
def test_the_relay_skips_a_text_whose_recipient_removed_their_number_or_turned_alerts_off(
    app: Flask, change: dict[str, Any], reason: str
) -> None:
    user = texting_user()
    queue_escalation(user)
    for name, value in change.items():
        setattr(user, name, value)
    db.session.commit()
    result = relay_once()
    assert (result.sent, result.skipped, result.dead) == (1, 1, 0)  # the email still goes
    (text,) = outbox("sms")
    skipped = reload(text)
    assert (skipped.status, skipped.last_error, skipped.sent_at) == ("skipped", reason, None)
    assert texts_in(Path(app.config["MARAC_OUTBOX_DIR"])) == []
    assert relay_once().claimed == 0  # not tried again


def test_queue_messages_queues_like_queue_message_once_per_key(app: Flask) -> None:
    from marac.notify.services import queue_messages

    texting, plain = texting_user(), make_user(Role.AGENCY_REP).user
    assert queue_message(plain, "encompass_notification", "n0") is not None
    queued = queue_messages(
        [
            (texting, "encompass_notification", "n1"),
            (plain, "encompass_notification", "n0"),  # already queued
            (plain, "action_reminder", "n1"),
            (texting, "encompass_notification", "n1"),  # repeats the first entry
        ]
    )
    db.session.commit()
    assert [m is not None for m in queued] == [True, False, True, False]
    assert [(m.recipient_id, m.kind) for m in outbox("email")] == [
        (plain.id, "encompass_notification"),
        (texting.id, "encompass_notification"),
        (plain.id, "action_reminder"),
    ]
    (text,) = outbox("sms")
    assert (text.recipient_id, text.idempotency_key) == (
        texting.id,
        f"sms:encompass_notification:n1:{texting.public_id}",
    )
    assert queue_messages([(texting, "encompass_notification", "n1")]) == [None]


# --- codes confirming a new number ------------------------------------------------------------------------------------


def queue_code(user: User, number: str, clock: FakeClock) -> OutboxMessage:
    """Set a new number for `user` (alerts on), which queues a code text to it."""
    from marac.notify.texts import set_text_alerts

    message = set_text_alerts(user, number, True, clock())
    db.session.commit()
    assert message is not None
    return message


def test_a_code_goes_to_the_pending_number_and_alerts_to_the_confirmed_one(app: Flask, clock: FakeClock) -> None:
    user = texting_user()
    code_text = queue_code(user, "+447400123456", clock)
    queue_escalation(user)
    assert (code_text.kind, code_text.channel, code_text.address) == ("mobile_code", "sms", "sms")
    assert code_text.idempotency_key == f"sms:mobile_code:1:{user.public_id}"
    assert (relay_once().sent, reload(code_text).status) == (3, "sent")
    written = {p.read_text().split("\n", 1)[0]: p.read_text() for p in texts_in(Path(app.config["MARAC_OUTBOX_DIR"]))}
    assert sorted(written) == ["To: +447400123456", f"To: {NUMBER}"]
    assert written[f"To: {NUMBER}"].endswith(f"\n\n{SMS_BODY}\n")
    body = written["To: +447400123456"].split("\n\n", 1)[1]
    assert body.startswith("OFFICIAL-SENSITIVE: ")
    assert body.endswith(" is your MARAC code to confirm this number. It expires in 15 minutes.\n")
    for personal in (user.display_name, user.email):
        assert personal not in body


def test_a_code_is_texted_to_a_first_number_even_before_alerts_are_on(app: Flask, clock: FakeClock) -> None:
    user = texting_user(number=None, alerts=False)
    queue_code(user, NUMBER, clock)
    assert (relay_once().sent, len(texts_in(Path(app.config["MARAC_OUTBOX_DIR"])))) == (1, 1)


@pytest.mark.parametrize(
    ("then", "reason"),
    [
        ("+447400123456", "pending number changed or a newer code sent"),
        (None, "no number waiting to be confirmed"),
        ("expired", "code expired"),
    ],
)
def test_the_relay_skips_a_code_whose_pending_number_was_replaced_or_cleared(
    app: Flask, clock: FakeClock, then: str | None, reason: str
) -> None:
    from marac.notify.texts import set_text_alerts

    user = texting_user(number=None, alerts=False)
    first = queue_code(user, "+447700900456", clock)
    if then == "expired":
        clock.advance(minutes=15)
    else:
        set_text_alerts(user, then, then is not None, clock())
        db.session.commit()
    relay_once()
    skipped = reload(first)
    assert (skipped.status, skipped.last_error, skipped.sent_at) == ("skipped", reason, None)
    sent_to = [p.read_text().split("\n", 1)[0] for p in texts_in(Path(app.config["MARAC_OUTBOX_DIR"]))]
    assert sent_to == (["To: +447400123456"] if then == "+447400123456" else [])
