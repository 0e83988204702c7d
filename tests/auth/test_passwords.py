"""The password policy, hashing, and the forced change after a temporary password."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from marac import db
from marac.access import Role
from marac.auth import passwords
from tests.auth.helpers import SIGN_IN_FAILED, audit_events, fresh, sessions_of, submit_password, text_of
from tests.factories import PASSWORD, login_as, make_user, post_form

NEW_PASSWORD = "lantern orchard pebble violet"
TOO_COMMON = "Password is too common: choose one that is hard to guess, such as three random words"


def _change(client: FlaskClient, current: str, new: str, confirm: str | None = None) -> Any:
    data = {"current_password": current, "new_password": new, "confirm_password": new if confirm is None else confirm}
    return post_form(client, "/account/password", data)


# --- policy ----------------------------------------------------------------------------------------------------------


def test_shipped_list_holds_common_passwords() -> None:
    common = passwords.common_passwords()
    assert len(common) > 10_000
    assert {"password", "password1234", "qwertyuiop", "iloveyou"} <= common


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("elevenchars", "Password must be 12 characters or more"),
        ("password1234", TOO_COMMON),
        ("PASSWORD1234", TOO_COMMON),
        ("Password1234!", TOO_COMMON),
        ("2024iloveyou!!", TOO_COMMON),
        ("qwertyuiop!!", TOO_COMMON),
        ("aaaaaaaaaaaaaaaa", TOO_COMMON),
        ("abababababababab", TOO_COMMON),
        ("x" * 257, "Password must be 256 characters or fewer"),
        ("casey.jordan-is-here-2026", "Password must not contain your email address"),
    ],
)
def test_weak_passwords_are_refused(password: str, problem: str) -> None:
    assert problem in passwords.password_problems(password, "casey.jordan@example.org")


@pytest.mark.parametrize("password", ["lantern orchard pebble", "twelve chars", "Tr0ub4dor&3-extended"])
def test_strong_passwords_are_accepted(password: str) -> None:
    assert passwords.password_problems(password, "casey.jordan@example.org") == []


def test_passwords_are_stored_as_argon2id(app: Flask) -> None:
    stored = passwords.hash_password(NEW_PASSWORD)
    assert stored.startswith("$argon2id$")
    assert NEW_PASSWORD not in stored
    assert passwords.verify_password(stored, NEW_PASSWORD)
    assert not passwords.verify_password(stored, NEW_PASSWORD.upper())
    assert not passwords.verify_password("not a hash", NEW_PASSWORD)


def test_a_hash_made_with_other_costs_is_upgraded_at_sign_in(app: Flask, client: FlaskClient) -> None:
    account = make_user()
    account.user.password_hash = passwords._hasher(2, 2048, 1).hash(account.password)
    db.session.commit()
    assert passwords.needs_rehash(account.user.password_hash)

    assert submit_password(client, account.email, account.password).status_code == 302

    stored = fresh(account.user).password_hash
    assert not passwords.needs_rehash(stored)
    assert passwords.verify_password(stored, account.password)


# --- forced change ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/admin/", "/admin/users", "/audit/"])
def test_must_change_password_sends_every_page_to_the_change_form(client: FlaskClient, clock: Any, path: str) -> None:
    account = make_user(Role.ADMIN, must_change=True)
    login_as(client, account, clock)

    response = client.get(path)

    assert response.status_code == 302
    assert response.headers["Location"] == "/account/password"


def test_forced_change_form_explains_why_and_hides_navigation(client: FlaskClient, clock: Any) -> None:
    account = make_user(Role.ADMIN, must_change=True)
    login_as(client, account, clock)

    page = text_of(client.get("/account/password"))

    assert "You signed in with a temporary password. Choose your own before you continue." in page
    assert "Administration" not in page
    assert 'autocomplete="new-password"' in page


def test_user_who_must_change_password_can_still_sign_out(client: FlaskClient, clock: Any) -> None:
    account = make_user(must_change=True)
    login_as(client, account, clock)

    response = post_form(client, "/sign-out", {}, form_path="/account/password")

    assert response.headers["Location"] == "/sign-in"
    assert sessions_of(account.user)[0].revoked_reason == "signed_out"


def test_changing_the_password_lets_the_user_in(client: FlaskClient, clock: Any) -> None:
    account = make_user(must_change=True)
    login_as(client, account, clock)

    response = _change(client, account.password, NEW_PASSWORD)

    assert response.headers["Location"] == "/"
    page = text_of(client.get("/"))
    assert "Your password has been changed." in page
    assert "Welcome," in page
    user = fresh(account.user)
    assert user.must_change_password is False
    assert user.password_changed_at == clock()
    assert passwords.verify_password(user.password_hash, NEW_PASSWORD)
    assert len(audit_events("auth.password_changed", user)) == 1


def test_after_a_change_only_the_new_password_signs_in(
    client: FlaskClient, other_client: FlaskClient, clock: Any
) -> None:
    account = make_user()
    login_as(client, account, clock)
    _change(client, account.password, NEW_PASSWORD)

    response = submit_password(other_client, account.email, account.password)
    assert response.status_code == 400
    assert SIGN_IN_FAILED in text_of(response)
    assert submit_password(other_client, account.email, NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("short-pass", "Password must be 12 characters or more"),
        ("password1234", TOO_COMMON),
        (PASSWORD, "Choose a password different from your current one"),
    ],
)
def test_refused_new_password_is_explained_and_nothing_changes(
    client: FlaskClient, clock: Any, new: str, message: str
) -> None:
    account = make_user(must_change=True)
    login_as(client, account, clock)
    before = fresh(account.user).password_hash

    response = _change(client, account.password, new)

    page = text_of(response)
    assert response.status_code == 400
    assert f'<a href="#new_password">{message}</a>' in page
    user = fresh(account.user)
    assert (user.password_hash, user.must_change_password) == (before, True)
    assert audit_events("auth.password_changed", user) == []
    assert client.get("/").headers["Location"] == "/account/password"


def test_mismatched_confirmation_is_a_field_error(client: FlaskClient, clock: Any) -> None:
    account = make_user(must_change=True)
    login_as(client, account, clock)

    response = _change(client, account.password, NEW_PASSWORD, confirm=NEW_PASSWORD + "x")

    page = text_of(response)
    assert response.status_code == 400
    assert "There is a problem" in page
    assert '<a href="#confirm_password">The passwords you entered do not match</a>' in page
    assert fresh(account.user).must_change_password is True


def test_wrong_current_password_is_a_field_error(client: FlaskClient, clock: Any) -> None:
    account = make_user(must_change=True)
    login_as(client, account, clock)

    response = _change(client, "not my password at all", NEW_PASSWORD)

    assert response.status_code == 400
    assert '<a href="#current_password">Your current password is wrong</a>' in text_of(response)
    assert not passwords.verify_password(fresh(account.user).password_hash, NEW_PASSWORD)
