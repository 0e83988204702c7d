"""A case's MARAC history: every meeting that listed or heard it, and the actions agreed at each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marac import db
from marac.access import can_see_meeting
from marac.actions.models import Action
from marac.actions.services import case_actions
from marac.cases.models import Case
from marac.meetings.models import AgendaItem, Meeting

# --- a case's meetings ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseMeeting:
    """One meeting that listed a case: its agenda item, whether the user may open the meeting, and its actions."""

    meeting: Meeting
    item: AgendaItem
    may_open: bool
    actions: list[Action]


@dataclass(frozen=True)
class CaseHistory:
    """Every meeting that listed the case, newest first, and actions agreed outside a meeting."""

    meetings: list[CaseMeeting]
    other_actions: list[Action]


def case_meeting_history(actor: Any, case: Case) -> CaseHistory:
    """Every meeting that heard (or listed) the case with the actions from each; the caller has checked the actor
    may see the case."""
    items = db.session.scalars(
        select(AgendaItem)
        .join(Meeting, Meeting.id == AgendaItem.meeting_id)
        .where(AgendaItem.case_id == case.id)
        .options(selectinload(AgendaItem.meeting))
        .order_by(Meeting.starts_at.desc())
    )
    by_meeting: dict[int | None, list[Action]] = {}
    for action in case_actions(case):
        by_meeting.setdefault(action.meeting_id, []).append(action)
    rows = [
        CaseMeeting(i.meeting, i, can_see_meeting(actor, i.meeting), by_meeting.pop(i.meeting_id, [])) for i in items
    ]
    others = [a for actions in by_meeting.values() for a in actions]
    return CaseHistory(rows, sorted(others, key=lambda a: (a.created_at, a.id)))
