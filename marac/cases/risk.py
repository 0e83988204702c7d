"""Risk assessments: answering a questionnaire with the victim (save and return), scoring, grading, and professional
judgement, which can raise a grade to high but never lower one."""

from __future__ import annotations

import json
from typing import Any

from marac import audit, db
from marac.cases.models import Case, Questionnaire, RiskAssessment
from marac.cases.questionnaires import option_points, questions_of
from marac.orgs.models import Area

DRAFT, COMPLETE = "draft", "complete"
STANDARD, MEDIUM, HIGH = "standard", "medium", "high"
GRADE_LABELS = {STANDARD: "Standard", MEDIUM: "Medium", HIGH: "High"}
#: Shortest written reasons accepted for professional judgement.
MIN_REASONS = 20

PROMPT_MESSAGES = {
    "strangulation": "Non-fatal strangulation, choking or suffocation is reported: consider professional judgement.",
    "stalking": "Stalking or harassment is reported: consider professional judgement.",
    "threats_to_kill": "Threats to kill are reported: consider professional judgement.",
    "cluster": (
        "Separation, coercive control and physical or sexual violence are all reported: "
        "consider professional judgement."
    ),
}


class RiskError(ValueError):
    """A risk assessment change that cannot be made; the message says why."""

    def __init__(self, message: str, missing: list[str] | None = None) -> None:
        super().__init__(message)
        #: Question keys still to be answered (when that is the reason).
        self.missing = missing or []


def answers_of(assessment: RiskAssessment) -> dict[str, str]:
    """The assessment's answers {question key: option value}, decrypted (empty when none yet)."""
    sealed = assessment.answers
    if sealed is None:
        return {}
    if not isinstance(sealed, str):
        raise RiskError("The saved answers could not be read: ask an administrator to check the keys")
    return dict(json.loads(sealed))


def score(definition: dict[str, Any], answers: dict[str, str]) -> int:
    """The sum of the points of the options chosen (on a yes/no checklist, the number of "yes" answers)."""
    points = option_points(definition)
    keys = {q["key"] for q in questions_of(definition)}
    return sum(points[value] for key, value in answers.items() if key in keys)


def grade_for(score: int, area: Area, grading: dict[str, int] | None = None) -> str:
    """The grade ("standard", "medium" or "high") for a score on the area's thresholds or a definition's `grading`."""
    high = grading["high_from"] if grading else area.high_risk_from
    medium = grading["medium_from"] if grading else area.medium_risk_from
    if score >= high:
        return HIGH
    return MEDIUM if score >= medium else STANDARD


def _positive(definition: dict[str, Any], answers: dict[str, str], tags: set[str]) -> bool:
    """Whether any question carrying one of `tags` has an answer that scores."""
    points = option_points(definition)
    return any(
        question.get("prompt") in tags and points.get(answers.get(question["key"], ""), 0) > 0
        for question in questions_of(definition)
    )


def prompts(definition: dict[str, Any], answers: dict[str, str]) -> list[str]:
    """Plain messages for answers that many areas treat as grounds for professional judgement."""
    messages = [
        PROMPT_MESSAGES[tag]
        for tag in ("strangulation", "stalking", "threats_to_kill")
        if _positive(definition, answers, {tag})
    ]
    violence = _positive(definition, answers, {"violence", "strangulation"})
    if (
        violence
        and _positive(definition, answers, {"separation"})
        and _positive(definition, answers, {"coercive_control"})
    ):
        messages.append(PROMPT_MESSAGES["cluster"])
    return messages


def start_assessment(actor: Any, case: Case, questionnaire: Questionnaire) -> RiskAssessment:
    """Start a draft assessment of a case with the active version of a questionnaire."""
    if not questionnaire.is_active:
        raise RiskError("That questionnaire has been replaced by a newer version: start with the current one")
    assessment = RiskAssessment(
        case_id=case.id,
        questionnaire_id=questionnaire.id,
        assessed_by_id=getattr(actor, "id", None),
        status=DRAFT,
    )
    db.session.add(assessment)
    db.session.flush()
    audit.record(
        "risk.start",
        actor=actor,
        object_type="risk_assessment",
        object_id=assessment.public_id,
        details={"case": case.public_id, "questionnaire": questionnaire.key, "version": questionnaire.version},
    )
    return assessment


def _definition(assessment: RiskAssessment) -> dict[str, Any]:
    return dict(assessment.questionnaire.definition)


def _checked_answers(definition: dict[str, Any], answers: dict[str, str]) -> dict[str, str | None]:
    """Answers with blanks as None (unanswered); RiskError on an unknown question or answer."""
    keys = {q["key"] for q in questions_of(definition)}
    points = option_points(definition)
    checked: dict[str, str | None] = {}
    for key, value in answers.items():
        if key not in keys:
            raise RiskError(f"There is no question {key!r} in this questionnaire")
        value = (value or "").strip()
        if value and value not in points:
            raise RiskError(f"{value!r} is not an answer to question {key!r}: choose one of {', '.join(points)}")
        checked[key] = value or None
    return checked


def save_answers(actor: Any, assessment: RiskAssessment, answers: dict[str, str], fears: str | None) -> None:
    """Save some or all answers (save and return): given answers replace earlier ones, a blank clears one, others
    stay. `fears` replaces the free-text answer ("" clears it; None leaves it as it was)."""
    if assessment.status == COMPLETE:
        raise RiskError("This assessment is complete and can no longer be changed: start a new assessment")
    definition = _definition(assessment)
    stored = answers_of(assessment)
    for key, value in _checked_answers(definition, answers).items():
        if value is None:
            stored.pop(key, None)
        else:
            stored[key] = value
    if fears is not None and fears.strip() and not any(q.get("free_text") for q in questions_of(definition)):
        raise RiskError("This questionnaire has no free-text answer")
    assessment.answers = json.dumps(stored, sort_keys=True) if stored else None
    if fears is not None:
        assessment.fears = fears.strip() or None
    db.session.flush()
    audit.record(
        "risk.save",
        actor=actor,
        object_type="risk_assessment",
        object_id=assessment.public_id,
        details={"answered": len(stored)},
    )


def missing_questions(assessment: RiskAssessment) -> list[str]:
    """Keys of the questions not yet answered, in questionnaire order."""
    answers = answers_of(assessment)
    return [q["key"] for q in questions_of(_definition(assessment)) if q["key"] not in answers]


def complete_assessment(
    actor: Any, assessment: RiskAssessment, area: Area, *, raise_to_high: bool, judgement_reasons: str | None
) -> RiskAssessment:
    """Score and grade a fully answered assessment on the area's thresholds and close it. Professional judgement
    (with written reasons) can raise the grade to high; it is recorded even when the score is already high, and
    there is no way to lower a score-based grade."""
    if assessment.status == COMPLETE:
        raise RiskError("This assessment is already complete")
    case = db.session.get(Case, assessment.case_id)
    if case is None or case.area_id != area.id:
        raise RiskError("Grade the assessment with the thresholds of the case's own area")
    if missing := missing_questions(assessment):
        raise RiskError(
            f"Answer every question before completing; still to answer: {', '.join(missing)}", missing=missing
        )
    reasons = (judgement_reasons or "").strip()
    if raise_to_high and len(reasons) < MIN_REASONS:
        raise RiskError(f"Give the reasons for professional judgement (at least {MIN_REASONS} characters)")
    if reasons and not raise_to_high:
        raise RiskError("Reasons are only recorded when professional judgement raises the grade to high")
    definition = _definition(assessment)
    assessment.score = score(definition, answers_of(assessment))
    assessment.score_grade = grade_for(assessment.score, area, definition.get("grading"))
    assessment.grade = HIGH if raise_to_high else assessment.score_grade
    assessment.is_judgement_raised = raise_to_high
    assessment.judgement_reasons = reasons or None
    assessment.completed_at = db.utcnow()
    assessment.status = COMPLETE
    db.session.flush()
    audit.record(
        "risk.complete",
        actor=actor,
        object_type="risk_assessment",
        object_id=assessment.public_id,
        details={"score": assessment.score, "grade": assessment.grade},
    )
    return assessment
