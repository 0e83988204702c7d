"""The text alerts page: one's own work mobile number (UK mobiles only, sealed), text alerts on or off, a test text."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from marac import db
from marac.access import Role
from marac.notify.models import OutboxMessage
from marac.notify.texts import LANDLINE, NEEDS_NUMBER, NOT_A_NUMBER, NOT_MOBILE, OTHER_COUNTRY, TEST_TEXT_BODY
from tests.auth.helpers import audit_events, fresh, text_of
from tests.conftest import FakeClock
from tests.factories import Account, login_as, make_user, post_form

PAGE = "/account/notifications"
TEST_TEXT = "/account/notifications/test-text"


@pytest.fixture
def account(client: FlaskClient, clock: FakeClock) -> Account:
    """A signed-in agency representative with no number and text alerts off."""
    signed_in = make_user(Role.AGENCY_REP)
    login_as(client, signed_in, clock)
    return signed_in


def save(client: FlaskClient, number: str, alerts: str = "yes") -> Any:
    return post_form(client, PAGE, {"mobile_number": number, "text_alerts": alerts})


def texts() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "sms")))


@pytest.mark.parametrize("typed", ["07700 900123", "+44 7700 900123", "07700900123", "0044 7700 900123"])
def test_a_uk_mobile_number_is_saved_in_e164_and_sealed(client: FlaskClient, account: Account, typed: str) -> None:
    response = save(client, typed)
    assert response.status_code == 302
    user = fresh(account.user)
    assert (user.mobile_number, user.text_alerts) == ("+447700900123", True)
    raw = bytes(
        db.session.execute(text("SELECT mobile_number_sealed FROM users WHERE id = :id"), {"id": user.id}).scalar_one()
    )
    for digits in (b"7700900123", b"7700 900123", b"900123"):
        assert digits not in raw
    assert "07700 900123" in text_of(client.get(PAGE))  # shown back as people write it


def test_a_real_range_mobile_number_is_accepted(client: FlaskClient, account: Account) -> None:
    assert save(client, "07400 123456").status_code == 302
    assert fresh(account.user).mobile_number == "+447400123456"


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("020 7946 0000", LANDLINE),
        ("+33 6 12 34 56 78", OTHER_COUNTRY),
        ("+1 202 555 0123", OTHER_COUNTRY),
        ("07797 123456", OTHER_COUNTRY),  # Jersey: +44, but not the UK
        ("0800 123 4567", NOT_MOBILE),
        ("hello", NOT_A_NUMBER),
        ("07700", NOT_A_NUMBER),
        ("07400 123456x", NOT_A_NUMBER),
        ("", NEEDS_NUMBER),
    ],
)
def test_a_bad_number_is_refused_with_a_clear_message_and_nothing_saved(
    client: FlaskClient, account: Account, typed: str, message: str
) -> None:
    response = save(client, typed)
    assert response.status_code == 400
    assert message in text_of(response)
    user = fresh(account.user)
    assert (user.mobile_number, user.text_alerts) == (None, False)
    assert audit_events("account.text_alerts") == []


def test_the_number_can_be_removed_and_alerts_turned_off(client: FlaskClient, account: Account) -> None:
    save(client, "07700 900123")
    assert save(client, "", alerts="no").status_code == 302
    user = fresh(account.user)
    assert (user.mobile_number, user.mobile_number_enc, user.text_alerts) == (None, None, False)


def test_a_number_can_be_kept_with_alerts_off(client: FlaskClient, account: Account) -> None:
    assert save(client, "07700 900123", alerts="no").status_code == 302
    user = fresh(account.user)
    assert (user.mobile_number, user.text_alerts) == ("+447700900123", False)


def test_changes_are_audited_without_the_number(
    client: FlaskClient, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    save(client, "07700 900123")
    save(client, "07700 900456")
    save(client, "", alerts="no")
    events = audit_events("account.text_alerts", account.user)
    assert [e.details for e in events] == [
        {"text_alerts": True, "mobile_number": "added"},
        {"text_alerts": True, "mobile_number": "changed"},
        {"text_alerts": False, "mobile_number": "removed"},
    ]
    recorded = json.dumps([e.details for e in events]) + capsys.readouterr().out
    assert "900123" not in recorded
    assert "900456" not in recorded


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient, account: Account) -> None:
    response = client.post(PAGE, data={"mobile_number": "07700 900123", "text_alerts": "yes"})
    assert response.status_code == 400
    assert fresh(account.user).mobile_number is None


def test_a_test_text_is_queued_content_free_once_a_minute(
    client: FlaskClient, account: Account, clock: FakeClock
) -> None:
    save(client, "07700 900123")
    response = post_form(client, TEST_TEXT, {}, form_path=PAGE)
    assert response.status_code == 302
    assert "A test text is on its way." in text_of(client.get(PAGE))
    (queued,) = texts()
    assert (queued.kind, queued.address, queued.body) == ("test_text", "sms", TEST_TEXT_BODY)
    assert queued.recipient_id == account.user.id
    post_form(client, TEST_TEXT, {}, form_path=PAGE)
    assert "wait a minute" in text_of(client.get(PAGE))
    assert len(texts()) == 1
    clock.advance(minutes=1)
    post_form(client, TEST_TEXT, {}, form_path=PAGE)
    assert len(texts()) == 2
    assert [e.details for e in audit_events("account.test_text", account.user)] == [
        {"queued": True},
        {"queued": False},
        {"queued": True},
    ]


def test_a_test_text_needs_text_alerts_on(client: FlaskClient, account: Account) -> None:
    save(client, "07700 900123", alerts="no")
    page = text_of(client.get(PAGE))
    assert "Send a test text" not in page
    response = post_form(client, TEST_TEXT, {}, form_path=PAGE)
    assert response.status_code == 302
    assert "Turn on text alerts" in text_of(client.get(PAGE))
    assert texts() == []


def test_the_page_is_linked_from_the_header(client: FlaskClient, account: Account) -> None:
    assert f'href="{PAGE}"' in text_of(client.get("/"))


def test_without_a_text_backend_the_page_says_texts_are_not_available(
    app: Flask, client: FlaskClient, account: Account
) -> None:
    app.config["MARAC_SMS_BACKEND"] = "none"
    page = text_of(client.get(PAGE))
    assert "Text alerts are not available here." in page
    assert 'name="mobile_number"' not in page
    assert f'href="{PAGE}"' not in text_of(client.get("/"))
    assert save(client, "07700 900123").status_code == 404
    assert post_form(client, TEST_TEXT, {}, form_path=PAGE).status_code == 404
    assert fresh(account.user).mobile_number is None


def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient) -> None:
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")


@pytest.mark.parametrize("path", [PAGE, TEST_TEXT])
def test_anonymous_posts_are_refused(client: FlaskClient, path: str) -> None:
    assert client.post(path, data={"mobile_number": "07700 900123", "text_alerts": "yes"}).status_code == 400  # CSRF
    response = post_form(client, path, {"mobile_number": "07700 900123", "text_alerts": "yes"}, form_path="/sign-in")
    assert response.status_code == 401  # as every signed-in-only POST answers a visitor with a valid form
    assert texts() == []
