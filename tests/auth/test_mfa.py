"""Authenticator codes: enrolment with a QR code, single use, clock drift and the code input."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from marac import db
from marac.auth.accounts import reset_user
from marac.auth.models import AuthSession
from marac.auth.views import CODE_FAILED
from tests.auth.helpers import (
    audit_events,
    code_at,
    fresh,
    sessions_of,
    sign_in_to_code_step,
    submit_code,
    text_of,
    wrong_code,
)
from tests.factories import login_as, make_user, post_form, totp_now

# --- enrolment -------------------------------------------------------------------------------------------------------


def test_first_sign_in_shows_a_qr_code_and_the_key(client: FlaskClient) -> None:
    account = make_user(enrolled=False)
    sign_in_to_code_step(client, account)

    response = client.get("/sign-in/code")

    page = text_of(response)
    user = fresh(account.user)
    assert response.status_code == 200
    assert "Set up your authenticator app" in page
    qr = re.search(r'<div class="marac-qr"[^>]*>\s*(<svg.*?</svg>)', page, re.S)
    assert qr, "no QR code"
    assert "<path" in qr.group(1)
    assert "style=" not in qr.group(1)  # the CSP allows no inline styles
    assert user.totp_pending_secret
    assert f'<span class="marac-code" id="totp-secret">{user.totp_pending_secret}</span>' in page
    assert user.totp_secret is None


def test_the_key_shown_stays_the_same_until_confirmed(client: FlaskClient) -> None:
    account = make_user(enrolled=False)
    sign_in_to_code_step(client, account)
    first = re.findall(r'id="totp-secret">([A-Z2-7]+)<', text_of(client.get("/sign-in/code")))
    second = re.findall(r'id="totp-secret">([A-Z2-7]+)<', text_of(client.get("/sign-in/code")))
    assert first == second
    assert len(first) == 1


def test_first_correct_code_confirms_enrolment(client: FlaskClient, clock: Any) -> None:
    account = make_user(enrolled=False)
    sign_in_to_code_step(client, account)
    client.get("/sign-in/code")
    secret = fresh(account.user).totp_pending_secret or ""

    response = submit_code(client, code_at(secret, clock))

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    user = fresh(account.user)
    assert (user.totp_secret, user.totp_pending_secret, user.mfa_enrolled_at) == (secret, None, clock())
    [event] = audit_events("auth.mfa_enrolled", user)
    assert event.actor_user_id == user.id
    assert client.get("/").status_code == 200


def test_a_wrong_code_does_not_confirm_enrolment(client: FlaskClient, clock: Any) -> None:
    account = make_user(enrolled=False)
    sign_in_to_code_step(client, account)
    client.get("/sign-in/code")
    secret = fresh(account.user).totp_pending_secret or ""

    response = submit_code(client, wrong_code(secret, clock))

    page = text_of(response)
    assert response.status_code == 400
    assert CODE_FAILED in page
    assert "<svg" in page  # still enrolling: the QR code is shown again
    user = fresh(account.user)
    assert (user.totp_secret, user.totp_pending_secret, user.failed_attempts) == (None, secret, 1)
    assert audit_events("auth.mfa_enrolled", user) == []


def test_enrolled_user_is_asked_for_a_code_without_a_qr_code(client: FlaskClient) -> None:
    account = make_user()
    sign_in_to_code_step(client, account)
    page = text_of(client.get("/sign-in/code"))
    assert "Enter the code from your authenticator app" in page
    assert "<svg" not in page
    assert "totp-secret" not in page
    assert account.totp_secret not in page


def test_reset_account_enrols_again_and_must_change_password(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    temporary = reset_user(None, account.user, clock())
    db.session.commit()
    old_secret = account.totp_secret

    response = post_form(client, "/sign-in", {"email": account.email, "password": temporary})
    assert response.status_code == 302
    page = text_of(client.get("/sign-in/code"))
    assert "Set up your authenticator app" in page
    new_secret = fresh(account.user).totp_pending_secret or ""
    assert new_secret != old_secret

    assert submit_code(client, code_at(new_secret, clock)).status_code == 302
    response = client.get("/")
    assert response.headers["Location"] == "/account/password"


# --- code input ------------------------------------------------------------------------------------------------------


def test_code_input_asks_the_browser_for_a_one_time_code(client: FlaskClient) -> None:
    account = make_user()
    sign_in_to_code_step(client, account)
    page = text_of(client.get("/sign-in/code"))
    [field] = re.findall(r"<input[^>]*name=\"code\"[^>]*>", page)
    assert 'autocomplete="one-time-code"' in field
    assert 'inputmode="numeric"' in field


def test_code_with_a_space_in_the_middle_is_accepted(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    sign_in_to_code_step(client, account)
    code = totp_now(account, clock)
    response = submit_code(client, f"{code[:3]} {code[3:]}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_code_that_is_not_six_digits_gets_a_field_error(client: FlaskClient) -> None:
    account = make_user()
    sign_in_to_code_step(client, account)
    response = submit_code(client, "12345a")
    assert response.status_code == 400
    assert '<a href="#code">The code must be 6 digits, like 123456</a>' in text_of(response)
    assert fresh(account.user).failed_attempts == 0


# --- single use and drift --------------------------------------------------------------------------------------------


def test_a_code_works_only_once(client: FlaskClient, other_client: FlaskClient, clock: Any) -> None:
    account = make_user()
    clock.advance(seconds=10)
    code = totp_now(account, clock)
    sign_in_to_code_step(client, account)
    assert submit_code(client, code).headers["Location"] == "/"

    sign_in_to_code_step(other_client, account)
    response = submit_code(other_client, code)

    assert response.status_code == 400
    assert CODE_FAILED in text_of(response)
    assert other_client.get("/").headers["Location"].startswith("/sign-in")
    user = fresh(account.user)
    assert user.failed_attempts == 1
    assert user.totp_last_step == int(clock().timestamp()) // 30
    assert len(audit_events("auth.sign_in", user)) == 2  # one success, one failure

    clock.advance(seconds=30)
    assert submit_code(other_client, totp_now(account, clock)).headers["Location"] == "/"


def test_an_older_code_is_refused_after_a_newer_one_was_used(
    client: FlaskClient, other_client: FlaskClient, clock: Any
) -> None:
    account = make_user()
    clock.advance(seconds=10)
    sign_in_to_code_step(client, account)
    assert submit_code(client, totp_now(account, clock)).status_code == 302

    sign_in_to_code_step(other_client, account)
    response = submit_code(other_client, code_at(account.totp_secret or "", clock, steps=-1))
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("steps", "accepted"),
    [(0, True), (-1, True), (1, True), (-2, False), (2, False)],
)
def test_one_step_of_clock_drift_either_side_is_accepted(
    client: FlaskClient, clock: Any, steps: int, accepted: bool
) -> None:
    account = make_user()
    clock.advance(seconds=10)
    sign_in_to_code_step(client, account)

    response = submit_code(client, code_at(account.totp_secret or "", clock, steps=steps))

    user = fresh(account.user)
    if accepted:
        assert response.headers["Location"] == "/"
        assert user.last_sign_in_at == clock()
    else:
        assert response.status_code == 400
        assert CODE_FAILED in text_of(response)
        assert user.last_sign_in_at is None


# --- the waiting-for-code step ---------------------------------------------------------------------------------------


def test_code_page_without_a_password_step_sends_you_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/sign-in/code")
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in"


def test_code_step_times_out_after_ten_minutes(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    sign_in_to_code_step(client, account)

    clock.advance(minutes=10, seconds=1)
    response = client.get("/sign-in/code")

    assert response.headers["Location"] == "/sign-in"
    assert "Sign in again: the sign-in timed out or was not finished." in text_of(client.get("/sign-in"))


def test_session_token_is_replaced_when_the_code_is_accepted(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    sign_in_to_code_step(client, account)
    [pending] = sessions_of(account.user)
    pending_hash, pending_mfa = pending.token_hash, pending.mfa_at

    submit_code(client, totp_now(account, clock))

    [live] = sessions_of(account.user)
    assert isinstance(live, AuthSession)
    assert pending_mfa is None
    assert live.mfa_at == clock()
    assert live.token_hash != pending_hash


def test_login_helper_leaves_one_live_session(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    login_as(client, account, clock)
    [row] = sessions_of(account.user)
    assert row.revoked_at is None
    assert row.mfa_at == clock()
