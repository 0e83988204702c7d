"""Field sensitivity, disclosures, people, and who may act on a case's work (sign-off, decisions, plans)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

from marac.access.cases import (
    WORKING_RELATIONS,
    CaseRelation,
    Sensitivity,
    _case_roles,
    case_relations,
    user_area_ids,
)
from marac.access.roles import Permission, Role, acting_offline, can, user_roles


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
