"""Risk questionnaires as data and risk assessments: validating and versioning definitions, save and return,
scoring and grading on the area's thresholds, professional judgement (raise only), prompts, and sealed answers."""

from __future__ import annotations

import copy
import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, func, select, text

from marac import db
from marac.audit.models import AuditEvent
from marac.cases.models import Case, Questionnaire, RiskAssessment
from marac.cases.questionnaires import (
    QuestionnaireError,
    active_questionnaire,
    builtin_definitions,
    ensure_builtin_questionnaires,
    load_questionnaire,
)
from marac.cases.risk import (
    RiskError,
    answers_of,
    complete_assessment,
    grade_for,
    prompts,
    save_answers,
    score,
    start_assessment,
)
from marac.orgs.models import Area
from tests.factories import make_area, make_case

REASONS = "Victim disclosed a new threat with a knife last night"
FEARS = "That he will find the new flat and hurt the children"


@pytest.fixture(autouse=True)
def no_questionnaires(app: Flask) -> None:
    """Start from no questionnaires (the migrations load the shipped ones), so loading can be tested from scratch."""
    db.session.execute(delete(Questionnaire))


@pytest.fixture
def dash(app: Flask) -> Questionnaire:
    """The shipped DASH risk checklist, loaded."""
    ensure_builtin_questionnaires(db.session)
    questionnaire = active_questionnaire("dash-ric")
    assert questionnaire is not None
    return questionnaire


@pytest.fixture
def case(app: Flask) -> Case:
    """An open case in an area on the default thresholds (medium from 10, high from 14)."""
    return make_case(area=make_area())


def keys_of(questionnaire: Questionnaire) -> list[str]:
    """Question keys in order."""
    return [q["key"] for q in questionnaire.definition["questions"]]  # type: ignore[index]


def answered(questionnaire: Questionnaire, yes: int = 0, **overrides: str) -> dict[str, str]:
    """Every question answered: the first `yes` "yes", the rest "no", then `overrides`."""
    keys = keys_of(questionnaire)
    return {key: "yes" if n < yes else "no" for n, key in enumerate(keys)} | overrides


def assessed(case: Case, questionnaire: Questionnaire, answers: dict[str, str], fears: str | None = None) -> Any:
    """A draft assessment of `case` holding `answers`."""
    assessment = start_assessment(None, case, questionnaire)
    save_answers(None, assessment, answers, fears)
    return assessment


def complete(case: Case, questionnaire: Questionnaire, yes: int, **judgement: Any) -> RiskAssessment:
    """A completed assessment with `yes` "yes" answers."""
    assessment = assessed(case, questionnaire, answered(questionnaire, yes))
    options = {"raise_to_high": False, "judgement_reasons": None} | judgement
    return complete_assessment(None, assessment, case.area, **options)


# --- definitions ----------------------------------------------------------------------------------------------------


def test_shipped_dash_checklist_has_the_24_topics_with_a_free_text_fears_question(dash: Questionnaire) -> None:
    questions = dash.definition["questions"]
    assert len(questions) == 24  # type: ignore[arg-type]
    assert keys_of(dash)[:3] == ["injury", "frightened", "fears"]
    assert keys_of(dash)[-1] == "criminal_history"
    assert [q["key"] for q in questions if q.get("free_text")] == ["fears"]  # type: ignore[union-attr]
    assert dash.scale == "yes_no"
    assert {o["value"]: o["points"] for o in dash.definition["options"]} == {  # type: ignore[union-attr]
        "yes": 1,
        "no": 0,
        "not_known": 0,
    }


def test_builtin_questionnaires_load_once(app: Flask) -> None:
    first = ensure_builtin_questionnaires(db.session)
    again = ensure_builtin_questionnaires(db.session)

    assert sorted(q.key for q in first) == ["dara-frequency", "dash-ric"]
    assert again == []
    assert db.session.scalar(select(func.count(Questionnaire.id))) == 2


def broken(change: Any) -> dict[str, Any]:
    """The shipped DASH definition with one change applied."""
    data = copy.deepcopy(builtin_definitions()[0])
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("questions"), "missing key 'questions'"),
        (lambda d: d.pop("version"), "missing key 'version'"),
        (lambda d: d["questions"][5].update(key="injury"), "duplicate question key 'injury'"),
        (lambda d: d.update(scale="likert"), "unknown scale 'likert'"),
        (lambda d: d["options"][0].pop("points"), "option 'yes' has no 'points'"),
        (lambda d: d["options"][0].update(points=2), "on a yes_no scale points are 0 or 1"),
        (lambda d: d["questions"][0].update(prompt="weather"), "unknown prompt 'weather'"),
        (lambda d: d["questions"][0].update(free_text=True), "at most one question may have 'free_text'"),
        (lambda d: d["questions"][1].pop("text"), "question 'frightened' needs a 'text'"),
        (lambda d: d.update(questions=[]), "'questions' must be a non-empty list"),
    ],
)
def test_a_broken_definition_is_refused_with_a_clear_message(app: Flask, change: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_questionnaire(broken(change))

    assert db.session.scalar(select(func.count(Questionnaire.id))) == 0


def test_a_definition_reports_every_problem_at_once(app: Flask) -> None:
    def change(data: dict[str, Any]) -> None:
        data.pop("name")
        data["scale"] = "stars"

    with pytest.raises(QuestionnaireError) as refused:
        load_questionnaire(broken(change))

    assert str(refused.value) == "missing key 'name'; unknown scale 'stars': use one of yes_no, frequency"


def test_a_new_version_is_used_for_new_assessments_and_old_assessments_keep_theirs(
    dash: Questionnaire, case: Case
) -> None:
    old = assessed(case, dash, answered(dash, yes=2))
    data = broken(lambda d: d.update(version=2))
    data["questions"][0]["text"] = "Is the victim injured now?"

    new = load_questionnaire(data)

    db.session.expire_all()
    assert active_questionnaire("dash-ric") == new
    assert (new.version, dash.version, dash.is_active) == (2, 1, False)
    assert old.questionnaire_id == dash.id
    assert old.questionnaire.definition["questions"][0]["text"] != "Is the victim injured now?"  # type: ignore[index]
    with pytest.raises(RiskError, match="replaced by a newer version"):
        start_assessment(None, case, dash)
    assert start_assessment(None, case, new).questionnaire_id == new.id


def test_a_version_already_loaded_is_never_replaced(dash: Questionnaire) -> None:
    with pytest.raises(QuestionnaireError, match="dash-ric version 1 is already loaded"):
        load_questionnaire(builtin_definitions()[0])

    assert db.session.scalars(select(Questionnaire.version).where(Questionnaire.key == "dash-ric")).all() == [1]


def test_loading_is_audited_with_key_and_version_only(app: Flask) -> None:
    load_questionnaire(builtin_definitions()[1])

    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "questionnaire.load")).one()
    assert event.details == {"key": "dara-frequency", "version": 1}


# --- scoring and grading --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "grade"), [(0, "standard"), (9, "standard"), (10, "medium"), (13, "medium"), (14, "high"), (24, "high")]
)
def test_grades_on_the_default_thresholds(app: Flask, points: int, grade: str) -> None:
    assert grade_for(points, Area(medium_risk_from=10, high_risk_from=14)) == grade


@pytest.mark.parametrize(("points", "grade"), [(5, "standard"), (6, "medium"), (9, "medium"), (10, "high")])
def test_grades_follow_the_area_thresholds(app: Flask, points: int, grade: str) -> None:
    assert grade_for(points, Area(medium_risk_from=6, high_risk_from=10)) == grade


@pytest.mark.parametrize(
    ("yes", "score_value", "grade"), [(9, 9, "standard"), (10, 10, "medium"), (13, 13, "medium"), (14, 14, "high")]
)
def test_completing_scores_the_yes_answers_and_grades_them(
    dash: Questionnaire, case: Case, yes: int, score_value: int, grade: str
) -> None:
    assessment = complete(case, dash, yes)

    assert (assessment.status, assessment.score, assessment.score_grade, assessment.grade) == (
        "complete",
        score_value,
        grade,
        grade,
    )
    assert assessment.completed_at is not None
    assert assessment.is_judgement_raised is False


def test_not_known_scores_nothing(dash: Questionnaire) -> None:
    answers = answered(dash, yes=3) | {"animals": "not_known", "finances": "not_known"}

    assert score(dash.definition, answers) == 3


def test_completion_is_audited_with_score_and_grade_only(dash: Questionnaire, case: Case) -> None:
    assessment = complete(case, dash, 14)

    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "risk.complete")).one()
    assert event.object_id == assessment.public_id
    assert event.details == {"score": 14, "grade": "high"}


def test_frequency_questionnaire_scores_the_sum_of_points_and_grades_on_its_own_thresholds(case: Case) -> None:
    ensure_builtin_questionnaires(db.session)
    dara = active_questionnaire("dara-frequency")
    assert dara is not None
    assert dara.scale == "frequency"
    keys = keys_of(dara)
    answers = dict.fromkeys(keys, "never") | {
        keys[0]: "rarely",  # 1
        keys[1]: "sometimes",  # 2
        keys[2]: "often",  # 3
        keys[3]: "all_the_time",  # 4
        keys[4]: "all_the_time",  # 4
    }
    assert score(dara.definition, answers) == 14

    assessment = complete_assessment(
        None, assessed(case, dara, answers), case.area, raise_to_high=False, judgement_reasons=None
    )

    assert (assessment.score, assessment.grade) == (14, "medium")  # its own thresholds: 12 medium, 20 high


# --- answering: save and return, validation, sealing -----------------------------------------------------------------


def test_save_and_return_keeps_partial_answers(dash: Questionnaire, case: Case) -> None:
    assessment = assessed(case, dash, {"injury": "yes", "frightened": "no"}, fears=FEARS)
    db.session.commit()
    db.session.expire_all()

    reloaded = db.session.get(RiskAssessment, assessment.id)
    assert reloaded is not None
    assert (reloaded.status, answers_of(reloaded), reloaded.fears) == (
        "draft",
        {"injury": "yes", "frightened": "no"},
        FEARS,
    )

    save_answers(None, reloaded, {"frightened": "yes", "fears": "yes", "injury": ""}, None)

    assert answers_of(reloaded) == {"frightened": "yes", "fears": "yes"}
    assert reloaded.fears == FEARS  # None leaves the free text as it was


def test_an_answer_that_is_not_an_option_is_refused(dash: Questionnaire, case: Case) -> None:
    assessment = assessed(case, dash, {"injury": "yes"})

    with pytest.raises(RiskError, match="'maybe' is not an answer to question 'frightened'"):
        save_answers(None, assessment, {"frightened": "maybe", "isolation": "yes"}, None)
    with pytest.raises(RiskError, match="There is no question 'shoe_size'"):
        save_answers(None, assessment, {"shoe_size": "yes"}, None)

    assert answers_of(assessment) == {"injury": "yes"}


def test_completing_with_unanswered_questions_is_refused_naming_them(dash: Questionnaire, case: Case) -> None:
    answers = answered(dash, yes=14)
    del answers["pregnancy"], answers["criminal_history"]
    assessment = assessed(case, dash, answers)

    with pytest.raises(RiskError, match="still to answer: pregnancy, criminal_history") as refused:
        complete_assessment(None, assessment, case.area, raise_to_high=False, judgement_reasons=None)

    assert refused.value.missing == ["pregnancy", "criminal_history"]
    assert (assessment.status, assessment.score, assessment.grade) == ("draft", None, None)


def test_answers_fears_and_reasons_are_sealed_at_rest(dash: Questionnaire, case: Case) -> None:
    assessment = assessed(case, dash, answered(dash, yes=10), fears=FEARS)
    complete_assessment(None, assessment, case.area, raise_to_high=True, judgement_reasons=REASONS)
    db.session.flush()

    raw = db.session.execute(
        text("SELECT answers, fears, judgement_reasons FROM risk_assessments WHERE id = :id"), {"id": assessment.id}
    ).one()

    stored = b"".join(bytes(value) for value in raw)
    for plain in (b"yes", b"injury", b"strangulation", FEARS.encode(), REASONS.encode(), b"knife"):
        assert plain not in stored
    assert answers_of(assessment)["injury"] == "yes"


def test_a_complete_assessment_cannot_be_changed(dash: Questionnaire, case: Case) -> None:
    assessment = complete(case, dash, 14)

    with pytest.raises(RiskError, match="complete and can no longer be changed"):
        save_answers(None, assessment, {"injury": "no"}, None)
    with pytest.raises(RiskError, match="already complete"):
        complete_assessment(None, assessment, case.area, raise_to_high=False, judgement_reasons=None)
    assert (assessment.score, answers_of(assessment)["injury"]) == (14, "yes")


def test_grading_uses_the_case_own_area(dash: Questionnaire, case: Case) -> None:
    assessment = assessed(case, dash, answered(dash, yes=14))

    with pytest.raises(RiskError, match="case's own area"):
        complete_assessment(None, assessment, make_area(), raise_to_high=False, judgement_reasons=None)


# --- professional judgement -------------------------------------------------------------------------------------------


def test_professional_judgement_raises_medium_to_high_with_reasons(dash: Questionnaire, case: Case) -> None:
    assessment = complete(case, dash, 11, raise_to_high=True, judgement_reasons=f"  {REASONS}  ")

    assert (assessment.score, assessment.score_grade, assessment.grade) == (11, "medium", "high")
    assert assessment.is_judgement_raised is True
    assert assessment.judgement_reasons == REASONS


@pytest.mark.parametrize("reasons", [None, "", "   ", "Too short, 19 chars", " " * 5 + "x" * 19 + " " * 5])
def test_professional_judgement_needs_reasons_of_20_characters(
    dash: Questionnaire, case: Case, reasons: str | None
) -> None:
    assessment = assessed(case, dash, answered(dash, yes=11))

    with pytest.raises(RiskError, match="at least 20 characters"):
        complete_assessment(None, assessment, case.area, raise_to_high=True, judgement_reasons=reasons)

    assert (assessment.status, assessment.grade) == ("draft", None)


def test_reasons_without_raising_are_refused(dash: Questionnaire, case: Case) -> None:
    assessment = assessed(case, dash, answered(dash, yes=11))

    with pytest.raises(RiskError, match="only recorded when professional judgement raises"):
        complete_assessment(None, assessment, case.area, raise_to_high=False, judgement_reasons=REASONS)


def test_judgement_on_an_already_high_score_is_recorded_and_the_grade_stays_high(
    dash: Questionnaire, case: Case
) -> None:
    assessment = complete(case, dash, 16, raise_to_high=True, judgement_reasons=REASONS)

    assert (assessment.score_grade, assessment.grade, assessment.is_judgement_raised) == ("high", "high", True)
    assert assessment.judgement_reasons == REASONS


def test_there_is_no_way_to_lower_a_score_based_grade(dash: Questionnaire, case: Case) -> None:
    parameters = set(inspect.signature(complete_assessment).parameters)
    assert parameters == {"actor", "assessment", "area", "raise_to_high", "judgement_reasons"}

    assessment = complete(case, dash, 14, raise_to_high=False, judgement_reasons=None)

    assert assessment.grade == "high"


# --- prompts ----------------------------------------------------------------------------------------------------------


STRANGULATION = "Non-fatal strangulation, choking or suffocation is reported: consider professional judgement."
STALKING = "Stalking or harassment is reported: consider professional judgement."
THREATS = "Threats to kill are reported: consider professional judgement."
CLUSTER = (
    "Separation, coercive control and physical or sexual violence are all reported: consider professional judgement."
)


@pytest.mark.parametrize(
    ("yes", "expected"),
    [
        ((), []),
        (("strangulation",), [STRANGULATION]),
        (("stalking",), [STALKING]),
        (("threats_to_kill",), [THREATS]),
        (("separation", "controlling", "injury"), [CLUSTER]),
        (("separation", "controlling", "sexual_abuse"), [CLUSTER]),
        (("separation", "controlling"), []),
        (("separation", "injury"), []),
        (("controlling", "weapons"), []),
        (("separation", "controlling", "strangulation", "threats_to_kill"), [STRANGULATION, THREATS, CLUSTER]),
    ],
)
def test_prompts_for_professional_judgement(dash: Questionnaire, yes: tuple[str, ...], expected: list[str]) -> None:
    answers = answered(dash) | dict.fromkeys(yes, "yes")

    assert prompts(dash.definition, answers) == expected


def test_not_known_raises_no_prompt(dash: Questionnaire) -> None:
    assert prompts(dash.definition, {"strangulation": "not_known", "stalking": "no"}) == []


# --- command line -----------------------------------------------------------------------------------------------------


def test_command_line_loads_a_new_version_and_lists_them(app: Flask, tmp_path: Path) -> None:
    ensure_builtin_questionnaires(db.session)
    data = broken(lambda d: d.update(version=3, name="Licensed checklist wording"))
    path = tmp_path / "dash-v3.json"
    path.write_text(json.dumps(data))
    runner = app.test_cli_runner()

    loaded = runner.invoke(args=["questionnaires", "load", str(path)])
    listed = runner.invoke(args=["questionnaires", "list"])

    assert loaded.exit_code == 0, loaded.output
    assert loaded.output == "loaded dash-ric v3 (24 questions), now used for new assessments\n"
    lines = listed.output.splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["dara-frequency", "v1", "active"],
        ["dash-ric", "v3", "active"],
        ["dash-ric", "v1", "replaced"],
    ]


def test_command_line_refuses_a_broken_file_with_the_reason(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken(lambda d: d.update(scale="likert"))))

    result = app.test_cli_runner().invoke(args=["questionnaires", "load", str(path)])

    assert result.exit_code == 1
    assert "broken.json: unknown scale 'likert'" in result.output
    assert db.session.scalar(select(func.count(Questionnaire.id))) == 0
