"""The MARAC referral criteria (any one is enough): visible high risk, professional judgement, potential escalation
and repeat MARAC, worked out for a case in a handful of indexed queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, func, select

from marac import db
from marac.cases.models import Case, CaseParty, CaseStatus, Incident, PartyRole, Questionnaire, Referral, RiskAssessment
from marac.orgs.models import Area
from marac.people.flags import months_before
from marac.people.models import Person

VISIBLE_HIGH_RISK = "visible_high_risk"
PROFESSIONAL_JUDGEMENT = "professional_judgement"
POTENTIAL_ESCALATION = "potential_escalation"
REPEAT_MARAC = "repeat_marac"

#: Labels shown to practitioners, in the order the criteria are listed.
criteria_labels = {
    VISIBLE_HIGH_RISK: "Visible high risk",
    PROFESSIONAL_JUDGEMENT: "Professional judgement",
    POTENTIAL_ESCALATION: "Potential escalation",
    REPEAT_MARAC: "Repeat MARAC",
}
#: Potential escalation counts incidents in the 365 days before the referral.
ESCALATION_WINDOW = timedelta(days=365)
#: Statuses of an earlier case that was heard at MARAC (so a new referral can be a repeat).
HEARD_AT_MARAC = (CaseStatus.OPEN.value, CaseStatus.CLOSED.value)


@dataclass
class CriteriaResult:
    """Which criteria a case meets on a date, the figures behind them, and plain reasons."""

    on: date
    met: set[str] = field(default_factory=set)
    #: Score of the latest complete risk assessment (None when there is none).
    score: int | None = None
    #: Score from which the case is visible high risk.
    threshold: int = 14
    #: The victim's incidents (any linked record) in the escalation window.
    incident_count: int = 0
    escalation_threshold: int = 3
    #: The last earlier referral of the same victim and perpetrator that was heard at MARAC.
    last_referral_on: date | None = None
    reasons: list[str] = field(default_factory=list)

    @property
    def is_met(self) -> bool:
        """Whether any criterion is met."""
        return bool(self.met)

    @property
    def keys(self) -> list[str]:
        """The criteria met, in display order (as stored in Referral.criteria, comma-separated)."""
        return [key for key in criteria_labels if key in self.met]


def _day(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def _same_individuals(person_ids: Any) -> list[int]:
    """Every person record confirmed to be the same individual as any of `person_ids` (a list or a query). Read as
    a list first, so the queries that use it are planned on the person-id indexes, not on a date or status index."""
    keys = select(Person.identity_key).where(Person.id.in_(person_ids))
    return list(db.session.scalars(select(Person.id).where(Person.identity_key.in_(keys))))


def evaluate(case: Case, *, on: date | None = None) -> CriteriaResult:
    """The criteria `case` meets on `on` (by default its referral date), in at most eight small indexed queries."""
    area: Area = case.area
    result = CriteriaResult(
        on=on or case.referred_on, threshold=area.marac_threshold, escalation_threshold=area.escalation_incidents
    )
    victims = _same_individuals([case.victim_id])
    _visible_high_risk_and_judgement(case, result)
    _potential_escalation(victims, result)
    _repeat_marac(case, victims, result)
    return result


def _visible_high_risk_and_judgement(case: Case, result: CriteriaResult) -> None:
    latest = db.session.execute(
        select(RiskAssessment.score, RiskAssessment.is_judgement_raised, Questionnaire.definition)
        .join(Questionnaire, Questionnaire.id == RiskAssessment.questionnaire_id)
        .where(RiskAssessment.case_id == case.id, RiskAssessment.status == "complete")
        .order_by(RiskAssessment.completed_at.desc(), RiskAssessment.id.desc())
        .limit(1)
    ).first()
    has_reasons = db.session.scalar(
        select(Referral.judgement_reasons_enc.is_not(None)).where(Referral.case_id == case.id)
    )
    if latest is not None and latest.score is not None:
        grading = (latest.definition or {}).get("grading")
        result.threshold = int(grading["marac_from"]) if grading else result.threshold
        result.score = latest.score
        if latest.score >= result.threshold:
            result.met.add(VISIBLE_HIGH_RISK)
            result.reasons.append(
                f"The risk assessment scores {latest.score}, at or above the threshold of {result.threshold}."
            )
    if (latest is not None and latest.is_judgement_raised) or has_reasons:
        result.met.add(PROFESSIONAL_JUDGEMENT)
        result.reasons.append("A practitioner has recorded reasons for referring on professional judgement.")


def _potential_escalation(victims: list[int], result: CriteriaResult) -> None:
    since = result.on - ESCALATION_WINDOW
    result.incident_count = (
        db.session.scalar(
            select(func.count(Incident.id)).where(
                Incident.victim_id.in_(victims),
                Incident.occurred_on >= since,
                Incident.occurred_on <= result.on,
            )
        )
        or 0
    )
    if result.incident_count >= result.escalation_threshold:
        result.met.add(POTENTIAL_ESCALATION)
        result.reasons.append(
            f"{result.incident_count} incidents in the 12 months before {_day(result.on)}, "
            f"at or above the area's {result.escalation_threshold}."
        )


def _repeat_marac(case: Case, victims: list[int], result: CriteriaResult) -> None:
    """Repeat: an earlier case of the same victim and perpetrator heard at MARAC, referred within the repeat window
    before `on`, or followed within that window by an incident between them."""
    perpetrators = _same_individuals(
        select(CaseParty.person_id).where(CaseParty.case_id == case.id, CaseParty.role == PartyRole.PERPETRATOR.value)
    )
    if not perpetrators:
        return
    result.last_referral_on = db.session.scalar(
        select(func.max(Case.referred_on))
        .join(CaseParty, CaseParty.case_id == Case.id)
        .where(
            Case.victim_id.in_(victims),
            Case.id != case.id,
            Case.status.in_(HEARD_AT_MARAC),
            Case.referred_on <= result.on,
            CaseParty.role == PartyRole.PERPETRATOR.value,
            CaseParty.person_id.in_(perpetrators),
        )
    )
    last = result.last_referral_on
    if last is None:
        return
    months = int(current_app.config["MARAC_REPEAT_WINDOW_MONTHS"])
    if last >= months_before(result.on, months):
        result.met.add(REPEAT_MARAC)
        result.reasons.append(
            f"The same victim and perpetrator were referred to MARAC on {_day(last)}, within {months} months."
        )
    elif _incident_between(victims, perpetrators, after=last, until=min(months_before(last, -months), result.on)):
        result.met.add(REPEAT_MARAC)
        result.reasons.append(
            f"There was abuse between the same victim and perpetrator within {months} months of their referral "
            f"to MARAC on {_day(last)}."
        )


def _incident_between(victims: list[int], perpetrators: list[int], *, after: date, until: date) -> bool:
    """Whether an incident between the victim and a perpetrator happened after `after` and on or before `until`."""
    condition: ColumnElement[bool] = (
        select(Incident.id)
        .where(
            Incident.victim_id.in_(victims),
            Incident.perpetrator_id.in_(perpetrators),
            Incident.occurred_on > after,
            Incident.occurred_on <= until,
        )
        .exists()
    )
    return bool(db.session.scalar(select(condition)))
