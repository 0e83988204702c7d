"""Sign-in, authenticator codes, server-side sessions and account administration."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from flask import current_app
from sqlalchemy import case, literal, or_, select, update

from marac import audit, db
from marac.auth import passwords
from marac.auth.models import AuthSession, User
from marac.db import UTCDateTime

TOTP_INTERVAL = 30
MAX_NAME = 120
MAX_EMAIL = 254
PENDING_MFA_MINUTES = 10
ISSUER = "MARAC"


class AccountError(ValueError):
    """A change to an account was refused; the message is safe to show."""


def normalise_email(email: str) -> str:
    """Emails are compared case-insensitively and without surrounding space."""
    return email.strip().lower()


def hash_token(token: str) -> str:
    """Server-side sessions store only the SHA-256 of the cookie token."""
    return hashlib.sha256(token.encode()).hexdigest()


def find_user_by_email(email: str) -> User | None:
    """The account with this email, if any."""
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


# --- sign-in -----------------------------------------------------------------------------------------------------


@dataclass
class Attempt:
    """A sign-in attempt counted before it is checked: `count` is None when the account may not try now."""

    user: User | None
    count: int | None
    reason: str | None = None


def claim_attempt(user: User, now: datetime) -> int | None:
    """Count an attempt atomically before checking it; None while the account is locked.

    Reaching the threshold locks the account at once (provisionally), so concurrent attempts are refused while
    this one is checked: however many arrive together, no more than the threshold are ever checked.
    """
    config = current_app.config
    provisional = now + timedelta(minutes=config["MARAC_LOCKOUT_BASE_MINUTES"])
    reaches = User.failed_attempts + 1 >= config["MARAC_LOCKOUT_THRESHOLD"]
    result = db.session.execute(
        update(User)
        .where(User.id == user.id, or_(User.locked_until.is_(None), User.locked_until <= now))
        .values(
            failed_attempts=User.failed_attempts + 1,
            locked_until=case((reaches, literal(provisional, UTCDateTime())), else_=User.locked_until),
        )
        .returning(User.failed_attempts)
        .execution_options(synchronize_session=False)
    )
    count = result.scalar_one_or_none()
    db.session.expire(user, ["failed_attempts", "locked_until"])
    return count


def start_password_attempt(email: str, now: datetime) -> Attempt:
    """First half of a sign-in: find the account and claim an attempt (the caller commits before the slow check)."""
    user = find_user_by_email(email)
    if user is None or not user.is_active or not user.agency.is_active:
        reason = "unknown_account" if user is None else "disabled"
        return Attempt(user=user, count=None, reason=reason)
    count = claim_attempt(user, now)
    return Attempt(user=user, count=count, reason="locked" if count is None else None)


def finish_password_attempt(attempt: Attempt, password: str, now: datetime) -> User | None:
    """Second half: check the password (unknown, disabled, locked and wrong all cost one hash) and record it."""
    user = attempt.user
    stored = user.password_hash if user is not None and attempt.count is not None else passwords.dummy_hash()
    correct = passwords.verify_password(stored, password) and attempt.count is not None
    if user is None or attempt.count is None:
        audit.record(
            "auth.sign_in",
            actor=user,
            object_type="user",
            object_id=user.public_id if user else None,
            outcome="failure",
            details={"reason": attempt.reason},
        )
        return None
    if not correct:
        record_failure(user, attempt.count, now, "password")
        return None
    release_attempt(user, attempt.count)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    audit.record("auth.password_accepted", actor=user, object_type="user", object_id=user.public_id)
    return user


def is_locked(user: User, now: datetime) -> bool:
    """Whether sign-in is refused for now."""
    return user.locked_until is not None and user.locked_until > now


def release_attempt(user: User, count: int) -> None:
    """A right answer at an intermediate step: take back its claim and any provisional lock."""
    values: dict[str, object] = {"failed_attempts": User.failed_attempts - 1}
    if count >= current_app.config["MARAC_LOCKOUT_THRESHOLD"]:
        values["locked_until"] = None
    db.session.execute(update(User).where(User.id == user.id).values(**values))
    db.session.expire(user, ["failed_attempts", "locked_until"])


def record_failure(user: User, count: int, now: datetime, stage: str) -> None:
    """A wrong password or code (already counted by its claim): audit it, and lock with back-off at the threshold."""
    audit.record(
        "auth.sign_in",
        actor=user,
        object_type="user",
        object_id=user.public_id,
        outcome="failure",
        details={"reason": f"wrong_{stage}"},
    )
    config = current_app.config
    threshold = config["MARAC_LOCKOUT_THRESHOLD"]
    if count < threshold:
        return
    minutes = min(config["MARAC_LOCKOUT_BASE_MINUTES"] * 2 ** (count - threshold), config["MARAC_LOCKOUT_MAX_MINUTES"])
    user.locked_until = now + timedelta(minutes=minutes)
    revoke_user_sessions(user, now, "locked")
    audit.record(
        "auth.lockout",
        actor=user,
        object_type="user",
        object_id=user.public_id,
        outcome="failure",
        details={"failed_attempts": count, "minutes": int(minutes)},
    )


def start_pending_session(user: User, now: datetime) -> str:
    """After the password: a session that waits for the authenticator code. Returns its token."""
    token = secrets.token_urlsafe(32)
    db.session.add(AuthSession(token_hash=hash_token(token), user_id=user.id, created_at=now, last_seen_at=now))
    return token


def pending_session(token: str | None, now: datetime) -> AuthSession | None:
    """The waiting-for-code session for this token, while it is fresh and the account may sign in."""
    if not token:
        return None
    row = db.session.scalar(select(AuthSession).where(AuthSession.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None or row.mfa_at is not None:
        return None
    user = row.user
    if now - row.created_at > timedelta(minutes=PENDING_MFA_MINUTES) or not user.is_active:
        return None
    if not user.agency.is_active:
        return None
    if user.locked_until is not None and user.locked_until > now:
        return None
    return row


def enrolment_secret(user: User) -> str:
    """The secret to show while enrolling, created on first need."""
    if user.totp_pending_secret is None:
        user.totp_pending_secret = pyotp.random_base32()
    return user.totp_pending_secret


def provisioning_uri(user: User, secret: str) -> str:
    """otpauth:// URI for authenticator apps."""
    issuer = current_app.config.get("MARAC_SERVICE_NAME", ISSUER)
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_INTERVAL)
    current = int(now.timestamp()) // TOTP_INTERVAL
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def use_totp_code(user: User, secret: str, code: str, now: datetime) -> bool:
    """Accept a code once: it must match (one step of drift allowed) and be newer than the last one used."""
    step = _matching_step(secret, "".join(code.split()), now)
    if step is None:
        return False
    claimed = db.session.execute(
        update(User)
        .where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
    )
    db.session.refresh(user, ["totp_last_step"])
    return bool(getattr(claimed, "rowcount", 0) == 1)


def complete_mfa(row: AuthSession, code: str, now: datetime) -> str | None:
    """Check the code for a waiting session; on success the session is live and a fresh token is returned."""
    user = row.user
    count = claim_attempt(user, now)
    if count is None:
        return None  # locked meanwhile (by another browser)
    enrolling = user.totp_secret is None
    secret = user.totp_secret or user.totp_pending_secret
    if secret is None or not use_totp_code(user, secret, code, now):
        record_failure(user, count, now, "code")
        return None
    if enrolling:
        user.totp_secret, user.totp_pending_secret, user.mfa_enrolled_at = secret, None, now
        audit.record("auth.mfa_enrolled", actor=user, object_type="user", object_id=user.public_id)
    token = secrets.token_urlsafe(32)
    row.token_hash, row.mfa_at, row.last_seen_at = hash_token(token), now, now
    user.failed_attempts, user.locked_until, user.last_sign_in_at = 0, None, now
    audit.record("auth.sign_in", actor=user, object_type="user", object_id=user.public_id)
    return token


# --- sessions ------------------------------------------------------------------------------------------------------


def load_session_user(token: str, now: datetime) -> User | None:
    """The user of a live session, ending it when it has timed out or the account was disabled."""
    row = db.session.scalar(select(AuthSession).where(AuthSession.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None or row.mfa_at is None:
        return None
    config = current_app.config
    reason = None
    if not row.user.is_active or not row.user.agency.is_active:
        reason = "account_disabled"
    elif now - row.last_seen_at > timedelta(minutes=config["MARAC_SESSION_IDLE_MINUTES"]):
        reason = "idle_timeout"
    elif now - row.created_at > timedelta(hours=config["MARAC_SESSION_ABSOLUTE_HOURS"]):
        reason = "absolute_timeout"
    if reason is not None:
        row.revoked_at, row.revoked_reason = now, reason
        audit.record(
            "auth.session_ended",
            actor=row.user,
            object_type="user",
            object_id=row.user.public_id,
            details={"reason": reason},
        )
        return None
    if now - row.last_seen_at > timedelta(seconds=30):
        row.last_seen_at = now
    user = row.user
    user.auth_token = token
    return user


def session_end_reason(token: str) -> str | None:
    """Why a session ended (idle_timeout, absolute_timeout, access_changed, ...), or None if it never existed."""
    return db.session.scalar(select(AuthSession.revoked_reason).where(AuthSession.token_hash == hash_token(token)))


def end_session(token: str, now: datetime, reason: str = "signed_out") -> None:
    """Revoke one session (sign-out)."""
    row = db.session.scalar(select(AuthSession).where(AuthSession.token_hash == hash_token(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at, row.revoked_reason = now, reason
        audit.record("auth.sign_out", actor=row.user, object_type="user", object_id=row.user.public_id)


def revoke_user_sessions(user: User, now: datetime, reason: str) -> int:
    """End every open session of a user; they are signed out at their next request."""
    result = db.session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- passwords -----------------------------------------------------------------------------------------------------


def change_own_password(user: User, count: int, token: str, current: str, new: str, now: datetime) -> list[str]:
    """Change one's own password after `claim_attempt`; returns problems to show (empty on success).

    A wrong current password counts towards the lockout like a sign-in; a change ends every other session.
    """
    if not passwords.verify_password(user.password_hash, current):
        record_failure(user, count, now, "current_password")
        return ["Your current password is wrong"]
    release_attempt(user, count)
    problems = passwords.password_problems(new, user.email)
    if not problems and passwords.verify_password(user.password_hash, new):
        problems.append("Choose a password different from your current one")
    if problems:
        return problems
    user.password_hash, user.must_change_password, user.password_changed_at = passwords.hash_password(new), False, now
    ended = db.session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
        .where(AuthSession.token_hash != hash_token(token))
        .values(revoked_at=now, revoked_reason="password_changed")
    )
    audit.record(
        "auth.password_changed",
        actor=user,
        object_type="user",
        object_id=user.public_id,
        details={"other_sessions_ended": int(getattr(ended, "rowcount", 0) or 0)},
    )
    return []


def rotate_session_token(token: str) -> str:
    """Give the current session a new token (after a privilege-relevant change such as a new password)."""
    new = secrets.token_urlsafe(32)
    db.session.execute(
        update(AuthSession).where(AuthSession.token_hash == hash_token(token)).values(token_hash=hash_token(new))
    )
    return new
