"""Agencies report on their actions before the next meeting: which of an agency's outstanding actions the meeting
will look at, which have been reported on since its agenda was published, and a daily job that asks each agency's
representatives (and the actions' owners) once per meeting to report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marac import db
from marac.access import Role, is_excluded
from marac.actions.models import Action
from marac.actions.services import outstanding_actions_for_cases
from marac.auth.directory import area_role_users, unique_users
from marac.meetings.models import Meeting, MeetingStatus
from marac.meetings.services.agenda import listed_items
from marac.meetings.services.schedule import to_local
from marac.notify.chase import Chase, reminder_horizon, send_chase
from marac.orgs.models import Agency


def is_reported_for(action: Action, meeting: Meeting) -> bool:
    """Whether the agency has reported on the action since the meeting's agenda was published."""
    since = meeting.published_at
    return action.reported_at is not None and (since is None or action.reported_at >= since)


def actions_for_meeting(meeting: Meeting, agency_id: int | None = None) -> list[Action]:
    """The outstanding actions from earlier meetings on the cases the meeting will hear (a repeat victim's earlier
    cases included), oldest due first; only `agency_id`'s when given."""
    found = outstanding_actions_for_cases([i.case_id for i in listed_items(meeting)], meeting)
    actions = [a for group in found.values() for a in group if agency_id is None or a.agency_id == agency_id]
    return sorted(actions, key=lambda a: (a.due_on, a.id))


@dataclass(frozen=True)
class ReportDue:
    """An agency's actions still to report on before a meeting."""

    meeting: Meeting
    agency: Agency
    actions: list[Action]


def reports_due(meeting: Meeting) -> list[ReportDue]:
    """Per agency, the actions the meeting will look at that have not been reported on since publication."""
    by_agency: dict[int, list[Action]] = {}
    for action in actions_for_meeting(meeting):
        if not is_reported_for(action, meeting):
            by_agency.setdefault(action.agency_id, []).append(action)
    return [ReportDue(meeting, group[0].agency, group) for group in by_agency.values()]


def _recipients(due: ReportDue) -> list[Any]:
    """The agency's representatives and the actions' owners, leaving out anyone on the must-not-receive list of any
    of the cases (the request counts them); the area's coordinators when nobody is left."""
    reps = area_role_users(due.meeting.area_id, Role.AGENCY_REP, due.agency.id)
    owners = [a.owner for a in due.actions if a.owner is not None and a.owner.is_active]
    cases = {a.case_id: a.case for a in due.actions}.values()
    allowed = [u for u in unique_users(reps, owners) if not any(is_excluded(u, case) for case in cases)]
    return allowed or area_role_users(due.meeting.area_id, Role.COORDINATOR)


def _meetings_asking(now: datetime) -> list[Meeting]:
    """Published meetings still to come whose research is due within the reminder horizon (not yet passed)."""
    horizon = reminder_horizon(to_local(now).date(), "MARAC_ACTION_REMINDER_WORKING_DAYS")
    query = (
        select(Meeting)
        .where(Meeting.status == MeetingStatus.PUBLISHED.value, Meeting.research_due_at > now)
        .options(selectinload(Meeting.items))
        .order_by(Meeting.starts_at, Meeting.id)
    )
    return [m for m in db.session.scalars(query) if to_local(m.research_due_at).date() <= horizon]


def request_action_updates() -> int:
    """Ask each agency, once per meeting, to report on its outstanding actions for the meeting's cases before the
    research deadline; how many agencies were asked this time."""
    now = db.utcnow()
    asked = 0
    for meeting in _meetings_asking(now):
        starts, due_by = to_local(meeting.starts_at), to_local(meeting.research_due_at)
        for due in reports_due(meeting):
            count = len(due.actions)
            told = send_chase(
                Chase(
                    kind="action_update_request",
                    key=f"{meeting.public_id}:{due.agency.public_id}",
                    text=f"Before the MARAC meeting on {starts:%A %-d %B %Y}, report progress on {count} "
                    f"action{'s' if count != 1 else ''} for {due.agency.name} by {due_by:%H:%M on %A %-d %B}.",
                    link=f"/actions?meeting={meeting.public_id}",
                    recipients=_recipients(due),
                    audit_action="action.update_requested",
                    object_type="meeting",
                    object_id=meeting.public_id,
                )
            )
            asked += told > 0
        db.session.commit()
    return asked
