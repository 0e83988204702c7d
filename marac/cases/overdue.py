"""What is overdue: safety-plan reviews, risk reviews made due by a trigger, and referrals waiting too long for
sign-off or a decision (counted in working days: weekends and England and Wales bank holidays excluded)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

import holidays
from sqlalchemy import select

from marac import audit, db
from marac.access import CaseRelation, case_relations, user_area_ids, visible_cases_clause
from marac.cases.models import Case, CaseEvent, CaseStatus, Referral, SafetyPlan
from marac.cases.plans import TRIGGERS

PLAN_REVIEW = "plan_review"
TRIGGER_REVIEW = "trigger_review"
REFERRAL_SIGN_OFF = "referral_sign_off"
REFERRAL_DECISION = "referral_decision"


@dataclass(frozen=True)
class OverdueItem:
    """One overdue piece of work on a case (no personal data: the case reference says which)."""

    kind: str
    case: Case
    due_on: date
    days_overdue: int
    label: str
    #: The public id of the plan, event or referral.
    object_id: str


# --- working days --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def is_working_day(day: date) -> bool:
    """Monday to Friday and not an England and Wales bank holiday."""
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def working_days_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (something arriving on a Friday has waited one working
    day on the Monday); 0 when `end` is not after `start`."""
    count, day = 0, start + timedelta(days=1)
    while day <= end:
        count += is_working_day(day)
        day += timedelta(days=1)
    return count


def add_working_days(start: date, days: int) -> date:
    """The date `days` working days after `start`."""
    day = start
    while days > 0:
        day += timedelta(days=1)
        days -= is_working_day(day)
    return day


# --- queries -------------------------------------------------------------------------------------------------------


def _plan_items(where: Any, today: date) -> list[OverdueItem]:
    rows = db.session.execute(
        select(SafetyPlan, Case)
        .join(Case, Case.id == SafetyPlan.case_id)
        .where(SafetyPlan.status == "active", SafetyPlan.review_on < today, where)
    )
    return [
        OverdueItem(
            PLAN_REVIEW, case, plan.review_on, (today - plan.review_on).days, "Safety plan review", plan.public_id
        )
        for plan, case in rows
    ]


def _trigger_items(where: Any, today: date) -> list[OverdueItem]:
    rows = db.session.execute(
        select(CaseEvent, Case)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(
            CaseEvent.kind.in_(TRIGGERS),
            CaseEvent.reviewed_at.is_(None),
            CaseEvent.review_due_on < today,
            where,
        )
    )
    items = []
    for event, case in rows:
        due = event.review_due_on
        if due is None:
            continue  # filtered above; for the type checker
        label = f"Risk review: {TRIGGERS[event.kind].label}"
        items.append(OverdueItem(TRIGGER_REVIEW, case, due, (today - due).days, label, event.public_id))
    return items


def _referral_items(where: Any, today: date) -> list[OverdueItem]:
    """Referrals waiting longer than their area's target in working days."""
    waits = (
        (CaseStatus.AWAITING_SIGN_OFF.value, Referral.submitted_at, REFERRAL_SIGN_OFF, "sign-off"),
        (CaseStatus.AWAITING_DECISION.value, Referral.signed_off_at, REFERRAL_DECISION, "a decision"),
    )
    start_of_today = datetime.combine(today, time(), tzinfo=db.LONDON)
    items = []
    for status, since, kind, waiting_for in waits:
        rows = db.session.execute(
            select(Referral, Case, since)
            .join(Case, Case.id == Referral.case_id)
            .where(Case.status == status, since.is_not(None), since < start_of_today, where)
        )
        for referral, case, at in rows:
            if at is None:
                continue  # filtered above; for the type checker
            started = at.astimezone(db.LONDON).date()
            waited, target = working_days_between(started, today), case.area.referral_target_days
            if waited <= target:
                continue
            due = add_working_days(started, target)
            label = f"Referral waiting for {waiting_for}: {waited} working days (target {target})"
            items.append(OverdueItem(kind, case, due, (today - due).days, label, referral.public_id))
    return items


def _most_overdue_first(items: list[OverdueItem]) -> list[OverdueItem]:
    return sorted(items, key=lambda i: (i.due_on, i.case.reference, i.kind, i.object_id))


def my_overdue(user: Any, today: date | None = None) -> list[OverdueItem]:
    """The user's overdue safety-plan reviews and trigger reviews on cases they may still see, most overdue first
    ("due today" is not overdue)."""
    today = today or db.london_today()
    visible = visible_cases_clause(user)
    items = _plan_items(visible & (SafetyPlan.owner_id == user.id), today)
    items += _trigger_items(visible & (CaseEvent.review_owner_id == user.id), today)
    audit.record("case.overdue_list", actor=user, object_type="case", details={"scope": "mine", "shown": len(items)})
    return _most_overdue_first(items)


def area_overdue(user: Any, today: date | None = None) -> list[OverdueItem]:
    """For an area coordinator: overdue reviews on every case in their areas, whoever owns them, and referrals
    waiting longer than the area's target for sign-off or a decision; most overdue first. Empty for anyone who
    coordinates no area."""
    today = today or db.london_today()
    in_areas = visible_cases_clause(user) & Case.area_id.in_(user_area_ids(user))
    items = _plan_items(in_areas, today) + _trigger_items(in_areas, today) + _referral_items(in_areas, today)
    coordinated: dict[int, bool] = {}
    for item in items:
        if item.case.id not in coordinated:
            coordinated[item.case.id] = CaseRelation.AREA_COORDINATOR in case_relations(user, item.case)
    shown = [i for i in items if coordinated[i.case.id]]
    audit.record("case.overdue_list", actor=user, object_type="case", details={"scope": "area", "shown": len(shown)})
    return _most_overdue_first(shown)
