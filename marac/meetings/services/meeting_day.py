"""The meeting as it happens: attendance, observers with the confidentiality statement, each case's discussion and
the actions agreed, and the page the coordinator runs it from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from marac import audit, db
from marac.access import can_chair_meeting, can_manage_meeting, case_relations, is_member_agency
from marac.actions.models import Action
from marac.actions.services import create_action, outstanding_actions_for_cases
from marac.auth.models import User
from marac.meetings.models import AgendaItem, Attendance, AttendanceStatus, ItemStatus, Meeting, Observer
from marac.meetings.services.agenda import listed_items
from marac.meetings.services.minutes import (
    ATTENDANCE_LABELS,
    STATEMENT_VERSION,
    TEXT_LIMIT,
    AttendanceRow,
    attendance_rows,
    check_change_reason,
    has_started,
    meeting_actions,
    meeting_observers,
    minutes_deadline,
    minutes_overdue,
    note_change,
    require_manager,
    require_started,
)
from marac.meetings.services.research import ItemResearch, research_for_item
from marac.meetings.services.schedule import MeetingError
from marac.orgs.models import Agency

# --- at the meeting ------------------------------------------------------------------------------------------------


def _clean_text(value: str | None, label: str, limit: int = TEXT_LIMIT) -> str:
    text = (value or "").strip()
    if len(text) > limit:
        raise MeetingError(f"{label} must be {limit} characters or fewer")
    return text


def _attendance_row(meeting: Meeting, agency: Agency) -> Attendance | None:
    return db.session.scalar(
        select(Attendance).where(Attendance.meeting_id == meeting.id, Attendance.agency_id == agency.id)
    )


def record_attendance(
    actor: Any,
    meeting: Meeting,
    agency: Agency,
    status: str,
    attendees: str | None,
    information_sent: bool | None,
    *,
    change_reason: str | None = None,
) -> Attendance:
    """Record whether a member agency attended and who came; apologies say whether its information was sent (they
    may be recorded before the meeting, the rest once it has started)."""
    require_manager(actor, meeting)
    if not is_member_agency(agency.id, meeting.area):
        raise MeetingError(f"{agency.name} is not a member agency of the {meeting.area.name} MARAC")
    if status not in ATTENDANCE_LABELS:
        raise MeetingError(f"Select whether {agency.name} was present, sent apologies or was absent")
    if status != AttendanceStatus.APOLOGIES.value:
        require_started(meeting)
    people = _clean_text(attendees, "Who attended", 300)
    if status == AttendanceStatus.PRESENT.value and not people:
        raise MeetingError(f"Enter who attended for {agency.name} (names and roles)")
    if status == AttendanceStatus.APOLOGIES.value and information_sent is None:
        raise MeetingError(f"Select whether {agency.name} sent its information before the meeting")
    reason = check_change_reason(meeting, change_reason)
    row = _attendance_row(meeting, agency) or Attendance(meeting_id=meeting.id, agency_id=agency.id)
    row.status = status
    row.attendees = people if status == AttendanceStatus.PRESENT.value else ""
    row.information_sent = information_sent if status == AttendanceStatus.APOLOGIES.value else None
    row.recorded_at = db.utcnow()
    db.session.add(row)
    db.session.flush()
    note_change(actor, meeting, reason, "attendance", None)
    audit.record(
        "meeting.attendance",
        actor=actor,
        object_type="meeting",
        object_id=meeting.public_id,
        details={"agency": agency.public_id, "status": status},
    )
    return row


@dataclass(frozen=True)
class RegisterRow:
    """One line of the attendance register as submitted ("" status: leave the agency as it is)."""

    agency: Agency
    status: str
    attendees: str
    information_sent: bool | None


def record_register(actor: Any, meeting: Meeting, rows: list[RegisterRow], *, change_reason: str | None = None) -> int:
    """Record the attendance register: each agency whose line changed. The caller rolls back if any line is refused,
    so the register is saved whole or not at all. Returns how many agencies changed."""
    changed = 0
    for row in rows:
        if not row.status:
            continue
        existing = _attendance_row(meeting, row.agency)
        attendees = (row.attendees or "").strip() if row.status == AttendanceStatus.PRESENT.value else ""
        sent = row.information_sent if row.status == AttendanceStatus.APOLOGIES.value else None
        if existing is not None and (existing.status, existing.attendees, existing.information_sent) == (
            row.status,
            attendees,
            sent,
        ):
            continue
        record_attendance(
            actor, meeting, row.agency, row.status, row.attendees, row.information_sent, change_reason=change_reason
        )
        changed += 1
    return changed


def add_observer(
    actor: Any,
    meeting: Meeting,
    name: str | None,
    organisation: str | None,
    purpose: str | None,
    statement_signed: bool,
    *,
    change_reason: str | None = None,
) -> Observer:
    """Record an observer who has signed the confidentiality statement (refused until they have)."""
    require_manager(actor, meeting)
    who = _clean_text(name, "The observer's name", 120)
    where = _clean_text(organisation, "The organisation", 160)
    why = _clean_text(purpose, "The purpose", 200)
    if not who or not where:
        raise MeetingError("Enter the observer's name and organisation")
    if not statement_signed:
        raise MeetingError("An observer must sign the confidentiality statement before the meeting hears any case")
    reason = check_change_reason(meeting, change_reason)
    observer = Observer(
        meeting_id=meeting.id,
        name=who,
        organisation=where,
        purpose=why,
        statement_version=STATEMENT_VERSION,
        signed_at=db.utcnow(),
        recorded_by_id=actor.id,
    )
    db.session.add(observer)
    db.session.flush()
    note_change(actor, meeting, reason, "observers", None)
    audit.record("meeting.observer", actor=actor, object_type="meeting", object_id=meeting.public_id)
    return observer


def _discussed_item(actor: Any, item: AgendaItem) -> Meeting:
    meeting = item.meeting
    require_manager(actor, meeting)
    require_started(meeting)
    if item.status == ItemStatus.DEFERRED.value:
        raise MeetingError(f"Case {item.case.reference} was deferred from this meeting: it has no minutes here")
    if not case_relations(actor, item.case):
        raise MeetingError(f"You may not see case {item.case.reference}: another coordinator must record it")
    return meeting


def record_discussion(
    actor: Any,
    item: AgendaItem,
    victim_voice: str | None,
    risks: str | None,
    minutes: str | None,
    *,
    change_reason: str | None = None,
) -> AgendaItem:
    """Record a case's discussion (the victim's voice from the IDVA, the risks identified, the minutes) and mark
    it heard; a change to signed minutes needs a reason and opens a new version."""
    meeting = _discussed_item(actor, item)
    values = (
        _clean_text(victim_voice, "The victim's voice"),
        _clean_text(risks, "The risks identified"),
        _clean_text(minutes, "The minutes"),
    )
    if not values[2]:
        raise MeetingError(f"Enter the minutes of the discussion of case {item.case.reference}")
    if values == (item.victim_voice or "", item.risks or "", item.minutes or "") and item.recorded_at is not None:
        return item  # nothing changed: no new version
    reason = check_change_reason(meeting, change_reason)
    item.victim_voice, item.risks, item.minutes = values
    item.status = ItemStatus.HEARD.value
    item.recorded_at = db.utcnow()
    db.session.flush()
    note_change(actor, meeting, reason, "discussion", item)
    audit.record("minutes.record", actor=actor, object_type="case", object_id=item.case.public_id)
    return item


def agree_action(
    actor: Any,
    item: AgendaItem,
    *,
    agency: Agency,
    owner: User | None,
    description: str,
    due_on: date,
    change_reason: str | None = None,
) -> Action:
    """Record an action agreed for a case (through the actions domain); it is part of the minutes, so adding one to
    signed minutes needs a reason and opens a new version."""
    meeting = _discussed_item(actor, item)
    reason = check_change_reason(meeting, change_reason)
    action = create_action(actor, item=item, agency=agency, owner=owner, description=description, due_on=due_on)
    note_change(actor, meeting, reason, "actions", item)
    return action


# --- the page at the meeting ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayItem:
    """One case at the meeting: earlier outstanding actions first, then research, discussion and actions agreed."""

    item: AgendaItem
    earlier_actions: list[Action]
    research: list[ItemResearch]
    actions: list[Action]


@dataclass(frozen=True)
class MeetingDay:
    """Everything the meeting page shows."""

    meeting: Meeting
    attendance: list[AttendanceRow]
    observers: list[Observer]
    items: list[DayItem]
    has_started: bool
    deadline: date
    is_overdue: bool


def meeting_day(actor: Any, meeting: Meeting) -> MeetingDay:
    """The meeting as its coordinator or chair runs it: attendance, observers, and each listed case in order."""
    if not (can_manage_meeting(actor, meeting) or can_chair_meeting(actor, meeting)):
        raise MeetingError("Only the area's coordinators and chairs run a meeting")
    items = listed_items(meeting)
    earlier = outstanding_actions_for_cases([i.case_id for i in items], meeting)
    agreed = meeting_actions(meeting)
    rows = [
        DayItem(i, earlier.get(i.case_id, []), research_for_item(actor, i), agreed.get(i.id, []))
        for i in sorted(items, key=lambda i: i.position)
    ]
    return MeetingDay(
        meeting=meeting,
        attendance=attendance_rows(meeting),
        observers=meeting_observers(meeting),
        items=rows,
        has_started=has_started(meeting),
        deadline=minutes_deadline(meeting),
        is_overdue=minutes_overdue(meeting, db.london_today()),
    )
