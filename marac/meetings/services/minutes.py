"""The minutes: versions (a change to signed minutes needs a reason and opens the next version, its reason kept
sealed on the meeting until the chair signs), what they hold, the chair's sign-off (a sealed, hashed snapshot),
distribution to member agencies and its 3-working-day deadline.

`minutes_version` is the version being written (0 until anything is recorded); `signed_version` the last one the
chair signed. The meeting itself is recorded through `meeting_day`; a case's history is in `history`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marac import audit, db
from marac.access import can_chair_meeting, can_manage_meeting, case_relations_many
from marac.actions.models import Action
from marac.cases.overdue import add_working_days
from marac.meetings.models import (
    AgendaItem,
    Attendance,
    AttendanceStatus,
    Meeting,
    MinutesVersion,
    Observer,
)
from marac.meetings.services.agenda import listed_items, member_agencies, notify_members
from marac.meetings.services.schedule import MeetingError, lock_meeting, to_local
from marac.orgs.models import Agency

#: Version of the confidentiality statement observers sign (change it when the text changes).
STATEMENT_VERSION = "2026-1"
#: What an observer agrees to before the meeting hears any case.
CONFIDENTIALITY_STATEMENT = (
    "I understand that everything discussed at this MARAC meeting is confidential. I will not disclose, record or "
    "share any information about the people discussed, nor use it for any purpose other than the safety of those "
    "at risk, and I will leave the meeting if I know anyone being discussed."
)
#: Working days after the meeting by which the minutes go to member agencies (REFERENCE.md).
DISTRIBUTION_WORKING_DAYS = 3
#: Longest text in one part of a case's discussion.
TEXT_LIMIT = 5000
#: Bounds on the reason for changing signed minutes.
MIN_REASON, MAX_REASON = 10, 1000
ATTENDANCE_LABELS = {
    AttendanceStatus.PRESENT.value: "Present",
    AttendanceStatus.APOLOGIES.value: "Apologies",
    AttendanceStatus.ABSENT.value: "Absent",
}


def _day(meeting: Meeting) -> str:
    return to_local(meeting.starts_at).strftime("%A %-d %B %Y at %H:%M")


def has_started(meeting: Meeting) -> bool:
    """Whether the meeting's start time has passed."""
    return meeting.starts_at <= db.utcnow()


def require_manager(actor: Any, meeting: Meeting) -> None:
    """Refuse anyone but the area's coordinators, and a cancelled meeting; hold the meeting row for the change."""
    if not can_manage_meeting(actor, meeting):
        raise MeetingError("Only the area's coordinators record a meeting and its minutes")
    lock_meeting(meeting)
    if meeting.is_cancelled:
        raise MeetingError("This meeting was cancelled: there are no minutes to record")


def require_started(meeting: Meeting) -> None:
    """Refuse minutes before the meeting has started."""
    if not has_started(meeting):
        raise MeetingError(f"Minutes can only be recorded once the meeting has started (it starts on {_day(meeting)})")


# --- versions ------------------------------------------------------------------------------------------------------


def needs_change_reason(meeting: Meeting) -> bool:
    """Whether the next change to the minutes opens a new version (they are signed as they stand)."""
    return meeting.minutes_signed


def check_change_reason(meeting: Meeting, change_reason: str | None) -> str | None:
    """The reason for a change, required when the minutes are signed as they stand."""
    reason = (change_reason or "").strip()
    if not reason:
        if needs_change_reason(meeting):
            raise MeetingError(
                f"These minutes are signed (version {meeting.signed_version}): say why they are changing"
            )
        return None
    if len(reason) < MIN_REASON or len(reason) > MAX_REASON:
        raise MeetingError(f"The reason for the change must be {MIN_REASON} to {MAX_REASON} characters")
    return reason


def note_change(actor: Any, meeting: Meeting, reason: str | None, part: str, item: AgendaItem | None) -> None:
    """Count a change to the minutes: the first recording makes version 1; a change to signed minutes opens the
    next version, keeping its reason (sealed) until the chair signs it; the change is audited without content.
    Apologies and observers recorded before the meeting starts are not minutes yet."""
    if not has_started(meeting):
        return
    if meeting.minutes_version == 0:
        meeting.minutes_version = 1
    elif meeting.minutes_signed:
        meeting.minutes_version += 1
    if meeting.signed_version is None:
        return  # drafting before the first sign-off: each recording is audited by its own service
    if reason:
        earlier = meeting.pending_change_reason if isinstance(meeting.pending_change_reason, str) else ""
        stamp = to_local(db.utcnow()).strftime("%-d %b %Y %H:%M")
        meeting.pending_change_reason = f"{earlier}\n{stamp}: {reason}".strip()
    details: dict[str, object] = {"version": meeting.minutes_version, "part": part}
    if item is not None:
        details["item"] = item.public_id
    audit.record("minutes.change", actor=actor, object_type="meeting", object_id=meeting.public_id, details=details)


def minutes_versions(meeting: Meeting) -> list[MinutesVersion]:
    """The signed versions of the minutes, newest first."""
    query = (
        select(MinutesVersion)
        .where(MinutesVersion.meeting_id == meeting.id)
        .options(selectinload(MinutesVersion.signed_by))
        .order_by(MinutesVersion.version.desc())
    )
    return list(db.session.scalars(query))


def pending_change_reason(meeting: Meeting) -> str | None:
    """Why the minutes changed since the chair last signed them (None: no change waiting to be signed)."""
    if meeting.signed_version is None or meeting.minutes_signed:
        return None
    reason = meeting.pending_change_reason
    return reason if isinstance(reason, str) else None


# --- what the minutes hold ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttendanceRow:
    """A member agency and what was recorded for it (None: not yet)."""

    agency: Agency
    record: Attendance | None

    @property
    def label(self) -> str:
        """Present, apologies, absent or not recorded."""
        return ATTENDANCE_LABELS.get(self.record.status, "") if self.record else "Not recorded"


def meeting_actions(meeting: Meeting) -> dict[int, list[Action]]:
    """The actions agreed at the meeting, by agenda item, due date order."""
    query = (
        select(Action)
        .where(Action.meeting_id == meeting.id)
        .options(selectinload(Action.agency), selectinload(Action.owner))
        .order_by(Action.due_on, Action.id)
    )
    found: dict[int, list[Action]] = {}
    for action in db.session.scalars(query):
        found.setdefault(action.agenda_item_id or 0, []).append(action)
    return found


def attendance_rows(meeting: Meeting) -> list[AttendanceRow]:
    """Every member agency with its attendance (and any former member that was recorded), by name."""
    recorded = {
        a.agency_id: a
        for a in db.session.scalars(
            select(Attendance).where(Attendance.meeting_id == meeting.id).options(selectinload(Attendance.agency))
        )
    }
    agencies = {a.id: a for a in member_agencies(meeting)}
    agencies.update({row.agency_id: row.agency for row in recorded.values()})
    return [AttendanceRow(a, recorded.get(a.id)) for a in sorted(agencies.values(), key=lambda a: a.name)]


def meeting_observers(meeting: Meeting) -> list[Observer]:
    """Observers in the order they signed."""
    query = select(Observer).where(Observer.meeting_id == meeting.id).order_by(Observer.signed_at, Observer.id)
    return list(db.session.scalars(query))


# --- sign-off and distribution -------------------------------------------------------------------------------------


def _sign_off_problem(meeting: Meeting) -> str | None:
    if meeting.is_cancelled:
        return "This meeting was cancelled: there are no minutes to sign off"
    if not has_started(meeting):
        return f"The minutes cannot be signed off before the meeting has happened (it starts on {_day(meeting)})"
    if meeting.minutes_signed:
        return f"These minutes are already signed (version {meeting.signed_version})"
    missing = [i.case.reference for i in listed_items(meeting) if i.recorded_at is None or not i.minutes]
    if missing:
        return f"Record the minutes for every case before signing off: none yet for {', '.join(missing)}"
    if meeting.minutes_version == 0:
        return "No minutes have been recorded for this meeting yet"
    unrecorded = [r.agency.name for r in attendance_rows(meeting) if r.record is None]
    if unrecorded:
        return f"Record attendance for every member agency before signing off: not yet for {', '.join(unrecorded)}"
    return None


def sign_off_problem(actor: Any, meeting: Meeting) -> str | None:
    """Why the actor cannot sign the minutes off now, or None."""
    if not can_chair_meeting(actor, meeting):
        return "Only a chair of the area can sign off the minutes"
    items = listed_items(meeting)
    relations = case_relations_many(actor, [i.case for i in items])
    if any(not relations[i.case_id] for i in items):
        return "You may not see every case on this agenda: another chair of the area must sign these minutes off"
    return _sign_off_problem(meeting)


def minutes_snapshot(meeting: Meeting) -> dict[str, Any]:
    """The minutes as they stand, for sealing: attendance, observers, each case's discussion and actions."""
    actions = meeting_actions(meeting)
    return {
        "meeting": meeting.reference,
        "starts_at": meeting.starts_at.isoformat(),
        "version": meeting.minutes_version,
        "attendance": [
            {
                "agency": r.agency.name,
                "status": r.record.status,
                "attendees": r.record.attendees,
                "information_sent": r.record.information_sent,
            }
            for r in attendance_rows(meeting)
            if r.record is not None
        ],
        "observers": [
            {"name": o.name, "organisation": o.organisation, "purpose": o.purpose, "statement": o.statement_version}
            for o in meeting_observers(meeting)
        ],
        "cases": [_item_snapshot(i, actions.get(i.id, [])) for i in listed_items(meeting)],
    }


def _item_snapshot(item: AgendaItem, actions: list[Action]) -> dict[str, Any]:
    return {
        "case": item.case.reference,
        "position": item.position,
        "victim_voice": item.victim_voice or "",
        "risks": item.risks or "",
        "minutes": item.minutes or "",
        "actions": [
            {
                "agency": a.agency.name,
                "owner": a.owner.display_name if a.owner else None,
                "description": a.description,
                "due_on": a.due_on.isoformat(),
            }
            for a in actions
        ],
    }


def sign_off_minutes(actor: Any, meeting: Meeting) -> MinutesVersion:
    """The chair signs the minutes as they stand: a sealed snapshot with its SHA-256 becomes the signed version."""
    lock_meeting(meeting)
    problem = sign_off_problem(actor, meeting)
    if problem:
        raise MeetingError(problem)
    text = json.dumps(minutes_snapshot(meeting), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    version = MinutesVersion(
        meeting_id=meeting.id, version=meeting.minutes_version, signed_by_id=actor.id, signed_at=db.utcnow()
    )
    version.digest, version.snapshot = digest, text
    if isinstance(meeting.pending_change_reason, str):
        version.change_reason, meeting.pending_change_reason = meeting.pending_change_reason, None
    db.session.add(version)
    meeting.signed_version, meeting.signed_at = meeting.minutes_version, version.signed_at
    db.session.flush()
    audit.record(
        "minutes.sign",
        actor=actor,
        object_type="meeting",
        object_id=meeting.public_id,
        details={"version": version.version, "digest": digest},
    )
    return version


def distribute_minutes(actor: Any, meeting: Meeting) -> int:
    """Send the signed minutes to member agencies: a content-free message each (the minutes stay behind sign-in).
    Returns how many messages were queued."""
    if not can_manage_meeting(actor, meeting):
        raise MeetingError("Only the area's coordinators distribute the minutes")
    if not meeting.minutes_signed:
        raise MeetingError("Only signed minutes can be distributed: the chair must sign off the current version first")
    if meeting.distributed_version == meeting.signed_version:
        raise MeetingError(f"Version {meeting.signed_version} of the minutes has already been distributed")
    sent = notify_members(meeting, "minutes_distributed", key=f"{meeting.public_id}:v{meeting.signed_version}")
    meeting.distributed_at, meeting.distributed_version = db.utcnow(), meeting.signed_version
    db.session.flush()
    audit.record(
        "minutes.distribute",
        actor=actor,
        object_type="meeting",
        object_id=meeting.public_id,
        details={"version": meeting.signed_version, "messages": sent},
    )
    return sent


def minutes_deadline(meeting: Meeting) -> date:
    """The minutes are due with member agencies 3 working days after the meeting (its London date)."""
    return add_working_days(to_local(meeting.starts_at).date(), DISTRIBUTION_WORKING_DAYS)


def minutes_overdue(meeting: Meeting, today: date) -> bool:
    """Whether the minutes are late: the deadline has passed and the latest signed version has not gone out (or
    nothing has been signed and sent at all)."""
    if meeting.is_cancelled or today <= minutes_deadline(meeting):
        return False
    sent = meeting.distributed_version
    return sent is None or (meeting.signed_version is not None and sent < meeting.signed_version)
