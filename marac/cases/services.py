"""Opening cases, adding people to them, recording incidents, and loading a case for someone entitled to it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select

from marac import audit, db
from marac.access import (
    CaseRelation,
    Sensitivity,
    can_see_field,
    case_relations,
    visible_cases_clause,
)
from marac.auth.models import User
from marac.cases.models import INCIDENT_TYPES, Case, CaseParty, Incident, PartyRole
from marac.crypto import take_unreadable
from marac.orgs.models import Agency, Area
from marac.people.flags import RepeatFlag, SerialFlag, repeat_flag, serial_flag
from marac.people.models import HouseholdLink, Person, Relationship
from marac.sharing.models import MustNotReceive

REFERENCE_ALPHABET = "23456789BCDFGHJKLMNPQRSTVWXZ"  # no vowels (no words), no 0/O or 1/I


class CaseError(ValueError):
    """A case change that cannot be made; the message says why."""


def new_reference(on: date) -> str:
    """A case reference with no personal data or sequence in it, e.g. "MC-26-7KQ4XD"."""
    return f"MC-{on:%y}-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))


def open_case(
    actor: Any, *, area: Area, victim: Person, referring_agency: Agency, referred_on: date, idva: User | None = None
) -> Case:
    """Open a case for a victim in an area; the victim becomes its first party."""
    if referred_on > db.london_today():
        raise CaseError("The referral date cannot be in the future")
    case = Case(
        reference=new_reference(referred_on),
        area_id=area.id,
        referring_agency_id=referring_agency.id,
        referred_by_id=getattr(actor, "id", None),
        assigned_idva_id=idva.id if idva else None,
        victim_id=victim.id,
        referred_on=referred_on,
    )
    db.session.add(case)
    db.session.flush()
    db.session.add(CaseParty(case_id=case.id, person_id=victim.id, role=PartyRole.VICTIM.value))
    db.session.flush()
    audit.record("case.create", actor=actor, object_type="case", object_id=case.public_id)
    return case


def add_party(
    actor: Any,
    case: Case,
    person: Person,
    role: PartyRole,
    relationship: Relationship,
    *,
    same_household: bool = False,
) -> CaseParty:
    """Add a perpetrator, child or other person to a case, with a household link to the victim. Perpetrators go on
    the case's must-not-receive list at once."""
    if role is PartyRole.VICTIM:
        raise CaseError("A case has one victim: open a new case for another victim")
    if db.session.scalar(select(CaseParty.id).where(CaseParty.case_id == case.id, CaseParty.person_id == person.id)):
        raise CaseError("That person is already on this case")
    party = CaseParty(
        case_id=case.id,
        person_id=person.id,
        role=role.value,
        relationship_to_victim=relationship.value,
        is_same_household=same_household,
    )
    db.session.add(party)
    link = db.session.scalar(
        select(HouseholdLink).where(
            HouseholdLink.person_id == case.victim_id, HouseholdLink.related_person_id == person.id
        )
    )
    if link is None:
        link = HouseholdLink(
            person_id=case.victim_id, related_person_id=person.id, created_by_id=getattr(actor, "id", None)
        )
        db.session.add(link)
    link.relationship_type, link.is_same_household = relationship.value, same_household
    if role is PartyRole.PERPETRATOR:
        db.session.add(MustNotReceive(case_id=case.id, person_id=person.id, created_by_id=getattr(actor, "id", None)))
    db.session.flush()
    audit.record(
        "case.add_party",
        actor=actor,
        object_type="case",
        object_id=case.public_id,
        details={"person": person.public_id, "role": role.value},
    )
    return party


def record_incident(
    actor: Any,
    *,
    victim: Person,
    agency: Agency,
    occurred_on: date,
    perpetrator: Person | None = None,
    case: Case | None = None,
    incident_type: str = "domestic_abuse",
    police_reference: str | None = None,
    children_present: bool | None = None,
    summary: str | None = None,
) -> Incident:
    """Record a domestic-abuse incident against a victim (and perpetrator, when known): the basis of escalation
    counting and repeat-victim flags."""
    if occurred_on > db.london_today():
        raise CaseError("The incident date cannot be in the future")
    born = victim.date_of_birth
    if isinstance(born, date) and occurred_on < born:
        raise CaseError("The incident date cannot be before the victim was born")
    if incident_type not in INCIDENT_TYPES:
        raise CaseError("Select the type of incident")
    incident = Incident(
        victim_id=victim.id,
        perpetrator_id=perpetrator.id if perpetrator else None,
        agency_id=agency.id,
        occurred_on=occurred_on,
        case_id=case.id if case else None,
        incident_type=incident_type,
        children_present=children_present,
    )
    incident.police_reference = (police_reference or "").strip() or None
    incident.summary = (summary or "").strip() or None
    db.session.add(incident)
    db.session.flush()
    audit.record("incident.create", actor=actor, object_type="incident", object_id=incident.public_id)
    return incident


def record_case_incident(actor: Any, view: CaseView, values: dict[str, Any]) -> Incident:
    """An incident on a case from someone working on it; a new incident makes a risk review due (REFERENCE.md)."""
    from marac.cases.plans import record_trigger

    case = view.case
    incident = record_incident(actor, victim=case.victim, agency=actor.agency, case=case, **values)
    record_trigger(
        actor, case, view.relations, kind="new_incident", occurred_on=incident.occurred_on, note="Incident recorded"
    )
    return incident


def case_incidents(case: Case) -> list[Incident]:
    """Incidents recorded on a case, newest first."""
    return list(
        db.session.scalars(
            select(Incident).where(Incident.case_id == case.id).order_by(Incident.occurred_on.desc(), Incident.id)
        )
    )


def get_case(public_id: str) -> Case | None:
    """A case by public id (the caller checks access)."""
    return db.session.scalar(select(Case).where(Case.public_id == public_id))


def list_visible_cases(actor: Any, *, page: int = 1, per_page: int = 50) -> tuple[list[Case], int]:
    """The cases the actor may see, newest referral first, one page at a time; the listing is audited."""
    clause = visible_cases_clause(actor)
    total = db.session.scalar(select(func.count(Case.id)).where(clause)) or 0
    rows = list(
        db.session.scalars(
            select(Case)
            .where(clause)
            .order_by(Case.referred_on.desc(), Case.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    audit.record("case.list", actor=actor, object_type="case", details={"page": page, "shown": len(rows)})
    return rows, total


@dataclass
class PartyView:
    """One person on a case, as a given user may see them."""

    party: CaseParty
    person: Person
    visible: dict[Sensitivity, bool]
    serial: SerialFlag | None = None


@dataclass
class CaseView:
    """A case as one user may see it, with its flags."""

    case: Case
    relations: frozenset[CaseRelation]
    parties: list[PartyView] = field(default_factory=list)
    repeat: RepeatFlag | None = None
    visible_other_cases: list[Case] = field(default_factory=list)
    hidden_other_cases: int = 0

    @property
    def by_break_glass(self) -> bool:
        """Whether the user sees it only through break-glass."""
        return self.relations == frozenset({CaseRelation.BREAK_GLASS})


def load_case_for(actor: Any, public_id: str) -> CaseView | None:
    """The case if the actor may see it (audited as a view, or as break-glass); None and an audited denial when
    it does not exist or they may not (the view answers 404 either way)."""
    case = get_case(public_id)
    relations = case_relations(actor, case) if case is not None else frozenset()
    if case is None or not relations:
        audit.record_denial("case.view", object_type="case", object_id=public_id, reason="no_relationship")
        return None
    view = CaseView(case=case, relations=relations)
    for party in case.parties:
        visible = {s: can_see_field(actor, relations, s) for s in Sensitivity}
        serial = serial_flag(party.person) if party.role == PartyRole.PERPETRATOR.value else None
        view.parties.append(PartyView(party=party, person=party.person, visible=visible, serial=serial))
    view.repeat = repeat_flag(case.victim, case.referred_on, exclude_case=case)
    _split_other_cases(actor, view)
    purpose = "break_glass" if view.by_break_glass else None
    audit.record("case.view", actor=actor, object_type="case", object_id=case.public_id, purpose=purpose)
    audit_unreadable(actor)
    return view


def _split_other_cases(actor: Any, view: CaseView) -> None:
    """Other cases named by the flags: listed only when the actor may see them, otherwise only counted."""
    ids: set[int] = set(view.repeat.case_ids if view.repeat else [])
    for party in view.parties:
        if party.serial is not None:
            ids.update(party.serial.case_ids)
    ids.discard(view.case.id)
    if not ids:
        return
    visible = set(db.session.scalars(select(Case.id).where(Case.id.in_(ids), visible_cases_clause(actor))))
    view.visible_other_cases = list(
        db.session.scalars(select(Case).where(Case.id.in_(visible)).order_by(Case.referred_on.desc()))
    )
    view.hidden_other_cases = len(ids - visible)


def audit_unreadable(actor: Any) -> None:
    """Record each encrypted value that failed to open while building the page (table, column, row: no value)."""
    for table, column, row_id, reason in take_unreadable():
        audit.record(
            "field.unreadable",
            actor=actor,
            object_type=table,
            object_id=row_id,
            outcome="failure",
            details={"column": column, "reason": reason},
        )
