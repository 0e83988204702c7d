"""Safety plans (measures, a named owner, a review date, their history) and the orders and events that trigger a
risk review (REFERENCE.md, "Orders and triggers that should prompt a risk review")."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import select

from marac import audit, db
from marac.access import CaseRelation, can_act_on_case, can_own_case_work
from marac.auth.models import User
from marac.cases.models import Case, CaseEvent, SafetyPlan

#: Safety measures a plan can hold (key -> label); "other" needs a short description.
SAFETY_MEASURES: dict[str, str] = {
    "sanctuary_scheme": "Sanctuary scheme",
    "personal_alarm": "Personal alarm",
    "police_marker": "Police marker on the address",
    "refuge": "Refuge place",
    "non_molestation_sought": "Non-molestation order sought",
    "restraining_order_sought": "Restraining order sought",
    "dvpn_dvpo_sought": "DVPN/DVPO sought",
    "target_hardening": "Change of locks / target hardening",
    "safe_phone": "Safe phone",
    "school_informed": "School informed (safe collection)",
    "gp_informed": "GP informed",
    "workplace_informed": "Safety plan shared with workplace",
    "housing_informed": "Housing provider informed (management transfer or priority move)",
    "benefits_safe_address": "Safe correspondence address for benefits and banks",
    "online_safety": "Online and device safety check",
    "child_contact_arrangements": "Safe child contact arrangements",
    "other": "Other",
}
OTHER = "other"
#: How far ahead a review may be set: a plan nobody looks at for longer is not a plan.
MAX_REVIEW_DAYS = 183
#: How far ahead a trigger may be dated (a release date, an order's expiry, a court date).
MAX_TRIGGER_AHEAD_DAYS = 366
MAX_DETAIL = 4000
MAX_NOTE = 2000
MAX_OTHER = 200


class Trigger(NamedTuple):
    """An event that should prompt a risk review, and how soon."""

    label: str
    #: Days after the event the review is due (or before it, for an approaching event).
    days: int
    #: Whether the review is due before the event (an order expiring, a court date).
    is_before: bool = False


#: Reassessment triggers (key -> label, default review interval, whether the review comes before the event).
#: Areas change the intervals with MARAC_TRIGGER_REVIEW_DAYS (a JSON object or mapping of key -> days).
TRIGGERS: dict[str, Trigger] = {
    "released_from_custody": Trigger("Perpetrator released from custody or prison", 1),
    "bail_ended": Trigger("Bail ended or released under investigation", 2),
    "dvpn_issued": Trigger("Domestic Violence Protection Notice (DVPN) issued", 1),
    "dvpo_granted": Trigger("Domestic Violence Protection Order (DVPO) granted", 2),
    "dvpo_expiring": Trigger("DVPO expiring", 7, is_before=True),
    "order_granted": Trigger("Non-molestation or restraining order granted", 7),
    "order_breached": Trigger("Non-molestation or restraining order breached", 1),
    "order_expiring": Trigger("Non-molestation or restraining order expiring", 14, is_before=True),
    "court_date": Trigger("Court date approaching", 7, is_before=True),
    "new_incident": Trigger("New incident", 1),
    "counter_allegation": Trigger("Counter-allegation", 2),
}
#: CaseEvent kinds that record a plan's history (they never make a review due).
PLAN_CREATED, PLAN_REVIEWED, PLAN_ENDED = "plan_created", "plan_reviewed", "plan_ended"
#: CaseEvent kind recording that a trigger's review was done.
REVIEW_COMPLETED = "review_completed"
EVENT_LABELS = {
    PLAN_CREATED: "Safety plan made",
    PLAN_REVIEWED: "Safety plan reviewed",
    PLAN_ENDED: "Safety plan ended",
    REVIEW_COMPLETED: "Risk review completed",
    **{key: trigger.label for key, trigger in TRIGGERS.items()},
}


class PlanError(ValueError):
    """A safety-plan or trigger change that cannot be made; the message says why."""


# --- helpers -------------------------------------------------------------------------------------------------------


def _require_working(relations: frozenset[CaseRelation], what: str) -> None:
    if not can_act_on_case(relations):
        raise PlanError(f"Only those working on the case can {what}")


def _may_change(actor: Any, case: Case, relations: frozenset[CaseRelation], owner_id: int | None, what: str) -> None:
    """Those working on the case, or the named owner while they may still see it."""
    is_owner = owner_id is not None and getattr(actor, "id", None) == owner_id
    if not can_act_on_case(relations) and not (is_owner and relations and can_own_case_work(actor, case)):
        raise PlanError(f"Only those working on the case or the named owner can {what}")


def _check_owner(owner: User | None, case: Case) -> User:
    if owner is None or not can_own_case_work(owner, case):
        raise PlanError("The named owner must be an active user who can see this case")
    return owner


def _check_review_date(review_on: date | None, today: date) -> date:
    if review_on is None:
        raise PlanError("Give a review date")
    if review_on < today:
        raise PlanError("The review date cannot be in the past")
    if review_on > today + timedelta(days=MAX_REVIEW_DAYS):
        raise PlanError("Set a review date within 6 months: review the plan again then if nothing has changed")
    return review_on


def _clean_text(value: str | None, limit: int, what: str) -> str | None:
    text = (value or "").strip()
    if len(text) > limit:
        raise PlanError(f"Keep the {what} to {limit} characters or fewer")
    return text or None


def _clean_measures(measures: list[str], other: str | None) -> list[str]:
    """Known keys in the maintained order; "other" carries its description as an "other:<text>" entry."""
    unknown = sorted(set(measures) - set(SAFETY_MEASURES))
    if unknown:
        raise PlanError("Choose measures from the list (unknown: " + ", ".join(unknown) + ")")
    if not measures:
        raise PlanError("Choose at least one measure")
    chosen = [key for key in SAFETY_MEASURES if key in measures and key != OTHER]
    if OTHER in measures:
        text = _clean_text(other, MAX_OTHER, "description of the other measure")
        if text is None:
            raise PlanError("Describe the other measure")
        chosen.append(f"{OTHER}:{text}")
    return chosen


def describe_measures(measures: list[str] | Any) -> list[str]:
    """Labels for a plan's stored measures, the other measure with its description."""
    if not isinstance(measures, list):
        return []  # unreadable or empty: the page says so elsewhere
    labels = []
    for entry in measures:
        key, _, text = entry.partition(":")
        labels.append(f"{SAFETY_MEASURES[OTHER]}: {text}" if key == OTHER else SAFETY_MEASURES.get(key, key))
    return labels


def _audit(action: str, actor: Any, case: Case, **details: str) -> None:
    """Audit a change on the case; details hold public ids only, never what the plan or note says."""
    audit.record(action, actor=actor, object_type="case", object_id=case.public_id, details=dict(details))


def _add_event(actor: Any, case: Case, kind: str, **values: Any) -> CaseEvent:
    note = values.pop("note", None)
    event = CaseEvent(case_id=case.id, kind=kind, recorded_by_id=getattr(actor, "id", None), **values)
    event.note = note
    db.session.add(event)
    db.session.flush()
    return event


# --- safety plans --------------------------------------------------------------------------------------------------


def create_safety_plan(
    actor: Any,
    case: Case,
    relations: frozenset[CaseRelation],
    *,
    owner: User | None,
    measures: list[str],
    detail: str | None,
    review_on: date | None,
    other: str | None = None,
) -> SafetyPlan:
    """Make a safety plan for the victim with a named owner and a review date; the case history records it."""
    _require_working(relations, "make a safety plan")
    owner = _check_owner(owner, case)
    today = db.london_today()
    plan = SafetyPlan(case_id=case.id, owner_id=owner.id, review_on=_check_review_date(review_on, today))
    plan.measures = _clean_measures(measures, other)
    plan.detail = _clean_text(detail, MAX_DETAIL, "plan detail")
    db.session.add(plan)
    db.session.flush()
    _add_event(actor, case, PLAN_CREATED, safety_plan_id=plan.id, occurred_on=today, review_owner_id=owner.id)
    _audit("safety_plan.create", actor, case, plan=plan.public_id)
    return plan


def _changes_note(before: list[str] | Any, after: list[str], next_review_on: date) -> str:
    """What a review changed, for the plan's (sealed) history."""
    old = set(describe_measures(before))
    new = describe_measures(after)
    parts = [f"Next review {next_review_on:%d %B %Y}."]
    added = [m for m in new if m not in old]
    removed = sorted(old - set(new))
    if added:
        parts.append("Added: " + "; ".join(added) + ".")
    if removed:
        parts.append("Removed: " + "; ".join(removed) + ".")
    return " ".join(parts)


def review_safety_plan(
    actor: Any,
    plan: SafetyPlan,
    relations: frozenset[CaseRelation],
    *,
    measures: list[str],
    detail: str | None,
    next_review_on: date | None,
    other: str | None = None,
) -> SafetyPlan:
    """Record a review: the measures and detail as they now stand and the next review date. The history event keeps
    the review date that was due (`review_due_on`) and when it was done (`reviewed_at`)."""
    _may_change(actor, plan.case, relations, plan.owner_id, "review this safety plan")
    if plan.status != "active":
        raise PlanError("This safety plan has ended: make a new plan instead")
    today, now = db.london_today(), db.utcnow()
    next_on = _check_review_date(next_review_on, today)
    cleaned = _clean_measures(measures, other)
    note = _changes_note(plan.measures, cleaned, next_on)
    previous = plan.review_on
    plan.measures, plan.detail = cleaned, _clean_text(detail, MAX_DETAIL, "plan detail")
    plan.review_on, plan.reviewed_at = next_on, now
    plan.reminded_on, plan.escalated_at = None, None  # the next review is chased afresh
    _add_event(
        actor,
        plan.case,
        PLAN_REVIEWED,
        safety_plan_id=plan.id,
        occurred_on=today,
        review_due_on=previous,
        review_owner_id=plan.owner_id,
        reviewed_at=now,
        note=note,
    )
    _audit("safety_plan.review", actor, plan.case, plan=plan.public_id)
    return plan


def end_safety_plan(actor: Any, plan: SafetyPlan, relations: frozenset[CaseRelation], *, reason: str) -> SafetyPlan:
    """End a plan (the risk has changed, the victim moved away, the case closed), with the reason in its history."""
    _may_change(actor, plan.case, relations, plan.owner_id, "end this safety plan")
    if plan.status != "active":
        raise PlanError("This safety plan has already ended")
    text = _clean_text(reason, MAX_NOTE, "reason")
    if text is None:
        raise PlanError("Say why the plan is ending")
    plan.status = "ended"
    _add_event(actor, plan.case, PLAN_ENDED, safety_plan_id=plan.id, occurred_on=db.london_today(), note=text)
    _audit("safety_plan.end", actor, plan.case, plan=plan.public_id)
    return plan


def plan_history(plan: SafetyPlan) -> list[CaseEvent]:
    """The plan's history, oldest first: made, each review (with the date it was due), ended."""
    return list(
        db.session.scalars(
            select(CaseEvent).where(CaseEvent.safety_plan_id == plan.id).order_by(CaseEvent.created_at, CaseEvent.id)
        )
    )


# --- reassessment triggers -----------------------------------------------------------------------------------------


def review_days() -> dict[str, int]:
    """Each trigger's review interval in days: the defaults, overridden by MARAC_TRIGGER_REVIEW_DAYS."""
    days = {key: trigger.days for key, trigger in TRIGGERS.items()}
    override: Any = current_app.config.get("MARAC_TRIGGER_REVIEW_DAYS") or {}
    if isinstance(override, str):
        override = json.loads(override)
    if not isinstance(override, Mapping):
        raise PlanError("MARAC_TRIGGER_REVIEW_DAYS must be a JSON object of trigger -> days")
    for key, value in override.items():
        if key not in TRIGGERS or not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 90:
            raise PlanError(f"MARAC_TRIGGER_REVIEW_DAYS: {key!r} must be a known trigger with 0-90 days")
        days[key] = value
    return days


def review_due_on(kind: str, occurred_on: date, today: date) -> date:
    """When a trigger's review is due: `days` after the event, or before it for an approaching event; never
    before today (an event recorded late, or an expiry already close, makes the review due now)."""
    trigger = TRIGGERS[kind]
    interval = timedelta(days=review_days()[kind])
    due = occurred_on - interval if trigger.is_before else occurred_on + interval
    return max(due, today)


def record_trigger(
    actor: Any,
    case: Case,
    relations: frozenset[CaseRelation],
    *,
    kind: str,
    occurred_on: date,
    note: str | None,
    review_owner: User | None = None,
) -> CaseEvent:
    """Record an order or event that should prompt a risk review, making the review due. The review falls to the
    named owner, else the case's IDVA, else the person recording it."""
    _require_working(relations, "record a reassessment trigger")
    if kind not in TRIGGERS:
        raise PlanError("Choose what happened from the list")
    today = db.london_today()
    if occurred_on > today + timedelta(days=MAX_TRIGGER_AHEAD_DAYS):
        raise PlanError("The date cannot be more than a year ahead")
    if review_owner is not None:
        owner = _check_owner(review_owner, case)
    elif case.assigned_idva is not None and can_own_case_work(case.assigned_idva, case):
        owner = case.assigned_idva
    else:
        owner = actor
    event = _add_event(
        actor,
        case,
        kind,
        occurred_on=occurred_on,
        review_due_on=review_due_on(kind, occurred_on, today),
        review_owner_id=owner.id,
        note=_clean_text(note, MAX_NOTE, "note"),
    )
    _audit("case.trigger_record", actor, case, event=event.public_id)
    return event


def complete_review(actor: Any, event: CaseEvent, relations: frozenset[CaseRelation], note: str) -> CaseEvent:
    """Record that a trigger's risk review was done; the outcome goes into the case history as its own event."""
    _may_change(actor, event.case, relations, event.review_owner_id, "record this review")
    if event.kind not in TRIGGERS or event.review_due_on is None:
        raise PlanError("This event has no risk review to complete")
    if event.reviewed_at is not None:
        raise PlanError("This review has already been recorded")
    text = _clean_text(note, MAX_NOTE, "review note")
    if text is None:
        raise PlanError("Say what the review found and any change to the plan")
    event.reviewed_at = db.utcnow()
    _add_event(actor, event.case, REVIEW_COMPLETED, occurred_on=db.london_today(), note=text)
    _audit("case.trigger_review", actor, event.case, event=event.public_id)
    return event


def find_safety_plan(case: Case, plan_id: str) -> SafetyPlan | None:
    """One of the case's safety plans by its public id."""
    return db.session.scalar(select(SafetyPlan).where(SafetyPlan.public_id == plan_id, SafetyPlan.case_id == case.id))


def case_safety_plans(case: Case) -> list[SafetyPlan]:
    """The case's safety plans, by status then review date."""
    query = select(SafetyPlan).where(SafetyPlan.case_id == case.id).order_by(SafetyPlan.status, SafetyPlan.review_on)
    return list(db.session.scalars(query))


def trigger_events(case: Case) -> list[CaseEvent]:
    """The case's trigger events: reviews still due first, soonest due first."""
    query = (
        select(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.kind.in_(TRIGGERS))
        .order_by(CaseEvent.reviewed_at.is_not(None), CaseEvent.review_due_on, CaseEvent.id)
    )
    return list(db.session.scalars(query))


def find_case_event(case: Case, event_id: str) -> CaseEvent | None:
    """One of the case's events by its public id."""
    return db.session.scalar(select(CaseEvent).where(CaseEvent.public_id == event_id, CaseEvent.case_id == case.id))
