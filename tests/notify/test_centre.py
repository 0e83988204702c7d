"""The notification centre: each message also lands, with what it is about, in the user's notification list."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, select

from marac import db
from marac.access import Role
from marac.notify.centre import notify_user, unread_count
from marac.notify.models import Notification, OutboxMessage
from tests.conftest import FakeClock
from tests.factories import Account, login_as, make_user, post_form

TEXT = "Case MC-0001: an action for Example Police is due on 30 November 2026."


@pytest.fixture
def account(app: Flask) -> Account:
    return make_user(Role.AGENCY_REP)


def test_notify_user_queues_a_content_free_message_and_a_notification_once(account: Account) -> None:
    made = notify_user(account.user, "action_reminder", "a1", TEXT, "/actions")
    db.session.commit()
    assert made is not None
    assert made.text == TEXT
    message = db.session.scalars(select(OutboxMessage)).one()
    assert message.subject == "OFFICIAL-SENSITIVE: MARAC action due soon"
    assert "MC-0001" not in message.body
    assert notify_user(account.user, "action_reminder", "a1", TEXT, "/actions") is None
    assert len(db.session.scalars(select(Notification)).all()) == 1
    assert unread_count(account.user) == 1


def test_centre_lists_newest_first_with_unread_marked(client: FlaskClient, clock: FakeClock, account: Account) -> None:
    notify_user(account.user, "action_reminder", "old", "The older notification", None)
    clock.advance(minutes=5)
    notify_user(account.user, "action_updated", "new", "The newer notification", "/actions")
    db.session.commit()
    login_as(client, account, clock)
    page = client.get("/notifications").get_data(as_text=True)
    assert page.index("The newer notification") < page.index("The older notification")
    assert page.count(">Unread<") == 2


def test_opening_marks_read_and_goes_to_the_link(client: FlaskClient, clock: FakeClock, account: Account) -> None:
    note = notify_user(account.user, "action_updated", "k", TEXT, "/actions")
    db.session.commit()
    assert note is not None
    login_as(client, account, clock)
    response = post_form(client, f"/notifications/{note.public_id}/read", {}, form_path="/notifications")
    assert response.status_code == 302
    assert response.headers["Location"] == "/actions"
    db.session.refresh(note)
    assert note.read_at is not None
    assert ">Unread<" not in client.get("/notifications").get_data(as_text=True)


def test_another_users_notification_is_not_found(client: FlaskClient, clock: FakeClock, account: Account) -> None:
    other = make_user(Role.AGENCY_REP)
    note = notify_user(other.user, "action_updated", "k", TEXT, "/actions")
    db.session.commit()
    assert note is not None
    login_as(client, account, clock)
    response = post_form(client, f"/notifications/{note.public_id}/read", {}, form_path="/notifications")
    assert response.status_code == 404
    db.session.refresh(note)
    assert note.read_at is None


def test_an_unsafe_link_is_never_followed(client: FlaskClient, clock: FakeClock, account: Account) -> None:
    note = notify_user(account.user, "action_updated", "k", TEXT, "https://evil.example/")
    db.session.commit()
    assert note is not None
    login_as(client, account, clock)
    response = post_form(client, f"/notifications/{note.public_id}/read", {}, form_path="/notifications")
    assert response.headers["Location"] == "/notifications"


# --- the header link -------------------------------------------------------------------------------------------------


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement run while the block runs."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def squeezed(page: str) -> str:
    """The page with each run of white space as one space."""
    return re.sub(r"\s+", " ", page)


def about_notifications(seen: list[str]) -> list[str]:
    return [s for s in seen if "FROM notifications" in s]


def test_the_header_links_to_notifications_with_the_unread_count(
    client: FlaskClient, clock: FakeClock, account: Account
) -> None:
    for key in ("a", "b", "c"):
        notify_user(account.user, "action_updated", key, TEXT, "/actions")
    db.session.commit()
    login_as(client, account, clock)
    page = squeezed(client.get("/").get_data(as_text=True))
    assert (
        '<a class="govuk-service-navigation__link" href="/notifications"> '
        'Notifications (3<span class="govuk-visually-hidden"> unread</span>) </a>'
    ) in page


def test_the_header_shows_no_count_once_everything_is_read(
    client: FlaskClient, clock: FakeClock, account: Account
) -> None:
    note = notify_user(account.user, "action_updated", "k", TEXT, "/actions")
    db.session.commit()
    assert note is not None
    login_as(client, account, clock)
    post_form(client, f"/notifications/{note.public_id}/read", {}, form_path="/notifications")
    page = squeezed(client.get("/").get_data(as_text=True))
    assert 'href="/notifications"> Notifications </a>' in page
    assert "unread</span>" not in page


def test_the_header_count_costs_one_count_query_a_page(client: FlaskClient, clock: FakeClock, account: Account) -> None:
    notify_user(account.user, "action_updated", "k", TEXT, "/actions")
    db.session.commit()
    login_as(client, account, clock)
    with statements() as seen:
        page = client.get("/").get_data(as_text=True)
    assert "Notifications (1" in page
    (query,) = about_notifications(seen)
    assert query.lstrip().upper().startswith("SELECT COUNT(")


def test_anonymous_visitors_see_no_link_and_cost_no_query(client: FlaskClient) -> None:
    with statements() as seen:
        page = client.get("/sign-in").get_data(as_text=True)
    assert "/notifications" not in page
    assert about_notifications(seen) == []
