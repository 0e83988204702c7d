"""Text alerts through GOV.UK Notify's /v2/notifications/sms, against a local HTTP stub standing in for its API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from flask import Flask
from sqlalchemy import select

from marac import db
from marac.audit.models import AuditEvent
from marac.notify.models import OutboxMessage
from marac.notify.relay import relay_once
from marac.notify.services import SMS_BODY
from tests.conftest import FakeClock
from tests.notify.servers import NotifyStub, notify_stub, reload
from tests.notify.test_sms import DIGITS, NUMBER, outbox, queue_escalation, texting_user

SERVICE_ID = str(uuid.uuid4())
SECRET = str(uuid.uuid4())
API_KEY = f"marac_test-{SERVICE_ID}-{SECRET}"
SMS_TEMPLATE_ID = str(uuid.uuid4())
NOTIFICATION_ID = str(uuid.uuid4())


@pytest.fixture
def stub() -> Iterator[NotifyStub]:
    with notify_stub(NOTIFICATION_ID) as state:
        yield state


@pytest.fixture
def settings(settings: dict[str, Any], stub: NotifyStub) -> dict[str, Any]:
    """Texts through the stub; email stays with the file backend."""
    return {
        **settings,
        "MARAC_SMS_BACKEND": "notify",
        "MARAC_NOTIFY_API_KEY": API_KEY,
        "MARAC_NOTIFY_BASE_URL": stub.url,
        "MARAC_NOTIFY_SMS_TEMPLATE_ID": SMS_TEMPLATE_ID,
    }


def queued_text() -> OutboxMessage:
    queue_escalation(texting_user())
    (text,) = outbox("sms")
    return text


def test_notify_201_marks_the_text_sent_with_notifys_id(app: Flask, stub: NotifyStub) -> None:
    text = queued_text()
    assert relay_once().sent == 2
    (request,) = stub.requests
    assert request["path"] == "/v2/notifications/sms"
    scheme, _, token = request["headers"]["Authorization"].partition(" ")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert (scheme, claims["iss"]) == ("Bearer", SERVICE_ID)
    assert request["json"] == {
        "phone_number": NUMBER,
        "template_id": SMS_TEMPLATE_ID,
        "personalisation": {"body": SMS_BODY},
        "reference": text.idempotency_key,
    }
    sent = reload(text)
    assert (sent.status, sent.provider_reference) == ("sent", NOTIFICATION_ID)


def test_notify_400_about_the_number_dead_letters_the_text_without_the_number(
    app: Flask, stub: NotifyStub, capsys: pytest.CaptureFixture[str]
) -> None:
    error = {"status_code": 400, "errors": [{"error": "ValidationError", "message": f"phone_number {NUMBER} invalid"}]}
    stub.answers.append((400, error))
    text = queued_text()
    assert relay_once().dead == 1
    dead = reload(text)
    assert (dead.status, dead.last_error) == ("dead", "Notify 400: phone_number refused")
    assert dead.dead_at is not None
    (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "outbox.dead_lettered"))
    assert event.object_id == text.public_id
    assert DIGITS not in json.dumps(event.details) + capsys.readouterr().out


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_notify_server_error_is_retried_later(app: Flask, stub: NotifyStub, clock: FakeClock, status: int) -> None:
    stub.answers.append((status, {"status_code": status, "errors": [{"error": "Error", "message": "busy"}]}))
    text = queued_text()
    assert relay_once().retrying == 1
    waiting = reload(text)
    assert (waiting.status, waiting.last_error, waiting.attempts) == ("pending", f"Notify {status}", 1)
    assert relay_once().claimed == 0  # backed off
    clock.advance(minutes=2)
    assert relay_once().sent == 1
    assert [r["json"]["reference"] for r in stub.requests] == [text.idempotency_key] * 2
    assert reload(text).status == "sent"


def test_notify_unreachable_is_retried(app: Flask, stub: NotifyStub) -> None:
    app.config["MARAC_NOTIFY_BASE_URL"] = "http://127.0.0.1:9"  # discard port: nothing listens
    text = queued_text()
    assert relay_once().retrying == 1
    assert reload(text).status == "pending"
