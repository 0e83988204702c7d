"""Sign-in, authenticator codes, server-side sessions and account administration."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import case, func, literal, or_, select, update

from marac import audit, db
from marac.access import PRIVILEGED_ROLES, Role, role_combination_problem, web_account_change_problem
from marac.auth import passwords
from marac.auth.models import AuthSession, User, UserRole
from marac.db import UTCDateTime
from marac.orgs.models import Agency, Area

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


def temporary_password() -> str:
    """A random one-time password an administrator hands over; it must be changed at first sign-in."""
    return "-".join(secrets.token_urlsafe(6) for _ in range(3))


# --- account administration ----------------------------------------------------------------------------------------


def _check_roles(roles: list[str]) -> list[str]:
    valid = {r.value for r in Role}
    unknown = [r for r in roles if r not in valid]
    if unknown:
        raise AccountError(f"Unknown role: {', '.join(unknown)}")
    if not roles:
        raise AccountError("Select at least one role")
    if problem := role_combination_problem(set(roles)):
        raise AccountError(problem)
    return sorted(set(roles))


def _check_web_change(actor: User | None, user: User | None, old_roles: list[str], new_roles: list[str]) -> None:
    """Changes made through the web (an actor) must respect the privileged-role rules in marac.access."""
    if actor is not None and (problem := web_account_change_problem(actor, user, set(old_roles), set(new_roles))):
        raise AccountError(problem)


def _checked_identity(email: str, display_name: str) -> tuple[str, str]:
    """The normalised email and name, or AccountError (the command line reaches here without a form)."""
    try:
        email = validate_email(normalise_email(email), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError("Enter an email address in the correct format, like name@example.org") from exc
    display_name = " ".join(display_name.split())
    if not display_name or len(display_name) > MAX_NAME or len(email) > MAX_EMAIL:
        raise AccountError(f"Enter a name of 1 to {MAX_NAME} characters and an email of up to {MAX_EMAIL}")
    return email, display_name


def create_user(
    actor: User | None,
    *,
    email: str,
    display_name: str,
    agency: Agency,
    roles: list[str],
    areas: list[Area],
    now: datetime,
    password: str | None = None,
) -> tuple[User, str]:
    """Create an account with a temporary password (returned once) to change at first sign-in."""
    email, display_name = _checked_identity(email, display_name)
    if db.session.scalar(select(func.count()).select_from(User).where(User.email == email)):
        raise AccountError("An account with this email address already exists")
    if password is not None and (problems := passwords.password_problems(password, email)):
        raise AccountError(problems[0])
    secret = password or temporary_password()
    user = User(
        email=email,
        display_name=display_name,
        agency=agency,
        created_at=now,
        password_hash=passwords.hash_password(secret),
        must_change_password=password is None,
        password_changed_at=now,
    )
    checked = _check_roles(roles)
    _check_web_change(actor, None, [], checked)
    user.roles = [UserRole(role=r) for r in checked]
    user.areas = list(areas)
    db.session.add(user)
    db.session.flush()
    audit.record(
        "admin.user_created",
        actor=actor,
        object_type="user",
        object_id=user.public_id,
        details={"roles": user.role_names, "agency": agency.public_id},
    )
    return user, secret


def update_user(
    actor: User | None,
    user: User,
    *,
    display_name: str,
    agency: Agency,
    roles: list[str],
    areas: list[Area],
    now: datetime,
) -> None:
    """Change an account's name, agency, roles or areas; a change of access ends the user's sessions."""
    new_roles = _check_roles(roles)
    _check_web_change(actor, user, user.role_names, new_roles)
    if (
        actor is not None
        and actor.id == user.id
        and (agency.id != user.agency_id or {a.id for a in areas} != {a.id for a in user.areas})
    ):
        raise AccountError("You cannot change your own agency or areas: ask another administrator")
    access_changed = (
        new_roles != user.role_names
        or agency.id != user.agency_id
        or sorted(a.id for a in areas) != sorted(a.id for a in user.areas)
    )
    if new_roles != user.role_names:
        keep = {r.role: r for r in user.roles}
        user.roles = [keep.get(r) or UserRole(role=r) for r in new_roles]
    user.display_name, user.agency, user.areas = display_name.strip(), agency, list(areas)
    db.session.flush()
    audit.record(
        "admin.user_updated",
        actor=actor,
        object_type="user",
        object_id=user.public_id,
        details={"roles": new_roles, "agency": agency.public_id, "access_changed": access_changed},
    )
    if access_changed:
        revoke_user_sessions(user, now, "access_changed")


def set_user_active(actor: User | None, user: User, active: bool, now: datetime) -> None:
    """Disable (ending every session) or re-enable an account."""
    if actor is not None and actor.id == user.id and not active:
        raise AccountError("You cannot disable your own account")
    user.is_active = active
    user.disabled_at = None if active else now
    if not active:
        revoke_user_sessions(user, now, "account_disabled")
    audit.record(
        "admin.user_enabled" if active else "admin.user_disabled",
        actor=actor,
        object_type="user",
        object_id=user.public_id,
    )


def reset_user(actor: User | None, user: User, now: datetime) -> str:
    """Issue a temporary password, clear MFA and lockout, end sessions; returns the temporary password."""
    privileged = {r.value for r in PRIVILEGED_ROLES} & set(user.role_names)
    if actor is not None and privileged:
        raise AccountError("Administrator and DPO accounts are reset on the server with marac users reset, not here")
    secret = temporary_password()
    user.password_hash, user.must_change_password, user.password_changed_at = passwords.hash_password(secret), True, now
    user.totp_secret = user.totp_pending_secret = user.totp_last_step = user.mfa_enrolled_at = None
    user.failed_attempts, user.locked_until = 0, None
    revoke_user_sessions(user, now, "account_reset")
    audit.record(
        "admin.user_reset", actor=actor, object_type="user", object_id=user.public_id, details={"mfa_cleared": True}
    )
    return secret
