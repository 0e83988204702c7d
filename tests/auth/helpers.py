"""Helpers for sign-in and web-security tests: audit lookups, sign-in steps and page normalisation."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pyotp
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marac import db
from marac.audit.models import AuditEvent
from marac.auth.models import AuthSession, User
from tests.factories import CSRF_PATTERN, Account, post_form

NONCE_PATTERN = re.compile(r'nonce="([^"]+)"')
#: A password that is never any test account's password.
WRONG_PASSWORD = "not the right password at all"


def fresh(user: User) -> User:
    """The user as the database holds it now (requests change rows behind the test's session)."""
    db.session.refresh(user)
    return user


def audit_events(action: str, user: User | None = None) -> list[AuditEvent]:
    """Audit events with this action (about this user, when given), oldest first."""
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
    if user is not None:
        query = query.where(AuditEvent.object_id == user.public_id)
    return list(db.session.scalars(query))


def sessions_of(user: User) -> list[AuthSession]:
    """The user's server-side sessions, oldest first, as stored now."""
    db.session.expire_all()
    return list(db.session.scalars(select(AuthSession).where(AuthSession.user_id == user.id).order_by(AuthSession.id)))


def count_rows(model: Any, *where: Any) -> int:
    """How many rows of `model` match."""
    return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def submit_password(client: FlaskClient, email: str, password: str, path: str = "/sign-in") -> Any:
    """The first sign-in step, as a browser submits it."""
    return post_form(client, path, {"email": email, "password": password})


def submit_code(client: FlaskClient, code: str) -> Any:
    """The second sign-in step."""
    return post_form(client, "/sign-in/code", {"code": code})


def code_at(secret: str, clock: Any, steps: int = 0) -> str:
    """The authenticator code `steps` time steps away from the test clock's time."""
    return pyotp.TOTP(secret).at(clock() + timedelta(seconds=30 * steps))


def wrong_code(secret: str, clock: Any) -> str:
    """A well-formed code that matches no accepted time step."""
    accepted = {code_at(secret, clock, s) for s in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in accepted)


def sign_in_to_code_step(client: FlaskClient, account: Account) -> None:
    """Pass the password step, leaving the browser on the code page."""
    response = submit_password(client, account.email, account.password)
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in/code"


def normalised(body: str) -> str:
    """A page with its per-response secrets (CSRF token value, CSP nonce) replaced by placeholders."""
    for match in CSRF_PATTERN.finditer(body):
        body = body.replace(match.group(1) or match.group(2), "CSRF-TOKEN")
    return NONCE_PATTERN.sub('nonce="NONCE"', body)


def text_of(response: Any) -> str:
    """A response body as text."""
    return str(response.get_data(as_text=True))


#: What every failed sign-in says, with the default threshold of 5.
SIGN_IN_FAILED = "Enter a correct email address and password. After 5 wrong attempts you will need to wait."
