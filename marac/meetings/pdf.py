"""The meeting's papers as PDFs: the agenda, each agency's research pack and the minutes with the action plan.

Each builder reads what the actor may see (names and identifying details through the same field rules as the
person page), renders through `marac.pdf`, and audits the download; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marac import audit, db
from marac.access import (
    SENSITIVITY_LABELS,
    CaseRelation,
    case_relations_many,
    disclosed_parts,
    field_restriction,
)
from marac.actions.models import Action
from marac.cases.models import PARTY_ROLE_LABELS, Case, CaseParty, PartyRole
from marac.cases.services import audit_unreadable
from marac.db import LONDON
from marac.meetings.models import AgendaItem, ItemStatus, Meeting, MinutesVersion, ResearchRequest, ResearchStatus
from marac.meetings.services.minutes import attendance_rows, meeting_actions, meeting_observers
from marac.pdf import render_pdf
from marac.people.records import NAME_NOT_SHARED, FieldRow, _protective_role, display, field_rows, name_from

#: The person fields a research pack shows under each name (the name itself heads the entry).
NAME_LABELS = frozenset({"Given names", "Family name"})
RESEARCH_STATUS_LABELS = {
    ResearchStatus.OUTSTANDING.value: "Outstanding",
    ResearchStatus.ANSWERED.value: "Answered",
    ResearchStatus.NOTHING_HELD.value: "Nothing held",
}


# --- what each paper shows ------------------------------------------------------------------------------------------


@dataclass
class Party:
    """One person on a case as the actor may see them."""

    role: str
    name: str
    rows: list[FieldRow] = field(default_factory=list)


@dataclass
class CaseView:
    """One case on a paper: where it sits on the agenda and who is in it (as the actor may see them)."""

    item: AgendaItem
    starts: datetime
    visible: bool
    parties: list[Party]

    @property
    def time(self) -> str:
        """When the case is due to be heard, Europe/London."""
        return self.starts.astimezone(LONDON).strftime("%H:%M")

    @property
    def ends(self) -> str:
        """When the time budgeted for the case runs out, Europe/London."""
        ends = self.starts + timedelta(minutes=self.item.minutes_budget)
        return ends.astimezone(LONDON).strftime("%H:%M")

    @property
    def victim(self) -> str:
        """The victim's name, or why it is not shown."""
        return next((p.name for p in self.parties if p.role == PartyRole.VICTIM.value), NAME_NOT_SHARED)

    @property
    def perpetrators(self) -> str:
        """The perpetrators' names (or why they are not shown), or a dash."""
        return ", ".join(p.name for p in self.parties if p.role == PartyRole.PERPETRATOR.value) or "-"


@dataclass
class PackEntry:
    """One research request of the actor's agency, with its case."""

    case: CaseView
    request: ResearchRequest

    @property
    def status(self) -> str:
        """The request's status for the paper."""
        return RESEARCH_STATUS_LABELS.get(self.request.status, self.request.status)


@dataclass
class HeardCase:
    """One heard case in the minutes, with the actions agreed."""

    case: CaseView
    actions: list[Action]


@dataclass
class Signature:
    """Whether the minutes are signed, and by whom, when, and which version."""

    is_signed: bool
    version: int | None = None
    signed_by: str = ""
    signed_at: datetime | None = None
    digest: str = ""


# --- building blocks ------------------------------------------------------------------------------------------------


def _items(meeting: Meeting, statuses: set[str]) -> list[AgendaItem]:
    """The meeting's items in these statuses, in agenda order, with their cases and people loaded at once."""
    query = (
        select(AgendaItem)
        .where(AgendaItem.meeting_id == meeting.id, AgendaItem.status.in_(statuses))
        .options(
            selectinload(AgendaItem.case).selectinload(Case.referring_agency),
            selectinload(AgendaItem.case).selectinload(Case.parties).selectinload(CaseParty.person),
        )
        .order_by(AgendaItem.position, AgendaItem.id)
    )
    return list(db.session.scalars(query))


def _start_times(meeting: Meeting, items: list[AgendaItem]) -> dict[int, datetime]:
    """When each case is due to be heard: the meeting's start plus the time budgeted for the cases before it."""
    starts, at = {}, meeting.starts_at
    for item in items:
        starts[item.id] = at
        at += timedelta(minutes=item.minutes_budget)
    return starts


def _protective_roles(cases: list[Case]) -> dict[int, str | None]:
    """Each person's most protective part in any case (a victim's details stay narrow on every paper)."""
    ids = {p.person_id for case in cases for p in case.parties}
    roles: dict[int, list[str]] = {}
    for person_id, role in db.session.execute(
        select(CaseParty.person_id, CaseParty.role).where(CaseParty.person_id.in_(ids))
    ):
        roles.setdefault(person_id, []).append(role)
    return {person_id: _protective_role(found) for person_id, found in roles.items()}


def _name_rows(
    actor: Any, person: Any, relations: frozenset[CaseRelation], role: str | None, parts: Any
) -> list[FieldRow]:
    """Only the name fields (the agenda and minutes show names, not details): nothing else is opened."""
    rows = []
    for name, label in (("given_name", "Given names"), ("family_name", "Family name")):
        restriction = field_restriction(actor, relations, name, role, parts)
        text = None if restriction else display(name, getattr(person, name))
        rows.append(FieldRow(label=label, text=text, restricted=restriction))
    return rows


def _parties(
    actor: Any, case: Case, relations: frozenset[CaseRelation], roles: dict[int, str | None], details: bool
) -> list[Party]:
    """The case's people, victim first, with (for `details`) the fields the actor may see: restricted ones are
    marked, never shown."""
    parts = disclosed_parts(actor, relations, [case.id])
    order = [PartyRole.VICTIM.value, PartyRole.PERPETRATOR.value, PartyRole.CHILD.value, PartyRole.OTHER.value]
    people = []
    for party in sorted(case.parties, key=lambda p: (order.index(p.role) if p.role in order else 9, p.id)):
        role = roles.get(party.person_id, party.role)
        if not details:
            people.append(Party(party.role, name_from(_name_rows(actor, party.person, relations, role, parts))))
            continue
        rows = field_rows(actor, party.person, relations, role, parts)
        shown = [r for r in rows if r.label not in NAME_LABELS and (r.text or r.restricted)]
        people.append(Party(role=party.role, name=name_from(rows), rows=shown))
    return people


def _case_views(
    actor: Any, meeting: Meeting, items: list[AgendaItem], timed: list[AgendaItem], *, details: bool = False
) -> list[CaseView]:
    """Each item's case as the actor may see it (names, and for `details` the people's identifying details);
    nobody's details when the actor may not see the case at all."""
    starts = _start_times(meeting, timed)
    roles = _protective_roles([item.case for item in items])
    views = []
    every = case_relations_many(actor, [item.case for item in items])
    for item in items:
        relations = every[item.case_id]
        parties = _parties(actor, item.case, relations, roles, details) if relations else []
        views.append(CaseView(item, starts.get(item.id, meeting.starts_at), bool(relations), parties))
    return views


def _paper(actor: Any, meeting: Meeting, title: str) -> dict[str, Any]:
    """What every paper's header and footer show."""
    return {
        "title": title,
        "meeting": meeting,
        "meeting_reference": meeting.reference,
        "area_name": meeting.area.name,
        "generated_by": actor.display_name,
        "generated_agency": actor.agency.name,
        "generated_at": db.utcnow(),
        "role_labels": PARTY_ROLE_LABELS,
        "sensitivity_labels": SENSITIVITY_LABELS,
    }


def _audit(actor: Any, meeting: Meeting, document: str, cases: int) -> None:
    """Record the download (and any value that could not be opened while building it); the caller commits."""
    audit_unreadable(actor)
    audit.record(
        "meeting.pdf",
        actor=actor,
        object_type="meeting",
        object_id=meeting.public_id,
        details={"document": document, "cases": cases},
    )


# --- the papers -----------------------------------------------------------------------------------------------------


def agenda_pdf(actor: Any, meeting: Meeting) -> bytes:
    """The agenda: one row per listed case with its time, people (as the actor may see them) and referrer."""
    listed = _items(meeting, {ItemStatus.LISTED.value, ItemStatus.HEARD.value})
    deferred = _items(meeting, {ItemStatus.DEFERRED.value})
    cases = _case_views(actor, meeting, listed, listed)
    context = _paper(actor, meeting, "MARAC agenda")
    pdf = render_pdf("pdf/agenda.html", **context, cases=cases, deferred=deferred)
    _audit(actor, meeting, "agenda", len(cases))
    return pdf


def research_pack_pdf(actor: Any, meeting: Meeting) -> bytes:
    """The actor's agency's research requests for the meeting (no other agency's), each case with the people's
    identifying details the actor may see."""
    listed = _items(meeting, {ItemStatus.LISTED.value, ItemStatus.HEARD.value})
    requests = {
        r.agenda_item_id: r
        for r in db.session.scalars(
            select(ResearchRequest).where(
                ResearchRequest.agency_id == actor.agency_id,
                ResearchRequest.agenda_item_id.in_([i.id for i in listed]),
            )
        )
    }
    asked = [item for item in listed if item.id in requests]
    views = _case_views(actor, meeting, asked, listed, details=True)
    # A case the reader may no longer see (a must-not-receive listing, say) leaves the pack altogether.
    entries = [PackEntry(view, requests[view.item.id]) for view in views if view.visible]
    context = _paper(actor, meeting, f"Research pack: {actor.agency.name}")
    pdf = render_pdf("pdf/research_pack.html", **context, entries=entries, agency_name=actor.agency.name)
    _audit(actor, meeting, "research_pack", len(entries))
    return pdf


def minutes_pdf(actor: Any, meeting: Meeting) -> bytes:
    """The minutes: attendance, apologies and observers; every heard case with its discussion and the actions
    agreed; and whether (and by whom) the minutes are signed."""
    heard_items = _items(meeting, {ItemStatus.HEARD.value})
    views = _case_views(actor, meeting, heard_items, heard_items)
    actions = meeting_actions(meeting)
    heard = [HeardCase(view, actions.get(view.item.id, [])) for view in views]
    context = _paper(actor, meeting, "MARAC minutes and action plan")
    pdf = render_pdf(
        "pdf/minutes.html",
        **context,
        heard=heard,
        attendance=attendance_rows(meeting),
        observers=meeting_observers(meeting),
        signature=_signature(meeting),
        deferred=_items(meeting, {ItemStatus.DEFERRED.value}),
    )
    _audit(actor, meeting, "minutes", len(heard))
    return pdf


def _signature(meeting: Meeting) -> Signature:
    """The version the chair signed, if the minutes have not changed since; otherwise a draft."""
    if not meeting.minutes_signed:
        return Signature(is_signed=False, version=meeting.signed_version)
    version = db.session.scalar(
        select(MinutesVersion)
        .where(MinutesVersion.meeting_id == meeting.id, MinutesVersion.version == meeting.signed_version)
        .options(selectinload(MinutesVersion.signed_by))
    )
    if version is None:
        return Signature(is_signed=True, version=meeting.signed_version, signed_at=meeting.signed_at)
    return Signature(True, version.version, version.signed_by.display_name, version.signed_at, version.digest)
