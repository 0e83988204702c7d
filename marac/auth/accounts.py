"""Account administration: create, change, disable and reset accounts (by administrators or on the server)."""

from __future__ import annotations

import secrets
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select

from marac import audit, db
from marac.access import PRIVILEGED_ROLES, Role, role_combination_problem, web_account_change_problem
from marac.auth import passwords
from marac.auth.models import User, UserRole
from marac.auth.services import AccountError, normalise_email, revoke_user_sessions
from marac.orgs.models import Agency, Area

MAX_NAME = 120
MAX_EMAIL = 254


def temporary_password() -> str:
    """A random one-time password an administrator hands over; it must be changed at first sign-in."""
    return "-".join(secrets.token_urlsafe(6) for _ in range(3))


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


def list_users(agency_public_id: str | None = None) -> list[User]:
    """Accounts by agency then name, optionally of one agency."""
    query = select(User).join(User.agency).order_by(Agency.name, User.display_name)
    if agency_public_id:
        query = query.where(Agency.public_id == agency_public_id)
    return list(db.session.scalars(query))


def count_users() -> int:
    """How many accounts exist."""
    return db.session.scalar(select(func.count()).select_from(User)) or 0
