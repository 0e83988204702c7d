"""Roles, permissions and route markers: every route declares what it needs, checked before each request."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Flask, abort, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

if TYPE_CHECKING:
    from marac.auth.models import User


F = TypeVar("F", bound=Callable[..., Any])

#: Attribute set on view functions by @require and @public.
MARKER = "_marac_permission"


class Role(StrEnum):
    """Roles from DESIGN.md; a user holds one or more."""

    COORDINATOR = "coordinator"
    CHAIR = "chair"
    IDVA = "idva"
    REFERRER = "referrer"
    SUPERVISOR = "supervisor"
    AGENCY_REP = "agency_rep"
    KEY_ADULT = "key_adult"
    ENCOMPASS_LEAD = "encompass_lead"
    DPO = "dpo"
    ADMIN = "admin"


ROLE_LABELS: dict[Role, str] = {
    Role.COORDINATOR: "MARAC coordinator",
    Role.CHAIR: "MARAC chair",
    Role.IDVA: "IDVA",
    Role.REFERRER: "Referrer",
    Role.SUPERVISOR: "Supervisor",
    Role.AGENCY_REP: "Agency representative",
    Role.KEY_ADULT: "Key adult (Operation Encompass)",
    Role.ENCOMPASS_LEAD: "Operation Encompass lead (police or local authority)",
    Role.DPO: "Data protection officer",
    Role.ADMIN: "Platform administrator",
}


class Permission(StrEnum):
    """What a route or action needs."""

    PUBLIC = "public"
    SIGNED_IN = "signed_in"
    ADMIN_MANAGE = "admin.manage"
    AUDIT_READ = "audit.read"
    CASE_READ = "case.read"
    CASE_WRITE = "case.write"
    PERSON_SEARCH = "person.search"
    BREAK_GLASS = "case.break_glass"
    DISCLOSURE_REVIEW = "disclosure.review"
    REFERRAL_SIGN_OFF = "referral.sign_off"
    REFERRAL_DECIDE = "referral.decide"
    MEETING_VIEW = "meeting.view"
    MEETING_MANAGE = "meeting.manage"
    MINUTES_SIGN = "meeting.minutes_sign"
    RESEARCH_ANSWER = "meeting.research_answer"
    ENCOMPASS_RECORD = "encompass.record"
    ENCOMPASS_RECEIVE = "encompass.receive"
    ENCOMPASS_MONITOR = "encompass.monitor"
    ENCOMPASS_SETTINGS = "encompass.settings"


_CASE_WORK = frozenset({Permission.CASE_READ, Permission.CASE_WRITE, Permission.PERSON_SEARCH, Permission.BREAK_GLASS})
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.COORDINATOR: _CASE_WORK | {Permission.REFERRAL_DECIDE, Permission.MEETING_VIEW, Permission.MEETING_MANAGE},
    Role.CHAIR: frozenset(
        {Permission.CASE_READ, Permission.BREAK_GLASS, Permission.MEETING_VIEW, Permission.MINUTES_SIGN}
    ),
    Role.IDVA: _CASE_WORK | {Permission.MEETING_VIEW},
    # Police officers record Operation Encompass incidents (the service checks the agency is a police force).
    Role.REFERRER: _CASE_WORK | {Permission.ENCOMPASS_RECORD},
    Role.SUPERVISOR: _CASE_WORK | {Permission.REFERRAL_SIGN_OFF, Permission.ENCOMPASS_RECORD},
    Role.AGENCY_REP: _CASE_WORK | {Permission.MEETING_VIEW, Permission.RESEARCH_ANSWER},
    # A key adult reaches their own setting's notifications and nothing else.
    Role.KEY_ADULT: frozenset({Permission.ENCOMPASS_RECEIVE}),
    # Police and local-authority leads: settings, key adults, term calendars, the unresolved queue and monitoring;
    # no case content.
    Role.ENCOMPASS_LEAD: frozenset(
        {Permission.ENCOMPASS_RECORD, Permission.ENCOMPASS_MONITOR, Permission.ENCOMPASS_SETTINGS}
    ),
    # The DPO sees no case content except by break-glass, which they must then justify like anyone else.
    Role.DPO: frozenset(
        {Permission.AUDIT_READ, Permission.DISCLOSURE_REVIEW, Permission.BREAK_GLASS, Permission.CASE_READ}
    ),
    # Settings, key adults and term calendars hold no case content: administrators may keep them too.
    Role.ADMIN: frozenset({Permission.ADMIN_MANAGE, Permission.ENCOMPASS_SETTINGS}),
}
#: Roles that work on cases (a relationship to the case still decides which ones).
CASE_ROLES = frozenset({Role.COORDINATOR, Role.CHAIR, Role.IDVA, Role.REFERRER, Role.SUPERVISOR, Role.AGENCY_REP})

#: Roles that oversee the platform: granted, removed and reset only on the server (`marac users ...`), never
#: through the web, so a web administrator cannot make themselves a DPO or take over one's account.
PRIVILEGED_ROLES = frozenset({Role.ADMIN, Role.DPO})


def role_combination_problem(roles: set[str]) -> str | None:
    """Why a set of roles may not be held together (separation of duties), or None."""
    if Role.ADMIN.value in roles and len(roles) > 1:
        return "A platform administrator cannot hold any other role: administrators never see case content"
    return None


def web_account_change_problem(actor: Any, target: Any, old_roles: set[str], new_roles: set[str]) -> str | None:
    """Why an administrator may not make this account change through the web, or None."""
    privileged = {r.value for r in PRIVILEGED_ROLES}
    if actor is not None and actor.id == getattr(target, "id", None) and old_roles != new_roles:
        return "You cannot change your own roles: ask another administrator"
    if old_roles & privileged != new_roles & privileged:
        return "Administrator and DPO roles are granted on the server with the marac command, not here"
    return None


#: Endpoints a user who must change their password may still reach.
PASSWORD_CHANGE_ENDPOINTS = frozenset({"auth.change_password", "auth.sign_out"})


def require(permission: Permission) -> Callable[[F], F]:
    """Mark a view as needing a permission; enforced for every request by `enforce_route_permission`."""

    def decorate(view: F) -> F:
        setattr(view, MARKER, permission)
        return view

    return decorate


def public(view: F) -> F:
    """Mark a view as reachable without signing in."""
    setattr(view, MARKER, Permission.PUBLIC)
    return view


def route_permission(app: Flask, endpoint: str) -> Permission | None:
    """The permission a route declares, or None when it declares none."""
    view = app.view_functions.get(endpoint)
    return getattr(view, MARKER, None) if view is not None else None


def user_roles(user: User) -> frozenset[Role]:
    """The roles an active user holds."""
    return frozenset(Role(r.role) for r in user.roles)


def can(user: Any, permission: Permission, obj: object | None = None) -> bool:
    """Decide whether `user` may do `permission` (on `obj`, for object-level rules)."""
    if permission is Permission.PUBLIC:
        return True
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if permission is Permission.SIGNED_IN:
        return True
    return any(permission in ROLE_PERMISSIONS[role] for role in user_roles(user))


#: What a user is told when their session has ended without them signing out.
SESSION_ENDED_MESSAGES = {
    "idle_timeout": "You were signed out after a period without activity. Sign in again to continue.",
    "absolute_timeout": "You were signed out because your session reached its time limit. Sign in again to continue.",
    "access_changed": "Your access was changed by an administrator. Sign in again to continue.",
}


def _explain_ended_session() -> None:
    """Once per ended session: drop its stale cookie reference and say why the user must sign in again."""
    from flask import flash, g
    from flask_login import logout_user

    reason = g.pop("marac_session_ended", None)
    if reason is None:
        return
    logout_user()
    flash(SESSION_ENDED_MESSAGES.get(reason, "Your session has ended. Sign in again to continue."), "info")


def enforce_route_permission() -> Response | None:
    """Before every request: refuse routes without a marker, send strangers to sign in, deny missing permissions."""
    from flask import current_app

    from marac import audit

    endpoint = request.endpoint
    if endpoint is None:
        return None  # routing failed: the 404/405 handler answers
    permission = route_permission(current_app, endpoint)
    if permission is None:
        current_app.logger.error("route has no permission marker", extra={"endpoint": endpoint})
        audit.record_denial("route.denied", object_type="route", object_id=endpoint, reason="no_permission_marker")
        abort(403)
    if permission is Permission.PUBLIC:
        if not endpoint.startswith("web."):
            _ = current_user.is_authenticated  # load (and commit) the session now, never halfway through a view
        return None
    if not current_user.is_authenticated:
        _explain_ended_session()
        if request.method == "GET":
            return redirect(url_for("auth.sign_in", next=request.path))  # the path only: queries may hold search terms
        abort(401)
    if current_user.must_change_password and endpoint not in PASSWORD_CHANGE_ENDPOINTS:
        return redirect(url_for("auth.change_password"))
    if not can(current_user, permission):
        audit.record_denial("route.denied", object_type="route", object_id=endpoint, reason=str(permission))
        abort(403)
    return None


#: Marks a user acting outside a web request; never a session token (no session row has it).
OFFLINE_MARKER = "offline-actor"


@contextmanager
def acting_offline(users: Iterable[Any]) -> Iterator[None]:
    """Let accounts act outside a web request (demo seeding, jobs, the command line) under the same rules as when
    signed in: the rules count only authenticated users, so the accounts are marked for the block, in memory."""
    accounts = list(users)
    for user in accounts:
        user.auth_token = OFFLINE_MARKER
    try:
        yield
    finally:
        for user in accounts:
            user.auth_token = None
