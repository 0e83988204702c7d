"""Review jobs: safety-plan reviews and the risk reviews made due by a trigger are chased on the same machinery as
actions: one reminder to the owner before the review is due, one escalation once it is overdue. Each commits per
review, so a failure part-way loses nothing already sent."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marac import db
from marac.access import Role, can_own_case_work
from marac.auth.directory import area_role_users, unique_users
from marac.auth.models import User
from marac.cases.models import Case, CaseEvent, CaseStatus, SafetyPlan
from marac.cases.plans import TRIGGERS
from marac.notify.chase import Chase, escalation_cutoff, reminder_horizon, send_chase

#: Cases whose reviews are no longer chased.
NOT_CHASED = (CaseStatus.CLOSED.value, CaseStatus.DUPLICATE.value)


@dataclass
class DueReview:
    """A safety-plan review or a trigger's risk review, as the jobs see it."""

    record: SafetyPlan | CaseEvent
    kind: str  # "safety_plan" or "trigger_review"
    case: Case
    owner: User | None
    due_on: date
    what: str

    def mark_reminded(self, today: date) -> None:
        self.record.reminded_on = today

    def mark_escalated(self, now: datetime) -> None:
        self.record.escalated_at = now


def _plans(*where: Any) -> Iterator[DueReview]:
    query = (
        select(SafetyPlan)
        .join(Case, Case.id == SafetyPlan.case_id)
        .where(SafetyPlan.status == "active", Case.status.not_in(NOT_CHASED), *where)
        .options(selectinload(SafetyPlan.case), selectinload(SafetyPlan.owner))
        .order_by(SafetyPlan.review_on, SafetyPlan.id)
    )
    for plan in db.session.scalars(query).all():
        yield DueReview(plan, "safety_plan", plan.case, plan.owner, plan.review_on, "the safety plan review")


def _triggers(*where: Any) -> Iterator[DueReview]:
    query = (
        select(CaseEvent)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(
            CaseEvent.kind.in_(TRIGGERS),
            CaseEvent.reviewed_at.is_(None),
            CaseEvent.review_due_on.is_not(None),
            Case.status.not_in(NOT_CHASED),
            *where,
        )
        .options(selectinload(CaseEvent.case), selectinload(CaseEvent.review_owner))
        .order_by(CaseEvent.review_due_on, CaseEvent.id)
    )
    for event in db.session.scalars(query).all():
        due = event.review_due_on
        if due is not None:  # filtered above; for the type checker
            what = f"the risk review after: {TRIGGERS[event.kind].label}"
            yield DueReview(event, "trigger_review", event.case, event.review_owner, due, what)


def _owner_or_coordinators(review: DueReview) -> list[User]:
    """The review's owner while they may still own work on the case; otherwise the area's coordinators."""
    if review.owner is not None and can_own_case_work(review.owner, review.case):
        return [review.owner]
    return area_role_users(review.case.area_id, Role.COORDINATOR)


def _link(case: Case) -> str:
    return f"/cases/{case.public_id}/plans"


def send_review_reminders() -> int:
    """Remind each safety-plan and trigger review's owner once when it falls due within the configured number of
    working days (the area's coordinators when the owner can no longer do it); how many reviews were reminded."""
    today = db.london_today()
    horizon = reminder_horizon(today, "MARAC_REVIEW_REMINDER_WORKING_DAYS")
    due = list(_plans(SafetyPlan.review_on >= today, SafetyPlan.review_on <= horizon, SafetyPlan.reminded_on.is_(None)))
    due += _triggers(
        CaseEvent.review_due_on >= today, CaseEvent.review_due_on <= horizon, CaseEvent.reminded_on.is_(None)
    )
    for review in due:
        send_chase(
            Chase(
                kind="review_reminder",
                key=f"{review.record.public_id}:{review.due_on.isoformat()}",
                text=f"Case {review.case.reference}: {review.what} is due on {review.due_on:%-d %B %Y}.",
                link=_link(review.case),
                recipients=_owner_or_coordinators(review),
                audit_action="review.reminded",
                object_type=review.kind,
                object_id=review.record.public_id,
                case=review.case,
            )
        )
        review.mark_reminded(today)
        db.session.commit()
    return len(due)


def _escalation_recipients(review: DueReview) -> list[User]:
    """The owner (while they may still own work on the case), their supervisors in the case's area, and the area's
    coordinators; anyone on the case's must-not-receive list is left out when it is sent."""
    area = review.case.area_id
    owner = [review.owner] if review.owner is not None and can_own_case_work(review.owner, review.case) else []
    supervisors = area_role_users(area, Role.SUPERVISOR, review.owner.agency_id) if review.owner is not None else []
    return unique_users(owner, supervisors, area_role_users(area, Role.COORDINATOR))


def escalate_overdue_reviews() -> int:
    """Tell the owner, their supervisors and the area's coordinators, once, about each review overdue by at least the
    configured number of days; how many reviews were escalated."""
    today, now = db.london_today(), db.utcnow()
    latest_due = escalation_cutoff(today, "MARAC_REVIEW_ESCALATION_DAYS")
    due = list(_plans(SafetyPlan.review_on <= latest_due, SafetyPlan.escalated_at.is_(None)))
    due += _triggers(CaseEvent.review_due_on <= latest_due, CaseEvent.escalated_at.is_(None))
    for review in due:
        days = (today - review.due_on).days
        send_chase(
            Chase(
                kind="review_overdue_escalation",
                key=f"{review.record.public_id}:{review.due_on.isoformat()}",
                text=f"Case {review.case.reference}: {review.what} was due on {review.due_on:%-d %B %Y} and is "
                f"{days} days overdue.",
                link=_link(review.case),
                recipients=_escalation_recipients(review),
                audit_action="review.escalated",
                object_type=review.kind,
                object_id=review.record.public_id,
                case=review.case,
            )
        )
        review.mark_escalated(now)
        db.session.commit()
    return len(due)
