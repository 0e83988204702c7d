"""The SMTP backend against a real local SMTP server (aiosmtpd): temporary refusals and dropped connections are
retried and nothing is lost; a refused recipient is dead-lettered with the reason; what arrives is content-free."""

from __future__ import annotations

import email
import socketserver
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask

from marac import db
from marac.access import Role
from marac.notify.backends import SmtpBackend, backend_from_config
from marac.notify.models import OutboxMessage
from marac.notify.relay import relay_once
from marac.notify.services import BODY, Attachment, queue_message
from tests.conftest import FakeClock
from tests.factories import make_user
from tests.notify.servers import free_port, reload, serving

INVITE = Attachment("meeting.ics", "text/calendar", b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n")
REFUSED = "nobody@refused.example"


class Handler:
    """Accepts mail, but refuses REFUSED with 550 and answers the first `busy` DATA commands with 451."""

    def __init__(self) -> None:
        self.busy = 0
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address == REFUSED:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.busy:
            self.busy -= 1
            return "451 4.3.0 try later"
        self.received.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


@pytest.fixture
def handler() -> Iterator[Handler]:
    """A real SMTP server on a free local port, running in a thread."""
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port  # type: ignore[attr-defined]
    yield handler
    controller.stop()


@pytest.fixture
def settings(settings: dict[str, Any], handler: Handler) -> dict[str, Any]:
    """Send through the local server; no TLS in tests (production refuses MARAC_SMTP_TLS=none)."""
    return {
        **settings,
        "MARAC_MAIL_BACKEND": "smtp",
        "MARAC_SMTP_HOST": "127.0.0.1",
        "MARAC_SMTP_PORT": handler.port,  # type: ignore[attr-defined]
        "MARAC_SMTP_TLS": "none",
        "MARAC_SMTP_FROM": "marac@marac.example",
        "MARAC_SMTP_TIMEOUT_SECONDS": 5,
    }


def queue(address: str | None = None) -> OutboxMessage:
    user = make_user(Role.AGENCY_REP).user
    if address:
        user.email = address
    message = queue_message(user, "meeting_moved", "m1", INVITE)
    assert message is not None
    db.session.commit()
    return message


def test_the_backend_is_chosen_by_setting(app: Flask) -> None:
    assert isinstance(backend_from_config(app), SmtpBackend)


def test_a_delivered_message_is_marked_content_free_and_carries_the_invite(app: Flask, handler: Handler) -> None:
    message = queue()
    assert relay_once().sent == 1
    ((recipients, raw),) = handler.received
    assert recipients == [message.address]
    parsed = email.message_from_bytes(raw, policy=default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == "OFFICIAL-SENSITIVE: MARAC meeting moved"
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == BODY  # SMTP carries CRLF line ends
    (invite,) = list(parsed.iter_attachments())
    assert invite.get_content_type() == "text/calendar"
    assert reload(message).provider_reference == parsed["Message-ID"]


def test_451_try_later_waits_and_is_sent_on_the_next_attempt(app: Flask, handler: Handler, clock: FakeClock) -> None:
    handler.busy = 1
    message = queue()
    assert relay_once().retrying == 1
    assert handler.received == []
    waiting = reload(message)
    assert (waiting.status, waiting.last_error) == ("pending", "SMTP 451 message refused: 4.3.0 try later")
    clock.advance(minutes=2)
    assert relay_once().sent == 1
    assert len(handler.received) == 1
    assert reload(message).status == "sent"


def test_a_recipient_refused_with_550_is_dead_lettered_with_the_reason(app: Flask, handler: Handler) -> None:
    message = queue(REFUSED)
    assert relay_once().dead == 1
    dead = reload(message)
    assert dead.status == "dead"
    assert dead.last_error == "SMTP 550 recipient refused: 5.1.1 mailbox unavailable"
    assert handler.received == []


class Hangup(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.close()


@pytest.mark.parametrize("down", ["drops the connection", "is not listening"])
def test_a_server_that_is_down_leaves_the_message_waiting_until_it_is_back(
    app: Flask, handler: Handler, clock: FakeClock, down: str
) -> None:
    message = queue()
    port = app.config["MARAC_SMTP_PORT"]
    if down == "drops the connection":
        with serving(socketserver.TCPServer(("127.0.0.1", 0), Hangup)) as hangup_port:
            app.config["MARAC_SMTP_PORT"] = hangup_port
            assert relay_once().retrying == 1
    else:
        app.config["MARAC_SMTP_PORT"] = free_port()
        assert relay_once().retrying == 1
    waiting = reload(message)
    assert waiting.status == "pending"
    assert (waiting.last_error or "").startswith("SMTP connection failed: ")
    app.config["MARAC_SMTP_PORT"] = port
    clock.advance(minutes=2)
    assert relay_once().sent == 1
    assert len(handler.received) == 1
