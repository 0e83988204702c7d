"""The agenda builder: accepted referrals waiting for a meeting, allocation, order, time budgets, capacity,
deferral and publication (which asks every member agency for research and tells their representatives)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, func, select

from marac import audit, db
from marac.access import (
    Role,
    can_manage_meeting,
    case_relations_many,
    user_area_ids,
    visible_actions,
    visible_cases_clause,
)
from marac.actions.models import Action
from marac.actions.services import outstanding_actions_for_cases
from marac.auth.models import User, UserRole
from marac.cases.models import Case, CaseStatus, Referral
from marac.meetings.models import AgendaItem, ItemStatus, Meeting, MeetingStatus, ResearchRequest
from marac.meetings.services.schedule import MeetingError, lock_meeting
from marac.notify.services import Attachment, queue_to_all

#: Bounds on one case's time budget, in minutes.
MIN_BUDGET, MAX_BUDGET = 5, 60
#: Default time budget per case (REFERENCE.md: 10 to 15 minutes).
DEFAULT_BUDGET = 10


def _on_an_agenda() -> Any:
    """A case already listed (or heard) on a meeting that is not cancelled."""
    return exists(
        select(AgendaItem.id)
        .join(Meeting, Meeting.id == AgendaItem.meeting_id)
        .where(
            AgendaItem.case_id == Case.id,
            AgendaItem.status != ItemStatus.DEFERRED.value,
            Meeting.status != MeetingStatus.CANCELLED.value,
        )
    )


def awaiting_allocation(actor: Any, area_id: int | None = None) -> list[Case]:
    """Accepted referrals in the actor's areas not yet on an agenda, oldest decision first."""
    areas = user_area_ids(actor) if area_id is None else {area_id} & user_area_ids(actor)
    query = (
        select(Case)
        .join(Referral, Referral.case_id == Case.id)
        .where(
            Case.status == CaseStatus.OPEN.value,
            Referral.decision == "accepted",
            Case.area_id.in_(areas),
            ~_on_an_agenda(),
            visible_cases_clause(actor),
        )
        .order_by(Referral.decided_at, Case.id)
    )
    return list(db.session.scalars(query))


def listed_items(meeting: Meeting) -> list[AgendaItem]:
    """The cases the meeting will hear (or heard), in order."""
    return [i for i in meeting.items if i.status != ItemStatus.DEFERRED.value]


def deferred_items(meeting: Meeting) -> list[AgendaItem]:
    """The cases deferred from this meeting."""
    return [i for i in meeting.items if i.status == ItemStatus.DEFERRED.value]


@dataclass(frozen=True)
class EarlierActions:
    """A case on the agenda with the actions agreed at earlier meetings that are still outstanding (its own and its
    victim's earlier cases' in the area), oldest due first."""

    item: AgendaItem
    actions: list[Action]


def earlier_outstanding_actions(actor: Any, meeting: Meeting) -> list[EarlierActions]:
    """For each case on the agenda the actor may see, in agenda order, the outstanding actions from earlier
    meetings that the actor may see; cases with none are left out."""
    items = sorted(listed_items(meeting), key=lambda i: i.position)
    found = outstanding_actions_for_cases([i.case_id for i in items], meeting)
    if not found:
        return []
    relations = case_relations_many(actor, [i.case for i in items if i.case_id in found])
    groups = []
    for item in items:
        if item.case_id in found and relations.get(item.case_id):
            shown = visible_actions(actor, found[item.case_id])
            if shown:
                groups.append(EarlierActions(item, shown))
    return groups


def _require_building(actor: Any, meeting: Meeting) -> None:
    if not can_manage_meeting(actor, meeting):
        raise MeetingError("Only the area's coordinators can change this agenda")
    lock_meeting(meeting)
    if meeting.is_cancelled:
        raise MeetingError("This meeting was cancelled: allocate the case to another meeting")
    if meeting.starts_at <= db.utcnow():
        raise MeetingError("This meeting has already started: its agenda can no longer change")


def allocation_problem(case: Case, meeting: Meeting) -> str | None:
    """Why a case cannot go on this meeting's agenda, or None."""
    referral = db.session.scalar(select(Referral).where(Referral.case_id == case.id))
    if case.status != CaseStatus.OPEN.value or referral is None or referral.decision != "accepted":
        return f"Case {case.reference} is not an accepted referral: only accepted referrals go on an agenda"
    if case.area_id != meeting.area_id:
        return f"Case {case.reference} belongs to another area's MARAC"
    on_agenda = db.session.scalar(select(Case.id).where(Case.id == case.id, _on_an_agenda()))
    if on_agenda is not None:
        return f"Case {case.reference} is already on an agenda"
    return None


def allocate(actor: Any, meeting: Meeting, case: Case, minutes: int | None = None) -> AgendaItem:
    """Put an accepted referral on the agenda, last; after publication it is a late addition and its research
    requests go out at once."""
    _require_building(actor, meeting)
    # Hold the case too: two coordinators allocating it at once to two meetings must not both succeed.
    db.session.execute(select(Case.id).where(Case.id == case.id).with_for_update())
    problem = allocation_problem(case, meeting)
    if problem:
        raise MeetingError(problem)
    from marac.meetings.services.schedule import area_pattern

    pattern = area_pattern(meeting.area)
    budget = minutes or (pattern.minutes_per_case if pattern else DEFAULT_BUDGET)
    item = AgendaItem(
        meeting_id=meeting.id,
        case_id=case.id,
        position=max((i.position for i in listed_items(meeting)), default=0) + 1,
        minutes_budget=_check_budget(budget),
        is_late=meeting.is_published,
        added_by_id=actor.id,
        added_at=db.utcnow(),
    )
    meeting.items.append(item)
    db.session.flush()
    audit.record("agenda.allocate", actor=actor, object_type="case", object_id=case.public_id)
    if meeting.is_published:
        _request_research(meeting, [item])
        notify_members(meeting, "agenda_late_addition", key=item.public_id, about=case)
    return item


def _check_budget(minutes: int) -> int:
    if not MIN_BUDGET <= minutes <= MAX_BUDGET:
        raise MeetingError(f"A case's time must be between {MIN_BUDGET} and {MAX_BUDGET} minutes")
    return minutes


def _renumber(meeting: Meeting) -> None:
    for position, item in enumerate(sorted(listed_items(meeting), key=lambda i: i.position), start=1):
        item.position = position


def move_item(actor: Any, item: AgendaItem, direction: str) -> None:
    """Move a case one place up or down the agenda."""
    meeting = item.meeting
    _require_building(actor, meeting)
    items = sorted(listed_items(meeting), key=lambda i: i.position)
    if item not in items or direction not in {"up", "down"}:
        raise MeetingError("That case cannot be moved")
    index = items.index(item)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(items):
        items[index], items[other] = items[other], items[index]
    for position, each in enumerate(items, start=1):
        each.position = position
    db.session.flush()


def set_budget(actor: Any, item: AgendaItem, minutes: int) -> None:
    """Change the minutes budgeted for a case."""
    _require_building(actor, item.meeting)
    item.minutes_budget = _check_budget(minutes)
    db.session.flush()


def defer_item(actor: Any, item: AgendaItem, reason: str) -> None:
    """Take a case off this agenda for a later meeting (it waits for allocation again), with the reason."""
    _require_building(actor, item.meeting)
    reason = (reason or "").strip()
    if not reason:
        raise MeetingError("Enter why the case is deferred")
    if len(reason) > 1000:
        raise MeetingError("The reason must be 1000 characters or fewer")
    if item.status != ItemStatus.LISTED.value:
        raise MeetingError("Only a listed case can be deferred")
    item.status = ItemStatus.DEFERRED.value
    item.deferred_at = db.utcnow()
    item.deferral_reason = reason
    _renumber(item.meeting)
    db.session.flush()
    audit.record("agenda.defer", actor=actor, object_type="case", object_id=item.case.public_id)


def remove_item(actor: Any, item: AgendaItem) -> None:
    """Take a case off an agenda that is not yet published (after publication, defer it instead)."""
    _require_building(actor, item.meeting)
    if item.meeting.is_published:
        raise MeetingError("The agenda is published: defer the case instead, with a reason")
    meeting = item.meeting
    meeting.items.remove(item)
    db.session.delete(item)
    _renumber(meeting)
    db.session.flush()
    audit.record("agenda.remove", actor=actor, object_type="case", object_id=item.case.public_id)


@dataclass(frozen=True)
class Capacity:
    """How full a meeting is, with warnings when it is over its length or the area's case limit."""

    cases: int
    case_limit: int
    minutes: int
    length_minutes: int
    warnings: list[str] = field(default_factory=list)

    @property
    def is_over(self) -> bool:
        """Whether any limit is passed."""
        return bool(self.warnings)


def capacity(meeting: Meeting) -> Capacity:
    """Cases and budgeted minutes against the meeting's length and case limit."""
    items = listed_items(meeting)
    minutes = sum(i.minutes_budget for i in items)
    warnings = []
    if minutes > meeting.length_minutes:
        warnings.append(
            f"The cases need {minutes} minutes but the meeting is {meeting.length_minutes} minutes long: "
            f"{minutes - meeting.length_minutes} minutes over"
        )
    if len(items) > meeting.case_limit:
        warnings.append(
            f"{len(items)} cases is more than this area's limit of {meeting.case_limit} cases a meeting: "
            "consider deferring the lowest-risk cases or adding a meeting"
        )
    return Capacity(len(items), meeting.case_limit, minutes, meeting.length_minutes, warnings)


def publish_agenda(actor: Any, meeting: Meeting) -> int:
    """Publish the agenda: ask every member agency for research on every case and tell their representatives
    (no case content). Returns how many research requests were made."""
    _require_building(actor, meeting)
    if meeting.is_published:
        raise MeetingError("This agenda is already published")
    items = listed_items(meeting)
    if not items:
        raise MeetingError("There are no cases on this agenda: allocate at least one case before publishing")
    meeting.status = MeetingStatus.PUBLISHED.value
    meeting.published_at = db.utcnow()
    made = _request_research(meeting, items)
    notify_members(meeting, "agenda_published", key=meeting.public_id)
    audit.record(
        "agenda.publish",
        actor=actor,
        object_type="meeting",
        object_id=meeting.public_id,
        details={"cases": len(items), "research_requests": made},
    )
    return made


def member_agencies(meeting: Meeting) -> list[Any]:
    """The area's member agencies in use, by name."""
    return sorted((a for a in meeting.area.agencies if a.is_active), key=lambda a: a.name)


def _request_research(meeting: Meeting, items: list[AgendaItem]) -> int:
    agencies = member_agencies(meeting)
    for item in items:
        for agency in agencies:
            db.session.add(ResearchRequest(agenda_item_id=item.id, agency_id=agency.id, created_at=db.utcnow()))
    db.session.flush()
    return len(items) * len(agencies)


def representatives(meeting: Meeting, agency_ids: set[int] | None = None) -> list[User]:
    """Active agency representatives of the member agencies (or the ones given) who work in the meeting's area."""
    ids = {a.id for a in member_agencies(meeting)} if agency_ids is None else agency_ids
    users = db.session.scalars(
        select(User)
        .where(
            User.agency_id.in_(ids),
            User.is_active.is_(True),
            exists(select(UserRole.id).where(and_(UserRole.user_id == User.id, UserRole.role == Role.AGENCY_REP))),
        )
        .order_by(User.id)
    )
    return [u for u in users if meeting.area_id in user_area_ids(u)]


def representatives_of(area: Any, agency: Any) -> list[User]:
    """An agency's active MARAC representatives who work in the area (for the area's member list)."""
    users = db.session.scalars(
        select(User)
        .join(UserRole)
        .where(User.agency_id == agency.id, User.is_active.is_(True), UserRole.role == Role.AGENCY_REP)
        .order_by(User.display_name)
    )
    return [u for u in users if area.id in user_area_ids(u)]


def meeting_recipients(meeting: Meeting) -> list[User]:
    """Who hears about the meeting: the member agencies' representatives, its chair and the area's coordinators."""
    people = {u.id: u for u in representatives(meeting)}
    if meeting.chair is not None and meeting.chair.is_active:
        people[meeting.chair.id] = meeting.chair
    coordinators = db.session.scalars(
        select(User).join(UserRole).where(UserRole.role == Role.COORDINATOR, User.is_active.is_(True))
    )
    for user in coordinators:
        if meeting.area_id in user_area_ids(user):
            people[user.id] = user
    return list(people.values())


def notify_members(meeting: Meeting, kind: str, *, key: str, about: Case | None = None) -> int:
    """Queue a content-free message, with the calendar invite, to everyone the meeting concerns; a message about
    one case never goes to anyone on that case's must-not-receive list."""
    from marac.meetings.services.invites import meeting_invite
    from marac.sharing.models import MustNotReceive

    recipients = meeting_recipients(meeting)
    if about is not None:
        barred = set(db.session.scalars(select(MustNotReceive.user_id).where(MustNotReceive.case_id == about.id)))
        recipients = [u for u in recipients if u.id not in barred]
    invite = Attachment(f"{meeting.reference}.ics", "text/calendar", meeting_invite(meeting))
    return queue_to_all(recipients, kind, key, invite)


def agenda_counts(meeting_ids: list[int]) -> dict[int, int]:
    """Cases listed per meeting."""
    rows = db.session.execute(
        select(AgendaItem.meeting_id, func.count())
        .where(AgendaItem.meeting_id.in_(meeting_ids), AgendaItem.status != ItemStatus.DEFERRED.value)
        .group_by(AgendaItem.meeting_id)
    )
    return dict(rows.tuples().all())
