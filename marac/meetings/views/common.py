"""What the meeting pages share: loading a meeting or area for the current user, and agenda rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import abort
from flask_login import current_user
from sqlalchemy import select

from marac import audit, db
from marac.access import can_manage_area_meetings, can_manage_meeting, case_relations_many
from marac.cases.models import Case, PartyRole
from marac.cases.referrals import latest_grades
from marac.meetings.models import AgendaItem, Meeting
from marac.meetings.services import load_meeting_for
from marac.orgs.models import Area
from marac.people.records import field_rows, name_from

#: What a member agency is told before the current minutes have been sent to it.
MINUTES_NOT_SENT = (
    "The minutes have not been distributed to member agencies yet, or a correction is waiting for the chair: "
    "the signed version will be sent to your agency"
)


def meeting_or_404(public_id: str) -> Meeting:
    """The meeting if the current user may see it; 404 (audited) otherwise."""
    meeting = load_meeting_for(current_user, public_id)
    if meeting is None:
        abort(404)
    return meeting


def managed_meeting_or_404(public_id: str) -> Meeting:
    """The meeting if the current user is one of its area's coordinators; 404 (audited) otherwise."""
    meeting = meeting_or_404(public_id)
    if not can_manage_meeting(current_user, meeting):
        audit.record_denial("meeting.manage", object_type="meeting", object_id=public_id, reason="not_coordinator")
        abort(404)
    return meeting


def managed_area_or_404(public_id: str) -> Area:
    """The area if the current user coordinates it; 404 (audited) otherwise."""
    area = db.session.scalar(select(Area).where(Area.public_id == public_id))
    if area is None or not can_manage_area_meetings(current_user, area):
        audit.record_denial("meeting.area", object_type="area", object_id=public_id, reason="not_coordinator")
        abort(404)
    return area


@dataclass(frozen=True)
class CaseRow:
    """A case in a meeting list as the current user may see it: reference, victim's name, grade."""

    case: Case
    victim: str
    grade: str | None


@dataclass(frozen=True)
class AgendaRow:
    """A case on an agenda as the current user may see it."""

    item: AgendaItem
    victim: str
    grade: str | None


def case_rows(cases: list[Case]) -> list[CaseRow]:
    """Cases with the victim's name as the current user may see it (never more than the case allows)."""
    grades = latest_grades([c.id for c in cases])
    rows = []
    every = case_relations_many(current_user, cases)
    for case in cases:
        relations = every[case.id]
        victim = name_from(field_rows(current_user, case.victim, relations, PartyRole.VICTIM.value))
        shown = bool(relations)
        rows.append(CaseRow(case, victim if shown else "Restricted", grades.get(case.id) if shown else None))
    return rows


def visible_case_ids(items: list[AgendaItem]) -> set[int]:
    """Of these agenda items' cases, those the current user may see (a must-not-receive listing, a lapsed
    12-month window or no part in the case hides a case's discussion even from someone at the meeting)."""
    every = case_relations_many(current_user, [i.case for i in items])
    return {case_id for case_id, relations in every.items() if relations}


def agenda_rows(items: list[AgendaItem]) -> list[AgendaRow]:
    """Agenda items with the victim's name as the current user may see it."""
    return [AgendaRow(i, r.victim, r.grade) for i, r in zip(items, case_rows([i.case for i in items]), strict=True)]


def audit_view(meeting: Meeting, page: str, **details: Any) -> None:
    """Record that the current user read a meeting page listing cases."""
    audit.record("meeting.view", object_type="meeting", object_id=meeting.public_id, details={"page": page, **details})
