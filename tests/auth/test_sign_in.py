"""Signing in: lockout with back-off, no user enumeration, open redirects, rate limiting and form errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient

from marac import db
from marac.access import Role
from marac.auth.accounts import set_user_active
from marac.auth.models import AuthSession
from marac.auth.views import CODE_FAILED
from marac.forms import EMAIL_FORMAT
from tests.auth.helpers import (
    SIGN_IN_FAILED,
    WRONG_PASSWORD,
    audit_events,
    count_rows,
    fresh,
    normalised,
    sign_in_to_code_step,
    submit_code,
    submit_password,
    text_of,
    wrong_code,
)
from tests.factories import csrf_token, login_as, make_user, post_form, totp_now

# --- lockout ---------------------------------------------------------------------------------------------------------


def test_five_wrong_passwords_lock_the_account_and_refuse_the_right_one(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    for _ in range(5):
        response = submit_password(client, account.email, WRONG_PASSWORD)
        assert response.status_code == 400
        assert SIGN_IN_FAILED in text_of(response)

    user = fresh(account.user)
    assert user.failed_attempts == 5
    assert user.locked_until == clock() + timedelta(minutes=5)
    [lockout] = audit_events("auth.lockout", user)
    assert lockout.outcome == "failure"
    assert lockout.details == {"failed_attempts": 5, "minutes": 5}

    response = submit_password(client, account.email, account.password)
    assert response.status_code == 400
    assert SIGN_IN_FAILED in text_of(response)
    assert count_rows(AuthSession, AuthSession.user_id == user.id) == 0
    assert audit_events("auth.sign_in", user)[-1].details == {"reason": "locked"}


def test_lock_expires_after_the_lockout_period(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    for _ in range(5):
        submit_password(client, account.email, WRONG_PASSWORD)

    clock.advance(minutes=4, seconds=59)
    assert submit_password(client, account.email, account.password).status_code == 400
    clock.advance(seconds=2)
    response = submit_password(client, account.email, account.password)
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in/code"


def test_wrong_passwords_while_locked_do_not_extend_the_lock(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    for _ in range(5):
        submit_password(client, account.email, WRONG_PASSWORD)
    locked_until = fresh(account.user).locked_until

    clock.advance(minutes=1)
    submit_password(client, account.email, WRONG_PASSWORD)

    user = fresh(account.user)
    assert (user.failed_attempts, user.locked_until) == (5, locked_until)
    assert len(audit_events("auth.lockout", user)) == 1


def test_back_off_doubles_for_each_failure_after_a_lock_expires(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    for _ in range(5):
        submit_password(client, account.email, WRONG_PASSWORD)

    clock.advance(minutes=6)
    submit_password(client, account.email, WRONG_PASSWORD)
    user = fresh(account.user)
    assert user.failed_attempts == 6
    assert user.locked_until == clock() + timedelta(minutes=10)

    clock.advance(minutes=11)
    submit_password(client, account.email, WRONG_PASSWORD)
    user = fresh(account.user)
    assert user.failed_attempts == 7
    assert user.locked_until == clock() + timedelta(minutes=20)
    assert [e.details["minutes"] for e in audit_events("auth.lockout", user) if e.details] == [5, 10, 20]

    clock.advance(minutes=19)
    response = submit_password(client, account.email, account.password)
    assert response.status_code == 400
    assert SIGN_IN_FAILED in text_of(response)


def test_successful_sign_in_resets_the_failure_count(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    for _ in range(4):
        submit_password(client, account.email, WRONG_PASSWORD)
    assert fresh(account.user).failed_attempts == 4

    login_as(client, account, clock)
    user = fresh(account.user)
    assert (user.failed_attempts, user.locked_until, user.last_sign_in_at) == (0, None, clock())

    post_form(client, "/sign-out", {}, form_path="/")
    for _ in range(4):
        submit_password(client, account.email, WRONG_PASSWORD)
    user = fresh(account.user)
    assert (user.failed_attempts, user.locked_until) == (4, None)
    assert audit_events("auth.lockout", user) == []


def test_a_correct_password_alone_does_not_reset_the_count(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    for _ in range(4):
        submit_password(client, account.email, WRONG_PASSWORD)
    sign_in_to_code_step(client, account)
    assert fresh(account.user).failed_attempts == 4

    response = submit_code(client, wrong_code(account.totp_secret or "", clock))

    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in"
    user = fresh(account.user)
    assert user.failed_attempts == 5
    assert user.locked_until == clock() + timedelta(minutes=5)


def test_wrong_authenticator_codes_count_towards_the_lockout(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    sign_in_to_code_step(client, account)
    bad = wrong_code(account.totp_secret or "", clock)
    for _ in range(4):
        response = submit_code(client, bad)
        assert response.status_code == 400
        assert CODE_FAILED in text_of(response)

    response = submit_code(client, bad)
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in"
    assert "Sign in again: too many wrong codes." in text_of(client.get("/sign-in"))

    user = fresh(account.user)
    assert user.failed_attempts == 5
    assert user.locked_until == clock() + timedelta(minutes=5)
    assert len(audit_events("auth.lockout", user)) == 1
    assert [e.details for e in audit_events("auth.sign_in", user) if e.outcome == "failure"] == [
        {"reason": "wrong_code"}
    ] * 5

    response = submit_password(client, account.email, account.password)
    assert response.status_code == 400
    assert SIGN_IN_FAILED in text_of(response)


def test_the_right_code_is_refused_once_the_account_is_locked(
    client: FlaskClient, other_client: FlaskClient, clock: Any
) -> None:
    account = make_user()
    sign_in_to_code_step(client, account)
    token = csrf_token(client, "/sign-in/code")
    for _ in range(5):
        submit_password(other_client, account.email, WRONG_PASSWORD)

    response = client.post("/sign-in/code", data={"csrf_token": token, "code": totp_now(account, clock)})

    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in"
    assert client.get("/").headers["Location"].startswith("/sign-in")
    assert fresh(account.user).last_sign_in_at is None


# --- no user enumeration ---------------------------------------------------------------------------------------------


def test_unknown_wrong_disabled_and_locked_accounts_look_identical(client: FlaskClient, clock: Any) -> None:
    email = "casey.jordan@example.org"
    unknown = submit_password(client, email, "a password nobody has")

    account = make_user()
    account.user.email = email
    db.session.commit()
    wrong = submit_password(client, email, WRONG_PASSWORD)

    set_user_active(None, account.user, False, clock())
    db.session.commit()
    disabled = submit_password(client, email, account.password)

    set_user_active(None, account.user, True, clock())
    db.session.commit()
    for _ in range(4):
        submit_password(client, email, WRONG_PASSWORD)
    assert fresh(account.user).locked_until is not None
    locked = submit_password(client, email, account.password)

    responses = [unknown, wrong, disabled, locked]
    assert [r.status_code for r in responses] == [400] * 4
    bodies = {normalised(text_of(r)) for r in responses}
    assert len(bodies) == 1
    assert SIGN_IN_FAILED in bodies.pop()
    reasons = [e.details["reason"] for e in audit_events("auth.sign_in") if e.details]
    assert reasons[0] == "unknown_account"
    assert reasons[1] == "wrong_password"
    assert reasons[2] == "disabled"
    assert reasons[-1] == "locked"


def test_email_is_matched_case_insensitively(client: FlaskClient) -> None:
    account = make_user()
    response = submit_password(client, account.email.upper(), account.password)
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in/code"


# --- open redirects --------------------------------------------------------------------------------------------------


def _sign_in_with_next(client: FlaskClient, account: Any, clock: Any, target: str) -> Any:
    path = "/sign-in?" + urlencode({"next": target})
    response = submit_password(client, account.email, account.password, path=path)
    assert response.status_code == 302, text_of(response)[:500]
    return submit_code(client, totp_now(account, clock))


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https:evil.example",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_next_pointing_off_site_lands_on_home(client: FlaskClient, clock: Any, target: str) -> None:
    account = make_user()
    response = _sign_in_with_next(client, account, clock, target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_on_this_site_is_honoured(client: FlaskClient, clock: Any) -> None:
    account = make_user(Role.ADMIN)
    response = _sign_in_with_next(client, account, clock, "/admin/")
    assert response.headers["Location"] == "/admin/"
    assert "Administration" in text_of(client.get("/admin/"))


def test_a_page_asked_for_before_sign_in_is_shown_after_it(client: FlaskClient, clock: Any) -> None:
    account = make_user(Role.ADMIN)
    response = client.get("/admin/areas")
    assert response.status_code == 302
    sign_in_page = response.headers["Location"]
    assert sign_in_page == "/sign-in?next=/admin/areas"

    assert submit_password(client, account.email, account.password, path=sign_in_page).status_code == 302
    response = submit_code(client, totp_now(account, clock))
    assert response.headers["Location"] == "/admin/areas"


# --- form errors -----------------------------------------------------------------------------------------------------


def test_malformed_email_shows_the_error_summary(client: FlaskClient) -> None:
    response = submit_password(client, "not-an-email", "whatever it is")

    page = text_of(response)
    assert response.status_code == 400
    assert "<title>Error: Sign in" in page
    assert "There is a problem" in page
    assert f'<a href="#email">{EMAIL_FORMAT}</a>' in page
    assert audit_events("auth.sign_in") == []


def test_empty_sign_in_form_names_both_fields(client: FlaskClient) -> None:
    response = submit_password(client, "", "")

    page = text_of(response)
    assert response.status_code == 400
    assert '<a href="#email">Enter your email address</a>' in page
    assert '<a href="#password">Enter your password</a>' in page


def test_a_signed_in_user_visiting_sign_in_goes_home(client: FlaskClient, clock: Any) -> None:
    login_as(client, make_user(), clock)
    response = client.get("/sign-in")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


# --- rate limit ------------------------------------------------------------------------------------------------------


class TestRateLimit:
    """With a low limit, the next attempt is refused before the password is even checked."""

    @pytest.fixture
    def settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Three sign-in attempts a minute."""
        settings["MARAC_SIGNIN_RATE_LIMIT"] = "3 per minute"
        return settings

    def test_fourth_attempt_in_a_minute_gets_the_too_many_attempts_page(self, client: FlaskClient) -> None:
        account = make_user()
        for _ in range(3):
            assert submit_password(client, account.email, WRONG_PASSWORD).status_code == 400

        response = submit_password(client, account.email, WRONG_PASSWORD)

        page = text_of(response)
        assert response.status_code == 429
        assert '<h1 class="govuk-heading-l">Too many attempts</h1>' in page
        assert "OFFICIAL-SENSITIVE" in page
        assert "govuk-template" in page
        assert fresh(account.user).failed_attempts == 3
        assert len(audit_events("auth.sign_in", account.user)) == 3

    def test_viewing_the_sign_in_page_is_not_limited(self, client: FlaskClient) -> None:
        for _ in range(5):
            assert "Sign in to MARAC" in text_of(client.get("/sign-in"))
