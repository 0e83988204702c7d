"""Agency research for a meeting: each representative's list and answers (facts, professional opinion, what is held
but not shared and why, or nothing held), the coordinator's grid of agencies by cases, and reminders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from marac import audit, db
from marac.access import (
    can_answer_research,
    can_follow_research,
    can_manage_meeting,
    can_see_meeting,
    can_see_research,
    case_relations,
    case_relations_many,
    disclosed_parts,
    user_area_ids,
)
from marac.cases.models import PARTY_ROLE_LABELS, Case, PartyRole
from marac.meetings.models import AgendaItem, ItemStatus, Meeting, MeetingStatus, ResearchRequest, ResearchStatus
from marac.meetings.services.agenda import listed_items, representatives
from marac.meetings.services.schedule import MeetingError
from marac.notify.services import queue_to_all
from marac.orgs.models import Agency
from marac.people.records import field_rows

#: Most characters in each part of an answer.
TEXT_LIMIT = 5000
#: What a person field the user may not see reads as.
RESTRICTED = "Restricted"
#: The parts of a case an agency's representative is shown when researching it, in this order.
RESEARCHED_ROLES = (PartyRole.VICTIM.value, PartyRole.PERPETRATOR.value, PartyRole.CHILD.value)
STATUS_LABELS = {
    ResearchStatus.OUTSTANDING.value: "Outstanding",
    ResearchStatus.ANSWERED.value: "Answered",
    ResearchStatus.NOTHING_HELD.value: "Nothing held",
}


class ResearchError(MeetingError):
    """An answer or reminder the rules refuse; `field` names the form field the message belongs to, if any."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# --- the representative's side -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgencyMeeting:
    """A meeting the representative's agency is researching: its cases, how many are outstanding, and when due."""

    meeting: Meeting
    cases: int
    outstanding: int
    is_overdue: bool

    @property
    def due_at(self) -> datetime:
        """When the research is due (UTC)."""
        return self.meeting.research_due_at


def _open_for_research() -> Any:
    """A SQL condition on `Meeting`: published, not cancelled, minutes not yet signed."""
    return (Meeting.status == MeetingStatus.PUBLISHED.value) & Meeting.signed_version.is_(None)


def agency_research_lists(actor: Any) -> list[AgencyMeeting]:
    """Meetings of the actor's areas whose research their agency can still give, soonest first, with counts."""
    outstanding = func.sum(case((ResearchRequest.status == ResearchStatus.OUTSTANDING.value, 1), else_=0))
    rows = db.session.execute(
        select(Meeting, func.count(ResearchRequest.id), outstanding)
        .join(AgendaItem, AgendaItem.meeting_id == Meeting.id)
        .join(ResearchRequest, ResearchRequest.agenda_item_id == AgendaItem.id)
        .where(
            _open_for_research(),
            Meeting.area_id.in_(user_area_ids(actor)),
            ResearchRequest.agency_id == actor.agency_id,
            AgendaItem.status != ItemStatus.DEFERRED.value,
        )
        .group_by(Meeting.id)
        .order_by(Meeting.starts_at)
    )
    now = db.utcnow()
    return [
        AgencyMeeting(meeting, int(cases), int(left or 0), bool(left) and meeting.research_due_at < now)
        for meeting, cases, left in rows
        if can_see_meeting(actor, meeting)
    ]


@dataclass(frozen=True)
class PersonLine:
    """A person in a case as the representative may see them: part, name and date of birth (or "Restricted")."""

    role: str
    name: str
    date_of_birth: str


@dataclass(frozen=True)
class AgencyRequest:
    """One of the agency's research requests with the case reference and the people to search records for."""

    request: ResearchRequest
    item: AgendaItem
    people: list[PersonLine]

    @property
    def case(self) -> Case:
        """The case researched."""
        return self.item.case


def _person_lines(actor: Any, case_: Case, relations: frozenset[Any]) -> list[PersonLine]:
    parts = disclosed_parts(actor, relations, [case_.id])
    parties = sorted(
        (p for p in case_.parties if p.role in RESEARCHED_ROLES), key=lambda p: (RESEARCHED_ROLES.index(p.role), p.id)
    )
    lines = []
    for party in parties:
        rows = {r.label: r for r in field_rows(actor, party.person, relations, party.role, parts)}
        given, family, born = rows["Given names"], rows["Family name"], rows["Date of birth"]
        if given.restricted or family.restricted:
            name = RESTRICTED
        else:
            name = " ".join(t for t in (given.text, family.text) if t) or "(no name recorded)"
        dob = RESTRICTED if born.restricted else (born.text or "Not known")
        lines.append(PersonLine(PARTY_ROLE_LABELS[PartyRole(party.role)], name, dob))
    return lines


def agency_requests(actor: Any, meeting: Meeting) -> list[AgencyRequest]:
    """The actor's agency's research requests for the meeting's cases, in agenda order (cases the actor may not
    see, such as one whose must-not-receive list names them, are left out)."""
    items = {i.id: i for i in listed_items(meeting)}
    if not items:
        return []
    requests = db.session.scalars(
        select(ResearchRequest).where(
            ResearchRequest.agenda_item_id.in_(items), ResearchRequest.agency_id == actor.agency_id
        )
    ).all()
    every = case_relations_many(actor, [items[r.agenda_item_id].case for r in requests])
    found = []
    for request in requests:
        item = items[request.agenda_item_id]
        relations = every[item.case_id]
        if relations and can_answer_research(actor, request, meeting):
            found.append(AgencyRequest(request, item, _person_lines(actor, item.case, relations)))
    return sorted(found, key=lambda r: r.item.position)


def describe_request(actor: Any, request: ResearchRequest) -> AgencyRequest:
    """One request with its case and people as the actor may see them."""
    item = request.item
    return AgencyRequest(request, item, _person_lines(actor, item.case, case_relations(actor, item.case)))


def load_request_for(actor: Any, public_id: str) -> ResearchRequest | None:
    """The research request if the actor may answer it; None and an audited denial otherwise (the view answers 404)."""
    request = db.session.scalar(select(ResearchRequest).where(ResearchRequest.public_id == public_id))
    if request is None or not can_answer_research(actor, request, request.item.meeting):
        audit.record_denial("research.view", object_type="research_request", object_id=public_id, reason="not_asked")
        return None
    if not case_relations(actor, request.item.case):
        audit.record_denial("research.view", object_type="research_request", object_id=public_id, reason="excluded")
        return None
    return request


def _clean(value: str | None, label: str, field: str) -> str | None:
    text = (value or "").strip()
    if len(text) > TEXT_LIMIT:
        raise ResearchError(f"{label} must be {TEXT_LIMIT} characters or fewer", field)
    return text or None


def research_problem(request: ResearchRequest) -> str | None:
    """Why the request can no longer be answered, or None."""
    meeting = request.item.meeting
    if meeting.is_cancelled:
        return "This meeting was cancelled: there is no research to give for it"
    if request.item.is_deferred:
        return "This case was deferred from the meeting: research will be asked for again when it is relisted"
    if meeting.signed_version is not None:
        return "The minutes of this meeting are signed: research for it can no longer change"
    return None


def answer_research(
    actor: Any,
    request: ResearchRequest,
    *,
    facts: str | None,
    opinion: str | None,
    withheld: str | None,
    withheld_reason: str | None,
    nothing_held: bool,
) -> ResearchRequest:
    """Record (or replace) the agency's research on one case: facts and professional opinion kept apart, what is
    held but not shared with the reason, or that the agency holds nothing."""
    if not can_answer_research(actor, request, request.item.meeting):
        raise ResearchError("Only the asked agency's representatives can give its research")
    problem = research_problem(request)
    if problem:
        raise ResearchError(problem)
    values = {
        "facts": _clean(facts, "Facts held", "facts"),
        "opinion": _clean(opinion, "Professional opinion", "opinion"),
        "withheld": _clean(withheld, "Information held but not shared", "withheld"),
        "withheld_reason": _clean(withheld_reason, "The reason for not sharing", "withheld_reason"),
    }
    _check_answer(values, nothing_held)
    for name, value in values.items():
        setattr(request, name, value)
    request.status = (ResearchStatus.NOTHING_HELD if nothing_held else ResearchStatus.ANSWERED).value
    request.answered_by_id = actor.id
    request.answered_at = db.utcnow()
    db.session.flush()
    audit.record(
        "research.answer",
        actor=actor,
        object_type="research_request",
        object_id=request.public_id,
        details={"status": request.status, "withheld": values["withheld"] is not None},
    )
    return request


def _check_answer(values: dict[str, str | None], nothing_held: bool) -> None:
    if nothing_held:
        if any(values.values()):
            raise ResearchError(
                "You said your agency holds nothing on this case: clear the other answers, or untick nothing held",
                "nothing_held",
            )
        return
    if values["withheld"] and not values["withheld_reason"]:
        raise ResearchError("Enter why the information held is not being shared", "withheld_reason")
    if values["withheld_reason"] and not values["withheld"]:
        raise ResearchError("Describe the information held but not shared, or clear the reason", "withheld")
    if not (values["facts"] or values["opinion"] or values["withheld"]):
        raise ResearchError(
            "Enter the facts your agency holds or your professional opinion, or select that your agency holds "
            "nothing on this case",
            "facts",
        )


# --- the coordinator's side ----------------------------------------------------------------------------------------


def may_see_grid(actor: Any, meeting: Meeting) -> bool:
    """The area's coordinators and chairs follow every agency's research."""
    return can_follow_research(actor, meeting)


@dataclass(frozen=True)
class GridRow:
    """One agency's research across the meeting's cases (None: the agency was not asked about that case)."""

    agency: Agency
    cells: list[ResearchRequest | None]
    outstanding: int
    reminded_at: datetime | None


@dataclass(frozen=True)
class ResearchGrid:
    """Agencies by cases, with what is outstanding per agency and per case."""

    items: list[AgendaItem]
    rows: list[GridRow]
    outstanding_by_case: list[int]

    @property
    def outstanding(self) -> int:
        """Requests still to be answered."""
        return sum(self.outstanding_by_case)


def _requests_by_agency(items: list[AgendaItem]) -> dict[int, dict[int, ResearchRequest]]:
    found: dict[int, dict[int, ResearchRequest]] = {}
    if items:
        query = select(ResearchRequest).where(ResearchRequest.agenda_item_id.in_([i.id for i in items]))
        for request in db.session.scalars(query):
            found.setdefault(request.agency_id, {})[request.agenda_item_id] = request
    return found


def research_grid(actor: Any, meeting: Meeting) -> ResearchGrid:
    """Every asked agency against every case on the agenda, with each request's status and the outstanding counts."""
    if not may_see_grid(actor, meeting):
        raise ResearchError("Only the area's coordinators and chairs can follow the research")
    items = listed_items(meeting)
    by_agency = _requests_by_agency(items)
    agencies = db.session.scalars(select(Agency).where(Agency.id.in_(by_agency)).order_by(Agency.name))
    rows = []
    per_case = [0] * len(items)
    for agency in agencies:
        cells = [by_agency[agency.id].get(i.id) for i in items]
        for n, cell in enumerate(cells):
            per_case[n] += int(cell is not None and cell.is_outstanding)
        asked = [c for c in cells if c is not None]
        reminders = [c.reminded_at for c in asked if c.reminded_at is not None]
        outstanding = sum(1 for c in asked if c.is_outstanding)
        rows.append(GridRow(agency, cells, outstanding, max(reminders, default=None)))
    return ResearchGrid(items, rows, per_case)


@dataclass(frozen=True)
class Reminders:
    """What a round of reminders did: agencies reminded, messages queued, and agencies with nobody to remind."""

    agencies: int
    messages: int
    unreached: list[str]


def _outstanding_by_agency(meeting: Meeting, agency_ids: set[int] | None) -> dict[int, list[ResearchRequest]]:
    waiting: dict[int, list[ResearchRequest]] = {}
    for agency_id, asked in _requests_by_agency(listed_items(meeting)).items():
        left = [r for r in asked.values() if r.is_outstanding]
        if left and (agency_ids is None or agency_id in agency_ids):
            waiting[agency_id] = left
    return waiting


def send_reminders(actor: Any, meeting: Meeting, agency_ids: set[int] | None = None) -> Reminders:
    """Remind the representatives of agencies with outstanding research (all, or those given): one content-free
    message each, at most once a minute, and mark the requests reminded."""
    if not can_manage_meeting(actor, meeting):
        raise ResearchError("Only the area's coordinators can send reminders")
    if meeting.is_cancelled or meeting.signed_version is not None:
        raise ResearchError("This meeting's research is closed: reminders can no longer be sent")
    waiting = _outstanding_by_agency(meeting, agency_ids)
    if not waiting:
        raise ResearchError(
            "Every agency has answered" if agency_ids is None else "The agencies selected have answered"
        )
    now = db.utcnow()
    messages, unreached = 0, []
    for agency_id, requests in waiting.items():
        agency = requests[0].agency
        reps = representatives(meeting, {agency_id})
        if not reps:
            unreached.append(agency.name)
        # Short enough for the outbox's 120-character idempotency key (kind and recipient id are added to it).
        key = f"{meeting.public_id}:{agency.id}:{now:%y%m%d%H%M}"
        messages += queue_to_all(reps, "research_reminder", key)
        for request in requests:
            request.reminded_at = now
    db.session.flush()
    audit.record(
        "research.remind",
        actor=actor,
        object_type="meeting",
        object_id=meeting.public_id,
        details={"agencies": len(waiting), "messages": messages},
    )
    return Reminders(len(waiting), messages, sorted(unreached))


@dataclass(frozen=True)
class ItemResearch:
    """One agency's research on a case, for the coordinator and chair at the meeting."""

    agency: Agency
    status: str
    facts: str | None
    opinion: str | None
    withheld: str | None
    withheld_reason: str | None
    answered_at: datetime | None


def research_for_item(actor: Any, item: AgendaItem) -> list[ItemResearch]:
    """Every asked agency's research on one agenda item that the actor may see, by agency name (outstanding
    requests included, with no content, so the meeting knows who has not answered)."""
    requests = db.session.scalars(select(ResearchRequest).where(ResearchRequest.agenda_item_id == item.id))
    found = [
        ItemResearch(r.agency, r.status, r.facts, r.opinion, r.withheld, r.withheld_reason, r.answered_at)
        for r in requests
        if can_see_research(actor, r, item.meeting)
    ]
    return sorted(found, key=lambda r: r.agency.name)
