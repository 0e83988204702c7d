"""The only place that decides who may do what: roles, permissions, route markers and (later) case relationships."""

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


_CASE_WORK = frozenset({Permission.CASE_READ, Permission.CASE_WRITE, Permission.PERSON_SEARCH, Permission.BREAK_GLASS})
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.COORDINATOR: _CASE_WORK | {Permission.REFERRAL_DECIDE},
    Role.CHAIR: frozenset({Permission.CASE_READ, Permission.BREAK_GLASS}),
    Role.IDVA: _CASE_WORK,
    Role.REFERRER: _CASE_WORK,
    Role.SUPERVISOR: _CASE_WORK | {Permission.REFERRAL_SIGN_OFF},
    Role.AGENCY_REP: _CASE_WORK,
    Role.KEY_ADULT: frozenset(),
    # The DPO sees no case content except by break-glass, which they must then justify like anyone else.
    Role.DPO: frozenset(
        {Permission.AUDIT_READ, Permission.DISCLOSURE_REVIEW, Permission.BREAK_GLASS, Permission.CASE_READ}
    ),
    Role.ADMIN: frozenset({Permission.ADMIN_MANAGE}),
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


# --- case relationships ------------------------------------------------------------------------------------------


class CaseRelation(StrEnum):
    """Why a user may see a case (DESIGN.md, security model)."""

    REFERRING_AGENCY = "referring_agency"
    AREA_COORDINATOR = "area_coordinator"
    AREA_CHAIR = "area_chair"
    ASSIGNED_IDVA = "assigned_idva"
    DISCLOSURE = "disclosure"
    BREAK_GLASS = "break_glass"


#: Relations that let a user act on a case (disclose it, add people); the others only let them read.
WORKING_RELATIONS = frozenset(
    {
        CaseRelation.REFERRING_AGENCY,
        CaseRelation.AREA_COORDINATOR,
        CaseRelation.AREA_CHAIR,
        CaseRelation.ASSIGNED_IDVA,
    }
)


class Sensitivity(StrEnum):
    """Fields narrower than the case: shown as "restricted" to those outside them."""

    SAFE_CONTACT = "safe_contact"  # victim's phones and email: IDVA and police
    HEALTH = "health"  # health detail: health agencies and IDVA
    CURRENT_ADDRESS = "current_address"  # victim's (and children's) address: police, IDVA, the referring agency
    NOT_SHARED = "not_shared"  # a part of the case the disclosure to the user's agency did not include


SENSITIVITY_LABELS = {
    Sensitivity.SAFE_CONTACT: "safe contact details (IDVA and police only)",
    Sensitivity.HEALTH: "health detail (health and IDVA only)",
    Sensitivity.CURRENT_ADDRESS: "current address (police, IDVA and the referring agency only)",
    Sensitivity.NOT_SHARED: "not included in what was shared with your agency",
}


def _case_roles(user: Any) -> frozenset[Role]:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    return user_roles(user) & CASE_ROLES


def user_area_ids(user: Any) -> set[int]:
    """Areas a user works in: their own limits, else every area their agency serves."""
    areas = user.areas or user.agency.areas
    return {a.id for a in areas}


def is_excluded(user: Any, case: Any) -> bool:
    """Whether the user's account is on the case's must-not-receive list."""
    from sqlalchemy import select

    from marac import db
    from marac.sharing.models import MustNotReceive

    found = db.session.scalar(
        select(MustNotReceive.id).where(MustNotReceive.case_id == case.id, MustNotReceive.user_id == user.id).limit(1)
    )
    return found is not None


def case_relations(user: Any, case: Any, now: Any = None) -> frozenset[CaseRelation]:
    """Every reason `user` has to see `case` right now (empty: they may not see it)."""
    from sqlalchemy import select

    from marac import db
    from marac.sharing.models import BreakGlassGrant, Disclosure

    now = now or db.utcnow()
    found: set[CaseRelation] = set()
    roles = user_roles(user) if getattr(user, "is_authenticated", False) and user.is_active else frozenset()
    case_roles = roles & CASE_ROLES
    if case_roles:
        if user.agency_id == case.referring_agency_id:
            found.add(CaseRelation.REFERRING_AGENCY)
        from marac.cases.models import PRE_SUBMISSION

        # A referral still being written (or returned to its referrer) is the referring agency's alone.
        in_area = case.area_id in user_area_ids(user) and case.status not in PRE_SUBMISSION
        if in_area and Role.COORDINATOR in case_roles:
            found.add(CaseRelation.AREA_COORDINATOR)
        if in_area and Role.CHAIR in case_roles:
            found.add(CaseRelation.AREA_CHAIR)
        if case.assigned_idva_id == user.id and Role.IDVA in case_roles:
            found.add(CaseRelation.ASSIGNED_IDVA)
        disclosed = db.session.scalar(
            select(Disclosure.id)
            .where(
                Disclosure.case_id == case.id,
                Disclosure.to_agency_id == user.agency_id,
                Disclosure.withdrawn_at.is_(None),
            )
            .limit(1)
        )
        if disclosed is not None:
            found.add(CaseRelation.DISCLOSURE)
    if Permission.BREAK_GLASS in {p for r in roles for p in ROLE_PERMISSIONS[r]}:
        grant = db.session.scalar(
            select(BreakGlassGrant.id)
            .where(BreakGlassGrant.case_id == case.id, BreakGlassGrant.user_id == user.id)
            .where(BreakGlassGrant.expires_at > now)
            .limit(1)
        )
        if grant is not None:
            found.add(CaseRelation.BREAK_GLASS)
    if found and is_excluded(user, case):
        return frozenset()
    return frozenset(found)


def visible_cases_clause(user: Any, now: Any = None) -> Any:
    """A SQL condition on `Case` matching the cases `user` may see (the list-page form of `case_relations`)."""
    from sqlalchemy import and_, exists, false, or_, select

    from marac import db
    from marac.cases.models import Case
    from marac.sharing.models import BreakGlassGrant, Disclosure, MustNotReceive

    now = now or db.utcnow()
    case_roles = _case_roles(user)
    clauses = []
    if case_roles:
        clauses.append(Case.referring_agency_id == user.agency_id)
        if case_roles & {Role.COORDINATOR, Role.CHAIR}:
            from marac.cases.models import PRE_SUBMISSION

            clauses.append(and_(Case.area_id.in_(user_area_ids(user)), Case.status.not_in(PRE_SUBMISSION)))
        if Role.IDVA in case_roles:
            clauses.append(Case.assigned_idva_id == user.id)
        clauses.append(
            exists(
                select(Disclosure.id).where(
                    Disclosure.case_id == Case.id,
                    Disclosure.to_agency_id == user.agency_id,
                    Disclosure.withdrawn_at.is_(None),
                )
            )
        )
    if can(user, Permission.BREAK_GLASS):
        clauses.append(
            exists(
                select(BreakGlassGrant.id).where(
                    BreakGlassGrant.case_id == Case.id,
                    BreakGlassGrant.user_id == user.id,
                    BreakGlassGrant.expires_at > now,
                )
            )
        )
    if not clauses:
        return false()
    excluded = exists(
        select(MustNotReceive.id).where(MustNotReceive.case_id == Case.id, MustNotReceive.user_id == user.id)
    )
    return and_(or_(*clauses), ~excluded)


def can_act_on_case(relations: frozenset[CaseRelation]) -> bool:
    """Whether the relations let a user change the case or disclose it (not a disclosure received, not break-glass)."""
    return bool(relations & WORKING_RELATIONS)


def can_see_field(user: Any, relations: frozenset[CaseRelation], sensitivity: Sensitivity | None) -> bool:
    """Whether a user with these relations to a case may see a field of this sensitivity."""
    from marac.orgs.models import AgencyKind

    if not relations:
        return False
    if sensitivity is None:
        return True
    roles = user_roles(user)
    is_idva = Role.IDVA in roles
    kind = user.agency.kind
    if sensitivity is Sensitivity.SAFE_CONTACT:
        return is_idva or kind == AgencyKind.POLICE
    if sensitivity is Sensitivity.HEALTH:
        return is_idva or kind == AgencyKind.HEALTH
    return is_idva or kind == AgencyKind.POLICE or CaseRelation.REFERRING_AGENCY in relations


def can_review_break_glass(user: Any, grant: Any) -> bool:
    """Only a DPO reviews break-glass, and never their own use."""
    return can(user, Permission.DISCLOSURE_REVIEW) and grant.user_id != user.id


def person_relations(user: Any, person: Any, now: Any = None) -> frozenset[CaseRelation]:
    """Why a user may see a person: through any case they are in that the user may see, or because the user's
    agency recorded them (treated like referring the case). Empty: they may not."""
    from sqlalchemy import select

    from marac import db
    from marac.cases.models import Case, CaseParty
    from marac.sharing.models import MustNotReceive

    barred = db.session.scalar(
        select(MustNotReceive.id)
        .join(CaseParty, CaseParty.case_id == MustNotReceive.case_id)
        .where(CaseParty.person_id == person.id, MustNotReceive.user_id == user.id)
        .limit(1)
    )
    if barred is not None:
        return frozenset()  # barred from any case the person is in: nothing about them, whoever recorded them
    found: set[CaseRelation] = set()
    if _case_roles(user) and person.agency_id == user.agency_id:
        found.add(CaseRelation.REFERRING_AGENCY)
    cases = db.session.scalars(select(Case).join(CaseParty).where(CaseParty.person_id == person.id))
    for case in cases:
        found |= case_relations(user, case, now)
    return frozenset(found)


#: How sensitive each person field is, by the person's part in a case: the victim's (and children's) contact details
#: and address are narrower than the case; health detail is narrower for everyone.
def field_sensitivity(field: str, party_role: str | None) -> Sensitivity | None:
    """The sensitivity of one person field for a person in this part (None: visible to everyone on the case)."""
    if field == "health_notes":
        return Sensitivity.HEALTH
    protected = party_role in {"victim", "child", None}
    if protected and field in {"phones", "email"}:
        return Sensitivity.SAFE_CONTACT
    if protected and field in {"address", "postcode"}:
        return Sensitivity.CURRENT_ADDRESS
    return None


def can_open_case_in(user: Any, area: Any) -> bool:
    """Whether a user may open a case in an area: a case-writing role and the area among theirs."""
    return can(user, Permission.CASE_WRITE) and area.id in user_area_ids(user)


def can_act_on_person(user: Any, relations: frozenset[CaseRelation]) -> bool:
    """Whether a user may link, reject or change a person's records (the same rule as acting on a case)."""
    return can(user, Permission.CASE_WRITE) and can_act_on_case(relations)


def disclosed_parts(user: Any, relations: frozenset[CaseRelation], case_ids: list[int]) -> frozenset[str] | None:
    """The parts of these cases disclosed to the user's agency when a disclosure is their only way in (None: they
    have another relationship, and the disclosure does not narrow what they see)."""
    from sqlalchemy import select

    from marac import db
    from marac.sharing.models import Disclosure

    if relations != frozenset({CaseRelation.DISCLOSURE}):
        return None
    rows = db.session.scalars(
        select(Disclosure.parts).where(
            Disclosure.case_id.in_(case_ids),
            Disclosure.to_agency_id == user.agency_id,
            Disclosure.withdrawn_at.is_(None),
        )
    )
    return frozenset(p for row in rows for p in row.split(",") if p)


def field_restriction(
    user: Any, relations: frozenset[CaseRelation], field: str, party_role: str | None, parts: frozenset[str] | None
) -> Sensitivity | None:
    """Why a person field is hidden from the user (None: they may see it). Sensitivity comes first; then, for an
    agency that sees the case only through a disclosure, what the disclosure included."""
    sensitivity = field_sensitivity(field, party_role)
    if not can_see_field(user, relations, sensitivity):
        return sensitivity or Sensitivity.NOT_SHARED
    if parts is None:
        return None
    subject = "victim" if party_role in {"victim", None} else "household"
    if subject not in parts:
        return Sensitivity.NOT_SHARED
    if sensitivity is Sensitivity.SAFE_CONTACT and "safe_contact" not in parts:
        return Sensitivity.NOT_SHARED
    if sensitivity is Sensitivity.HEALTH and "health" not in parts:
        return Sensitivity.NOT_SHARED
    return None


def cases_with_hidden_victim_name(user: Any, cases: list[Any]) -> set[int]:
    """Of cases the user may see (a list page), those whose victim's name the user may not see: seen only through a
    disclosure that did not include the victim's details."""
    from sqlalchemy import select

    from marac import db
    from marac.sharing.models import BreakGlassGrant, Disclosure

    roles = _case_roles(user)
    areas = user_area_ids(user) if roles & {Role.COORDINATOR, Role.CHAIR} else set()
    others = [
        c
        for c in cases
        if not roles
        or (c.referring_agency_id != user.agency_id and c.area_id not in areas and c.assigned_idva_id != user.id)
    ]
    if not others:
        return set()
    ids = [c.id for c in others]
    glass = set(
        db.session.scalars(
            select(BreakGlassGrant.case_id).where(
                BreakGlassGrant.case_id.in_(ids),
                BreakGlassGrant.user_id == user.id,
                BreakGlassGrant.expires_at > db.utcnow(),
            )
        )
    )
    with_victim = {
        case_id
        for case_id, parts in db.session.execute(
            select(Disclosure.case_id, Disclosure.parts).where(
                Disclosure.case_id.in_(ids),
                Disclosure.to_agency_id == user.agency_id,
                Disclosure.withdrawn_at.is_(None),
            )
        )
        if "victim" in parts.split(",")
    }
    return {i for i in ids if i not in glass and i not in with_victim}


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


def can_sign_off(user: Any, case: Any, referrer_id: int | None) -> bool:
    """A supervisor at the referring agency signs off (or returns) its referrals, but never their own."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return Role.SUPERVISOR in user_roles(user) and user.agency_id == case.referring_agency_id and user.id != referrer_id


def can_decide_referral(relations: frozenset[CaseRelation]) -> bool:
    """The coordinator of the case's area decides on a referral and allocates the IDVA."""
    return CaseRelation.AREA_COORDINATOR in relations


def can_own_case_work(user: Any, case: Any) -> bool:
    """Whether a user may be named to own work on a case (a safety plan, a risk review): an active account that sees
    the case when signed in, other than by break-glass (which ends within hours). They need not be signed in now."""
    if user is None or not user.is_active:
        return False
    if getattr(user, "is_authenticated", False):
        relations = case_relations(user, case)
    else:
        with acting_offline([user]):
            relations = case_relations(user, case)
    return bool(relations - {CaseRelation.BREAK_GLASS})


def can_change_case_work(user: Any, relations: frozenset[CaseRelation], owner_id: int | None) -> bool:
    """Whether a user may review or end a safety plan or record a risk review: those working on the case, or the
    named owner while they can still see it (the service checks again, with the owner's standing on the case)."""
    is_owner = owner_id is not None and getattr(user, "id", None) == owner_id
    return can_act_on_case(relations) or (is_owner and bool(relations - {CaseRelation.BREAK_GLASS}))


def sees_area_overdue(user: Any) -> bool:
    """Whether a user is shown the "overdue in your areas" list: area coordinators."""
    return getattr(user, "is_authenticated", False) and Role.COORDINATOR in user_roles(user)
