"""The quarterly non-completion report for the steering group: per agency, actions due in the quarter and how they
ended."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marac import db
from marac.access import Role, user_area_ids, user_roles
from marac.actions.models import Action, ActionStatus
from marac.cases.models import Case
from marac.orgs.models import Agency

QUARTER_FORMAT = re.compile(r"^(\d{4})-Q([1-4])$")


@dataclass(frozen=True)
class Quarter:
    """A calendar quarter, like 2026-Q4 (October to December)."""

    year: int
    number: int

    @property
    def starts_on(self) -> date:
        """Its first day."""
        return date(self.year, 3 * self.number - 2, 1)

    @property
    def ends_on(self) -> date:
        """Its last day."""
        if self.number == 4:
            return date(self.year, 12, 31)
        return date(self.year, 3 * self.number + 1, 1) - timedelta(days=1)

    def __str__(self) -> str:
        return f"{self.year}-Q{self.number}"


def quarter_of(day: date) -> Quarter:
    """The quarter a day falls in."""
    return Quarter(day.year, (day.month - 1) // 3 + 1)


def parse_quarter(text: str | None) -> Quarter | None:
    """A quarter from text like 2026-Q4, or None when it is not one."""
    match = QUARTER_FORMAT.match((text or "").strip().upper())
    if not match or not 2000 <= int(match.group(1)) <= 2100:
        return None
    return Quarter(int(match.group(1)), int(match.group(2)))


@dataclass
class AgencyRow:
    """One agency's actions due in the quarter: how many were agreed and how they stand."""

    agency: Agency
    agreed: int = 0
    completed: int = 0
    not_possible: int = 0
    not_done: int = 0
    outstanding: int = 0
    overdue: int = 0

    @property
    def not_completed(self) -> int:
        """Actions not done, or still outstanding after their due date."""
        return self.not_done + self.overdue

    @property
    def rate(self) -> float | None:
        """The non-completion rate (a fraction), or None with nothing agreed."""
        return self.not_completed / self.agreed if self.agreed else None


def _count(row: AgencyRow, action: Action, today: date) -> None:
    row.agreed += 1
    if action.status == ActionStatus.COMPLETED.value:
        row.completed += 1
    elif action.status == ActionStatus.NOT_POSSIBLE.value:
        row.not_possible += 1
    elif action.status == ActionStatus.NOT_DONE.value:
        row.not_done += 1
    else:
        row.outstanding += 1
        row.overdue += action.due_on < today


def non_completion_report(actor: Any, quarter: Quarter) -> list[AgencyRow]:
    """Per agency, by name: the actions due in the quarter in the areas the actor coordinates, with the counts by
    status and the non-completion rate."""
    if Role.COORDINATOR not in user_roles(actor):
        return []
    query = (
        select(Action)
        .join(Case, Case.id == Action.case_id)
        .where(
            Case.area_id.in_(user_area_ids(actor)),
            Action.due_on >= quarter.starts_on,
            Action.due_on <= quarter.ends_on,
        )
        .options(selectinload(Action.agency))
    )
    today = db.london_today()
    rows: dict[int, AgencyRow] = {}
    for action in db.session.scalars(query):
        _count(rows.setdefault(action.agency_id, AgencyRow(action.agency)), action, today)
    return sorted(rows.values(), key=lambda r: r.agency.name)
