"""The GOV.UK Notify backend against a local HTTP stub standing in for Notify's API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from flask import Flask

from marac import db
from marac.access import Role
from marac.notify.backends import NotifyBackend, backend_from_config
from marac.notify.models import OutboxMessage
from marac.notify.relay import relay_once
from marac.notify.services import BODY, queue_message
from tests.conftest import FakeClock
from tests.factories import make_user
from tests.notify.servers import reload, serving

SERVICE_ID = str(uuid.uuid4())
SECRET = str(uuid.uuid4())
API_KEY = f"marac_test-{SERVICE_ID}-{SECRET}"
TEMPLATE_ID = str(uuid.uuid4())
NOTIFICATION_ID = str(uuid.uuid4())
ADDRESS_ERROR = {
    "status_code": 400,
    "errors": [{"error": "ValidationError", "message": "email_address Not a valid email address"}],
}


class Stub:
    """What the stub answers (status, JSON body) to each request in turn, and the requests it was sent."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.requests: list[dict[str, Any]] = []
        self.url = ""


@pytest.fixture
def stub() -> Iterator[Stub]:
    """A local HTTP server in a thread, answering like Notify's API."""
    state = Stub()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            state.requests.append(
                {"path": self.path, "headers": dict(self.headers), "json": json.loads(self.rfile.read(length))}
            )
            status, body = state.answers.pop(0) if state.answers else (201, {"id": NOTIFICATION_ID})
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as port:
        state.url = f"http://127.0.0.1:{port}"
        yield state


@pytest.fixture
def settings(settings: dict[str, Any], stub: Stub) -> dict[str, Any]:
    """Send through the stub."""
    return {
        **settings,
        "MARAC_MAIL_BACKEND": "notify",
        "MARAC_NOTIFY_API_KEY": API_KEY,
        "MARAC_NOTIFY_BASE_URL": stub.url,
        "MARAC_NOTIFY_EMAIL_TEMPLATE_ID": TEMPLATE_ID,
    }


def queue() -> OutboxMessage:
    message = queue_message(make_user(Role.AGENCY_REP).user, "minutes_distributed", "m1")
    assert message is not None
    db.session.commit()
    return message


def test_the_backend_is_chosen_by_setting(app: Flask) -> None:
    assert isinstance(backend_from_config(app), NotifyBackend)


def test_201_marks_the_message_sent_with_notifys_id(app: Flask, stub: Stub) -> None:
    message = queue()
    assert relay_once().sent == 1
    (request,) = stub.requests
    assert request["path"] == "/v2/notifications/email"
    scheme, _, token = request["headers"]["Authorization"].partition(" ")
    assert scheme == "Bearer"
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["iss"] == SERVICE_ID
    assert "iat" in claims
    assert request["json"] == {
        "email_address": message.address,
        "template_id": TEMPLATE_ID,
        "personalisation": {"subject": "OFFICIAL-SENSITIVE: MARAC minutes available", "body": BODY},
        "reference": message.idempotency_key,
    }
    sent = reload(message)
    assert (sent.status, sent.provider_reference) == ("sent", NOTIFICATION_ID)


def test_400_about_the_address_dead_letters_the_message(app: Flask, stub: Stub) -> None:
    stub.answers.append((400, ADDRESS_ERROR))
    message = queue()
    assert relay_once().dead == 1
    dead = reload(message)
    assert (dead.status, dead.last_error) == ("dead", "Notify 400: email_address refused")


@pytest.mark.parametrize("status", [500, 429])
def test_a_server_error_or_rate_limit_is_retried(app: Flask, stub: Stub, clock: FakeClock, status: int) -> None:
    stub.answers.append((status, {"status_code": status, "errors": [{"error": "Error", "message": "busy"}]}))
    message = queue()
    assert relay_once().retrying == 1
    assert (reload(message).status, reload(message).last_error) == ("pending", f"Notify {status}")
    clock.advance(minutes=2)
    assert relay_once().sent == 1
    assert len(stub.requests) == 2
    assert {r["json"]["reference"] for r in stub.requests} == {message.idempotency_key}


def test_notify_unreachable_is_retried(app: Flask, stub: Stub) -> None:
    app.config["MARAC_NOTIFY_BASE_URL"] = "http://127.0.0.1:9"  # discard port: nothing listens
    message = queue()
    assert relay_once().retrying == 1
    assert reload(message).status == "pending"
