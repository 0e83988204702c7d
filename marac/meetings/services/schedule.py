"""Each area's meeting pattern, the meetings it generates, and moving, adding or cancelling a meeting."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select

from marac import audit, db
from marac.access import can_manage_area_meetings, can_manage_meeting, can_see_meeting
from marac.auth.models import User
from marac.cases.overdue import is_working_day
from marac.db import LONDON
from marac.meetings.models import (
    AgendaItem,
    Frequency,
    ItemStatus,
    Meeting,
    MeetingPattern,
    MeetingStatus,
)
from marac.orgs.models import Area

#: How far ahead meetings are generated from an area's pattern.
HORIZON_DAYS = 91


class MeetingError(ValueError):
    """A meeting change the rules refuse; the message is shown to the user."""


def local_to_utc(day: date, at: time) -> datetime:
    """A Europe/London wall-clock time as UTC (the clock changes handled by zoneinfo)."""
    return datetime.combine(day, at, tzinfo=LONDON).astimezone(UTC)


def to_local(moment: datetime) -> datetime:
    """A UTC time in Europe/London."""
    return moment.astimezone(LONDON)


def research_due(starts_at: datetime, working_days: int) -> datetime:
    """Research is due `working_days` working days before the meeting, at the meeting's local time."""
    local = to_local(starts_at)
    day = local.date()
    while working_days > 0:
        day -= timedelta(days=1)
        working_days -= is_working_day(day)
    return local_to_utc(day, local.time())


def _monthly(pattern: MeetingPattern, year: int, month: int) -> date | None:
    days = [d for d in calendar.Calendar().itermonthdates(year, month) if d.month == month]
    matching = [d for d in days if d.weekday() == pattern.weekday]
    week = pattern.week_of_month or 1
    return matching[-1] if week >= 5 else matching[min(week, len(matching)) - 1]


def pattern_dates(pattern: MeetingPattern, start: date, end: date) -> list[date]:
    """The dates the pattern gives from `start` to `end` inclusive (never before the pattern starts)."""
    start = max(start, pattern.starts_on)
    found: list[date] = []
    if pattern.frequency == Frequency.MONTHLY.value:
        year, month = start.year, start.month
        while date(year, month, 1) <= end:
            day = _monthly(pattern, year, month)
            if day is not None and start <= day <= end:
                found.append(day)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return found
    day = start
    while day <= end:
        if pattern.frequency == Frequency.DAILY.value:
            if is_working_day(day):
                found.append(day)
        elif day.weekday() == pattern.weekday:
            weeks = (day - pattern.starts_on).days // 7
            if pattern.frequency == Frequency.WEEKLY.value or weeks % 2 == 0:
                found.append(day)
        day += timedelta(days=1)
    return found


def area_pattern(area: Area) -> MeetingPattern | None:
    """The area's meeting pattern, if set."""
    return db.session.scalar(select(MeetingPattern).where(MeetingPattern.area_id == area.id))


def save_pattern(actor: Any, area: Area, values: dict[str, Any]) -> MeetingPattern:
    """Set the area's pattern (frequency, day, time, length, capacity, venue, call, chair) and generate meetings."""
    if not can_manage_area_meetings(actor, area):
        raise MeetingError("Only the area's coordinators can set its meeting pattern")
    _check_chair(values.get("chair"), area)
    pattern = area_pattern(area) or MeetingPattern(area_id=area.id)
    for name in (
        "frequency",
        "weekday",
        "week_of_month",
        "starts_on",
        "start_time",
        "length_minutes",
        "case_limit",
        "minutes_per_case",
        "research_due_days",
        "venue",
        "call_details",
    ):
        setattr(pattern, name, values[name])
    pattern.chair_id = values["chair"].id if values.get("chair") else None
    pattern.updated_at = db.utcnow()
    db.session.add(pattern)
    db.session.flush()
    audit.record("meeting.pattern", actor=actor, object_type="area", object_id=area.public_id)
    _drop_untouched(area)
    generate_meetings(area, today=db.london_today())
    return pattern


def _drop_untouched(area: Area) -> None:
    """Before regenerating from a changed pattern: remove the future meetings the old pattern made that nobody has
    touched (no case allocated, not published, moved or cancelled). Meetings with cases stay for the coordinator to
    move or cancel."""
    untouched = db.session.scalars(
        select(Meeting).where(
            Meeting.area_id == area.id,
            Meeting.starts_at > db.utcnow(),
            Meeting.status == MeetingStatus.SCHEDULED.value,
            Meeting.is_extra.is_(False),
            Meeting.moved_from.is_(None),
            ~select(AgendaItem.id).where(AgendaItem.meeting_id == Meeting.id).exists(),
        )
    )
    for meeting in untouched:
        db.session.delete(meeting)
    db.session.flush()


def _check_chair(chair: User | None, area: Area) -> None:
    from marac.access import Role, user_area_ids, user_roles

    if chair is None:
        return
    if not chair.is_active or Role.CHAIR not in user_roles(chair) or area.id not in user_area_ids(chair):
        raise MeetingError("The chair must be an active chair in this area")


def new_meeting_reference(area: Area, day: date) -> str:
    """A reference for the papers: the date, the area number and a count (no personal data). The area row is held
    until the transaction ends, so two coordinators adding a meeting on the same day get different counts."""
    db.session.execute(select(Area.id).where(Area.id == area.id).with_for_update())
    base = f"M{day:%y%m%d}-{area.id}"
    taken = db.session.scalar(select(func.count()).select_from(Meeting).where(Meeting.reference.like(f"{base}%")))
    return base if not taken else f"{base}-{taken + 1}"


def generate_meetings(area: Area, *, today: date, horizon_days: int = HORIZON_DAYS) -> list[Meeting]:
    """Create the pattern's meetings from today to the horizon that do not exist yet (idempotent: a date that
    already has a meeting, or had one that was moved or cancelled, is left alone)."""
    pattern = area_pattern(area)
    if pattern is None:
        return []
    end = today + timedelta(days=horizon_days)
    taken = _taken_days(area, today, end)
    created = []
    for day in pattern_dates(pattern, today, end):
        if day in taken:
            continue
        created.append(_new_meeting(area, pattern, local_to_utc(day, pattern.start_time)))
    db.session.flush()
    return created


def _taken_days(area: Area, start: date, end: date) -> set[date]:
    lower = local_to_utc(start, time(0)) - timedelta(days=40)
    rows = db.session.execute(
        select(Meeting.starts_at, Meeting.moved_from).where(Meeting.area_id == area.id, Meeting.starts_at >= lower)
    )
    taken: set[date] = set()
    for starts_at, moved_from in rows:
        taken.add(to_local(starts_at).date())
        if moved_from is not None:
            taken.add(to_local(moved_from).date())
    return taken


def _new_meeting(area: Area, pattern: MeetingPattern | None, starts_at: datetime, **overrides: Any) -> Meeting:
    due_days = pattern.research_due_days if pattern else 2
    meeting = Meeting(
        area_id=area.id,
        reference=new_meeting_reference(area, to_local(starts_at).date()),
        starts_at=starts_at,
        length_minutes=overrides.get("length_minutes") or (pattern.length_minutes if pattern else 180),
        case_limit=pattern.case_limit if pattern else 15,
        venue=overrides.get("venue") if overrides.get("venue") is not None else (pattern.venue if pattern else ""),
        call_details=overrides.get("call_details")
        if overrides.get("call_details") is not None
        else (pattern.call_details if pattern else ""),
        chair_id=pattern.chair_id if pattern else None,
        research_due_at=research_due(starts_at, due_days),
        created_at=db.utcnow(),
    )
    db.session.add(meeting)
    return meeting


def add_meeting(
    actor: Any, area: Area, starts_at: datetime, *, length_minutes: int, venue: str, call_details: str
) -> Meeting:
    """Add a meeting outside the pattern (an extra or emergency meeting)."""
    if not can_manage_area_meetings(actor, area):
        raise MeetingError("Only the area's coordinators can add its meetings")
    if starts_at <= db.utcnow():
        raise MeetingError("A new meeting must start in the future")
    meeting = _new_meeting(
        area, area_pattern(area), starts_at, length_minutes=length_minutes, venue=venue, call_details=call_details
    )
    meeting.is_extra = True
    db.session.flush()
    audit.record("meeting.add", actor=actor, object_type="meeting", object_id=meeting.public_id)
    return meeting


def _require_changeable(actor: Any, meeting: Meeting) -> None:
    if not can_manage_meeting(actor, meeting):
        raise MeetingError("Only the area's coordinators can change this meeting")
    lock_meeting(meeting)
    if meeting.is_cancelled:
        raise MeetingError("This meeting was cancelled")
    if meeting.starts_at <= db.utcnow():
        raise MeetingError("This meeting has already started: it can no longer be moved or cancelled")


def move_meeting(
    actor: Any,
    meeting: Meeting,
    starts_at: datetime,
    *,
    venue: str,
    call_details: str,
    reason: str,
    length_minutes: int | None = None,
) -> Meeting:
    """Move a meeting (time, venue or call details); member agencies are told if the agenda is published."""
    _require_changeable(actor, meeting)
    reason = reason.strip()
    if not reason:
        raise MeetingError("Enter why the meeting is moving")
    if starts_at <= db.utcnow():
        raise MeetingError("The new time must be in the future")
    if meeting.moved_from is None and starts_at != meeting.starts_at:
        meeting.moved_from = meeting.starts_at
    pattern = area_pattern(meeting.area)
    meeting.starts_at = starts_at
    meeting.venue, meeting.call_details, meeting.change_reason = venue, call_details, reason[:300]
    meeting.length_minutes = length_minutes or meeting.length_minutes
    meeting.research_due_at = research_due(starts_at, pattern.research_due_days if pattern else 2)
    meeting.sequence += 1
    audit.record("meeting.move", actor=actor, object_type="meeting", object_id=meeting.public_id)
    if meeting.is_published:
        from marac.meetings.services.agenda import notify_members

        notify_members(meeting, "meeting_moved", key=f"{meeting.public_id}:{meeting.sequence}")
    db.session.flush()
    return meeting


def cancel_meeting(actor: Any, meeting: Meeting, reason: str) -> Meeting:
    """Cancel a meeting: its cases go back to wait for another meeting; member agencies are told if published."""
    _require_changeable(actor, meeting)
    reason = reason.strip()
    if not reason:
        raise MeetingError("Enter why the meeting is cancelled")
    was_published = meeting.is_published
    meeting.status = MeetingStatus.CANCELLED.value
    meeting.cancelled_at = db.utcnow()
    meeting.change_reason = reason[:300]
    meeting.sequence += 1
    for item in meeting.items:
        if item.status == ItemStatus.LISTED.value:
            item.status = ItemStatus.DEFERRED.value
            item.deferred_at = db.utcnow()
            item.deferral_reason = "Meeting cancelled"
    audit.record("meeting.cancel", actor=actor, object_type="meeting", object_id=meeting.public_id)
    if was_published:
        from marac.meetings.services.agenda import notify_members

        notify_members(meeting, "meeting_cancelled", key=meeting.public_id)
    db.session.flush()
    return meeting


def lock_meeting(meeting: Meeting) -> None:
    """Hold the meeting row until the transaction ends and read it afresh, so two coordinators (or a coordinator
    and the chair) cannot interleave changes (a PostgreSQL row lock; SQLite serialises writers)."""
    db.session.execute(select(Meeting.id).where(Meeting.id == meeting.id).with_for_update())
    db.session.refresh(meeting)


# --- finding meetings ----------------------------------------------------------------------------------------------


def get_meeting(public_id: str) -> Meeting | None:
    """A meeting by its public id."""
    return db.session.scalar(select(Meeting).where(Meeting.public_id == public_id))


def load_meeting_for(actor: Any, public_id: str) -> Meeting | None:
    """The meeting if the actor may see it; None and an audited denial otherwise (the view answers 404)."""
    meeting = get_meeting(public_id)
    if meeting is None or not can_see_meeting(actor, meeting):
        audit.record_denial("meeting.view", object_type="meeting", object_id=public_id, reason="no_relationship")
        return None
    return meeting


@dataclass(frozen=True)
class MeetingRow:
    """A meeting in a list, with its case count."""

    meeting: Meeting
    cases: int


def meetings_for(actor: Any, *, upcoming: bool, limit: int = 50) -> list[MeetingRow]:
    """Meetings of the actor's areas that they may see, soonest first (or latest first for past ones)."""
    from marac.access import user_area_ids

    now = db.utcnow()
    counts = (
        select(AgendaItem.meeting_id, func.count().label("n"))
        .where(AgendaItem.status != ItemStatus.DEFERRED.value)
        .group_by(AgendaItem.meeting_id)
        .subquery()
    )
    query = (
        select(Meeting, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.meeting_id == Meeting.id)
        .where(Meeting.area_id.in_(user_area_ids(actor)))
    )
    if upcoming:
        query = query.where(Meeting.starts_at > now - timedelta(hours=12)).order_by(Meeting.starts_at)
    else:
        query = query.where(Meeting.starts_at <= now - timedelta(hours=12)).order_by(Meeting.starts_at.desc())
    rows = db.session.execute(query.limit(limit * 3))
    visible = [MeetingRow(m, n) for m, n in rows if can_see_meeting(actor, m)]
    return visible[:limit]
