"""The "Send again" button on /admin/outbox: a dead letter is queued again, audited, and the admin is told."""

from __future__ import annotations

import html
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marac import db
from marac.access import Role
from marac.audit.models import AuditEvent
from marac.notify.backends import PermanentFailure
from marac.notify.models import OutboxMessage
from marac.notify.relay import relay_once
from marac.notify.services import queue_message
from tests.conftest import FakeClock
from tests.factories import Account, login_as, make_user, post_form
from tests.notify.servers import reload


class RefusingBackend:
    """Refuses every address for good."""

    already_delivered = 0

    def send(self, message: OutboxMessage) -> str:
        raise PermanentFailure("SMTP 550 recipient refused: mailbox full")

    def close(self) -> None:
        pass


@pytest.fixture
def admin(client: FlaskClient, clock: FakeClock) -> Account:
    """A platform administrator, signed in on `client`."""
    account = make_user(Role.ADMIN)
    login_as(client, account, clock)
    return account


def dead_letter() -> OutboxMessage:
    message = queue_message(make_user(Role.AGENCY_REP).user, "meeting_moved", "m1")
    assert message is not None
    db.session.commit()
    assert relay_once(backend=RefusingBackend()).dead == 1
    return reload(message)


def requeued(public_id: str) -> int:
    query = select(func.count()).where(AuditEvent.action == "outbox.requeued", AuditEvent.object_id == public_id)
    return int(db.session.scalar(query) or 0)


def send_again(client: FlaskClient, public_id: str) -> Any:
    return post_form(client, f"/admin/outbox/{public_id}/requeue", {}, form_path="/admin/outbox")


def test_each_dead_letter_has_a_send_again_button(client: FlaskClient, admin: Account) -> None:
    message = dead_letter()
    page = html.unescape(client.get("/admin/outbox").get_data(as_text=True))
    assert f'action="/admin/outbox/{message.public_id}/requeue"' in page
    assert f'Send again<span class="govuk-visually-hidden"> the meeting_moved message to {message.address}' in page


def test_admin_sends_a_dead_letter_again(client: FlaskClient, admin: Account, clock: FakeClock) -> None:
    message = dead_letter()
    clock.advance(minutes=10)
    response = send_again(client, message.public_id)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/outbox"
    message = reload(message)
    assert (message.status, message.attempts, message.dead_at) == ("pending", 0, None)
    assert message.next_attempt_at == clock.current
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "outbox.requeued")).one()
    assert (event.object_id, event.actor_user_id, event.details) == (
        message.public_id,
        admin.user.id,
        {"kind": "meeting_moved"},
    )
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert "The message will be sent again within a minute." in page
    assert f"/admin/outbox/{message.public_id}/requeue" not in page
    assert relay_once().sent == 1


def test_sending_again_a_message_that_is_not_dead_says_so_and_changes_nothing(
    client: FlaskClient, admin: Account
) -> None:
    message = dead_letter()
    assert send_again(client, message.public_id).status_code == 302
    response = send_again(client, message.public_id)  # a second click, or a second admin
    assert response.status_code == 302
    page = html.unescape(client.get("/admin/outbox").get_data(as_text=True))
    assert "That message is not waiting to be sent again: it was already sent or queued again." in page
    assert requeued(message.public_id) == 1
    assert reload(message).status == "pending"


def test_an_unknown_message_is_not_found(client: FlaskClient, admin: Account) -> None:
    dead_letter()
    assert send_again(client, str(uuid.uuid4())).status_code == 404


def test_sending_again_without_the_form_token_is_refused(client: FlaskClient, admin: Account) -> None:
    message = dead_letter()
    response = client.post(f"/admin/outbox/{message.public_id}/requeue")
    assert response.status_code == 400
    assert reload(message).status == "dead"
    assert requeued(message.public_id) == 0


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.DPO, Role.AGENCY_REP])
def test_other_roles_cannot_send_a_dead_letter_again(client: FlaskClient, clock: FakeClock, role: Role) -> None:
    message = dead_letter()
    login_as(client, make_user(role), clock)
    response = post_form(client, f"/admin/outbox/{message.public_id}/requeue", {}, form_path="/")
    assert response.status_code == 403
    assert reload(message).status == "dead"
    assert requeued(message.public_id) == 0


def test_anonymous_visitors_cannot_send_a_dead_letter_again(client: FlaskClient) -> None:
    message = dead_letter()
    response = post_form(client, f"/admin/outbox/{message.public_id}/requeue", {}, form_path="/sign-in")
    assert response.status_code == 401
    assert reload(message).status == "dead"
    assert requeued(message.public_id) == 0
