"""Defences found wanting in review: concurrent guesses, password-change guessing, retired agencies, odd codes."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from marac import db
from marac.access import Role
from marac.auth import services
from marac.auth.models import User
from marac.orgs.services import save_agency
from tests.auth.helpers import SIGN_IN_FAILED, WRONG_PASSWORD, audit_events, fresh, sessions_of, text_of
from tests.factories import PASSWORD, login_as, make_user, post_form


def _guess(app: Flask, email: str, results: list[bool], barrier: threading.Barrier) -> None:
    """One sign-in POST's service calls, as the view makes them."""
    with app.app_context():
        barrier.wait()
        now = db.utcnow()
        attempt = services.start_password_attempt(email, now)
        db.session.commit()
        results.append(services.finish_password_attempt(attempt, WRONG_PASSWORD, now) is not None)
        db.session.commit()


def test_simultaneous_guesses_check_no_more_passwords_than_the_threshold(committed_app: Flask) -> None:
    with committed_app.app_context():
        email = make_user(Role.IDVA).email
    results: list[bool] = []
    barrier = threading.Barrier(12)
    threads = [threading.Thread(target=_guess, args=(committed_app, email, results, barrier)) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    with committed_app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        assert user is not None
        wrong = [e for e in audit_events("auth.sign_in", user) if (e.details or {}).get("reason") == "wrong_password"]
        locked = [e for e in audit_events("auth.sign_in", user) if (e.details or {}).get("reason") == "locked"]
        assert results == [False] * 12
        assert (len(wrong), len(locked), user.failed_attempts) == (5, 7, 5)
        assert user.locked_until is not None
        assert len(audit_events("auth.lockout", user)) == 1


def _change(client: FlaskClient, current: str, new: str = "a brand new passphrase") -> Any:
    return post_form(
        client, "/account/password", {"current_password": current, "new_password": new, "confirm_password": new}
    )


def test_guessing_the_current_password_counts_towards_lockout_and_signs_out(client: FlaskClient, clock: Any) -> None:
    account = make_user(Role.CHAIR)
    login_as(client, account, clock)

    for _ in range(4):
        response = _change(client, WRONG_PASSWORD)
        assert response.status_code == 400
        assert "Your current password is wrong" in text_of(response)
    last = _change(client, WRONG_PASSWORD)

    assert last.status_code == 302
    assert last.headers["Location"].endswith("/sign-in")
    assert "locked after too many wrong passwords" in client.get("/sign-in").get_data(as_text=True)
    assert fresh(account.user).locked_until is not None
    assert len(audit_events("auth.lockout", account.user)) == 1
    assert all(s.revoked_at is not None for s in sessions_of(account.user))
    assert client.get("/").status_code == 302


def test_changing_the_password_ends_every_other_session(
    client: FlaskClient, other_client: FlaskClient, clock: Any
) -> None:
    account = make_user(Role.REFERRER)
    login_as(other_client, account, clock)  # say, a session left open on a shared computer
    login_as(client, account, clock)
    old_cookie = client.get_cookie("marac_session")
    assert old_cookie is not None

    response = _change(client, PASSWORD)

    assert response.status_code == 302
    assert client.get("/").status_code == 200  # this browser carries on, with a new token
    assert other_client.get("/").status_code == 302
    assert fresh(account.user).failed_attempts == 0
    (event,) = audit_events("auth.password_changed", account.user)
    assert event.details == {"other_sessions_ended": 1}
    new_cookie = client.get_cookie("marac_session")
    assert new_cookie is not None
    assert new_cookie.value != old_cookie.value


def test_staff_of_a_retired_agency_cannot_sign_in_and_are_signed_out(
    client: FlaskClient, other_client: FlaskClient, clock: Any
) -> None:
    account = make_user(Role.AGENCY_REP)
    login_as(client, account, clock)
    agency = account.user.agency
    save_agency(None, name=agency.name, kind=agency.kind, areas=list(agency.areas), is_active=False, agency=agency)
    db.session.commit()

    assert client.get("/").status_code == 302
    clock.advance(seconds=31)
    response = post_form(other_client, "/sign-in", {"email": account.email, "password": account.password})
    assert response.status_code == 400
    assert SIGN_IN_FAILED in text_of(response)


@pytest.mark.parametrize(
    "code", ["\u0661\u0662\u0663\u0664\u0665\u0666", "12\u00a0\u00a03456", "\uff11\uff12\uff13\uff14\uff15\uff16"]
)
def test_codes_in_other_digit_forms_get_an_answer_not_an_error(client: FlaskClient, clock: Any, code: str) -> None:
    account = make_user(Role.IDVA)
    clock.advance(seconds=31)
    post_form(client, "/sign-in", {"email": account.email, "password": account.password})

    response = post_form(client, "/sign-in/code", {"code": code})

    assert response.status_code == 400
    assert "The code must be 6 digits, like 123456" in text_of(response)
    assert fresh(account.user).failed_attempts == 0  # a malformed code is not a guess
