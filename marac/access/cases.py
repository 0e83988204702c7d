"""Why a user may see a case: their relationships to it (DESIGN.md, security model), one case or many at once, and the
SQL form for list pages."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

from marac.access.roles import CASE_ROLES, ROLE_PERMISSIONS, Permission, Role, can, user_roles

# --- case relationships ------------------------------------------------------------------------------------------


class CaseRelation(StrEnum):
    """Why a user may see a case (DESIGN.md, security model)."""

    REFERRING_AGENCY = "referring_agency"
    AREA_COORDINATOR = "area_coordinator"
    AREA_CHAIR = "area_chair"
    ASSIGNED_IDVA = "assigned_idva"
    DISCLOSURE = "disclosure"
    MEETING_MEMBER = "meeting_member"  # a member agency's representative, for a case on a published agenda
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
    return case_relations_many(user, [case], now)[case.id]


def case_relations_many(user: Any, cases: list[Any], now: Any = None) -> dict[int, frozenset[CaseRelation]]:
    """`case_relations` for many cases at once (a list or a paper), with one query per kind of relationship."""
    from marac import db

    now = now or db.utcnow()
    ids = [c.id for c in cases]
    found: dict[int, set[CaseRelation]] = {c.id: set() for c in cases}
    roles = user_roles(user) if getattr(user, "is_authenticated", False) and user.is_active else frozenset()
    case_roles = roles & CASE_ROLES
    if case_roles and ids:
        for case in cases:
            found[case.id] |= _direct_relations(user, case, case_roles)
        for case_id in _disclosed_to(user, ids):
            found[case_id].add(CaseRelation.DISCLOSURE)
        if Role.AGENCY_REP in case_roles:
            for case_id in _meeting_member_of(user, ids, now):
                found[case_id].add(CaseRelation.MEETING_MEMBER)
    if ids and Permission.BREAK_GLASS in {p for r in roles for p in ROLE_PERMISSIONS[r]}:
        for case_id in _break_glass_for(user, ids, now):
            found[case_id].add(CaseRelation.BREAK_GLASS)
    barred = _excluded_from(user, [i for i, f in found.items() if f])
    return {i: frozenset() if i in barred else frozenset(f) for i, f in found.items()}


def _direct_relations(user: Any, case: Any, case_roles: frozenset[Role]) -> set[CaseRelation]:
    """Relations read off the case itself: the referring agency, the area's coordinators and chairs, the IDVA."""
    from marac.cases.models import PRE_SUBMISSION

    found = set()
    if user.agency_id == case.referring_agency_id:
        found.add(CaseRelation.REFERRING_AGENCY)
    # A referral still being written (or returned to its referrer) is the referring agency's alone.
    in_area = case.area_id in user_area_ids(user) and case.status not in PRE_SUBMISSION
    if in_area and Role.COORDINATOR in case_roles:
        found.add(CaseRelation.AREA_COORDINATOR)
    if in_area and Role.CHAIR in case_roles:
        found.add(CaseRelation.AREA_CHAIR)
    if case.assigned_idva_id == user.id and Role.IDVA in case_roles:
        found.add(CaseRelation.ASSIGNED_IDVA)
    return found


def _disclosed_to(user: Any, ids: list[int]) -> set[int]:
    from sqlalchemy import select

    from marac import db
    from marac.sharing.models import Disclosure

    query = select(Disclosure.case_id).where(
        Disclosure.case_id.in_(ids), Disclosure.to_agency_id == user.agency_id, Disclosure.withdrawn_at.is_(None)
    )
    return set(db.session.scalars(query))


def _meeting_member_of(user: Any, ids: list[int], now: Any) -> set[int]:
    from sqlalchemy import select

    from marac import db
    from marac.cases.models import Case

    return set(db.session.scalars(select(Case.id).where(Case.id.in_(ids), _meeting_member_clause(user, now))))


def _break_glass_for(user: Any, ids: list[int], now: Any) -> set[int]:
    from sqlalchemy import select

    from marac import db
    from marac.sharing.models import BreakGlassGrant

    query = select(BreakGlassGrant.case_id).where(
        BreakGlassGrant.case_id.in_(ids), BreakGlassGrant.user_id == user.id, BreakGlassGrant.expires_at > now
    )
    return set(db.session.scalars(query))


def _excluded_from(user: Any, ids: list[int]) -> set[int]:
    """Of these cases, those whose must-not-receive list holds the user's account."""
    from sqlalchemy import select

    from marac import db
    from marac.sharing.models import MustNotReceive

    if not ids:
        return set()
    query = select(MustNotReceive.case_id).where(MustNotReceive.case_id.in_(ids), MustNotReceive.user_id == user.id)
    return set(db.session.scalars(query))


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
        if Role.AGENCY_REP in case_roles:
            clauses.append(_meeting_member_clause(user, now))
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


#: How long a member agency keeps sight of a case after the last meeting that heard it.
MEETING_MEMBER_WINDOW_DAYS = 365


def _meeting_member_clause(user: Any, now: Any) -> Any:
    """A SQL condition on `Case`: on a published agenda of a meeting of one of the user's areas that their agency is a
    member of, from publication until 12 months after that meeting (DESIGN.md, security model)."""
    from datetime import timedelta

    from sqlalchemy import exists, select

    from marac.cases.models import Case
    from marac.meetings.models import AgendaItem, Meeting, MeetingStatus
    from marac.orgs.models import agency_areas

    areas = user_area_ids(user)
    member_of = select(agency_areas.c.area_id).where(agency_areas.c.agency_id == user.agency_id)
    return exists(
        select(AgendaItem.id)
        .join(Meeting, Meeting.id == AgendaItem.meeting_id)
        .where(
            AgendaItem.case_id == Case.id,
            Meeting.status == MeetingStatus.PUBLISHED.value,
            Meeting.area_id.in_(areas),
            Meeting.area_id.in_(member_of),
            Meeting.starts_at > now - timedelta(days=MEETING_MEMBER_WINDOW_DAYS),
        )
    )
